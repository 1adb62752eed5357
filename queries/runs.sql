-- name: claim_runs(queue_name, limit, claim_timeout)
-- Claim up to limit due pending runs of a queue in claim order and within its limits, with their task and a new claim token; one not_found row for an unknown queue (dq_claim_v3).
SELECT outcome, run_id, task_id, attempt, task_name, params, headers, retry_strategy,
       max_attempts, claim_expires_at, workflow_run_id, CAST(claim_token AS text) AS claim_token,
       priority, concurrency_key, schedule_name, scheduled_for
FROM dq_claim_v3(:queue_name, :limit, :claim_timeout, false);

-- name: claim_runs_or_due(queue_name, limit, claim_timeout)
-- claim_runs, each row carrying seconds_until_due (when a claim could next get a run without a notification; NULL: only on one); when it claims nothing, one row 'none' carrying it: the long poll's claim and its next wake in one round trip (dq_claim_v3).
SELECT outcome, run_id, task_id, attempt, task_name, params, headers, retry_strategy,
       max_attempts, claim_expires_at, workflow_run_id, CAST(claim_token AS text) AS claim_token,
       priority, concurrency_key, seconds_until_due, schedule_name, scheduled_for
FROM dq_claim_v3(:queue_name, :limit, :claim_timeout, true);

-- name: release_claims(run_ids, claim_tokens)!
-- Put claimed runs back as the claim found them (pending, same available_at, attempt unspent, token cleared) where still held under the paired claim_tokens: a claim whose answer could not be written.
UPDATE runs r
SET status = 'pending', claimed_at = NULL, claim_expires_at = NULL, claim_token = NULL,
    first_claimed_at = CASE WHEN r.first_claimed_at = r.claimed_at THEN NULL
                            ELSE r.first_claimed_at END
FROM unnest(CAST(:run_ids AS uuid[]), CAST(:claim_tokens AS uuid[])) AS held(run_id, claim_token)
WHERE r.id = held.run_id AND r.claim_token = held.claim_token AND r.status = 'claimed';

-- name: complete_run(run_id, result, claim_token)^
-- Complete a claimed run (under claim_token when given) and its task: ok (also for a repeat under the token it completed under), not_found, or conflict / stale_token with the run's status (dq_complete_run).
SELECT outcome, status FROM dq_complete_run(:run_id, CAST(:result AS jsonb), :claim_token);

-- name: complete_runs(runs)
-- Complete many runs, each fenced on its own (and on its claim_token when given; a repeat under the token a run completed under is completed again); one row per item in input order (dq_complete_runs).
SELECT run_id, outcome, status FROM dq_complete_runs(CAST(:runs AS jsonb));

-- name: fail_run(run_id, error, claim_token)^
-- Fail a claimed run (under claim_token when given); retry it after the backoff or fail the task; a repeat under the token it failed under answers the first answer (dq_fail_run).
SELECT outcome, status, attempt, next_run_id, next_attempt_at
FROM dq_fail_run(:run_id, :error, :claim_token);

-- name: schedule_run(run_id, run_at, claim_token)^
-- Move a pending run, or release a claimed one (the claim of claim_token when given; the token '' moves a pending run only: DURABLE_REQUIRE_CLAIM_TOKENS), to be claimable at run_at (dq_schedule_run).
SELECT outcome, status, available_at
FROM dq_schedule_run(:run_id, CAST(:run_at AS timestamptz), :claim_token);

-- name: extend_claim(run_id, extend_by, claim_token)^
-- Push a live claim's expiry (the claim of claim_token when given) to now + extend_by seconds (dq_extend_claim).
SELECT outcome, status, claim_expires_at FROM dq_extend_claim(:run_id, :extend_by, :claim_token);

-- name: seconds_until_due(queue_name)$
-- Seconds (database clock) until the queue's earliest pending run is due; <= 0 when due, NULL when none.
SELECT extract(epoch FROM min(r.available_at) - now())::float8
FROM runs r
WHERE r.queue_id = (SELECT q.id FROM queues q WHERE q.name = :queue_name)
  AND r.status = 'pending';

-- name: list_runs(task_id, cursor, limit)
-- A page of runs, newest first, optionally of one task; cursor is the last id of the previous page (runs_pkey, or the task's few runs by runs_task_id_attempt_key).
SELECT id, task_id, attempt, status, error, created_at, completed_at
FROM runs
WHERE (CAST(:task_id AS uuid) IS NULL OR task_id = :task_id)
  AND (CAST(:cursor AS uuid) IS NULL OR id < :cursor)
ORDER BY id DESC
LIMIT :limit;

-- name: list_runs_by_status(status, task_id, cursor, limit)
-- A page of the runs in one status, newest first, optionally of one task (runs_by_status; the status is a range so that only this index yields the order, see list_tasks_by_status).
SELECT id, task_id, attempt, status, error, created_at, completed_at
FROM runs
WHERE status >= :status AND status <= :status
  AND (CAST(:task_id AS uuid) IS NULL OR task_id = :task_id)
  AND (CAST(:cursor AS uuid) IS NULL OR id < :cursor)
ORDER BY status DESC, id DESC
LIMIT :limit;

-- name: wait_for_tasks(run_id, task_ids, timeout_seconds, claim_token)^
-- A join for the run holding its claim: completed or timeout with the tasks' outcomes in input order, or sleeping, or why not (dq_wait_for_tasks).
SELECT outcome, status, task_id, tasks
FROM dq_wait_for_tasks(:run_id, CAST(:task_ids AS uuid[]), :timeout_seconds, :claim_token);
