"""durable-queue: a minimal, durable task queue over HTTP, backed by PostgreSQL alone."""

__version__ = "0.1.0"
