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


async def test_the_pool_reads_uuids_with_parse_uuid(database_url: str) -> None:
    from psycopg2.extensions import string_types

    from durable_queue.db import connection, create_pool
    from durable_queue.uuidvalue import CASTER_NAME, UUID_OID, parse_uuid

    pool = await create_pool(database_url, minsize=1, maxsize=1)
    try:
        async with connection(pool) as conn:
            # no per-connection caster shadows the process-wide one
            assert UUID_OID not in conn.raw.string_types
            assert string_types[UUID_OID].name == CASTER_NAME
            async with conn.cursor() as cur:
                await cur.execute("SELECT uuidv7()")
                (value,) = await cur.fetchone()
        assert type(value) is uuid.UUID and parse_uuid(str(value)) == value
    finally:
        pool.close()
        await pool.wait_closed()
