"""durable-queue: a minimal, durable task queue over HTTP, backed by PostgreSQL alone."""

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    # the installed distribution's, which its build read from the one version file
    __version__ = version("durable-queue")
except PackageNotFoundError:  # a source tree on sys.path, not installed
    from durable_queue_client.__about__ import __version__
