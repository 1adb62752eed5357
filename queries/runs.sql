-- name: claim_runs(queue_id, limit, claim_timeout)
-- Claim up to limit due pending runs of a queue (oldest due first), returned with their task.
WITH picked AS (
    SELECT id
    FROM runs
    WHERE queue_id = :queue_id AND status = 'pending' AND available_at <= now()
    ORDER BY available_at, id
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE runs r
    SET status = 'claimed',
        claimed_at = now(),
        first_claimed_at = coalesce(r.first_claimed_at, now()),
        claim_expires_at = now() + make_interval(secs => :claim_timeout)
    FROM picked
    WHERE r.id = picked.id
    RETURNING r.id, r.task_id, r.attempt, r.available_at, r.claim_expires_at
)
SELECT c.id AS run_id, c.task_id, c.attempt, t.task_name, t.params, t.headers,
       t.retry_strategy, t.max_attempts, c.claim_expires_at, t.workflow_run_id
FROM claimed c
JOIN tasks t ON t.id = c.task_id
ORDER BY c.available_at, c.id;

-- name: get_run_task_id(run_id)$
-- The task a run belongs to (no lock; callers lock the task next).
SELECT task_id FROM runs WHERE id = :run_id;

-- name: lock_run(run_id)^
-- One run, locked.
SELECT id, task_id, queue_id, attempt, status, available_at, claim_expires_at
FROM runs
WHERE id = :run_id
FOR UPDATE;

-- name: complete_run(run_id, result)!
-- Mark a claimed run completed with its result.
UPDATE runs
SET status = 'completed', result = CAST(:result AS jsonb), completed_at = now(),
    claim_expires_at = NULL
WHERE id = :run_id AND status = 'claimed';

-- name: fail_run(run_id, error)!
-- Mark a claimed run failed with its error.
UPDATE runs
SET status = 'failed', error = :error, completed_at = now(), claim_expires_at = NULL
WHERE id = :run_id AND status = 'claimed';

-- name: insert_retry_run(task_id, delay_seconds)^
-- Create the next run of a task (attempt = highest + 1), pending after delay_seconds.
INSERT INTO runs (task_id, queue_id, attempt, available_at)
SELECT t.id, t.queue_id,
       (SELECT max(attempt) FROM runs WHERE task_id = t.id) + 1,
       now() + make_interval(secs => :delay_seconds)
FROM tasks t
WHERE t.id = :task_id
RETURNING id, attempt, available_at;

-- name: reschedule_run(run_id, run_at)^
-- Make a pending or claimed run pending at run_at, releasing any claim.
UPDATE runs
SET status = 'pending', available_at = CAST(:run_at AS timestamptz),
    claimed_at = NULL, claim_expires_at = NULL
WHERE id = :run_id AND status IN ('pending', 'claimed')
RETURNING id, available_at;

-- name: sleep_run(run_id)!
-- Put a claimed run to sleep until its event arrives or its wait times out (claim released).
UPDATE runs
SET status = 'sleeping', claimed_at = NULL, claim_expires_at = NULL
WHERE id = :run_id AND status = 'claimed';

-- name: extend_claim(run_id, extend_by)$
-- Push a live claim's expiry to now + extend_by seconds; returns the new expiry.
UPDATE runs
SET claim_expires_at = now() + make_interval(secs => :extend_by)
WHERE id = :run_id AND status = 'claimed'
RETURNING claim_expires_at;

-- name: cancel_live_runs(task_id, error)!
-- Cancel every pending, claimed or sleeping run of a task.
UPDATE runs
SET status = 'canceled', error = :error, completed_at = now(), claim_expires_at = NULL
WHERE task_id = :task_id AND status IN ('pending', 'claimed', 'sleeping');

-- name: list_runs(task_id, status, cursor, limit)
-- A page of runs, newest first, filtered; cursor is the last id of the previous page.
SELECT id, task_id, attempt, status, error, created_at, completed_at
FROM runs
WHERE (CAST(:task_id AS uuid) IS NULL OR task_id = :task_id)
  AND (CAST(:status AS text) IS NULL OR status = :status)
  AND (CAST(:cursor AS uuid) IS NULL OR id < :cursor)
ORDER BY id DESC
LIMIT :limit;

-- name: seconds_until_due(queue_id)$
-- Seconds (database clock) until the queue's earliest pending run is due; <= 0 when due, NULL when none.
SELECT extract(epoch FROM min(available_at) - now())::float8
FROM runs
WHERE queue_id = :queue_id AND status = 'pending';
