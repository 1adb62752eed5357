"""Domain errors: what went wrong, in the domain's words.

The store and the database layer raise them; they know nothing of HTTP. The API
layer maps each class to its status and wire code in one table
(`durable_queue.api.responses.ERROR_STATUS`).
"""

from __future__ import annotations


class DurableError(Exception):
    """Base of the errors a client may see; the message is safe to show."""

    def __init__(self, message: str = "internal server error") -> None:
        super().__init__(message)
        self.message = message


class ValidationError(DurableError):
    """The request is malformed; the message names the field."""


class NotFound(DurableError):
    """The queue, task, run, checkpoint or workflow run does not exist."""


class Conflict(DurableError):
    """The resource exists already, or its state forbids the transition."""


class PayloadTooLarge(DurableError):
    """The body is over the configured limit."""


class Unavailable(DurableError):
    """The database cannot be reached; the outcome of a change is unknown (it may have
    committed before the connection was lost)."""

    def __init__(self, message: str = "database unavailable") -> None:
        super().__init__(message)


def claim_token_required(field: str = "claim_token") -> str:
    """The 409's message for a holder call without a token while
    DURABLE_REQUIRE_CLAIM_TOKENS is on (api/claim_rule.py, and the store's answer to a
    schedule that would release a claimed run)."""
    return f"{field} is required (DURABLE_REQUIRE_CLAIM_TOKENS is on)"
