-- Create a task and its first run, or find the task that holds the idempotency key
-- in its queue (created false). outcome: ok, queue_not_found, workflow_run_not_found.
-- A task a schedule makes names the schedule and its slot (docs/schedules.md).
-- The run takes the task's priority and concurrency key, and its round (dq_next_rank)
-- once the queue uses priorities or keys (a first one marks the queue ordered).
CREATE OR REPLACE FUNCTION dq_create_task_v3(
    p_queue_name text, p_task_name text, p_params jsonb, p_headers jsonb,
    p_retry_strategy jsonb, p_max_attempts integer, p_start_timeout integer,
    p_execution_timeout integer, p_workflow_run_id uuid, p_idempotency_key text,
    p_run_at timestamptz, p_priority integer, p_concurrency_key text,
    p_schedule_id uuid, p_schedule_name text, p_scheduled_for timestamptz
) RETURNS TABLE (outcome text, task_id uuid, run_id uuid, workflow_run_id uuid, created boolean)
LANGUAGE plpgsql SET enable_seqscan = off AS $$
#variable_conflict use_column
DECLARE
    v_queue_id uuid;
    v_ordered boolean;
    v_task_id uuid;
BEGIN
    -- key-share: a concurrent queue delete waits for us, or we see the queue gone
    SELECT q.id, q.ordered INTO v_queue_id, v_ordered
    FROM queues q WHERE q.name = p_queue_name FOR KEY SHARE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'queue_not_found', NULL::uuid, NULL::uuid, NULL::uuid, false;
        RETURN;
    END IF;
    IF p_workflow_run_id IS NOT NULL THEN
        PERFORM 1 FROM workflow_runs w WHERE w.id = p_workflow_run_id FOR KEY SHARE;
        IF NOT FOUND THEN
            RETURN QUERY SELECT 'workflow_run_not_found', NULL::uuid, NULL::uuid,
                                p_workflow_run_id, false;
            RETURN;
        END IF;
    END IF;
    INSERT INTO tasks (queue_id, task_name, params, headers, retry_strategy, max_attempts,
                       start_timeout, execution_timeout, workflow_run_id, idempotency_key,
                       start_deadline, execution_deadline, priority, concurrency_key,
                       schedule_id, schedule_name, scheduled_for)
    VALUES (v_queue_id, p_task_name, p_params, p_headers, p_retry_strategy, p_max_attempts,
            p_start_timeout, p_execution_timeout, p_workflow_run_id, p_idempotency_key,
            CASE WHEN p_start_timeout > 0 THEN now() + make_interval(secs => p_start_timeout) END,
            CASE WHEN p_execution_timeout > 0
                 THEN now() + make_interval(secs => p_execution_timeout) END,
            p_priority, p_concurrency_key, p_schedule_id, p_schedule_name, p_scheduled_for)
    ON CONFLICT (queue_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id INTO v_task_id;
    IF v_task_id IS NULL THEN
        RETURN QUERY
        SELECT 'ok', t.id, r.id, t.workflow_run_id, false
        FROM tasks t
        JOIN runs r ON r.task_id = t.id AND r.attempt = 1
        WHERE t.queue_id = v_queue_id AND t.idempotency_key = p_idempotency_key;
        RETURN;
    END IF;
    IF NOT v_ordered AND (p_priority <> 0 OR p_concurrency_key IS NOT NULL) THEN
        UPDATE queues q SET ordered = true WHERE q.id = v_queue_id AND NOT q.ordered;
        v_ordered := true;
    END IF;
    RETURN QUERY
    INSERT INTO runs (task_id, queue_id, attempt, available_at, priority, concurrency_key,
                      fair_rank)
    VALUES (v_task_id, v_queue_id, 1, coalesce(p_run_at, now()), p_priority, p_concurrency_key,
            CASE WHEN v_ordered THEN dq_next_rank(v_queue_id, p_concurrency_key, p_priority) ELSE 0 END)
    RETURNING 'ok', v_task_id, id, p_workflow_run_id, true;
END
$$;
