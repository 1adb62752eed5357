-- name: seed_queue(queue_name, finished, pending, workflow_run_id)$
-- Test data in bulk (generate_series, not the API): `finished` finished tasks (mostly completed, 1 in 50 failed, 1 in 97 canceled; 20 task names and 1 in 997 named rare; completed one second apart, oldest first), then `pending` pending ones, each with its run; a checkpoint and a resolved wait for 1 task in 16; 1 task in 1000 in the workflow run. Returns the tasks created.
WITH q AS (
    SELECT id FROM queues WHERE name = :queue_name
), new_tasks AS (
    INSERT INTO tasks (queue_id, task_name, params, status, workflow_run_id, error, result,
                       created_at, completed_at)
    SELECT q.id, 'task_' || (mod(g, 20)), jsonb_build_object('n', g),
           CASE WHEN g > :finished THEN 'pending'
                WHEN mod(g, 50) = 0 THEN 'failed'
                WHEN mod(g, 97) = 0 THEN 'canceled'
                ELSE 'completed' END,
           CASE WHEN mod(g, 1000) = 0 THEN CAST(:workflow_run_id AS uuid) END,
           CASE WHEN g <= :finished AND mod(g, 50) = 0 THEN 'boom' END,
           CASE WHEN g <= :finished THEN jsonb_build_object('ok', g) END,
           now() - make_interval(secs => :finished + :pending - g + 60),
           CASE WHEN g <= :finished THEN now() - make_interval(secs => :finished - g + 30) END
    FROM q, generate_series(1, :finished + :pending) AS g
    RETURNING id, queue_id, status, created_at, completed_at
), new_runs AS (
    INSERT INTO runs (task_id, queue_id, attempt, status, available_at, first_claimed_at,
                      created_at, completed_at)
    SELECT t.id, t.queue_id, 1, t.status, t.created_at,
           CASE WHEN t.status <> 'pending' THEN t.created_at END, t.created_at, t.completed_at
    FROM new_tasks t
    RETURNING id, task_id
), new_checkpoints AS (
    INSERT INTO checkpoints (task_id, step_name, state, owner_run)
    SELECT r.task_id, 'step', '{"done": true}'::jsonb, r.id
    FROM new_runs r
    WHERE right(CAST(r.task_id AS text), 1) = '0'
), new_waits AS (
    INSERT INTO event_waits (task_id, run_id, step_name, event_name, status, payload,
                             timeout_at, resolved_at)
    SELECT r.task_id, r.id, 'wait', 'event_' || right(CAST(r.task_id AS text), 2), 'resolved',
           '{}'::jsonb, now(), now()
    FROM new_runs r
    WHERE right(CAST(r.task_id AS text), 1) = '0'
)
SELECT count(*) FROM new_tasks;

-- name: seed_events(count)!
-- `count` events over 100 names, one second apart, oldest first.
INSERT INTO events (event_name, payload, created_at)
SELECT 'event_' || (mod(g, 100)), jsonb_build_object('n', g), now() - make_interval(secs => :count - g)
FROM generate_series(1, :count) AS g;

-- name: analyze()!
-- Refresh the planner's statistics after seeding.
ANALYZE;

-- name: create_explain_function()!
-- A function that returns the plan of a statement given as text (EXPLAIN plans without running it).
CREATE FUNCTION test_explain(statement text) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    plan json;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || statement INTO plan;
    RETURN plan;
END
$$;

-- name: explain(statement)$
-- The plan of a statement with its parameters already bound, as JSON.
SELECT test_explain(:statement);

-- name: scans_in_transaction()
-- Sequential and index scans of each table so far in the current transaction (a statement's nested statements and cascades included).
SELECT relname, seq_scan, idx_scan
FROM pg_stat_xact_user_tables;

-- name: index_scans_in_transaction()
-- Index scans of each index so far in the current transaction.
SELECT c.relname, pg_stat_get_xact_numscans(c.oid) AS scans
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'i' AND n.nspname = 'public';

-- name: task_at(position)$
-- The id of the task at this position in id order (a deep cursor).
SELECT id FROM tasks ORDER BY id OFFSET :position LIMIT 1;

-- name: failed_task_of_queue(queue_id)^
-- One failed task of a queue, with its run.
SELECT t.id AS task_id, r.id AS run_id
FROM tasks t
JOIN runs r ON r.task_id = t.id
WHERE t.status = 'failed' AND t.queue_id = :queue_id
LIMIT 1;
