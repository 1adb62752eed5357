-- name: true_counts(queue_name)
-- The truth the counters must match: tasks and runs of a queue counted by status from the tables.
SELECT 'task' AS kind, t.status, count(*) AS count
FROM tasks t JOIN queues q ON q.id = t.queue_id
WHERE q.name = :queue_name
GROUP BY t.status
UNION ALL
SELECT 'run', r.status, count(*)
FROM runs r JOIN queues q ON q.id = r.queue_id
WHERE q.name = :queue_name
GROUP BY r.status;

-- name: fail_pending_by_hand(queue_name)!
-- An operator's hand-written UPDATE: fail every pending task of a queue and cancel its live runs.
WITH failed AS (
    UPDATE tasks t SET status = 'failed', error = 'by hand', completed_at = now()
    FROM queues q
    WHERE q.id = t.queue_id AND q.name = :queue_name AND t.status = 'pending'
    RETURNING t.id
)
UPDATE runs r SET status = 'canceled', completed_at = now()
FROM failed
WHERE r.task_id = failed.id AND r.status IN ('pending', 'claimed', 'sleeping');

-- name: delete_by_hand(task_name)!
-- An operator's hand-written DELETE of tasks by name (their runs go by cascade).
DELETE FROM tasks WHERE task_name = :task_name;

-- name: move_by_hand(task_name, queue_name)!
-- An operator's hand-written UPDATE moving tasks, not their runs, to another queue.
UPDATE tasks SET queue_id = (SELECT id FROM queues WHERE name = :queue_name)
WHERE task_name = :task_name;

-- name: age_finished_by_hand(queue_name, seconds)!
-- Pretend the finished tasks of a queue finished `seconds` earlier (due for retention).
UPDATE tasks t SET completed_at = t.completed_at - make_interval(secs => :seconds)
FROM queues q
WHERE q.id = t.queue_id AND q.name = :queue_name AND t.status <> 'pending';

-- name: set_task_ttl(queue_name, seconds)!
-- Change a queue's task TTL.
UPDATE queues SET task_ttl_seconds = :seconds WHERE name = :queue_name;

-- name: truncate_tasks()!
-- TRUNCATE, which no row or statement trigger sees.
TRUNCATE tasks CASCADE;

-- name: unfolded_deltas()$
-- How many count deltas wait to be folded.
SELECT count(*) FROM queue_count_deltas;

-- name: count_rows_of_queue(queue_id)^
-- Rows still referring to a queue id (tasks, runs, counts), and whether the queue row exists.
SELECT (SELECT count(*) FROM tasks WHERE queue_id = :queue_id) AS tasks,
       (SELECT count(*) FROM runs WHERE queue_id = :queue_id) AS runs,
       (SELECT count(*) FROM queue_counts WHERE queue_id = :queue_id) AS counts,
       EXISTS (SELECT 1 FROM queues WHERE id = :queue_id) AS queue;
