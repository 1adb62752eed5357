-- name: orphan_runs()$
-- Test-only: how many runs have no task.
SELECT count(*) FROM runs r WHERE NOT EXISTS (SELECT 1 FROM tasks t WHERE t.id = r.task_id);

-- name: runs_of_tasks(task_ids)$
-- Test-only: how many runs the given tasks (a JSON array of ids) have.
SELECT count(*) FROM runs r
WHERE r.task_id IN (SELECT CAST(x AS uuid) FROM jsonb_array_elements_text(CAST(:task_ids AS jsonb)) x);

-- name: runs_of_queue(queue_name)$
-- Test-only: how many runs the tasks of a queue have.
SELECT count(*) FROM runs r JOIN tasks t ON t.id = r.task_id JOIN queues q ON q.id = t.queue_id
WHERE q.name = :queue_name;

-- name: delete_tasks_by_hand(task_name)!
-- Test-only: an operator's hand-written DELETE of tasks by name.
DELETE FROM tasks WHERE task_name = :task_name;

-- name: truncate_tasks()!
-- Test-only: an operator's TRUNCATE of tasks (and what references them).
TRUNCATE tasks CASCADE;

-- name: age_finished_tasks(queue_name)!
-- Test-only: make the finished tasks of a queue an hour old, so retention takes them.
UPDATE tasks t SET completed_at = now() - interval '1 hour'
FROM queues q
WHERE q.id = t.queue_id AND q.name = :queue_name AND t.status <> 'pending';

-- name: delete_task(task_id)!
-- Test-only: a hand-written DELETE of one task.
DELETE FROM tasks WHERE id = :task_id;

-- name: waits_for_a_lock(pid)$
-- Test-only: whether the backend pid is waiting for a lock.
SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = :pid AND wait_event_type = 'Lock');

-- name: backend_pid()$
-- Test-only: this connection's backend pid.
SELECT pg_backend_pid();

-- name: begin_repeatable_read()!
-- Test-only: start a REPEATABLE READ transaction.
BEGIN ISOLATION LEVEL REPEATABLE READ;
