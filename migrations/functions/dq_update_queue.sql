-- Change a queue's settings: each key of p_changes present is set (a JSON null clears a
-- limit), the others are kept. Keys: max_concurrency, key_concurrency, rate_limit and
-- key_rate_limit ({limit, period_seconds}), paused, task_ttl_seconds, event_ttl_seconds.
-- The queue row after the change; no row for an unknown queue.
-- Under the queue's settings gate (dq_gate_settings), it marks the runs claimed now as
-- claimed under a limit when the queue has any (dq_mark_limited), and wakes the queue's
-- long polls (a resume or a raised limit may make runs claimable).
CREATE OR REPLACE FUNCTION dq_update_queue(p_queue_name text, p_changes jsonb)
RETURNS SETOF queues
LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    v_queue queues;
BEGIN
    v_queue := dq_gate_settings(p_queue_name);
    IF v_queue.id IS NULL THEN
        RETURN;
    END IF;
    UPDATE queues q SET
        max_concurrency = CASE WHEN p_changes ? 'max_concurrency'
            THEN CAST(p_changes->>'max_concurrency' AS integer) ELSE q.max_concurrency END,
        key_concurrency = CASE WHEN p_changes ? 'key_concurrency'
            THEN CAST(p_changes->>'key_concurrency' AS integer) ELSE q.key_concurrency END,
        rate_limit = CASE WHEN p_changes ? 'rate_limit'
            THEN CAST(p_changes->'rate_limit'->>'limit' AS integer) ELSE q.rate_limit END,
        rate_period_seconds = CASE WHEN p_changes ? 'rate_limit'
            THEN CAST(p_changes->'rate_limit'->>'period_seconds' AS float8)
            ELSE q.rate_period_seconds END,
        key_rate_limit = CASE WHEN p_changes ? 'key_rate_limit'
            THEN CAST(p_changes->'key_rate_limit'->>'limit' AS integer) ELSE q.key_rate_limit END,
        key_rate_period_seconds = CASE WHEN p_changes ? 'key_rate_limit'
            THEN CAST(p_changes->'key_rate_limit'->>'period_seconds' AS float8)
            ELSE q.key_rate_period_seconds END,
        paused = CASE WHEN p_changes ? 'paused'
            THEN coalesce(CAST(p_changes->>'paused' AS boolean), false) ELSE q.paused END,
        task_ttl_seconds = CASE WHEN p_changes ? 'task_ttl_seconds'
            THEN CAST(p_changes->>'task_ttl_seconds' AS integer) ELSE q.task_ttl_seconds END,
        event_ttl_seconds = CASE WHEN p_changes ? 'event_ttl_seconds'
            THEN CAST(p_changes->>'event_ttl_seconds' AS integer) ELSE q.event_ttl_seconds END
    WHERE q.id = v_queue.id
    RETURNING * INTO v_queue;
    PERFORM dq_mark_limited(v_queue);
    PERFORM pg_notify('durable_queue_claimable', v_queue.name);
    RETURN NEXT v_queue;
END
$$;
