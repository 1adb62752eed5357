-- depends: 0005.monitoring
-- Claim tokens: a fence that survives sleep and release. A run keeps its id when
-- it sleeps on an event or is released by schedule, so the run id alone cannot
-- tell its current holder from one that held it before. Every claim now draws a
-- new random token (gen_random_uuid(): 122 random bits), stored on the run and
-- handed to the claimer; a run that stops being claimed (completed, failed,
-- released, asleep, expired, canceled) forgets it. Every holder function takes
-- an optional p_claim_token: when given, the run must be claimed under exactly
-- that token, else the answer is a conflict and nothing changes ('stale_token'
-- when the run is claimed under another token, 'conflict' when it is not
-- claimed at all). When not given, the old rule applies (the run must be
-- claimed), so clients that never send a token keep working.
--
-- The holder functions are those of 0003.functions with the token parameter
-- (DEFAULT NULL, so the calls of a server from before this migration still
-- resolve to them); the claim returns the token as one more column.

-- Nullable, no default: adding it rewrites nothing.
ALTER TABLE runs ADD COLUMN claim_token uuid;

-- Whether a holder call may act on v_run: claimed, and under p_claim_token when given.
CREATE FUNCTION dq_holds(v_run runs, p_claim_token text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN v_run.status <> 'claimed' THEN 'conflict'
        WHEN p_claim_token IS NOT NULL
             AND p_claim_token IS DISTINCT FROM CAST(v_run.claim_token AS text) THEN 'stale_token'
        ELSE 'ok'
    END
$$;

DROP FUNCTION dq_claim(text, integer, integer);
DROP FUNCTION dq_complete_run(uuid, jsonb);
DROP FUNCTION dq_complete_runs(jsonb);
DROP FUNCTION dq_fail_run(uuid, text);
DROP FUNCTION dq_schedule_run(uuid, timestamptz);
DROP FUNCTION dq_extend_claim(uuid, integer);
DROP FUNCTION dq_put_checkpoint(uuid, text, jsonb, uuid, integer);
DROP FUNCTION dq_wait_for_event(uuid, uuid, text, text, integer);
DROP FUNCTION dq_cancel_task(uuid);

-- Claim up to p_limit due pending runs of a queue (oldest due first), each returned
-- with its task and the new claim token; a single not_found row when the queue
-- does not exist.
CREATE FUNCTION dq_claim(p_queue_name text, p_limit integer, p_claim_timeout integer)
RETURNS TABLE (outcome text, run_id uuid, task_id uuid, attempt integer, task_name text,
               params jsonb, headers jsonb, retry_strategy jsonb, max_attempts integer,
               claim_expires_at timestamptz, workflow_run_id uuid, claim_token uuid)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_queue_id uuid;
BEGIN
    SELECT q.id INTO v_queue_id FROM queues q WHERE q.name = p_queue_name;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found', NULL::uuid, NULL::uuid, NULL::integer, NULL::text,
                            NULL::jsonb, NULL::jsonb, NULL::jsonb, NULL::integer,
                            NULL::timestamptz, NULL::uuid, NULL::uuid;
        RETURN;
    END IF;
    RETURN QUERY
    WITH picked AS (
        SELECT r.id
        FROM runs r
        WHERE r.queue_id = v_queue_id AND r.status = 'pending' AND r.available_at <= now()
        ORDER BY r.available_at, r.id
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE runs r
        SET status = 'claimed',
            claimed_at = now(),
            first_claimed_at = coalesce(r.first_claimed_at, now()),
            claim_expires_at = now() + make_interval(secs => p_claim_timeout),
            claim_token = gen_random_uuid()
        FROM picked
        WHERE r.id = picked.id
        RETURNING r.id, r.task_id, r.attempt, r.available_at, r.claim_expires_at, r.claim_token
    )
    SELECT 'ok', c.id, c.task_id, c.attempt, t.task_name, t.params, t.headers,
           t.retry_strategy, t.max_attempts, c.claim_expires_at, t.workflow_run_id,
           c.claim_token
    FROM claimed c
    JOIN tasks t ON t.id = c.task_id
    ORDER BY c.available_at, c.id;
END
$$;

-- Complete a claimed run with its result, and its task.
-- outcome: ok, not_found, conflict / stale_token (status: the run's status).
CREATE FUNCTION dq_complete_run(p_run_id uuid, p_result jsonb, p_claim_token text DEFAULT NULL)
RETURNS TABLE (outcome text, status text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_run runs;
    v_holds text;
BEGIN
    v_run := dq_lock_run(p_run_id);
    IF v_run.id IS NULL THEN
        RETURN QUERY SELECT 'not_found', NULL::text;
        RETURN;
    END IF;
    v_holds := dq_holds(v_run, p_claim_token);
    IF v_holds <> 'ok' THEN
        RETURN QUERY SELECT v_holds, v_run.status;
        RETURN;
    END IF;
    UPDATE runs r
    SET status = 'completed', result = p_result, completed_at = now(), claim_expires_at = NULL,
        claim_token = NULL
    WHERE r.id = p_run_id;
    UPDATE tasks t
    SET status = 'completed', error = NULL, result = p_result, completed_at = now()
    WHERE t.id = v_run.task_id AND t.status = 'pending';
    RETURN QUERY SELECT 'ok', 'completed';
END
$$;

-- Complete many runs, each fenced on its own: one row per item of the JSON array
-- [{run_id, result?, claim_token?}], in input order, with outcome completed,
-- conflict / stale_token (status: the run's status) or not_found. A run named
-- twice completes once; the second item is a conflict.
CREATE FUNCTION dq_complete_runs(p_runs jsonb)
RETURNS TABLE (run_id uuid, outcome text, status text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    -- lock order task → run; each in id order, so concurrent batches cannot deadlock
    PERFORM 1 FROM tasks t
    WHERE t.id IN (SELECT r.task_id FROM runs r
                   WHERE r.id IN (SELECT CAST(e->>'run_id' AS uuid)
                                  FROM jsonb_array_elements(p_runs) e))
    ORDER BY t.id
    FOR UPDATE;
    PERFORM 1 FROM runs r
    WHERE r.id IN (SELECT CAST(e->>'run_id' AS uuid) FROM jsonb_array_elements(p_runs) e)
    ORDER BY r.id
    FOR UPDATE;
    RETURN QUERY
    WITH items AS (
        SELECT CAST(i.e->>'run_id' AS uuid) AS run_id, i.e->'result' AS result,
               i.e->>'claim_token' AS claim_token, i.ord,
               row_number() OVER (PARTITION BY CAST(i.e->>'run_id' AS uuid) ORDER BY i.ord) = 1
                   AS first
        FROM jsonb_array_elements(p_runs) WITH ORDINALITY AS i(e, ord)
    ), done_runs AS (
        UPDATE runs r
        SET status = 'completed', result = items.result, completed_at = now(),
            claim_expires_at = NULL, claim_token = NULL
        FROM items
        WHERE r.id = items.run_id AND items.first AND r.status = 'claimed'
          AND (items.claim_token IS NULL OR items.claim_token = CAST(r.claim_token AS text))
        RETURNING r.id, r.task_id, r.result
    ), done_tasks AS (
        UPDATE tasks t
        SET status = 'completed', error = NULL, result = d.result, completed_at = now()
        FROM done_runs d
        WHERE t.id = d.task_id AND t.status = 'pending'
        RETURNING t.id
    )
    SELECT items.run_id,
           CASE WHEN r.id IS NULL THEN 'not_found'
                WHEN items.first AND d.id IS NOT NULL THEN 'completed'
                -- claimed before this statement and not completed by it: another token
                WHEN items.first AND r.status = 'claimed' THEN 'stale_token'
                ELSE 'conflict' END,
           CASE WHEN r.id IS NULL THEN NULL
                WHEN EXISTS (SELECT 1 FROM done_runs d2 WHERE d2.id = items.run_id)
                THEN 'completed'
                ELSE r.status END
    FROM items
    LEFT JOIN runs r ON r.id = items.run_id
    LEFT JOIN done_runs d ON d.id = items.run_id
    ORDER BY items.ord;
END
$$;

-- Fail a claimed run. A retry (attempt + 1) is created, pending after the task's
-- backoff, while the task's explicit failures stay below max_attempts; else the
-- task fails with the error. outcome: ok (attempt; next_run_id and next_attempt_at
-- when retried), not_found, conflict / stale_token (status: the run's status).
CREATE FUNCTION dq_fail_run(p_run_id uuid, p_error text, p_claim_token text DEFAULT NULL)
RETURNS TABLE (outcome text, status text, attempt integer, next_run_id uuid,
               next_attempt_at timestamptz)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_run runs;
    v_task tasks;
    v_holds text;
BEGIN
    v_run := dq_lock_run(p_run_id);
    IF v_run.id IS NULL THEN
        RETURN QUERY SELECT 'not_found', NULL::text, NULL::integer, NULL::uuid, NULL::timestamptz;
        RETURN;
    END IF;
    v_holds := dq_holds(v_run, p_claim_token);
    IF v_holds <> 'ok' THEN
        RETURN QUERY SELECT v_holds, v_run.status, v_run.attempt, NULL::uuid,
                            NULL::timestamptz;
        RETURN;
    END IF;
    UPDATE runs r
    SET status = 'failed', error = p_error, completed_at = now(), claim_expires_at = NULL,
        claim_token = NULL
    WHERE r.id = p_run_id;
    UPDATE tasks t SET failure_count = t.failure_count + 1
    WHERE t.id = v_run.task_id
    RETURNING * INTO v_task;
    IF v_task.failure_count < v_task.max_attempts THEN
        RETURN QUERY
        INSERT INTO runs (task_id, queue_id, attempt, available_at)
        VALUES (v_task.id, v_task.queue_id,
                (SELECT max(r.attempt) FROM runs r WHERE r.task_id = v_task.id) + 1,
                now() + make_interval(
                    secs => dq_retry_delay(v_task.retry_strategy, v_task.failure_count)))
        RETURNING 'ok', 'failed', v_run.attempt, id, available_at;
        RETURN;
    END IF;
    UPDATE tasks t
    SET status = 'failed', error = p_error, result = NULL, completed_at = now()
    WHERE t.id = v_task.id AND t.status = 'pending';
    RETURN QUERY SELECT 'ok', 'failed', v_run.attempt, NULL::uuid, NULL::timestamptz;
END
$$;

-- Move a pending run to p_run_at, or release a claimed one to resume then. With a
-- token, only the claim it names may release the run (a pending run is a conflict).
-- outcome: ok (available_at), not_found, conflict / stale_token (status: the run's status).
CREATE FUNCTION dq_schedule_run(p_run_id uuid, p_run_at timestamptz,
                                p_claim_token text DEFAULT NULL)
RETURNS TABLE (outcome text, status text, available_at timestamptz)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_run runs;
    v_holds text;
BEGIN
    v_run := dq_lock_run(p_run_id);
    IF v_run.id IS NULL THEN
        RETURN QUERY SELECT 'not_found', NULL::text, NULL::timestamptz;
        RETURN;
    END IF;
    IF v_run.status NOT IN ('pending', 'claimed') THEN
        RETURN QUERY SELECT 'conflict', v_run.status, NULL::timestamptz;
        RETURN;
    END IF;
    IF p_claim_token IS NOT NULL THEN
        v_holds := dq_holds(v_run, p_claim_token);
        IF v_holds <> 'ok' THEN
            RETURN QUERY SELECT v_holds, v_run.status, NULL::timestamptz;
            RETURN;
        END IF;
    END IF;
    RETURN QUERY
    UPDATE runs r
    SET status = 'pending', available_at = p_run_at, claimed_at = NULL, claim_expires_at = NULL,
        claim_token = NULL
    WHERE r.id = p_run_id
    RETURNING 'ok', r.status, r.available_at;
END
$$;

-- Push a live claim's expiry to now + p_extend_by seconds.
-- outcome: ok (claim_expires_at), not_found, conflict / stale_token (status: the run's status).
CREATE FUNCTION dq_extend_claim(p_run_id uuid, p_extend_by integer,
                                p_claim_token text DEFAULT NULL)
RETURNS TABLE (outcome text, status text, claim_expires_at timestamptz)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_run runs;
    v_holds text;
BEGIN
    v_run := dq_lock_run(p_run_id);
    IF v_run.id IS NULL THEN
        RETURN QUERY SELECT 'not_found', NULL::text, NULL::timestamptz;
        RETURN;
    END IF;
    v_holds := dq_holds(v_run, p_claim_token);
    IF v_holds <> 'ok' THEN
        RETURN QUERY SELECT v_holds, v_run.status, NULL::timestamptz;
        RETURN;
    END IF;
    RETURN QUERY
    UPDATE runs r
    SET claim_expires_at = now() + make_interval(secs => p_extend_by)
    WHERE r.id = p_run_id
    RETURNING 'ok', r.status, r.claim_expires_at;
END
$$;

-- Store the state of one step of a task for the run that holds the claim, and
-- optionally extend that claim. outcome: ok (updated_at), task_not_found,
-- run_not_found, not_of_task, conflict / stale_token (status: the run's status).
CREATE FUNCTION dq_put_checkpoint(p_task_id uuid, p_step_name text, p_state jsonb,
                                  p_owner_run uuid, p_extend_claim_by integer,
                                  p_claim_token text DEFAULT NULL)
RETURNS TABLE (outcome text, status text, updated_at timestamptz)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_run runs;
    v_holds text;
BEGIN
    PERFORM 1 FROM tasks t WHERE t.id = p_task_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'task_not_found', NULL::text, NULL::timestamptz;
        RETURN;
    END IF;
    SELECT * INTO v_run FROM runs r WHERE r.id = p_owner_run FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'run_not_found', NULL::text, NULL::timestamptz;
        RETURN;
    END IF;
    IF v_run.task_id <> p_task_id THEN
        RETURN QUERY SELECT 'not_of_task', v_run.status, NULL::timestamptz;
        RETURN;
    END IF;
    v_holds := dq_holds(v_run, p_claim_token);
    IF v_holds <> 'ok' THEN
        RETURN QUERY SELECT v_holds, v_run.status, NULL::timestamptz;
        RETURN;
    END IF;
    IF p_extend_claim_by IS NOT NULL THEN
        UPDATE runs r SET claim_expires_at = now() + make_interval(secs => p_extend_claim_by)
        WHERE r.id = p_owner_run;
    END IF;
    RETURN QUERY
    INSERT INTO checkpoints AS c (task_id, step_name, state, owner_run, updated_at)
    VALUES (p_task_id, p_step_name, p_state, p_owner_run, now())
    ON CONFLICT (task_id, step_name)
    DO UPDATE SET state = EXCLUDED.state, owner_run = EXCLUDED.owner_run, updated_at = now()
    RETURNING 'ok', v_run.status, c.updated_at;
END
$$;

-- Steps 1-4 of DESIGN.md "Events and waits" for the run holding its claim.
-- outcome: resolved (payload), timeout, sleeping, not_found, conflict / stale_token
-- (status: the run's status), not_of_task.
CREATE FUNCTION dq_wait_for_event(p_run_id uuid, p_task_id uuid, p_event_name text,
                                  p_step_name text, p_timeout_seconds integer,
                                  p_claim_token text DEFAULT NULL)
RETURNS TABLE (outcome text, status text, payload jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_run runs;
    v_wait event_waits;
    v_payload jsonb;
    v_event_found boolean;
    v_holds text;
BEGIN
    PERFORM pg_advisory_xact_lock(7301, hashtext(p_event_name));
    v_run := dq_lock_run(p_run_id);
    IF v_run.id IS NULL THEN
        RETURN QUERY SELECT 'not_found', NULL::text, NULL::jsonb;
        RETURN;
    END IF;
    v_holds := dq_holds(v_run, p_claim_token);
    IF v_holds <> 'ok' THEN
        RETURN QUERY SELECT v_holds, v_run.status, NULL::jsonb;
        RETURN;
    END IF;
    IF v_run.task_id <> p_task_id THEN
        RETURN QUERY SELECT 'not_of_task', v_run.status, NULL::jsonb;
        RETURN;
    END IF;
    SELECT * INTO v_wait FROM event_waits w
    WHERE w.task_id = p_task_id AND w.step_name = p_step_name;
    IF FOUND AND v_wait.status = 'resolved' THEN
        RETURN QUERY SELECT 'resolved', v_run.status, v_wait.payload;
        RETURN;
    END IF;
    IF FOUND AND v_wait.status = 'timeout' THEN
        RETURN QUERY SELECT 'timeout', v_run.status, NULL::jsonb;
        RETURN;
    END IF;
    SELECT e.payload INTO v_payload FROM events e
    WHERE e.event_name = p_event_name
    ORDER BY e.created_at DESC, e.id DESC
    LIMIT 1;
    v_event_found := FOUND;
    INSERT INTO event_waits AS w (task_id, run_id, step_name, event_name, status, payload,
                                  timeout_at, resolved_at)
    VALUES (p_task_id, p_run_id, p_step_name, p_event_name,
            CASE WHEN v_event_found THEN 'resolved' ELSE 'waiting' END, v_payload,
            now() + make_interval(secs => p_timeout_seconds),
            CASE WHEN v_event_found THEN now() END)
    ON CONFLICT (task_id, step_name)
    DO UPDATE SET run_id = EXCLUDED.run_id, event_name = EXCLUDED.event_name,
                  status = EXCLUDED.status, payload = EXCLUDED.payload,
                  timeout_at = EXCLUDED.timeout_at, resolved_at = EXCLUDED.resolved_at;
    IF v_event_found THEN
        RETURN QUERY SELECT 'resolved', v_run.status, v_payload;
        RETURN;
    END IF;
    UPDATE runs r
    SET status = 'sleeping', claimed_at = NULL, claim_expires_at = NULL, claim_token = NULL
    WHERE r.id = p_run_id;
    RETURN QUERY SELECT 'sleeping', 'sleeping', NULL::jsonb;
END
$$;

-- Cancel a pending task and its pending, claimed and sleeping runs (a holder's
-- next call gets a conflict). outcome: ok, not_found, conflict (status: the task's).
CREATE FUNCTION dq_cancel_task(p_task_id uuid)
RETURNS TABLE (outcome text, status text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_status text;
BEGIN
    SELECT t.status INTO v_status FROM tasks t WHERE t.id = p_task_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found', NULL::text;
        RETURN;
    END IF;
    IF v_status <> 'pending' THEN
        RETURN QUERY SELECT 'conflict', v_status;
        RETURN;
    END IF;
    UPDATE tasks t
    SET status = 'canceled', error = 'canceled', result = NULL, completed_at = now()
    WHERE t.id = p_task_id;
    UPDATE runs r
    SET status = 'canceled', error = 'canceled', completed_at = now(), claim_expires_at = NULL,
        claim_token = NULL
    WHERE r.task_id = p_task_id AND r.status IN ('pending', 'claimed', 'sleeping');
    RETURN QUERY SELECT 'ok', 'canceled';
END
$$;
