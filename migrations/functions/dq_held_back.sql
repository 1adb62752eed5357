-- How many due pending runs of a queue a claim could not take now for its limits: all
-- of them while the queue is paused or at its max_concurrency, else those of the keys at
-- their concurrency limit (rate limits hold runs only for a moment: not counted).
-- Counted up to p_cap (NULL: no cap), so that a caller on a schedule (the /metrics
-- scrape) reads at most that many pending runs, however large the backlog; besides, it
-- reads the runs claimed under a limit (runs_in_flight), bounded by the limits.
CREATE OR REPLACE FUNCTION dq_held_back(p_queue_id uuid, p_cap bigint) RETURNS bigint
LANGUAGE plpgsql STABLE SET enable_seqscan = off AS $$
DECLARE
    v_queue queues;
    v_cap bigint := coalesce(p_cap, 9223372036854775807);
BEGIN
    SELECT * INTO v_queue FROM queues q WHERE q.id = p_queue_id;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    IF v_queue.paused OR (v_queue.max_concurrency IS NOT NULL AND v_queue.max_concurrency <= (
            SELECT count(*) FROM runs r
            WHERE r.queue_id = p_queue_id AND r.status = 'claimed' AND r.limited)) THEN
        RETURN (SELECT count(*) FROM (
                    SELECT FROM runs r
                    WHERE r.queue_id = p_queue_id AND r.status = 'pending'
                      AND r.available_at <= now()
                    LIMIT v_cap) AS due);
    END IF;
    IF v_queue.key_concurrency IS NULL AND v_queue.key_overrides = 0 THEN
        RETURN 0;
    END IF;
    RETURN (SELECT count(*) FROM (
        SELECT FROM (
            SELECT f.concurrency_key AS key, count(*) AS in_flight
            FROM runs f
            WHERE f.queue_id = p_queue_id AND f.status = 'claimed' AND f.limited
              AND f.concurrency_key IS NOT NULL
            GROUP BY f.concurrency_key
        ) held
        CROSS JOIN LATERAL (
            SELECT FROM runs p
            WHERE p.queue_id = p_queue_id AND p.status = 'pending'
              AND p.concurrency_key = held.key AND p.available_at <= now()
            LIMIT v_cap) AS due
        WHERE held.in_flight >= (SELECT l.max_concurrency
                                 FROM dq_key_limits(v_queue, held.key) AS l)
        LIMIT v_cap) AS held_runs);
END
$$;
