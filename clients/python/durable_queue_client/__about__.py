"""The version of durable-queue: the client's and the server's, released together.

The one place it is written. Both distributions read it when they are built (hatch's
dynamic version: `clients/python/pyproject.toml`, and the server's root `pyproject.toml`,
whose sdist carries this file); the server's dependency on this client pins the same
version (`durable-queue-client==...`, checked by tests/e2e/test_packaging.py).
"""

__version__ = "0.1.0"
