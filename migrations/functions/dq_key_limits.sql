-- The limits that apply to a concurrency key of a queue: its override's, else the
-- queue's key defaults (key_concurrency; key_rate_limit, a rate limit taken whole from
-- one or the other), and the override itself (NULL when the key has none). The claim
-- (dq_admit_runs), the held-back count and the keys listing all read a key's limits here.
CREATE OR REPLACE FUNCTION dq_key_limits(p_queue queues, p_key text)
RETURNS TABLE (max_concurrency integer, rate_limit integer, rate_period_seconds float8,
               override queue_keys)
LANGUAGE sql STABLE AS $$
    SELECT coalesce(k.max_concurrency, p_queue.key_concurrency),
           CASE WHEN k.rate_limit IS NOT NULL THEN k.rate_limit ELSE p_queue.key_rate_limit END,
           CASE WHEN k.rate_limit IS NOT NULL THEN k.rate_period_seconds
                ELSE p_queue.key_rate_period_seconds END,
           k
    FROM (SELECT 1) AS one
    LEFT JOIN queue_keys k ON k.queue_id = p_queue.id AND k.concurrency_key = p_key
$$;
