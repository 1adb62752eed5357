"""UUIDs read from the database without `uuid.UUID`'s text parsing.

psycopg2's own UUID caster calls `uuid.UUID(text)`, which strips prefixes and braces
that PostgreSQL never sends; a batch create reads 2,000 ids and a claim of 100 another
200, so it showed up in profiles. The caster here builds the same object from the
canonical text PostgreSQL sends (equal, hashing and printing the same).
"""

from __future__ import annotations

import uuid

import psycopg2.extensions
import psycopg2.extras

UUID_OID = 2950
UUID_ARRAY_OID = 2951
CASTER_NAME = "DURABLE_UUID"  # tells our caster from psycopg2's ("UUID")

_new = object.__new__
_set = object.__setattr__
_UUID = uuid.UUID
_UNKNOWN = uuid.SafeUUID.unknown


def parse_uuid(text: str | None, _cursor: object = None) -> uuid.UUID | None:
    """A `uuid.UUID` from PostgreSQL's text form of a uuid (None for NULL)."""
    if text is None:
        return None
    value = _new(_UUID)
    _set(value, "int", int(text.replace("-", ""), 16))
    _set(value, "is_safe", _UNKNOWN)
    return value


def register_uuid_decoding() -> None:
    """UUID parameters sent as uuid (psycopg2's adapter), uuid and uuid[] columns read with
    `parse_uuid`, on every connection of the process."""
    psycopg2.extras.register_uuid()
    uuid_type = psycopg2.extensions.new_type((UUID_OID,), CASTER_NAME, parse_uuid)
    psycopg2.extensions.register_type(uuid_type)
    psycopg2.extensions.register_type(
        psycopg2.extensions.new_array_type((UUID_ARRAY_OID,), f"{CASTER_NAME}[]", uuid_type)
    )
