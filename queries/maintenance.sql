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

-- name: try_lock_scheduler()$
-- Try to become the one instance that fires schedules (session-level advisory lock, released on disconnect).
SELECT pg_try_advisory_lock(7300, 4);

-- name: expire_claims(batch_size, max_expiries)^
-- Fail claimed runs past their expiry ('claim expired'), oldest expiry first on runs_claimed_expiry; retry each at once unless its task reached max_expiries, then fail the task.
WITH due AS (
    SELECT r.id, r.task_id
    FROM runs r
    WHERE r.status = 'claimed' AND r.claim_expires_at <= now()
    ORDER BY r.claim_expires_at
    LIMIT :batch_size
    FOR UPDATE OF r SKIP LOCKED
), locked_tasks AS (
    -- Their tasks, and below every row by id list, not by join: a join's plan may hash
    -- it by scanning all of tasks or runs for each batch. A run whose task is locked
    -- now waits for the next pass.
    SELECT t.id
    FROM tasks t
    WHERE t.id = ANY (ARRAY(SELECT task_id FROM due))
    FOR UPDATE OF t SKIP LOCKED
), expired AS (
    SELECT d.id AS run_id, d.task_id
    FROM due d
    JOIN locked_tasks l ON l.id = d.task_id
), failed_runs AS (
    UPDATE runs r
    SET status = 'failed', error = 'claim expired', completed_at = now(), claim_expires_at = NULL,
        claim_token = NULL
    WHERE r.id = ANY (ARRAY(SELECT run_id FROM expired))
    RETURNING r.task_id, r.attempt
), counted AS (
    UPDATE tasks t
    SET expiry_count = t.expiry_count + 1,
        status = CASE WHEN t.expiry_count + 1 >= :max_expiries THEN 'failed' ELSE t.status END,
        error = CASE WHEN t.expiry_count + 1 >= :max_expiries THEN 'claim expired' ELSE t.error END,
        completed_at = CASE WHEN t.expiry_count + 1 >= :max_expiries THEN now() ELSE t.completed_at END
    WHERE t.id = ANY (ARRAY(SELECT task_id FROM expired))
    RETURNING t.id, t.queue_id, t.status, t.priority, t.concurrency_key
), retried AS (
    -- with the task's priority and key, at the back of its key's line
    INSERT INTO runs (task_id, queue_id, attempt, available_at, priority, concurrency_key,
                      fair_rank)
    SELECT c.id, c.queue_id, f.attempt + 1, now(), c.priority, c.concurrency_key,
           CASE WHEN q.ordered THEN dq_next_rank(c.queue_id, c.concurrency_key, c.priority) ELSE 0 END
    FROM counted c
    JOIN failed_runs f ON f.task_id = c.id
    JOIN queues q ON q.id = c.queue_id
    WHERE c.status = 'pending'
    RETURNING id
)
SELECT (SELECT count(*) FROM failed_runs) AS expired,
       (SELECT count(*) FROM retried) AS retried,
       (SELECT count(*) FROM due) AS scanned;  -- a full batch read: there may be more due

-- name: timeout_tasks(batch_size)^
-- Settle pending tasks past a deadline, oldest deadline first on tasks_execution_deadline and tasks_start_deadline: cancel those past their execution deadline, or past their start deadline and never claimed, with their live runs; forget the start deadline of those claimed in time. Every task it reads is changed (how many: settled).
WITH past_execution AS (
    SELECT t.id
    FROM tasks t
    WHERE t.status = 'pending' AND t.execution_deadline <= now()
    ORDER BY t.execution_deadline
    LIMIT :batch_size
    FOR UPDATE OF t SKIP LOCKED
), past_start AS (
    SELECT t.id
    FROM tasks t
    WHERE t.status = 'pending' AND t.start_deadline <= now()
    ORDER BY t.start_deadline
    LIMIT :batch_size
    FOR UPDATE OF t SKIP LOCKED
), due AS (
    -- below, rows by id list rather than by join alone: a join's plan may hash it by
    -- scanning all of tasks or runs for each batch
    SELECT t.id,
           CASE WHEN t.execution_deadline <= now() THEN 'execution timeout'
                -- never claimed; an aggregate, so that it stays a probe of the task's
                -- runs (an EXISTS may be planned as a hash of every run ever claimed)
                WHEN (SELECT max(r.first_claimed_at) FROM runs r WHERE r.task_id = t.id) IS NULL
                THEN 'start timeout'
           END AS reason  -- NULL: claimed in time
    FROM tasks t
    WHERE t.id = ANY (ARRAY(SELECT id FROM past_execution UNION SELECT id FROM past_start))
), canceled AS (
    UPDATE tasks t
    SET status = 'canceled', error = due.reason, completed_at = now()
    FROM due
    WHERE t.id = ANY (ARRAY(SELECT id FROM due WHERE reason IS NOT NULL)) AND t.id = due.id
    RETURNING t.id
), met AS (
    -- claimed in time: the sweep stops rechecking them
    UPDATE tasks t
    SET start_deadline = NULL
    WHERE t.id = ANY (ARRAY(SELECT id FROM due WHERE reason IS NULL))
    RETURNING t.id
), canceled_runs AS (
    UPDATE runs r
    SET status = 'canceled', error = due.reason, completed_at = now(), claim_expires_at = NULL,
        claim_token = NULL
    FROM due
    WHERE r.task_id = ANY (ARRAY(SELECT id FROM due WHERE reason IS NOT NULL))
      AND r.task_id = due.id AND r.status IN ('pending', 'claimed', 'sleeping')
    RETURNING r.id
)
SELECT (SELECT count(*) FROM canceled) AS canceled_tasks,
       (SELECT count(*) FROM canceled_runs) AS canceled_runs,
       (SELECT count(*) FROM due) AS settled;

-- name: timeout_waits(batch_size)^
-- Mark waits past their timeout as timed out (oldest first on event_waits_timeout) and make their sleeping runs pending again: how many (timed_out), and how many due waits it read (scanned).
WITH due AS (
    SELECT w.id, w.run_id
    FROM event_waits w
    WHERE w.status = 'waiting' AND w.timeout_at <= now()
    ORDER BY w.timeout_at
    LIMIT :batch_size
    FOR UPDATE OF w SKIP LOCKED
), locked_runs AS (
    -- Their runs, and below every row by id list, not by join: a join's plan may hash
    -- it by scanning all of runs for each batch. A wait whose run is locked now waits
    -- for the next pass.
    SELECT r.id
    FROM runs r
    WHERE r.id = ANY (ARRAY(SELECT run_id FROM due))
    FOR UPDATE OF r SKIP LOCKED
), timed_out AS (
    UPDATE event_waits w
    SET status = 'timeout', resolved_at = now()
    WHERE w.id = ANY (ARRAY(SELECT d.id FROM due d JOIN locked_runs l ON l.id = d.run_id))
    RETURNING w.run_id
), woken AS (
    UPDATE runs r
    SET status = 'pending', available_at = now()
    WHERE r.id = ANY (ARRAY(SELECT run_id FROM timed_out)) AND r.status = 'sleeping'
    RETURNING r.id
)
SELECT (SELECT count(*) FROM timed_out) AS timed_out,
       (SELECT count(*) FROM due) AS scanned;  -- a full batch read: there may be more due

-- name: timeout_joins(batch_size)^
-- Mark joins past their timeout as timed out (oldest first on task_joins_timeout) and make their sleeping runs pending again: how many (timed_out), and how many due joins it read (scanned).
WITH due AS (
    SELECT j.task_id, j.run_id
    FROM task_joins j
    WHERE j.status = 'waiting' AND j.timeout_at <= now()
    ORDER BY j.timeout_at
    LIMIT :batch_size
    FOR UPDATE OF j SKIP LOCKED
), locked_runs AS (
    -- as in timeout_waits: by id list, a join whose run is locked now waits a pass
    SELECT r.id
    FROM runs r
    WHERE r.id = ANY (ARRAY(SELECT run_id FROM due))
    FOR UPDATE OF r SKIP LOCKED
), timed_out AS (
    UPDATE task_joins j
    SET status = 'timeout', resolved_at = now()
    WHERE j.task_id = ANY (ARRAY(SELECT d.task_id FROM due d JOIN locked_runs l ON l.id = d.run_id))
    RETURNING j.run_id
), woken AS (
    UPDATE runs r
    SET status = 'pending', available_at = now()
    WHERE r.id = ANY (ARRAY(SELECT run_id FROM timed_out)) AND r.status = 'sleeping'
    RETURNING r.id
)
SELECT (SELECT count(*) FROM timed_out) AS timed_out,
       (SELECT count(*) FROM due) AS scanned;

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
-- Delete events older than the largest event TTL of all queues (none while any queue keeps events forever), oldest first on events_by_age; returns how many.
WITH doomed AS (
    SELECT e.id
    FROM events e
    -- the cutoff is a scalar subquery, not a join: it bounds the index scan (a join's
    -- filter walked every newer event, ten thousand a pass with none due); no queue,
    -- or one keeping events forever, makes it NULL, which matches nothing
    WHERE e.created_at <= (SELECT now() - make_interval(secs => max(q.event_ttl_seconds))
                           FROM queues q
                           HAVING count(*) > 0 AND bool_and(q.event_ttl_seconds > 0))
    ORDER BY e.created_at
    LIMIT :batch_size
    FOR UPDATE OF e SKIP LOCKED
), deleted AS (
    -- an id list, not a join: the planner would hash-join a small events table by scanning it
    DELETE FROM events e WHERE e.id = ANY (ARRAY(SELECT id FROM doomed)) RETURNING e.id
)
SELECT count(*) FROM deleted;

-- name: purge_full_rate_buckets(batch_size)$
-- Delete up to batch_size rate-limit buckets that have refilled (a missing bucket is a full one), oldest first on rate_buckets_full_at; returns how many.
WITH doomed AS (
    SELECT b.queue_id, b.concurrency_key
    FROM rate_buckets b
    WHERE b.full_at <= now()
    ORDER BY b.full_at
    LIMIT :batch_size
    FOR UPDATE SKIP LOCKED
), deleted AS (
    DELETE FROM rate_buckets b
    USING doomed d
    WHERE b.queue_id = d.queue_id AND b.concurrency_key = d.concurrency_key
    RETURNING 1
)
SELECT count(*) FROM deleted;
