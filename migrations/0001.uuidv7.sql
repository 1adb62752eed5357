-- A time-ordered UUIDv7 generator for PostgreSQL before 18, which has its own
-- uuidv7(). Layout: 48-bit Unix milliseconds, version 7, variant, random bits.
DO $migration$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'uuidv7') THEN
        EXECUTE $fn$
            CREATE FUNCTION uuidv7() RETURNS uuid
            LANGUAGE sql VOLATILE PARALLEL SAFE AS $body$
                SELECT encode(
                    set_bit(
                        set_bit(
                            overlay(uuid_send(gen_random_uuid())
                                    PLACING substring(int8send(
                                        floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint
                                    ) FROM 3)
                                    FROM 1 FOR 6),
                            52, 1),
                        53, 1),
                    'hex')::uuid
            $body$
        $fn$;
    END IF;
END
$migration$;
