-- Fail a claimed run. A retry (attempt + 1) is created, pending after the task's
-- backoff, while the task's explicit failures stay below max_attempts; else the
-- task fails with the error. outcome: ok (attempt; next_run_id and next_attempt_at
-- when retried), not_found, conflict / stale_token (status: the run's status).
-- The run keeps the claim_token it failed under (expiry and cancel clear theirs), so
-- the same fail repeated with that token (its answer was lost) answers ok again with
-- the first answer, changing nothing: the retry is the run of attempt + 1, due when the
-- fail set it, at the failure's time plus the backoff of that failure's count (the
-- task's count less the explicit failures of later runs, the failed runs that kept a
-- token).
CREATE OR REPLACE FUNCTION dq_fail_run(p_run_id uuid, p_error text, p_claim_token text DEFAULT NULL)
RETURNS TABLE (outcome text, status text, attempt integer, next_run_id uuid,
               next_attempt_at timestamptz)
LANGUAGE plpgsql SET enable_seqscan = off AS $$
#variable_conflict use_column
DECLARE
    v_run runs := dq_lock_run(p_run_id);
    v_holds text := dq_holds(v_run, p_claim_token);
    v_task tasks;
BEGIN
    IF v_run.status = 'failed' AND p_claim_token = CAST(v_run.claim_token AS text) THEN
        RETURN QUERY
        SELECT 'ok', 'failed', v_run.attempt::integer, n.id,
               CASE WHEN n.id IS NOT NULL THEN
                   v_run.completed_at + make_interval(secs => dq_retry_delay(
                       t.retry_strategy,
                       t.failure_count - (SELECT count(*) FROM runs l
                                          WHERE l.task_id = t.id AND l.attempt > v_run.attempt
                                            AND l.status = 'failed'
                                            AND l.claim_token IS NOT NULL)::integer))
               END
        FROM tasks t
        LEFT JOIN runs n ON n.task_id = t.id AND n.attempt = v_run.attempt + 1
        WHERE t.id = v_run.task_id;
        RETURN;
    END IF;
    IF v_holds <> 'ok' THEN
        RETURN QUERY SELECT v_holds, v_run.status::text, v_run.attempt::integer, NULL::uuid,
                            NULL::timestamptz;
        RETURN;
    END IF;
    UPDATE runs r
    SET status = 'failed', error = p_error, completed_at = now(), claim_expires_at = NULL
    WHERE r.id = p_run_id;
    UPDATE tasks t SET failure_count = t.failure_count + 1
    WHERE t.id = v_run.task_id
    RETURNING * INTO v_task;
    IF v_task.failure_count < v_task.max_attempts THEN
        RETURN QUERY
        -- the retry keeps the task's priority and key, at the back of its key's line
        INSERT INTO runs (task_id, queue_id, attempt, available_at, priority, concurrency_key,
                          fair_rank)
        VALUES (v_task.id, v_task.queue_id,
                (SELECT max(r.attempt) FROM runs r WHERE r.task_id = v_task.id) + 1,
                now() + make_interval(
                    secs => dq_retry_delay(v_task.retry_strategy, v_task.failure_count)),
                v_task.priority, v_task.concurrency_key,
                CASE WHEN (SELECT q.ordered FROM queues q WHERE q.id = v_task.queue_id)
                     THEN dq_next_rank(v_task.queue_id, v_task.concurrency_key, v_task.priority) ELSE 0 END)
        RETURNING 'ok', 'failed', v_run.attempt::integer, id, available_at;
        RETURN;
    END IF;
    UPDATE tasks t
    SET status = 'failed', error = p_error, result = NULL, completed_at = now()
    WHERE t.id = v_task.id AND t.status = 'pending';
    RETURN QUERY SELECT 'ok', 'failed', v_run.attempt::integer, NULL::uuid, NULL::timestamptz;
END
$$;
