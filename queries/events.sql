-- name: lock_event_name(event_name)$
-- Serialise emits and waits on one event name for the rest of the transaction.
SELECT pg_advisory_xact_lock(7301, hashtext(:event_name));

-- name: insert_event(event_name, payload)^
-- Store an event.
INSERT INTO events (event_name, payload)
VALUES (:event_name, CAST(:payload AS jsonb))
RETURNING id, event_name, created_at;

-- name: resolve_waits(event_name, payload)$
-- Resolve every pending wait on the name with the payload and wake its sleeping run; returns how many.
-- Runs are locked before their waits, the order a queue delete's cascade takes them in.
WITH locked_runs AS (
    SELECT r.id
    FROM runs r
    JOIN event_waits w ON w.run_id = r.id
    WHERE w.event_name = :event_name AND w.status = 'waiting'
    ORDER BY r.id
    FOR UPDATE OF r
), resolved AS (
    UPDATE event_waits
    SET status = 'resolved', payload = CAST(:payload AS jsonb), resolved_at = now()
    WHERE event_name = :event_name AND status = 'waiting'
      AND run_id IN (SELECT id FROM locked_runs)
    RETURNING run_id
), woken AS (
    UPDATE runs r
    SET status = 'pending', available_at = now()
    FROM resolved
    WHERE r.id = resolved.run_id AND r.status = 'sleeping'
    RETURNING r.id
)
SELECT count(*) FROM resolved;

-- name: latest_event(event_name)^
-- The newest event with this name.
SELECT id, payload
FROM events
WHERE event_name = :event_name
ORDER BY created_at DESC, id DESC
LIMIT 1;

-- name: get_wait(task_id, step_name)^
-- The wait recorded for one step of a task.
SELECT id, status, payload, event_name
FROM event_waits
WHERE task_id = :task_id AND step_name = :step_name;

-- name: record_wait(task_id, run_id, step_name, event_name, status, payload, timeout_seconds)!
-- Record (or replace) the wait of one step: resolved with a payload, or waiting until the timeout.
INSERT INTO event_waits (task_id, run_id, step_name, event_name, status, payload,
                         timeout_at, resolved_at)
VALUES (:task_id, :run_id, :step_name, :event_name, :status, CAST(:payload AS jsonb),
        now() + make_interval(secs => :timeout_seconds),
        CASE WHEN :status = 'resolved' THEN now() END)
ON CONFLICT (task_id, step_name)
DO UPDATE SET run_id = EXCLUDED.run_id, event_name = EXCLUDED.event_name,
              status = EXCLUDED.status, payload = EXCLUDED.payload,
              timeout_at = EXCLUDED.timeout_at, resolved_at = EXCLUDED.resolved_at;
