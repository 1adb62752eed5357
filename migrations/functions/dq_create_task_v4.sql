-- Create a task and its first run, or find the task that holds the idempotency key
-- in its queue (created false). outcome: ok, queue_not_found, workflow_run_not_found,
-- parent_not_found (workflow_run_id: the missing parent's id).
-- A task a schedule makes names the schedule and its slot (docs/schedules.md). A child
-- (p_parent_task_id) takes its parent's workflow run, and its priority and concurrency
-- key where none is given (p_priority NULL: the parent's, else 0); it and its parent are
-- watched (docs/composition.md: its join and result waits, the parent's close).
-- The run takes the task's priority and concurrency key, and its round (dq_next_rank)
-- once the queue uses priorities or keys (a first one marks the queue ordered).
CREATE OR REPLACE FUNCTION dq_create_task_v4(
    p_queue_name text, p_task_name text, p_params jsonb, p_headers jsonb,
    p_retry_strategy jsonb, p_max_attempts integer, p_start_timeout integer,
    p_execution_timeout integer, p_workflow_run_id uuid, p_idempotency_key text,
    p_run_at timestamptz, p_priority integer, p_concurrency_key text,
    p_schedule_id uuid, p_schedule_name text, p_scheduled_for timestamptz,
    p_parent_task_id uuid, p_parent_close text
) RETURNS TABLE (outcome text, task_id uuid, run_id uuid, workflow_run_id uuid, created boolean)
LANGUAGE plpgsql SET enable_seqscan = off AS $$
#variable_conflict use_column
DECLARE
    v_queue_id uuid;
    v_ordered boolean;
    v_task_id uuid;
    v_parent tasks;
    v_workflow_run_id uuid := p_workflow_run_id;
    v_priority integer := p_priority;
    v_concurrency_key text := p_concurrency_key;
BEGIN
    -- key-share: a concurrent queue delete waits for us, or we see the queue gone
    SELECT q.id, q.ordered INTO v_queue_id, v_ordered
    FROM queues q WHERE q.name = p_queue_name FOR KEY SHARE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'queue_not_found', NULL::uuid, NULL::uuid, NULL::uuid, false;
        RETURN;
    END IF;
    IF p_parent_task_id IS NOT NULL THEN
        SELECT * INTO v_parent FROM tasks t WHERE t.id = p_parent_task_id FOR KEY SHARE;
        IF NOT FOUND THEN
            RETURN QUERY SELECT 'parent_not_found', NULL::uuid, NULL::uuid, p_parent_task_id,
                                false;
            RETURN;
        END IF;
        v_workflow_run_id := coalesce(v_workflow_run_id, v_parent.workflow_run_id);
        v_priority := coalesce(v_priority, v_parent.priority);
        v_concurrency_key := coalesce(v_concurrency_key, v_parent.concurrency_key);
    END IF;
    v_priority := coalesce(v_priority, 0);
    IF v_workflow_run_id IS NOT NULL THEN
        PERFORM 1 FROM workflow_runs w WHERE w.id = v_workflow_run_id FOR KEY SHARE;
        IF NOT FOUND THEN
            RETURN QUERY SELECT 'workflow_run_not_found', NULL::uuid, NULL::uuid,
                                v_workflow_run_id, false;
            RETURN;
        END IF;
    END IF;
    INSERT INTO tasks (queue_id, task_name, params, headers, retry_strategy, max_attempts,
                       start_timeout, execution_timeout, workflow_run_id, idempotency_key,
                       start_deadline, execution_deadline, priority, concurrency_key,
                       schedule_id, schedule_name, scheduled_for, parent_task_id,
                       parent_close, watched)
    VALUES (v_queue_id, p_task_name, p_params, p_headers, p_retry_strategy, p_max_attempts,
            p_start_timeout, p_execution_timeout, v_workflow_run_id, p_idempotency_key,
            CASE WHEN p_start_timeout > 0 THEN now() + make_interval(secs => p_start_timeout) END,
            CASE WHEN p_execution_timeout > 0
                 THEN now() + make_interval(secs => p_execution_timeout) END,
            v_priority, v_concurrency_key, p_schedule_id, p_schedule_name, p_scheduled_for,
            p_parent_task_id,
            CASE WHEN p_parent_task_id IS NOT NULL THEN coalesce(p_parent_close, 'cancel') END,
            p_schedule_id IS NOT NULL OR p_parent_task_id IS NOT NULL)
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
    IF p_parent_task_id IS NOT NULL AND NOT v_parent.watched AND v_parent.status = 'pending' THEN
        UPDATE tasks t SET watched = true WHERE t.id = p_parent_task_id AND NOT t.watched;
    END IF;
    IF NOT v_ordered AND (v_priority <> 0 OR v_concurrency_key IS NOT NULL) THEN
        UPDATE queues q SET ordered = true WHERE q.id = v_queue_id AND NOT q.ordered;
        v_ordered := true;
    END IF;
    RETURN QUERY
    INSERT INTO runs (task_id, queue_id, attempt, available_at, priority, concurrency_key,
                      fair_rank)
    VALUES (v_task_id, v_queue_id, 1, coalesce(p_run_at, now()), v_priority, v_concurrency_key,
            CASE WHEN v_ordered THEN dq_next_rank(v_queue_id, v_concurrency_key, v_priority)
                 ELSE 0 END)
    RETURNING 'ok', v_task_id, id, v_workflow_run_id, true;
END
$$;
