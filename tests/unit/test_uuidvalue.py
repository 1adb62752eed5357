"""parse_uuid builds the very UUID that uuid.UUID parses from PostgreSQL's text form."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from durable_queue.uuidvalue import parse_uuid


@given(st.uuids(version=None) | st.integers(0, 2**128 - 1).map(lambda n: uuid.UUID(int=n)))
def test_parse_uuid_equals_uuid_parsing(value: uuid.UUID) -> None:
    parsed = parse_uuid(str(value))
    assert type(parsed) is uuid.UUID
    assert parsed == value and hash(parsed) == hash(value)
    assert str(parsed) == str(value) and parsed.version == value.version
    assert parsed.is_safe is uuid.SafeUUID.unknown


def test_null_is_none() -> None:
    assert parse_uuid(None) is None
