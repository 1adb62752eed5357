-- name: database_now()$
-- The database's clock: schedules are planned on it, never on a server's.
SELECT now();

-- name: create_schedule(name, queue_name, task_name, params, headers, retry_strategy, max_attempts, priority, concurrency_key, cron, interval_seconds, timezone, anchor, start_at, end_at, catchup, catchup_window_seconds, overlap, paused, note, next_fire_at)^
-- Create a schedule if its queue exists and its name is free: the new row (with a NULL last_task_status), or nothing.
INSERT INTO schedules (name, queue_name, task_name, params, headers, retry_strategy, max_attempts,
                       priority, concurrency_key, cron, interval_seconds, timezone, anchor,
                       start_at, end_at, catchup, catchup_window_seconds, overlap, paused, note,
                       next_fire_at)
SELECT :name, :queue_name, :task_name, CAST(:params AS jsonb), CAST(:headers AS jsonb),
       CAST(:retry_strategy AS jsonb), :max_attempts, :priority, :concurrency_key, :cron,
       :interval_seconds, :timezone, :anchor, :start_at, :end_at, :catchup,
       :catchup_window_seconds, :overlap, :paused, :note, :next_fire_at
WHERE EXISTS (SELECT 1 FROM queues q WHERE q.name = :queue_name)
ON CONFLICT (name) DO NOTHING
RETURNING *, CAST(NULL AS text) AS last_task_status;

-- name: lock_schedule(name)^
-- One schedule by name, locked until the transaction ends (a PATCH), with its last task's status.
SELECT s.*, t.status AS last_task_status
FROM schedules s
LEFT JOIN tasks t ON t.id = s.last_task_id
WHERE s.name = :name
FOR UPDATE OF s;

-- name: get_schedule(name)^
-- One schedule by name, with its last task's status (schedules' name key, tasks_pkey).
SELECT s.*, t.status AS last_task_status
FROM schedules s
LEFT JOIN tasks t ON t.id = s.last_task_id
WHERE s.name = :name;

-- name: list_schedules(cursor, limit)
-- A page of schedules in name order after cursor (a name; NULL: from the first), with their last task's status.
SELECT s.*, t.status AS last_task_status
FROM schedules s
LEFT JOIN tasks t ON t.id = s.last_task_id
WHERE (CAST(:cursor AS text) IS NULL OR s.name > :cursor)
ORDER BY s.name
LIMIT :limit;

-- name: list_schedules_of_queue(queue_name, cursor, limit)
-- A page of one queue's schedules in name order after cursor (schedules_by_queue), with their last task's status.
SELECT s.*, t.status AS last_task_status
FROM schedules s
LEFT JOIN tasks t ON t.id = s.last_task_id
WHERE s.queue_name = :queue_name AND (CAST(:cursor AS text) IS NULL OR s.name > :cursor)
ORDER BY s.queue_name, s.name
LIMIT :limit;

-- name: update_schedule(name, revision, queue_name, task_name, params, headers, retry_strategy, max_attempts, priority, concurrency_key, cron, interval_seconds, timezone, start_at, end_at, catchup, catchup_window_seconds, overlap, paused, note, next_fire_at)^
-- Replace a schedule's definition and next slot if it is still at `revision` (else nothing): the new row, with its last task's status.
WITH updated AS (
    UPDATE schedules
    SET queue_name = :queue_name, task_name = :task_name, params = CAST(:params AS jsonb),
        headers = CAST(:headers AS jsonb), retry_strategy = CAST(:retry_strategy AS jsonb),
        max_attempts = :max_attempts, priority = :priority, concurrency_key = :concurrency_key,
        cron = :cron, interval_seconds = :interval_seconds, timezone = :timezone,
        start_at = :start_at, end_at = :end_at, catchup = :catchup,
        catchup_window_seconds = :catchup_window_seconds, overlap = :overlap, paused = :paused,
        note = :note, next_fire_at = :next_fire_at, revision = revision + 1, updated_at = now()
    WHERE name = :name AND revision = :revision
    RETURNING *
)
SELECT u.*, t.status AS last_task_status
FROM updated u
LEFT JOIN tasks t ON t.id = u.last_task_id;

-- name: delete_schedule(name)!
-- Delete a schedule (its tasks stay); how many rows went.
DELETE FROM schedules WHERE name = :name;

-- name: pause_queue_schedules(queue_name, note)!
-- Pause the schedules of a queue that was deleted, with a note (schedules_by_queue).
UPDATE schedules
SET paused = true, note = :note, revision = revision + 1, updated_at = now()
WHERE queue_name = :queue_name AND NOT paused;

-- name: due_schedules(batch_size)
-- Up to batch_size schedules whose next slot has come, earliest first, with their calendar and the database's clock (dq_due_schedules, on schedules_due).
SELECT id, revision, cron, interval_seconds, timezone, anchor, start_at, end_at, catchup,
       catchup_window_seconds, next_fire_at, database_now
FROM dq_due_schedules(:batch_size);

-- name: seconds_until_next_slot()$
-- Seconds until the earliest next slot of an active schedule (<= 0: due; NULL: none), one row of schedules_due.
SELECT extract(epoch FROM min(next_fire_at) - now())::float8
FROM schedules
WHERE NOT paused AND next_fire_at IS NOT NULL;

-- name: buffered_schedules(batch_size)
-- Active schedules holding a buffered slot whose last task has finished (dq_buffered_schedules, on schedules_buffered and tasks_pkey).
SELECT id FROM dq_buffered_schedules(:batch_size);

-- name: fire_schedules(plans)
-- Fire the scheduler's plans ({id, revision, slots, missed, next_fire_at} each), one row per plan in input order (dq_fire_schedules).
SELECT schedule_id, outcome, fired, skipped, buffered, lateness
FROM dq_fire_schedules(CAST(:plans AS jsonb));

-- name: release_buffered_slot(schedule_id)^
-- Fire a schedule's buffered slot if its last task has finished (dq_fire_schedule with no new slot).
SELECT outcome, fired
FROM dq_fire_schedule(:schedule_id, NULL, CAST('{}' AS timestamptz[]), 0, NULL, false, true);

-- name: trigger_schedule(name)^
-- Fire a schedule once now, whatever its overlap policy (dq_fire_schedule): the outcome, the task, and the slot (now).
SELECT f.outcome, f.task_id, f.run_id, now() AS scheduled_for
FROM schedules s
CROSS JOIN LATERAL dq_fire_schedule(s.id, NULL, ARRAY[now()], 0, NULL, false, false) f
WHERE s.name = :name;

-- name: backfill_schedule(schedule_id, revision, slots)^
-- Fire the given slots of a schedule at `revision` under its overlap policy (dq_fire_schedule): the outcome and counts.
SELECT outcome, fired, skipped, buffered, already_fired
FROM dq_fire_schedule(:schedule_id, :revision, CAST(:slots AS timestamptz[]), 0, NULL, false,
                      true);

-- name: queue_exists(name)$
-- Whether a queue of this name exists (a schedule PATCH that moves it to another queue).
SELECT EXISTS (SELECT 1 FROM queues WHERE name = :name);

-- name: pause_schedule(schedule_id, note)!
-- Pause a schedule the scheduler cannot plan, with a note saying why.
UPDATE schedules
SET paused = true, note = :note, revision = revision + 1, updated_at = now()
WHERE id = :schedule_id;
