-- name: scale_seed_tasks(queue_id, first, count, finished, workflow_run_id)$
-- Tasks first .. first + count - 1 of a queue whose tasks 1 .. finished are finished (mostly completed, 1 in 50 failed, 1 in 97 canceled; task g finished finished - g + 60 seconds ago) and the rest pending and due; one run each; a checkpoint and a resolved wait for 1 task in 16; 1 in 1000 in the workflow run; 1 in 997 named rare. Benchmark set-up only.
WITH new_tasks AS (
    INSERT INTO tasks (queue_id, task_name, params, status, workflow_run_id, error, result,
                       created_at, completed_at)
    SELECT :queue_id,
           CASE WHEN mod(g, 997) = 0 THEN 'rare' ELSE 'task_' || mod(g, 20) END,
           jsonb_build_object('n', g),
           CASE WHEN g > :finished THEN 'pending'
                WHEN mod(g, 50) = 0 THEN 'failed'
                WHEN mod(g, 97) = 0 THEN 'canceled'
                ELSE 'completed' END,
           CASE WHEN mod(g, 1000) = 0 THEN CAST(:workflow_run_id AS uuid) END,
           CASE WHEN g <= :finished AND mod(g, 50) = 0 THEN 'boom' END,
           CASE WHEN g <= :finished THEN jsonb_build_object('ok', g) END,
           now() - make_interval(secs => greatest(:finished - g, 0) + 120),
           CASE WHEN g <= :finished THEN now() - make_interval(secs => :finished - g + 60) END
    FROM generate_series(:first, :first + :count - 1) AS g
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

-- name: scale_seed_events(count)!
-- `count` events over 100 names, one second apart (benchmark set-up only).
INSERT INTO events (event_name, payload, created_at)
SELECT 'event_' || mod(g, 100), jsonb_build_object('n', g), now() - make_interval(secs => :count - g)
FROM generate_series(1, :count) AS g;

-- name: scale_task_ids(queue_id, count)
-- `count` task ids of a queue spread over its whole range (every n-th), for detail lookups and deep cursors.
SELECT id FROM (
    SELECT id, row_number() OVER (ORDER BY id) AS n, count(*) OVER () AS total
    FROM tasks WHERE queue_id = :queue_id
) AS numbered
WHERE mod(n, greatest(total / :count, 1)) = 0;

-- name: scale_ttl_for_due(queue_id, due)$
-- The task TTL (seconds) under which about `due` finished tasks of the queue are past it.
SELECT ceil(extract(epoch FROM now() - completed_at))::integer - 1
FROM tasks
WHERE queue_id = :queue_id AND status <> 'pending'
ORDER BY completed_at
OFFSET :due
LIMIT 1;

-- name: scale_set_ttl(queue_id, seconds)!
-- Set a queue's task TTL.
UPDATE queues SET task_ttl_seconds = :seconds WHERE id = :queue_id;

-- name: scale_analyze()!
-- Refresh planner statistics after seeding.
ANALYZE;
