-- Claim up to p_limit due pending runs of a queue, each with a new claim token, in
-- claim order (docs/flow-control.md): priority, round (fair_rank), due time, id, and
-- within the queue's limits, with the schedule and slot of a task a schedule made
-- (docs/schedules.md). One not_found row for an unknown queue. With p_want_due,
-- every row carries seconds_until_due (when a claim could next get a run without a
-- notification: <= 0 "now", NULL "only on a notification"), and a claim that got
-- nothing answers one 'none' row carrying it (the long poll's next wake).
--
-- Every claim takes the queue's settings gate shared (7302, on the queue's name): a
-- settings change takes it exclusive, so no claim runs on settings read before a
-- change commits.
--
-- Without limits, a claim is one ordered scan with FOR UPDATE SKIP LOCKED (of
-- runs_claimable, or of runs_claim_order once the queue has used priorities or keys),
-- the picked ids first into an array, so a claim that finds nothing returns before any
-- UPDATE; the statements run on generic plans made once per connection (a custom plan
-- would probe the end of the index for its estimate on every call, walking the dead
-- entries claims leave there: tests/db checks the plan).
--
-- With limits, claims of the queue take its claim lock (7303) exclusive and go one at a
-- time (dq_admit_runs picks the runs); the claim's time (claimed_at) is read after the
-- lock, so the runs' recorded times show the limits held at every instant.
CREATE OR REPLACE FUNCTION dq_claim_v3(p_queue_name text, p_limit integer,
                                       p_claim_timeout integer, p_want_due boolean)
RETURNS TABLE (outcome text, run_id uuid, task_id uuid, attempt integer, task_name text,
               params jsonb, headers jsonb, retry_strategy jsonb, max_attempts integer,
               claim_expires_at timestamptz, workflow_run_id uuid, claim_token uuid,
               priority integer, concurrency_key text, seconds_until_due float8,
               schedule_name text, scheduled_for timestamptz)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $$
#variable_conflict use_column
DECLARE
    v_queue_id uuid;
    v_queue queues;
    v_ids uuid[] := '{}';
    v_now timestamptz := now();
    v_limited boolean := false;
    v_wake timestamptz;
    v_seconds float8;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(7302, hashtext(p_queue_name));
    SELECT * INTO v_queue FROM queues q WHERE q.name = p_queue_name;  -- read after the gate
    IF NOT FOUND THEN
        outcome := 'not_found';
        RETURN NEXT;
        RETURN;
    END IF;
    v_queue_id := v_queue.id;
    IF v_queue.paused THEN
        NULL;  -- nothing is handed out; a resume notifies
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
    ELSE
        PERFORM pg_advisory_xact_lock(7303, hashtext(v_queue_id::text));
        v_now := clock_timestamp();
        v_limited := true;
        SELECT a.ids, a.wake INTO v_ids, v_wake FROM dq_admit_runs(v_queue, p_limit, v_now) a;
        IF p_want_due AND cardinality(v_ids) >= p_limit THEN
            v_seconds := 0;  -- stopped at the caller's limit: more may be claimable now
        ELSIF p_want_due THEN
            -- the next run to come due, or the next token of a bucket that held one back
            v_wake := least(v_wake, (SELECT min(r.available_at) FROM runs r
                                     WHERE r.queue_id = v_queue_id AND r.status = 'pending'
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
                limited = v_limited
            -- a run canceled or moved since a limited claim's scan read it is left out (the
            -- runs of an unlimited claim are locked); as an OR, the status test cannot
            -- steer the planner to a partial index of pending runs, read whole for the ids
            WHERE r.id = ANY (v_ids) AND (NOT v_limited OR r.status = 'pending')
            RETURNING r.id, r.task_id, r.attempt, r.priority, r.fair_rank, r.available_at,
                      r.concurrency_key, r.claim_expires_at, r.claim_token
        )
        SELECT 'ok', c.id, c.task_id, c.attempt::integer, t.task_name, t.params, t.headers,
               t.retry_strategy, t.max_attempts::integer, c.claim_expires_at,
               t.workflow_run_id, c.claim_token, c.priority::integer, c.concurrency_key,
               v_seconds, t.schedule_name, t.scheduled_for
        FROM claimed c
        JOIN tasks t ON t.id = c.task_id
        ORDER BY c.priority DESC, c.fair_rank, c.available_at, c.id;
    ELSIF p_want_due THEN
        outcome := 'none';
        seconds_until_due := v_seconds;
        RETURN NEXT;
    END IF;
END
$$;
