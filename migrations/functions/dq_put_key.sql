-- Set a concurrency key's override in a queue (its own max_concurrency and rate limit,
-- NULL: the queue's key default); the queue after, or no row for an unknown queue.
-- Under the queue's settings gate (dq_gate_settings); marks the runs claimed now as
-- claimed under a limit (dq_mark_limited); wakes the queue's long polls.
CREATE OR REPLACE FUNCTION dq_put_key(p_queue_name text, p_key text, p_max_concurrency integer,
                                      p_rate_limit integer, p_rate_period_seconds float8)
RETURNS SETOF queues
LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    v_queue queues;
BEGIN
    v_queue := dq_gate_settings(p_queue_name);
    IF v_queue.id IS NULL THEN
        RETURN;
    END IF;
    INSERT INTO queue_keys AS k (queue_id, concurrency_key, max_concurrency, rate_limit,
                                 rate_period_seconds)
    VALUES (v_queue.id, p_key, p_max_concurrency, p_rate_limit, p_rate_period_seconds)
    ON CONFLICT (queue_id, concurrency_key) DO UPDATE
    SET max_concurrency = EXCLUDED.max_concurrency, rate_limit = EXCLUDED.rate_limit,
        rate_period_seconds = EXCLUDED.rate_period_seconds, updated_at = now();
    UPDATE queues q
    SET key_overrides = (SELECT count(*) FROM queue_keys k WHERE k.queue_id = v_queue.id)
    WHERE q.id = v_queue.id
    RETURNING * INTO v_queue;
    PERFORM dq_mark_limited(v_queue);
    PERFORM pg_notify('durable_queue_claimable', v_queue.name);
    RETURN NEXT v_queue;
END
$$;
