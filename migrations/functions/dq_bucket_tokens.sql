-- The tokens of a rate-limit bucket at p_now (the queue's own: key ''): what it held
-- when last spent, refilled at p_limit per p_period_seconds since, at most p_limit (the
-- burst). A bucket with no row is full. Read under the queue's claim lock.
CREATE OR REPLACE FUNCTION dq_bucket_tokens(p_queue_id uuid, p_key text, p_limit integer,
                                            p_period_seconds float8, p_now timestamptz)
RETURNS float8
LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        (SELECT least(p_limit::float8,
                      b.tokens + greatest(0, extract(epoch FROM p_now - b.updated_at))
                                 * p_limit / p_period_seconds)
         FROM rate_buckets b
         WHERE b.queue_id = p_queue_id AND b.concurrency_key = p_key),
        p_limit::float8)
$$;
