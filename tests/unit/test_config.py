"""Settings read from the environment: defaults and the refusal of bad values."""

from __future__ import annotations

import pytest

from durable_queue.config import Settings
from durable_queue.errors import ValidationError


def test_the_default_bind_is_loopback() -> None:
    assert Settings.from_env({}).host == "127.0.0.1"
    assert Settings().host == "127.0.0.1"


def test_lists_are_comma_separated_and_trimmed() -> None:
    env = {
        "DURABLE_ALLOWED_HOSTS": " queue.internal , ,10.0.0.5:8080",
        "DURABLE_ALLOWED_ORIGINS": "https://ops.example",
    }
    settings = Settings.from_env(env)
    assert settings.allowed_hosts == ("queue.internal", "10.0.0.5:8080")
    assert settings.allowed_origins == ("https://ops.example",)
    assert Settings.from_env({}).allowed_hosts == ()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("", False), ("0", False), ("off", False), ("1", True), ("TRUE", True), (" yes ", True)],
)
def test_require_claim_tokens_reads_the_usual_spellings(raw: str, expected: bool) -> None:
    env = {"DURABLE_REQUIRE_CLAIM_TOKENS": raw}
    assert Settings.from_env(env).require_claim_tokens is expected


def test_a_bad_boolean_names_the_variable() -> None:
    with pytest.raises(ValidationError, match="DURABLE_REQUIRE_CLAIM_TOKENS"):
        Settings.from_env({"DURABLE_REQUIRE_CLAIM_TOKENS": "maybe"})


def test_the_inflight_body_budget_has_a_default_and_an_override() -> None:
    assert Settings.from_env({}).max_inflight_body_bytes == 64 * 1024 * 1024
    env = {"DURABLE_MAX_INFLIGHT_BODY_BYTES": "1048576"}
    assert Settings.from_env(env).max_inflight_body_bytes == 1048576
