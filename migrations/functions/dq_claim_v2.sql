-- Claim up to p_limit due pending runs of a queue, each with a new claim token, in
-- claim order (docs/flow-control.md): priority, round (fair_rank), due time, id, and
-- within the queue's limits. One not_found row for an unknown queue. With p_want_due,
-- every row carries seconds_until_due (when a claim could next get a run without a
-- notification: <= 0 "now", NULL "only on a notification"), and a claim that got
-- nothing answers one 'none' row carrying it (the long poll's next wake).
--
-- Every claim takes the queue's settings gate shared (7302): a settings change takes
-- it exclusive, so no claim runs on settings read before a change commits.
--
-- Without limits, a claim is one ordered scan with FOR UPDATE SKIP LOCKED (of
-- runs_claimable, or of runs_claim_order once the queue has used priorities or keys),
-- the picked ids first into an array, so a claim that finds nothing returns before any
-- UPDATE; the statements run on generic plans made once per connection (a custom plan
-- would probe the end of the index for its estimate on every call, walking the dead
-- entries claims leave there: tests/db checks the plan).
--
-- With limits, claims of the queue take its claim lock (7303) exclusive and go one at a
-- time: each counts the runs claimed under the limits after the previous one committed,
-- and reads its clock (claimed_at, the token buckets) after the lock, so the limits hold
-- at every instant and the runs' recorded times show it. The scan steps over the runs
-- of a key at its limit, or out of tokens, and goes on to other keys.
CREATE OR REPLACE FUNCTION dq_claim_v2(p_queue_name text, p_limit integer,
                                       p_claim_timeout integer, p_want_due boolean)
RETURNS TABLE (outcome text, run_id uuid, task_id uuid, attempt integer, task_name text,
               params jsonb, headers jsonb, retry_strategy jsonb, max_attempts integer,
               claim_expires_at timestamptz, workflow_run_id uuid, claim_token uuid,
               priority integer, concurrency_key text, seconds_until_due float8)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
AS $$
#variable_conflict use_column
DECLARE
    v_queue_id uuid;
    v_queue queues;
    v_ids uuid[] := '{}';
    v_now timestamptz;
    v_wake timestamptz;          -- the next token of a bucket that held runs back
    v_seconds float8;
    v_budget integer;
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
    SELECT q.id INTO v_queue_id FROM queues q WHERE q.name = p_queue_name;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found', NULL::uuid, NULL::uuid, NULL::integer, NULL::text,
                            NULL::jsonb, NULL::jsonb, NULL::jsonb, NULL::integer,
                            NULL::timestamptz, NULL::uuid, NULL::uuid, NULL::integer,
                            NULL::text, NULL::float8;
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock_shared(7302, hashtext(v_queue_id::text));
    SELECT * INTO v_queue FROM queues q WHERE q.id = v_queue_id;  -- read after the gate
    IF v_queue.paused THEN
        v_ids := '{}';  -- a resume notifies
    ELSIF v_queue.max_concurrency IS NULL AND v_queue.key_concurrency IS NULL
          AND v_queue.rate_limit IS NULL AND v_queue.key_rate_limit IS NULL
          AND v_queue.key_overrides = 0 THEN
        IF v_queue.ordered THEN
            v_ids := ARRAY(
                SELECT r.id FROM runs r
                WHERE r.queue_id = v_queue_id AND r.status = 'pending'
                  AND r.available_at <= now()
                ORDER BY r.priority DESC, r.fair_rank, r.available_at, r.id
                LIMIT p_limit
                FOR UPDATE SKIP LOCKED);
        ELSE
            v_ids := ARRAY(
                SELECT r.id FROM runs r
                WHERE r.queue_id = v_queue_id AND r.status = 'pending'
                  AND r.available_at <= now()
                ORDER BY r.available_at, r.id
                LIMIT p_limit
                FOR UPDATE SKIP LOCKED);
        END IF;
        IF p_want_due THEN
            -- the runs this claim leaves pending: due now, or when
            v_seconds := (SELECT extract(epoch FROM min(r.available_at) - now())::float8
                          FROM runs r
                          WHERE r.queue_id = v_queue_id AND r.status = 'pending'
                            AND r.id <> ALL (v_ids));
        END IF;
        IF cardinality(v_ids) > 0 THEN
            RETURN QUERY
            WITH claimed AS (
                UPDATE runs r
                SET status = 'claimed',
                    claimed_at = now(),
                    first_claimed_at = coalesce(r.first_claimed_at, now()),
                    claim_expires_at = now() + make_interval(secs => p_claim_timeout),
                    claim_token = gen_random_uuid()
                WHERE r.id = ANY (v_ids)
                RETURNING r.id, r.task_id, r.attempt, r.priority, r.fair_rank, r.available_at,
                          r.concurrency_key, r.claim_expires_at, r.claim_token
            )
            SELECT 'ok', c.id, c.task_id, c.attempt::integer, t.task_name, t.params,
                   t.headers, t.retry_strategy, t.max_attempts::integer, c.claim_expires_at,
                   t.workflow_run_id, c.claim_token, c.priority::integer, c.concurrency_key,
                   v_seconds
            FROM claimed c
            JOIN tasks t ON t.id = c.task_id
            ORDER BY c.priority DESC, c.fair_rank, c.available_at, c.id;
        ELSIF p_want_due THEN
            RETURN QUERY SELECT 'none', NULL::uuid, NULL::uuid, NULL::integer, NULL::text,
                                NULL::jsonb, NULL::jsonb, NULL::jsonb, NULL::integer,
                                NULL::timestamptz, NULL::uuid, NULL::uuid, NULL::integer,
                                NULL::text, v_seconds;
        END IF;
        RETURN;
    ELSE
        -- the limited path: one claim of the queue at a time
        PERFORM pg_advisory_xact_lock(7303, hashtext(v_queue_id::text));
        SELECT * INTO v_queue FROM queues q WHERE q.id = v_queue_id;
        v_now := clock_timestamp();
        v_budget := p_limit;
        IF v_queue.max_concurrency IS NOT NULL THEN
            v_budget := least(v_budget, v_queue.max_concurrency - (
                SELECT count(*) FROM runs r
                WHERE r.queue_id = v_queue_id AND r.status = 'claimed' AND r.limited)::integer);
        END IF;
        IF v_queue.rate_limit IS NOT NULL AND v_budget > 0 THEN
            v_tokens := dq_bucket_tokens(v_queue_id, '', v_queue.rate_limit,
                                         v_queue.rate_period_seconds, v_now);
            v_budget := least(v_budget, floor(v_tokens)::integer);
            IF v_tokens < 1 THEN
                v_wake := v_now + make_interval(
                    secs => (1 - v_tokens) * v_queue.rate_period_seconds / v_queue.rate_limit);
            END IF;
        END IF;
        IF v_budget > 0 THEN
            IF v_queue.ordered THEN
                OPEN v_cur FOR
                    SELECT r.id, r.concurrency_key FROM runs r
                    WHERE r.queue_id = v_queue_id AND r.status = 'pending'
                      AND r.available_at <= v_now
                    ORDER BY r.priority DESC, r.fair_rank, r.available_at, r.id;
            ELSE
                OPEN v_cur FOR
                    SELECT r.id, r.concurrency_key FROM runs r
                    WHERE r.queue_id = v_queue_id AND r.status = 'pending'
                      AND r.available_at <= v_now
                    ORDER BY r.available_at, r.id;
            END IF;
            LOOP
                FETCH v_cur INTO v_run;
                EXIT WHEN NOT FOUND;
                IF v_run.concurrency_key IS NOT NULL THEN
                    v_i := array_position(v_keys, v_run.concurrency_key);
                    IF v_i IS NULL THEN
                        -- first met: the key's limits (its override's, else the queue's)
                        SELECT coalesce(k.max_concurrency, v_queue.key_concurrency),
                               CASE WHEN k.rate_limit IS NOT NULL THEN k.rate_limit
                                    ELSE v_queue.key_rate_limit END,
                               CASE WHEN k.rate_limit IS NOT NULL THEN k.rate_period_seconds
                                    ELSE v_queue.key_rate_period_seconds END
                        INTO v_limit, v_rate, v_period
                        FROM (SELECT 1) AS one
                        LEFT JOIN queue_keys k
                            ON k.queue_id = v_queue_id
                           AND k.concurrency_key = v_run.concurrency_key;
                        v_keys := v_keys || v_run.concurrency_key;
                        v_key_limit := v_key_limit || v_limit;
                        v_key_used := v_key_used || CASE WHEN v_limit IS NULL THEN 0 ELSE (
                            SELECT count(*) FROM runs r
                            WHERE r.queue_id = v_queue_id AND r.status = 'claimed' AND r.limited
                              AND r.concurrency_key = v_run.concurrency_key)::integer END;
                        v_key_rate := v_key_rate || v_rate;
                        v_key_period := v_key_period || v_period;
                        v_key_tokens := v_key_tokens || CASE WHEN v_rate IS NULL THEN NULL
                            ELSE dq_bucket_tokens(v_queue_id, v_run.concurrency_key, v_rate,
                                                  v_period, v_now) END;
                        v_key_spent := v_key_spent || 0;
                        v_i := cardinality(v_keys);
                    END IF;
                    IF v_key_used[v_i] >= v_key_limit[v_i] THEN
                        CONTINUE;  -- held by its key's concurrency limit: a release notifies
                    END IF;
                    IF v_key_tokens[v_i] < 1 THEN
                        v_wake := least(v_wake, v_now + make_interval(
                            secs => (1 - v_key_tokens[v_i]) * v_key_period[v_i] / v_key_rate[v_i]));
                        CONTINUE;  -- held by its key's rate limit until its next token
                    END IF;
                    v_key_used[v_i] := v_key_used[v_i] + 1;
                    v_key_tokens[v_i] := v_key_tokens[v_i] - 1;
                    v_key_spent[v_i] := v_key_spent[v_i] + 1;
                END IF;
                v_ids := v_ids || v_run.id;
                EXIT WHEN cardinality(v_ids) >= v_budget;
            END LOOP;
            CLOSE v_cur;
        END IF;
        IF v_queue.rate_limit IS NOT NULL AND cardinality(v_ids) > 0
           AND cardinality(v_ids) >= v_budget AND v_tokens - cardinality(v_ids) < 1 THEN
            -- the queue's tokens ran out with runs perhaps left due: claim again at its next
            v_wake := least(v_wake, v_now + make_interval(
                secs => (1 - (v_tokens - cardinality(v_ids))) * v_queue.rate_period_seconds
                        / v_queue.rate_limit));
        END IF;
        IF cardinality(v_ids) > 0 THEN
            IF v_queue.rate_limit IS NOT NULL THEN
                PERFORM dq_spend_tokens(v_queue_id, ARRAY[''], ARRAY[v_queue.rate_limit],
                                        ARRAY[v_queue.rate_period_seconds], ARRAY[v_tokens],
                                        ARRAY[cardinality(v_ids)], v_now);
            END IF;
            IF EXISTS (SELECT FROM unnest(v_key_spent, v_key_rate) AS s(spent, rate)
                       WHERE s.spent > 0 AND s.rate IS NOT NULL) THEN
                PERFORM dq_spend_tokens(v_queue_id, v_keys, v_key_rate, v_key_period,
                                        -- the tokens before this claim spent them
                                        ARRAY(SELECT s.tokens + s.spent
                                              FROM unnest(v_key_tokens, v_key_spent)
                                                  WITH ORDINALITY AS s(tokens, spent, i)
                                              ORDER BY s.i),
                                        v_key_spent, v_now);
            END IF;
        END IF;
        IF p_want_due THEN
            IF cardinality(v_ids) >= p_limit THEN
                v_seconds := 0;  -- stopped at the caller's limit: more may be claimable now
            ELSE
                -- the next run to come due, or the next token of a bucket that held one
                -- back; runs held by a concurrency limit wait for a release's notification
                v_wake := least(v_wake, (SELECT min(r.available_at) FROM runs r
                                         WHERE r.queue_id = v_queue_id
                                           AND r.status = 'pending'
                                           AND r.available_at > v_now));
                v_seconds := extract(epoch FROM v_wake - v_now)::float8;
            END IF;
        END IF;
        IF cardinality(v_ids) > 0 THEN
            RETURN QUERY
            WITH claimed AS (
                UPDATE runs r
                SET status = 'claimed',
                    claimed_at = v_now,
                    first_claimed_at = coalesce(r.first_claimed_at, v_now),
                    claim_expires_at = v_now + make_interval(secs => p_claim_timeout),
                    claim_token = gen_random_uuid(),
                    limited = true
                -- a run canceled or moved since the scan read it is left out
                WHERE r.id = ANY (v_ids) AND r.status = 'pending'
                RETURNING r.id, r.task_id, r.attempt, r.priority, r.fair_rank, r.available_at,
                          r.concurrency_key, r.claim_expires_at, r.claim_token
            )
            SELECT 'ok', c.id, c.task_id, c.attempt::integer, t.task_name, t.params,
                   t.headers, t.retry_strategy, t.max_attempts::integer, c.claim_expires_at,
                   t.workflow_run_id, c.claim_token, c.priority::integer, c.concurrency_key,
                   v_seconds
            FROM claimed c
            JOIN tasks t ON t.id = c.task_id
            ORDER BY c.priority DESC, c.fair_rank, c.available_at, c.id;
        ELSIF p_want_due THEN
            RETURN QUERY SELECT 'none', NULL::uuid, NULL::uuid, NULL::integer, NULL::text,
                                NULL::jsonb, NULL::jsonb, NULL::jsonb, NULL::integer,
                                NULL::timestamptz, NULL::uuid, NULL::uuid, NULL::integer,
                                NULL::text, v_seconds;
        END IF;
        RETURN;
    END IF;
    -- paused
    IF p_want_due THEN
        RETURN QUERY SELECT 'none', NULL::uuid, NULL::uuid, NULL::integer, NULL::text,
                            NULL::jsonb, NULL::jsonb, NULL::jsonb, NULL::integer,
                            NULL::timestamptz, NULL::uuid, NULL::uuid, NULL::integer,
                            NULL::text, NULL::float8;
    END IF;
END
$$;
