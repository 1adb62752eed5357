-- name: insert_task_with_run(queue_id, task_name, params, headers, retry_strategy, max_attempts, start_timeout, execution_timeout, workflow_run_id, idempotency_key, run_at)^
-- Create a task and its first run (pending at run_at, or now); no row when the idempotency key is taken.
WITH new_task AS (
    INSERT INTO tasks (queue_id, task_name, params, headers, retry_strategy, max_attempts,
                       start_timeout, execution_timeout, workflow_run_id, idempotency_key,
                       start_deadline, execution_deadline)
    VALUES (:queue_id, :task_name, CAST(:params AS jsonb), CAST(:headers AS jsonb),
            CAST(:retry_strategy AS jsonb), :max_attempts, :start_timeout, :execution_timeout,
            :workflow_run_id, :idempotency_key,
            CASE WHEN :start_timeout > 0 THEN now() + make_interval(secs => :start_timeout) END,
            CASE WHEN :execution_timeout > 0
                 THEN now() + make_interval(secs => :execution_timeout) END)
    ON CONFLICT (queue_id, idempotency_key) DO NOTHING
    RETURNING id, queue_id
)
INSERT INTO runs (task_id, queue_id, attempt, available_at)
SELECT id, queue_id, 1, coalesce(CAST(:run_at AS timestamptz), now())
FROM new_task
RETURNING task_id, id AS run_id;

-- name: get_task_ids_by_idempotency_key(queue_id, idempotency_key)^
-- The task (and its first run) created earlier with this idempotency key on the queue.
SELECT t.id AS task_id, r.id AS run_id, t.workflow_run_id
FROM tasks t
JOIN runs r ON r.task_id = t.id AND r.attempt = 1
WHERE t.queue_id = :queue_id AND t.idempotency_key = :idempotency_key;

-- name: lock_task(task_id)^
-- Lock one task: every state change of a task and its runs serialises here.
SELECT id, queue_id, status, max_attempts, retry_strategy
FROM tasks
WHERE id = :task_id
FOR UPDATE;

-- name: get_task_summary(task_id)^
-- One task with its queue name.
SELECT t.id, t.task_name, t.status, q.name AS queue_name, t.max_attempts,
       t.created_at, t.completed_at
FROM tasks t
JOIN queues q ON q.id = t.queue_id
WHERE t.id = :task_id;

-- name: list_tasks(queue_name, status, task_name, workflow_run_id, cursor, limit)
-- A page of tasks, newest first, filtered; cursor is the last id of the previous page.
SELECT t.id, t.task_name, t.status, q.name AS queue_name, t.max_attempts,
       t.created_at, t.completed_at
FROM tasks t
JOIN queues q ON q.id = t.queue_id
WHERE (CAST(:queue_name AS text) IS NULL OR q.name = :queue_name)
  AND (CAST(:status AS text) IS NULL OR t.status = :status)
  AND (CAST(:task_name AS text) IS NULL OR t.task_name = :task_name)
  AND (CAST(:workflow_run_id AS uuid) IS NULL OR t.workflow_run_id = :workflow_run_id)
  AND (CAST(:cursor AS uuid) IS NULL OR t.id < :cursor)
ORDER BY t.id DESC
LIMIT :limit;

-- name: finish_task(task_id, status, error, result)!
-- Move a pending task to a final status with its error or result.
UPDATE tasks
SET status = :status, error = :error, result = CAST(:result AS jsonb), completed_at = now()
WHERE id = :task_id AND status = 'pending';

-- name: increment_task_failures(task_id)$
-- Add one to a task's count of explicit failures; returns the new count.
UPDATE tasks SET failure_count = failure_count + 1
WHERE id = :task_id
RETURNING failure_count;

-- name: get_task_detail(task_id)^
-- Every stored field of one task, with its queue name.
SELECT t.id, t.task_name, t.status, q.name AS queue_name, t.max_attempts, t.created_at,
       t.completed_at, t.params, t.headers, t.retry_strategy, t.start_timeout,
       t.execution_timeout, t.workflow_run_id, t.idempotency_key, t.error, t.result
FROM tasks t
JOIN queues q ON q.id = t.queue_id
WHERE t.id = :task_id;

-- name: list_task_runs(task_id)
-- Every run of a task in attempt order.
SELECT id, task_id, attempt, status, error, created_at, completed_at
FROM runs
WHERE task_id = :task_id
ORDER BY attempt;

-- name: list_task_checkpoints(task_id)
-- Every checkpoint of a task, by step name.
SELECT step_name, state, updated_at
FROM checkpoints
WHERE task_id = :task_id
ORDER BY step_name;
