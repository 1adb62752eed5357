"""uuid and uuid[] columns come back as uuid.UUID through the server's caster."""

from __future__ import annotations

import uuid

import psycopg2

import durable_queue.db  # noqa: F401  (registers the casters, as the server does)


def test_uuid_columns_and_arrays_are_uuids(database_url: str) -> None:
    value = uuid.uuid4()
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT %s::uuid, ARRAY[%s::uuid, NULL::uuid], NULL::uuid, uuidv7()", (value, value)
        )
        same, array, null, fresh = cur.fetchone()
    assert type(same) is uuid.UUID and same == value
    assert array == [value, None] and type(array[0]) is uuid.UUID
    assert null is None
    assert type(fresh) is uuid.UUID and fresh.version == 7
