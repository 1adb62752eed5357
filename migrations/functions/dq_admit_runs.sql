-- Pick up to p_limit due pending runs of a queue with limits (p_queue, read under its
-- settings gate), in claim order, within every limit, and spend their tokens; the
-- caller holds the queue's claim lock (7303), so the claims of the queue go one at a
-- time and each count below sees every claim committed before it. p_now: the claim's
-- time, read after that lock.
-- ids: the runs picked (the caller claims them). wake: the earliest next token of a
-- bucket that held a run back, or NULL (runs held by a concurrency limit wait for a
-- release's notification).
-- The queue's free slots (max_concurrency less its runs claimed under a limit, on
-- runs_in_flight) and tokens bound the claim; then the scan in claim order steps over
-- the runs of a key at its limit, or out of tokens, and goes on to other keys: a key's
-- limits and counts are read when the scan first meets it.
CREATE OR REPLACE FUNCTION dq_admit_runs(p_queue queues, p_limit integer, p_now timestamptz,
                                         OUT ids uuid[], OUT wake timestamptz)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
AS $$
DECLARE
    v_budget integer := p_limit;
    v_tokens float8;
    v_cur refcursor;
    v_run record;
    v_i integer;
    v_limit integer;
    v_rate integer;
    v_period float8;
    -- per key met in the scan: its limit, runs it holds (claimed + picked), its bucket
    v_keys text[] := '{}';
    v_key_limit integer[] := '{}';
    v_key_used integer[] := '{}';
    v_key_rate integer[] := '{}';
    v_key_period float8[] := '{}';
    v_key_tokens float8[] := '{}';
    v_key_spent integer[] := '{}';
BEGIN
    ids := '{}';
    IF p_queue.max_concurrency IS NOT NULL THEN
        v_budget := least(v_budget, p_queue.max_concurrency - (
            SELECT count(*) FROM runs r
            WHERE r.queue_id = p_queue.id AND r.status = 'claimed' AND r.limited)::integer);
    END IF;
    IF p_queue.rate_limit IS NOT NULL AND v_budget > 0 THEN
        v_tokens := dq_bucket_tokens(p_queue.id, '', p_queue.rate_limit,
                                     p_queue.rate_period_seconds, p_now);
        v_budget := least(v_budget, floor(v_tokens)::integer);
    END IF;
    IF v_budget > 0 THEN
        IF p_queue.ordered THEN
            OPEN v_cur FOR
                SELECT r.id, r.concurrency_key FROM runs r
                WHERE r.queue_id = p_queue.id AND r.status = 'pending'
                  AND r.available_at <= p_now
                ORDER BY r.priority DESC, r.fair_rank, r.available_at, r.id;
        ELSE
            OPEN v_cur FOR
                SELECT r.id, r.concurrency_key FROM runs r
                WHERE r.queue_id = p_queue.id AND r.status = 'pending'
                  AND r.available_at <= p_now
                ORDER BY r.available_at, r.id;
        END IF;
        LOOP
            FETCH v_cur INTO v_run;
            EXIT WHEN NOT FOUND;
            IF v_run.concurrency_key IS NOT NULL THEN
                v_i := array_position(v_keys, v_run.concurrency_key);
                IF v_i IS NULL THEN
                    -- first met: the key's limits (its override's, else the queue's)
                    SELECT l.max_concurrency, l.rate_limit, l.rate_period_seconds
                    INTO v_limit, v_rate, v_period
                    FROM dq_key_limits(p_queue, v_run.concurrency_key) AS l;
                    v_keys := v_keys || v_run.concurrency_key;
                    v_key_limit := v_key_limit || v_limit;
                    v_key_used := v_key_used || CASE WHEN v_limit IS NULL THEN 0 ELSE (
                        SELECT count(*) FROM runs r
                        WHERE r.queue_id = p_queue.id AND r.status = 'claimed' AND r.limited
                          AND r.concurrency_key = v_run.concurrency_key)::integer END;
                    v_key_rate := v_key_rate || v_rate;
                    v_key_period := v_key_period || v_period;
                    v_key_tokens := v_key_tokens || CASE WHEN v_rate IS NULL THEN NULL
                        ELSE dq_bucket_tokens(p_queue.id, v_run.concurrency_key, v_rate,
                                              v_period, p_now) END;
                    v_key_spent := v_key_spent || 0;
                    v_i := cardinality(v_keys);
                END IF;
                IF v_key_used[v_i] >= v_key_limit[v_i] THEN
                    CONTINUE;  -- held by its key's concurrency limit: a release notifies
                END IF;
                IF v_key_tokens[v_i] < 1 THEN
                    wake := least(wake, p_now + make_interval(
                        secs => (1 - v_key_tokens[v_i]) * v_key_period[v_i] / v_key_rate[v_i]));
                    CONTINUE;  -- held by its key's rate limit until its next token
                END IF;
                v_key_used[v_i] := v_key_used[v_i] + 1;
                v_key_tokens[v_i] := v_key_tokens[v_i] - 1;
                v_key_spent[v_i] := v_key_spent[v_i] + 1;
            END IF;
            ids := ids || v_run.id;
            EXIT WHEN cardinality(ids) >= v_budget;
        END LOOP;
        CLOSE v_cur;
    END IF;
    IF p_queue.rate_limit IS NOT NULL AND v_tokens - cardinality(ids) < 1
       AND cardinality(ids) >= v_budget THEN
        -- the queue's tokens ran out (before the scan, or with runs perhaps left due)
        wake := least(wake, p_now + make_interval(
            secs => (1 - (v_tokens - cardinality(ids))) * p_queue.rate_period_seconds
                    / p_queue.rate_limit));
    END IF;
    IF cardinality(ids) > 0 AND p_queue.rate_limit IS NOT NULL THEN
        PERFORM dq_spend_tokens(p_queue.id, ARRAY[''], ARRAY[p_queue.rate_limit],
                                ARRAY[p_queue.rate_period_seconds], ARRAY[v_tokens],
                                ARRAY[cardinality(ids)], p_now);
    END IF;
    IF EXISTS (SELECT FROM unnest(v_key_spent, v_key_rate) AS s(spent, rate)
               WHERE s.spent > 0 AND s.rate IS NOT NULL) THEN
        PERFORM dq_spend_tokens(p_queue.id, v_keys, v_key_rate, v_key_period,
                                -- the tokens before this claim spent them
                                ARRAY(SELECT s.tokens + s.spent
                                      FROM unnest(v_key_tokens, v_key_spent)
                                          WITH ORDINALITY AS s(tokens, spent, i)
                                      ORDER BY s.i),
                                v_key_spent, p_now);
    END IF;
END
$$;
