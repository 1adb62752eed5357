-- name: insert_queue(name, task_ttl_seconds, event_ttl_seconds)^
-- Create a queue; no row when the name is taken.
INSERT INTO queues (name, task_ttl_seconds, event_ttl_seconds)
VALUES (:name, :task_ttl_seconds, :event_ttl_seconds)
ON CONFLICT (name) DO NOTHING
RETURNING id, name, task_ttl_seconds, event_ttl_seconds, created_at;

-- name: list_queues()
-- Every queue, oldest first.
SELECT id, name, task_ttl_seconds, event_ttl_seconds, created_at
FROM queues
ORDER BY created_at, id;

-- name: get_queue_by_name(name)^
-- One queue by its name.
SELECT id, name, task_ttl_seconds, event_ttl_seconds, created_at
FROM queues
WHERE name = :name;

-- name: lock_queue_by_name(name)^
-- One queue by its name, locked against concurrent deletion or task creation races.
SELECT id, name, task_ttl_seconds, event_ttl_seconds, created_at
FROM queues
WHERE name = :name
FOR UPDATE;

-- name: count_unfinished_tasks(queue_id)$
-- How many tasks of the queue are still pending (not completed, failed or canceled).
SELECT count(*) FROM tasks WHERE queue_id = :queue_id AND status = 'pending';

-- name: delete_queue(queue_id)!
-- Delete a queue with all its tasks, runs, checkpoints and waits (cascade).
DELETE FROM queues WHERE id = :queue_id;

-- name: queue_run_stats(queue_id)^
-- Run counts of one queue by status, and the age of its oldest due pending run.
SELECT
    count(*) FILTER (WHERE status = 'pending') AS pending_runs,
    count(*) FILTER (WHERE status = 'pending' AND available_at > now()) AS scheduled_runs,
    count(*) FILTER (WHERE status = 'claimed') AS claimed_runs,
    count(*) FILTER (WHERE status = 'completed') AS completed_runs,
    count(*) FILTER (WHERE status = 'failed') AS failed_runs,
    count(*) FILTER (WHERE status = 'sleeping') AS sleeping_runs,
    count(*) FILTER (WHERE status = 'canceled') AS canceled_runs,
    extract(epoch FROM now() - min(available_at)
        FILTER (WHERE status = 'pending' AND available_at <= now()))::float8
        AS oldest_pending_run_age_seconds
FROM runs
WHERE queue_id = :queue_id;

-- name: queue_task_counts(queue_id)
-- Task counts of one queue by status.
SELECT status, count(*) AS count
FROM tasks
WHERE queue_id = :queue_id
GROUP BY status;
