-- name: task_counts(queue_name)^
-- Tasks of the queue: how many, how many completed, how many have exactly one completed run, distinct keys and numbers.
SELECT count(*) AS tasks,
       count(*) FILTER (WHERE t.status = 'completed') AS completed,
       count(*) FILTER (WHERE (SELECT count(*) FROM runs r
                               WHERE r.task_id = t.id AND r.status = 'completed') = 1)
           AS one_completed_run,
       count(DISTINCT t.idempotency_key) AS distinct_keys,
       count(DISTINCT t.params->'n') AS distinct_numbers
FROM tasks t JOIN queues q ON q.id = t.queue_id
WHERE q.name = :queue_name;

-- name: completed_runs(queue_name)
-- The completed runs of the queue, with the claim token each completed under.
SELECT r.id, r.claim_token
FROM runs r JOIN queues q ON q.id = r.queue_id
WHERE q.name = :queue_name AND r.status = 'completed';

-- name: existing_tasks(task_ids)$
-- How many of the given task ids exist.
SELECT count(*) FROM tasks WHERE id = ANY(CAST(:task_ids AS uuid[]));

-- name: run_counts(queue_name)^
-- Runs of the queue by the states the fault tests look at.
SELECT count(*) FILTER (WHERE r.status = 'claimed') AS claimed,
       count(*) FILTER (WHERE r.status = 'completed') AS completed,
       count(*) FILTER (WHERE r.error = 'claim expired') AS expired,
       count(*) AS runs
FROM runs r JOIN queues q ON q.id = r.queue_id
WHERE q.name = :queue_name;

-- name: terminate_backends(application_name)$
-- End every session of the given application name (as an operator or a failover would).
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE application_name = :application_name AND pid <> pg_backend_pid();
