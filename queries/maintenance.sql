-- name: lock_migrations()$
-- Hold the session-level advisory lock that lets one server at a time migrate.
SELECT pg_advisory_lock(7300, 1);

-- name: unlock_migrations()$
-- Release the migration lock.
SELECT pg_advisory_unlock(7300, 1);

-- name: ping()$
-- Check that the database answers.
SELECT 1;

-- name: try_lock_sweeper()$
-- Try to become the one instance that sweeps (session-level advisory lock, released on disconnect).
SELECT pg_try_advisory_lock(7300, 2);

-- name: expire_claims(batch_size, max_expiries)^
-- Fail claimed runs past their expiry ('claim expired'); retry each at once unless its task reached max_expiries, then fail the task.
WITH expired AS (
    SELECT r.id AS run_id, r.task_id
    FROM runs r
    JOIN tasks t ON t.id = r.task_id
    WHERE r.status = 'claimed' AND r.claim_expires_at <= now()
    ORDER BY r.claim_expires_at
    LIMIT :batch_size
    FOR UPDATE OF r, t SKIP LOCKED
), failed_runs AS (
    UPDATE runs r
    SET status = 'failed', error = 'claim expired', completed_at = now(), claim_expires_at = NULL,
        claim_token = NULL
    FROM expired e
    WHERE r.id = e.run_id
    RETURNING r.task_id, r.attempt
), counted AS (
    UPDATE tasks t
    SET expiry_count = t.expiry_count + 1,
        status = CASE WHEN t.expiry_count + 1 >= :max_expiries THEN 'failed' ELSE t.status END,
        error = CASE WHEN t.expiry_count + 1 >= :max_expiries THEN 'claim expired' ELSE t.error END,
        completed_at = CASE WHEN t.expiry_count + 1 >= :max_expiries THEN now() ELSE t.completed_at END
    FROM expired e
    WHERE t.id = e.task_id
    RETURNING t.id, t.queue_id, t.status
), retried AS (
    INSERT INTO runs (task_id, queue_id, attempt, available_at)
    SELECT c.id, c.queue_id, f.attempt + 1, now()
    FROM counted c
    JOIN failed_runs f ON f.task_id = c.id
    WHERE c.status = 'pending'
    RETURNING id
)
SELECT (SELECT count(*) FROM failed_runs) AS expired,
       (SELECT count(*) FROM retried) AS retried;

-- name: timeout_tasks(batch_size)^
-- Cancel pending tasks past their start deadline (never claimed) or execution deadline, with their live runs.
WITH due AS (
    SELECT t.id,
           CASE WHEN t.execution_deadline <= now() THEN 'execution timeout'
                ELSE 'start timeout' END AS reason
    FROM tasks t
    WHERE t.status = 'pending'
      AND (t.execution_deadline <= now()
           OR (t.start_deadline <= now()
               AND NOT EXISTS (SELECT 1 FROM runs r
                               WHERE r.task_id = t.id AND r.first_claimed_at IS NOT NULL)))
    LIMIT :batch_size
    FOR UPDATE OF t SKIP LOCKED
), canceled AS (
    UPDATE tasks t
    SET status = 'canceled', error = due.reason, completed_at = now()
    FROM due
    WHERE t.id = due.id
    RETURNING t.id
), canceled_runs AS (
    UPDATE runs r
    SET status = 'canceled', error = due.reason, completed_at = now(), claim_expires_at = NULL,
        claim_token = NULL
    FROM due
    WHERE r.task_id = due.id AND r.status IN ('pending', 'claimed', 'sleeping')
    RETURNING r.id
)
SELECT (SELECT count(*) FROM canceled) AS canceled_tasks,
       (SELECT count(*) FROM canceled_runs) AS canceled_runs;

-- name: timeout_waits(batch_size)$
-- Mark waits past their timeout as timed out and make their sleeping runs pending again; returns how many.
WITH due AS (
    SELECT w.id, w.run_id
    FROM event_waits w
    JOIN runs r ON r.id = w.run_id
    WHERE w.status = 'waiting' AND w.timeout_at <= now()
    ORDER BY w.timeout_at
    LIMIT :batch_size
    FOR UPDATE OF r, w SKIP LOCKED
), timed_out AS (
    UPDATE event_waits w
    SET status = 'timeout', resolved_at = now()
    FROM due
    WHERE w.id = due.id
    RETURNING w.run_id
), woken AS (
    UPDATE runs r
    SET status = 'pending', available_at = now()
    FROM timed_out
    WHERE r.id = timed_out.run_id AND r.status = 'sleeping'
    RETURNING r.id
)
SELECT count(*) FROM timed_out;

-- name: delete_expired_tasks(batch_size)$
-- Delete finished tasks (with runs, checkpoints, waits) older than their queue's task TTL, oldest first per queue on tasks_finished; returns how many.
WITH doomed AS (
    SELECT due.id
    FROM queues q
    CROSS JOIN LATERAL (
        SELECT t.id
        FROM tasks t
        WHERE t.queue_id = q.id
          AND t.status <> 'pending'
          AND t.completed_at <= now() - make_interval(secs => q.task_ttl_seconds)
        ORDER BY t.completed_at
        LIMIT :batch_size
        FOR UPDATE OF t SKIP LOCKED
    ) AS due
    WHERE q.task_ttl_seconds > 0
    LIMIT :batch_size
), deleted AS (
    -- an id list, not a join: the planner may hash-join a join by scanning all of tasks
    DELETE FROM tasks t WHERE t.id = ANY (ARRAY(SELECT id FROM doomed)) RETURNING t.id
)
SELECT count(*) FROM deleted;

-- name: delete_expired_events(batch_size)$
-- Delete events older than the largest event TTL of all queues (none while any queue keeps events forever); returns how many.
WITH horizon AS (
    SELECT now() - make_interval(secs => max(event_ttl_seconds)) AS cutoff
    FROM queues
    HAVING count(*) > 0 AND bool_and(event_ttl_seconds > 0)
), doomed AS (
    SELECT e.id
    FROM events e, horizon
    WHERE e.created_at <= horizon.cutoff
    ORDER BY e.created_at
    LIMIT :batch_size
    FOR UPDATE OF e SKIP LOCKED
), deleted AS (
    -- an id list, not a join: the planner would hash-join a small events table by scanning it
    DELETE FROM events e WHERE e.id = ANY (ARRAY(SELECT id FROM doomed)) RETURNING e.id
)
SELECT count(*) FROM deleted;

-- name: clear_met_start_deadlines(batch_size)$
-- Forget the start deadline of pending tasks that were claimed in time, so sweeps stop rechecking them; returns how many.
WITH met AS (
    SELECT t.id
    FROM tasks t
    WHERE t.status = 'pending' AND t.start_deadline <= now()
      AND EXISTS (SELECT 1 FROM runs r WHERE r.task_id = t.id AND r.first_claimed_at IS NOT NULL)
    LIMIT :batch_size
    FOR UPDATE OF t SKIP LOCKED
), cleared AS (
    UPDATE tasks t SET start_deadline = NULL FROM met WHERE t.id = met.id RETURNING t.id
)
SELECT count(*) FROM cleared;
