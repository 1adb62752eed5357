-- The smallest UUIDv7 of the millisecond of p_at: ids (uuidv7) at or after p_at
-- compare >= it, so a range of ids is a range of creation times on the primary key.
CREATE OR REPLACE FUNCTION dq_uuid_floor(p_at timestamptz) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT encode(substring(int8send(floor(extract(epoch FROM p_at) * 1000)::bigint) FROM 3)
                  || '\x00000000000000000000'::bytea, 'hex')::uuid
$$;
