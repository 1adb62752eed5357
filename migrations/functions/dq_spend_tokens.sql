-- Spend tokens of rate-limit buckets at p_now: for each key (the queue's own: ''), its
-- tokens before (dq_bucket_tokens at p_now) less what was spent; keys that spent none,
-- or have no rate limit, are left alone. full_at is when the bucket will have refilled,
-- the purge's order (a refilled bucket's row is the same as none).
CREATE OR REPLACE FUNCTION dq_spend_tokens(p_queue_id uuid, p_keys text[], p_limits integer[],
                                           p_periods float8[], p_tokens_before float8[],
                                           p_spent integer[], p_now timestamptz)
RETURNS void
LANGUAGE sql AS $$
    INSERT INTO rate_buckets AS b (queue_id, concurrency_key, tokens, updated_at, full_at)
    SELECT p_queue_id, s.key, s.before - s.spent, p_now,
           p_now + make_interval(secs => (s.rate - (s.before - s.spent)) * s.period / s.rate)
    FROM unnest(p_keys, p_limits, p_periods, p_tokens_before, p_spent)
        AS s(key, rate, period, before, spent)
    WHERE s.spent > 0 AND s.rate IS NOT NULL
    ON CONFLICT (queue_id, concurrency_key) DO UPDATE
    SET tokens = EXCLUDED.tokens, updated_at = EXCLUDED.updated_at, full_at = EXCLUDED.full_at
$$;
