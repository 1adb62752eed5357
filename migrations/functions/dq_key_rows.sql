-- The concurrency keys p_keys of a queue as the keys listing shows them, in p_keys'
-- order: runs claimed now (of every claimed run of the queue: runs_by_status), pending
-- runs (runs_keyed_pending), the limits that apply and the override (dq_key_limits).
CREATE OR REPLACE FUNCTION dq_key_rows(p_queue_id uuid, p_keys text[])
RETURNS TABLE (key text, in_flight bigint, pending bigint, max_concurrency integer,
               rate_limit integer, rate_period_seconds float8, has_override boolean,
               override_max_concurrency integer, override_rate_limit integer,
               override_rate_period_seconds float8)
LANGUAGE sql STABLE AS $$
    WITH claimed AS (
        SELECT r.concurrency_key AS key, count(*) AS n
        FROM runs r
        WHERE r.status = 'claimed' AND r.queue_id = p_queue_id
          AND r.concurrency_key = ANY (p_keys)
        GROUP BY r.concurrency_key
    )
    SELECT w.key,
           coalesce(c.n, 0),
           (SELECT count(*) FROM runs p
            WHERE p.queue_id = p_queue_id AND p.status = 'pending' AND p.concurrency_key = w.key),
           l.max_concurrency, l.rate_limit, l.rate_period_seconds,
           (l.override).queue_id IS NOT NULL, (l.override).max_concurrency,
           (l.override).rate_limit, (l.override).rate_period_seconds
    FROM unnest(p_keys) WITH ORDINALITY AS w(key, ord)
    JOIN queues q ON q.id = p_queue_id
    CROSS JOIN LATERAL dq_key_limits(q, w.key) AS l
    LEFT JOIN claimed c ON c.key = w.key
    ORDER BY w.ord
$$;
