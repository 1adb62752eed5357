-- name: monitoring_try_lock_sampler()$
-- Try to become the one instance that samples queue history (session-level advisory lock, released on disconnect).
SELECT pg_try_advisory_lock(7300, 3);

-- name: monitoring_sample(settle_seconds, keep_seconds)^
-- Count new tasks and finished runs into the totals (at most 15 minutes of them), store one history sample per queue, drop old samples; whether it caught up (dq_monitoring_sample).
SELECT sampled, caught_up FROM dq_monitoring_sample(:settle_seconds, :keep_seconds);

-- name: monitoring_queues()
-- Every queue with its live gauges (dq_queue_gauges) and counted totals, by name; one statement per scrape.
SELECT q.name AS queue_name, g.pending, g.scheduled, g.claimed, g.sleeping,
       g.oldest_pending_age_seconds,
       coalesce(m.tasks_created, 0) AS tasks_created,
       coalesce(m.runs_completed, 0) AS runs_completed,
       coalesce(m.runs_failed, 0) AS runs_failed,
       coalesce(m.runs_expired, 0) AS runs_expired,
       coalesce(m.runs_retried, 0) AS runs_retried
FROM dq_queue_gauges() g
JOIN queues q ON q.id = g.queue_id
LEFT JOIN monitoring_totals m ON m.queue_id = g.queue_id
ORDER BY q.name;

-- name: monitoring_history(seconds, bucket_seconds)
-- Every queue's history of the last `seconds` in buckets of bucket_seconds (0 = the newest): the deepest backlog and the completions of each (queue_samples_by_time).
SELECT q.name AS queue_name,
       floor(extract(epoch FROM now() - s.sampled_at) / :bucket_seconds)::integer AS bucket,
       max(s.pending) AS pending,
       sum(s.runs_completed)::bigint AS runs_completed
FROM queue_samples s
JOIN queues q ON q.id = s.queue_id
WHERE s.sampled_at > now() - make_interval(secs => :seconds)
GROUP BY q.name, bucket
ORDER BY q.name, bucket DESC;

-- name: monitoring_task_runs(task_id)
-- Every run of a task with its timings, in attempt order.
SELECT id, attempt, status, error, available_at, claimed_at, first_claimed_at,
       claim_expires_at, created_at, completed_at
FROM runs
WHERE task_id = :task_id
ORDER BY attempt;

-- name: monitoring_task_waits(task_id)
-- Every event wait of a task, oldest first.
SELECT step_name, event_name, status, timeout_at, created_at, resolved_at, run_id
FROM event_waits
WHERE task_id = :task_id
ORDER BY created_at, step_name;

-- name: monitoring_latest_events(event_name, limit)
-- The latest events, newest first; only those of one name when given (events_by_name, else events_by_age).
SELECT id, event_name, payload, created_at
FROM events
WHERE CAST(:event_name AS text) IS NULL OR event_name = :event_name
ORDER BY created_at DESC, id DESC
LIMIT :limit;
