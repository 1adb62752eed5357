-- name: create_task(queue_name, task_name, params, headers, retry_strategy, max_attempts, start_timeout, execution_timeout, workflow_run_id, idempotency_key, run_at, priority, concurrency_key, parent_task_id, parent_close)^
-- Create a task and its first run, or find the task holding the idempotency key (dq_create_task_v4; a NULL priority: the parent's, else 0).
SELECT outcome, task_id, run_id, workflow_run_id, created
FROM dq_create_task_v4(:queue_name, :task_name, CAST(:params AS jsonb), CAST(:headers AS jsonb),
                       CAST(:retry_strategy AS jsonb), :max_attempts, :start_timeout,
                       :execution_timeout, :workflow_run_id, :idempotency_key,
                       CAST(:run_at AS timestamptz), :priority, :concurrency_key,
                       NULL, NULL, NULL, :parent_task_id, :parent_close);

-- name: create_tasks(queue_name, tasks)^
-- Create many tasks of a queue from a JSON array, all or nothing (dq_create_tasks): ok and the answer's JSON text (items in input order; uuids and booleans only, so written as text: half json_agg's time), or the failure's outcome and workflow run.
SELECT coalesce((array_agg(a.outcome) FILTER (WHERE a.outcome <> 'ok'))[1], 'ok') AS outcome,
       (array_agg(a.workflow_run_id) FILTER (WHERE a.outcome <> 'ok'))[1] AS workflow_run_id,
       '{"tasks":[' || coalesce(string_agg(
           '{"task_id":"' || a.task_id || '","run_id":"' || a.run_id
           || '","created":' || CAST(a.created AS text)
           || coalesce(',"workflow_run_id":"' || a.workflow_run_id || '"', '') || '}',
           ',' ORDER BY a.ord), '') || ']}' AS body
FROM dq_create_tasks(:queue_name, CAST(:tasks AS jsonb))
     WITH ORDINALITY AS a(outcome, task_id, run_id, workflow_run_id, created, ord);

-- name: set_task_priority(task_id, priority)^
-- Change a pending task's priority and its waiting runs': ok, not_found, or conflict with the task's status (dq_set_task_priority).
SELECT outcome, status FROM dq_set_task_priority(:task_id, :priority);

-- name: cancel_task(task_id)^
-- Cancel a pending task and its live runs: ok, not_found, or conflict with the task's status (dq_cancel_task).
SELECT outcome, status FROM dq_cancel_task(:task_id);

-- name: get_task_summary(task_id)^
-- One task with its queue name.
SELECT t.id, t.task_name, t.status, q.name AS queue_name, t.max_attempts,
       t.created_at, t.completed_at
FROM tasks t
JOIN queues q ON q.id = t.queue_id
WHERE t.id = :task_id;

-- name: list_tasks(cursor, limit)
-- A page of all tasks, newest first; cursor is the last id of the previous page (tasks_pkey).
SELECT t.id, t.task_name, t.status, q.name AS queue_name, t.max_attempts,
       t.created_at, t.completed_at
FROM tasks t
JOIN queues q ON q.id = t.queue_id
WHERE (CAST(:cursor AS uuid) IS NULL OR t.id < :cursor)
ORDER BY t.id DESC
LIMIT :limit;

-- name: list_tasks_by_status(status, cursor, limit)
-- A page of the tasks in one status, newest first (tasks_by_status). A leading column given as a range (>= and <=), not =, keeps it in the ORDER BY, so only that index yields the order: an id-order scan that filters could walk every newer task of other values first.
SELECT t.id, t.task_name, t.status, q.name AS queue_name, t.max_attempts,
       t.created_at, t.completed_at
FROM tasks t
JOIN queues q ON q.id = t.queue_id
WHERE t.status >= :status AND t.status <= :status
  AND (CAST(:cursor AS uuid) IS NULL OR t.id < :cursor)
ORDER BY t.status DESC, t.id DESC
LIMIT :limit;

-- name: list_tasks_by_name(task_name, status, cursor, limit)
-- A page of the tasks of one name, newest first, optionally in one status (tasks_by_name; range: see list_tasks_by_status).
SELECT t.id, t.task_name, t.status, q.name AS queue_name, t.max_attempts,
       t.created_at, t.completed_at
FROM tasks t
JOIN queues q ON q.id = t.queue_id
WHERE t.task_name >= :task_name AND t.task_name <= :task_name
  AND (CAST(:status AS text) IS NULL OR t.status = :status)
  AND (CAST(:cursor AS uuid) IS NULL OR t.id < :cursor)
ORDER BY t.task_name DESC, t.id DESC
LIMIT :limit;

-- name: list_tasks_of_queue(queue_id, task_name, cursor, limit)
-- A page of the tasks of one queue, newest first, optionally of one name (tasks_by_queue; range: see list_tasks_by_status).
SELECT t.id, t.task_name, t.status, q.name AS queue_name, t.max_attempts,
       t.created_at, t.completed_at
FROM tasks t
JOIN queues q ON q.id = t.queue_id
WHERE t.queue_id >= :queue_id AND t.queue_id <= :queue_id
  AND (CAST(:task_name AS text) IS NULL OR t.task_name = :task_name)
  AND (CAST(:cursor AS uuid) IS NULL OR t.id < :cursor)
ORDER BY t.queue_id DESC, t.id DESC
LIMIT :limit;

-- name: list_tasks_of_queue_by_status(queue_id, status, task_name, cursor, limit)
-- A page of the tasks of one queue in one status, newest first, optionally of one name (tasks_by_queue_status; ranges: see list_tasks_by_status).
SELECT t.id, t.task_name, t.status, q.name AS queue_name, t.max_attempts,
       t.created_at, t.completed_at
FROM tasks t
JOIN queues q ON q.id = t.queue_id
WHERE t.queue_id >= :queue_id AND t.queue_id <= :queue_id
  AND t.status >= :status AND t.status <= :status
  AND (CAST(:task_name AS text) IS NULL OR t.task_name = :task_name)
  AND (CAST(:cursor AS uuid) IS NULL OR t.id < :cursor)
ORDER BY t.queue_id DESC, t.status DESC, t.id DESC
LIMIT :limit;

-- name: list_tasks_of_workflow_run(workflow_run_id, queue_id, status, task_name, cursor, limit)
-- A page of the tasks of one workflow run, newest first, optionally filtered further (tasks_by_workflow_run; range: see list_tasks_by_status).
SELECT t.id, t.task_name, t.status, q.name AS queue_name, t.max_attempts,
       t.created_at, t.completed_at
FROM tasks t
JOIN queues q ON q.id = t.queue_id
WHERE t.workflow_run_id >= :workflow_run_id AND t.workflow_run_id <= :workflow_run_id
  AND (CAST(:queue_id AS uuid) IS NULL OR t.queue_id = :queue_id)
  AND (CAST(:status AS text) IS NULL OR t.status = :status)
  AND (CAST(:task_name AS text) IS NULL OR t.task_name = :task_name)
  AND (CAST(:cursor AS uuid) IS NULL OR t.id < :cursor)
ORDER BY t.workflow_run_id DESC, t.id DESC
LIMIT :limit;

-- name: get_task_detail(task_id)^
-- Every stored field of one task, with its queue name.
SELECT t.id, t.task_name, t.status, q.name AS queue_name, t.max_attempts, t.created_at,
       t.completed_at, t.params, t.headers, t.retry_strategy, t.start_timeout,
       t.execution_timeout, t.workflow_run_id, t.idempotency_key, t.error, t.result,
       CAST(t.priority AS integer) AS priority, t.concurrency_key, t.schedule_name,
       t.scheduled_for, t.parent_task_id, t.parent_close
FROM tasks t
JOIN queues q ON q.id = t.queue_id
WHERE t.id = :task_id;

-- name: child_counts(task_id)
-- A task's children by status (tasks_by_parent); no row for a task without children.
SELECT status, count(*) AS count
FROM tasks
WHERE parent_task_id = :task_id
GROUP BY status;

-- name: list_tasks_of_parent(parent_task_id, status, cursor, limit)
-- A page of a task's children, of one status when given, newest first (tasks_by_parent).
SELECT t.id, t.task_name, t.status, q.name AS queue_name, t.max_attempts,
       t.created_at, t.completed_at
FROM tasks t
JOIN queues q ON q.id = t.queue_id
WHERE t.parent_task_id = :parent_task_id
  AND (CAST(:status AS text) IS NULL OR t.status = :status)
  AND (CAST(:cursor AS uuid) IS NULL OR t.id < :cursor)
ORDER BY t.id DESC
LIMIT :limit;

-- name: await_task(task_id, watch)^
-- A task's status and outcome; with watch, a pending task is marked to notify when it finishes (dq_await_task).
SELECT task_id, status, result, error, completed_at FROM dq_await_task(:task_id, :watch);

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
