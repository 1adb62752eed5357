-- n UUIDv7s of the current millisecond: one drawn, the next ones counting up in its 62
-- low random bits (the variant bits kept), so they sort in the order returned.
CREATE OR REPLACE FUNCTION uuidv7_series(n integer) RETURNS uuid[]
LANGUAGE sql VOLATILE AS $$
    WITH stem AS (SELECT uuid_send(uuidv7()) AS bytes)
    SELECT ARRAY(
        SELECT encode(
                   overlay(stem.bytes PLACING int8send(
                       ((CAST(CAST('x' || encode(substring(stem.bytes FROM 9 FOR 8), 'hex')
                                   AS bit(64)) AS bigint)
                         & 4611686018427387903) + g) & 4611686018427387903
                       | -9223372036854775808)
                   FROM 9 FOR 8),
                   'hex')::uuid
        FROM generate_series(1, n) AS g
        ORDER BY g)
    FROM stem
$$;
