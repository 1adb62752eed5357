-- name: monitoring_try_lock_sampler()$
-- Try to become the one instance that samples queue history (session-level advisory lock, released on disconnect).
SELECT pg_try_advisory_lock(7300, 3);

-- name: monitoring_sample(settle_seconds, keep_seconds)^
-- Count new tasks and finished runs into the totals (at most 15 minutes of them), store one history sample per queue, drop old samples; whether it caught up (dq_monitoring_sample).
SELECT sampled, caught_up FROM dq_monitoring_sample(:settle_seconds, :keep_seconds);

-- name: monitoring_queues(busiest_keys)
-- Every queue with its live gauges (dq_queue_gauges), counted totals, flow-control settings, held-back runs (dq_held_back, counted up to 1,000 per queue so that a scrape never reads a whole backlog; only for a queue that is paused or has a concurrency limit) and its `busiest_keys` keys with the most claimed runs ([[key, claimed], ...], most first; NULL when none); one statement per scrape. The keys are counted in one pass over the claimed runs of every queue (never pending runs), skipped while no queue has seen a concurrency key, into one object by queue id that each queue's row looks up (whatever join the planner picks, the pass runs once).
WITH keys AS MATERIALIZED (
    SELECT jsonb_object_agg(b.queue_id::text, b.keys) AS by_queue
    FROM (
        SELECT k.queue_id,
               jsonb_agg(jsonb_build_array(k.concurrency_key, k.claimed)
                         ORDER BY k.claimed DESC, k.concurrency_key) AS keys
        FROM (
            SELECT r.queue_id, r.concurrency_key, count(*) AS claimed,
                   row_number() OVER (PARTITION BY r.queue_id
                                      ORDER BY count(*) DESC, r.concurrency_key) AS place
            FROM runs r
            WHERE r.status = 'claimed' AND r.concurrency_key IS NOT NULL
              AND EXISTS (SELECT 1 FROM queues o WHERE o.ordered)
            GROUP BY r.queue_id, r.concurrency_key
        ) k
        WHERE k.place <= :busiest_keys
        GROUP BY k.queue_id
    ) b
)
SELECT q.name AS queue_name, g.pending, g.scheduled, g.claimed, g.sleeping,
       g.oldest_pending_age_seconds,
       coalesce(m.tasks_created, 0) AS tasks_created,
       coalesce(m.runs_completed, 0) AS runs_completed,
       coalesce(m.runs_failed, 0) AS runs_failed,
       coalesce(m.runs_expired, 0) AS runs_expired,
       coalesce(m.runs_retried, 0) AS runs_retried,
       q.max_concurrency,
       q.paused,
       CASE WHEN q.paused OR q.max_concurrency IS NOT NULL OR q.key_concurrency IS NOT NULL
                 OR q.key_overrides > 0
            THEN dq_held_back(q.id, 1000) ELSE 0 END AS held_back,
       keys.by_queue -> q.id::text AS busiest_keys
FROM dq_queue_gauges() g
JOIN queues q ON q.id = g.queue_id
LEFT JOIN monitoring_totals m ON m.queue_id = g.queue_id
CROSS JOIN keys
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

-- name: monitoring_schedule_totals()
-- Every queue that has schedules: the sums of their fires, skipped and missed slots, and how many are active (not paused) and paused; one grouped pass over the schedules rows (one per schedule, never tasks), run beside monitoring_queues in the scrape's snapshot.
SELECT queue_name,
       count(*) FILTER (WHERE NOT paused) AS active,
       count(*) FILTER (WHERE paused) AS paused,
       coalesce(sum(fires), 0)::bigint AS fires,
       coalesce(sum(skipped), 0)::bigint AS skipped,
       coalesce(sum(missed), 0)::bigint AS missed
FROM schedules
GROUP BY queue_name
ORDER BY queue_name;

-- name: monitoring_schedule_tasks(name, limit)
-- A schedule's latest tasks by slot, newest first, with their current status: its id by its name's unique index, then the slot index tasks_schedule_slot read backwards, `limit` rows at most (none for an unknown name).
SELECT t.id, t.status, t.scheduled_for, t.created_at, t.completed_at
FROM tasks t
WHERE t.schedule_id = (SELECT s.id FROM schedules s WHERE s.name = :name)
ORDER BY t.scheduled_for DESC
LIMIT :limit;

-- name: monitoring_task_children(task_id, limit)
-- A task's latest `limit` children, newest first, with their queue and their status now: tasks_by_parent read backwards from the task's last entry, `limit` rows at most (the dashboard's task page; the counts by status come with the task's detail).
SELECT t.id, t.task_name, t.status, q.name AS queue_name, t.parent_close,
       t.created_at, t.completed_at
FROM tasks t
JOIN queues q ON q.id = t.queue_id
WHERE t.parent_task_id = :task_id
ORDER BY t.id DESC
LIMIT :limit;

-- name: monitoring_workflow_run_tree(workflow_run_id, limit)
-- The first `limit` tasks of a workflow run, oldest first, each with its parent task (tasks_by_workflow_run read forwards): the dashboard nests them into the run's tree. A parent is created before its children, so the first tasks hold every parent the shown children have in this run.
SELECT t.id, t.parent_task_id, t.task_name, t.status, q.name AS queue_name,
       t.created_at, t.completed_at
FROM tasks t
JOIN queues q ON q.id = t.queue_id
WHERE t.workflow_run_id = :workflow_run_id
ORDER BY t.id
LIMIT :limit;
