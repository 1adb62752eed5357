-- depends: 0006.claim_tokens
-- Hot path: less PostgreSQL work per create, claim and complete, with the same
-- semantics. Measured per operation (backend CPU) in docs/scale.md "Hot path".
--
-- 1. runs_by_queue_status (queue_id, status) is read by no query (the claim, the
--    gauges and seconds_until_due use runs_claimable; listings use runs_by_status),
--    yet every insert and status change of a run wrote it, and the planner could
--    pick it for the claim (then sorting every pending run of the queue: 3x the
--    cost of a claim on runs_claimable). Dropped.
--
-- 2. The foreign key runs.queue_id -> queues is redundant: a run dies with its task
--    and a task with its queue (tasks.queue_id ON DELETE CASCADE, kept), and
--    runs.queue_id is only ever written as its task's queue_id. Dropped: one
--    referential check (an index lookup and a row lock) less per inserted run.
--
-- 3. The foreign key runs.task_id -> tasks ON DELETE CASCADE is replaced by a
--    statement-level trigger on tasks that deletes the runs of the deleted tasks
--    (and one on TRUNCATE). The check it made per inserted run guarded nothing the
--    protocol does not already guarantee. Runs are inserted only:
--      - by dq_create_task / dq_create_tasks, with their task, in the same
--        statement or transaction (nobody else sees the task before it commits);
--      - by dq_fail_run and the expire_claims sweep, which lock the task row
--        (FOR UPDATE) and update it in the same transaction.
--    A task delete locks the task row too, so it waits for such a transaction; in
--    READ COMMITTED it then deletes the task, and the trigger's DELETE (a new
--    statement, so a new snapshot) sees and deletes the run just committed; in
--    REPEATABLE READ or SERIALIZABLE the delete fails on the concurrently updated
--    task instead. A run inserted after its task is gone finds no task to lock
--    (dq_fail_run answers not_found, expire_claims skips it). Every task delete
--    (the retention sweep, queue deletion in batches, the cascade from a deleted
--    queue, hand-written DELETEs) fires the trigger; TRUNCATE tasks deletes
--    every run. Changing a task's id is not
--    something any code does; nothing checks it any more.
--    checkpoints and event_waits keep their foreign keys to tasks and runs.
--
-- 4. The claimable notification: inserts notify once per statement and queue (a
--    statement-level trigger over the inserted rows, instead of a PL/pgSQL call and
--    a queue lookup per row), and the update trigger has a WHEN clause, so the
--    function runs only for a run that became claimable (back to pending, or due
--    earlier), not for every claim and completion. Same channel, same payload
--    (the queue name), delivered at commit as before.
--
-- 5. dq_complete_runs looks its runs and tasks up by id lists (= ANY), not by joins
--    with the JSON items: the planner hash-joined those by scanning all of runs and
--    tasks (three full scans per batch at 20,000 runs). Same locks in the same
--    order (tasks by id, then runs by id), same answers.
--
-- 6. dq_complete_run locks the task, then completes the run in one UPDATE that checks
--    the fence itself (claimed, under the token when given), so the usual case takes
--    no separate lock and lookup of the run; only a refused call locks and reads the
--    run to answer (not_found, conflict or stale_token, as before). Lock order task
--    then run, as in every transition.

DROP INDEX runs_by_queue_status;

ALTER TABLE runs DROP CONSTRAINT runs_queue_id_fkey;

-- AFTER DELETE ... FOR EACH STATEMENT on tasks: the runs of the deleted tasks.
-- An id list, not a join: the planner may hash-join a join by scanning all of runs.
CREATE FUNCTION dq_delete_task_runs() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM runs r WHERE r.task_id = ANY (ARRAY(SELECT o.id FROM old_rows o));
    RETURN NULL;
END
$$;

-- AFTER TRUNCATE on tasks: every run goes. A DELETE, not a TRUNCATE: event_waits
-- references runs and is truncated by the same command (TRUNCATE tasks requires
-- it), and a trigger may not truncate a table its command is truncating.
CREATE FUNCTION dq_truncate_task_runs() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM runs;
    RETURN NULL;
END
$$;

ALTER TABLE runs DROP CONSTRAINT runs_task_id_fkey;
CREATE TRIGGER tasks_delete_runs AFTER DELETE ON tasks
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dq_delete_task_runs();
CREATE TRIGGER tasks_truncate_runs AFTER TRUNCATE ON tasks
    FOR EACH STATEMENT EXECUTE FUNCTION dq_truncate_task_runs();

-- AFTER INSERT ... FOR EACH STATEMENT on runs: one notification per queue with a
-- pending run among the inserted rows.
CREATE FUNCTION dq_notify_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('durable_queue_claimable', q.name)
    FROM queues q
    WHERE q.id IN (SELECT n.queue_id FROM new_rows n WHERE n.status = 'pending');
    RETURN NULL;
END
$$;

DROP TRIGGER runs_notify_claimable ON runs;
CREATE TRIGGER runs_notify_inserted AFTER INSERT ON runs
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dq_notify_inserted();
-- durable_notify_claimable (0002.schema) checks the same condition again: harmless.
CREATE TRIGGER runs_notify_claimable AFTER UPDATE OF status, available_at ON runs
    FOR EACH ROW
    WHEN (NEW.status = 'pending'
          AND (OLD.status <> 'pending' OR NEW.available_at < OLD.available_at))
    EXECUTE FUNCTION durable_notify_claimable();

-- Complete many runs, each fenced on its own: one row per item of the JSON array
-- [{run_id, result?, claim_token?}], in input order, with outcome completed,
-- conflict / stale_token (status: the run's status) or not_found. A run named
-- twice completes once; the second item is a conflict.
CREATE OR REPLACE FUNCTION dq_complete_runs(p_runs jsonb)
RETURNS TABLE (run_id uuid, outcome text, status text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_run_ids uuid[];
    v_task_ids uuid[];
BEGIN
    v_run_ids := ARRAY(SELECT CAST(e->>'run_id' AS uuid) FROM jsonb_array_elements(p_runs) e);
    -- lock order task → run; each in id order, so concurrent batches cannot deadlock
    v_task_ids := ARRAY(
        SELECT t.id FROM tasks t
        WHERE t.id = ANY (ARRAY(SELECT r.task_id FROM runs r WHERE r.id = ANY (v_run_ids)))
        ORDER BY t.id
        FOR UPDATE);
    PERFORM 1 FROM runs r WHERE r.id = ANY (v_run_ids) ORDER BY r.id FOR UPDATE;
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
        WHERE r.id = ANY (v_run_ids) AND r.id = items.run_id AND items.first
          AND r.status = 'claimed'
          AND (items.claim_token IS NULL OR items.claim_token = CAST(r.claim_token AS text))
        RETURNING r.id, r.task_id, r.result
    ), done_tasks AS (
        UPDATE tasks t
        SET status = 'completed', error = NULL, result = d.result, completed_at = now()
        FROM done_runs d
        WHERE t.id = ANY (v_task_ids) AND t.id = d.task_id AND t.status = 'pending'
        RETURNING t.id
    )
    SELECT items.run_id,
           CASE WHEN r.id IS NULL THEN 'not_found'
                WHEN items.first AND d.id IS NOT NULL THEN 'completed'
                -- claimed before this statement and not completed by it: another token
                WHEN items.first AND r.status = 'claimed' THEN 'stale_token'
                ELSE 'conflict' END,
           CASE WHEN r.id IS NULL THEN NULL
                WHEN d.id IS NOT NULL THEN 'completed'
                ELSE r.status END
    FROM items
    LEFT JOIN runs r ON r.id = items.run_id AND r.id = ANY (v_run_ids)
    LEFT JOIN done_runs d ON d.id = items.run_id
    ORDER BY items.ord;
END
$$;

-- Complete a claimed run with its result, and its task.
-- outcome: ok, not_found, conflict / stale_token (status: the run's status).
CREATE OR REPLACE FUNCTION dq_complete_run(p_run_id uuid, p_result jsonb,
                                           p_claim_token text DEFAULT NULL)
RETURNS TABLE (outcome text, status text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_task_id uuid;
    v_run runs;
    v_holds text;
BEGIN
    SELECT t.id INTO v_task_id FROM tasks t
    WHERE t.id = (SELECT r.task_id FROM runs r WHERE r.id = p_run_id)
    FOR UPDATE;
    UPDATE runs r
    SET status = 'completed', result = p_result, completed_at = now(), claim_expires_at = NULL,
        claim_token = NULL
    WHERE r.id = p_run_id AND r.status = 'claimed'
      AND (p_claim_token IS NULL OR p_claim_token = CAST(r.claim_token AS text));
    IF NOT FOUND THEN
        -- refused, or claimed meanwhile (a claim does not lock the task): decide under the
        -- run's lock, as dq_lock_run would have
        SELECT * INTO v_run FROM runs r WHERE r.id = p_run_id FOR UPDATE;
        IF NOT FOUND THEN
            RETURN QUERY SELECT 'not_found', NULL::text;
            RETURN;
        END IF;
        v_holds := dq_holds(v_run, p_claim_token);
        IF v_holds <> 'ok' THEN
            RETURN QUERY SELECT v_holds, v_run.status;
            RETURN;
        END IF;
        UPDATE runs r
        SET status = 'completed', result = p_result, completed_at = now(),
            claim_expires_at = NULL, claim_token = NULL
        WHERE r.id = p_run_id;
    END IF;
    UPDATE tasks t
    SET status = 'completed', error = NULL, result = p_result, completed_at = now()
    WHERE t.id = v_task_id AND t.status = 'pending';
    RETURN QUERY SELECT 'ok', 'completed';
END
$$;
