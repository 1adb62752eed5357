"""Domain errors. Each carries the HTTP status and code of the wire contract;
the store raises them and one middleware renders them as `{error, code}`."""

from __future__ import annotations


class DurableError(Exception):
    """Base of the errors a client may see."""

    status = 500
    code = "INTERNAL_ERROR"

    def __init__(self, message: str = "internal server error") -> None:
        super().__init__(message)
        self.message = message


class ValidationError(DurableError):
    """The request is malformed; the message names the field."""

    status = 400
    code = "VALIDATION_ERROR"


class NotFound(DurableError):
    """The queue, task, run, checkpoint or workflow run does not exist."""

    status = 404
    code = "NOT_FOUND"


class Conflict(DurableError):
    """The resource exists already, or its state forbids the transition."""

    status = 409
    code = "CONFLICT"


class PayloadTooLarge(DurableError):
    """The body is over the configured limit."""

    status = 413
    code = "PAYLOAD_TOO_LARGE"


class Unavailable(DurableError):
    """The database cannot be reached; the request changed nothing."""

    status = 503
    code = "UNAVAILABLE"

    def __init__(self, message: str = "database unavailable") -> None:
        super().__init__(message)
