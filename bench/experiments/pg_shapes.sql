-- bench/experiments/pg_shapes.py, first: a task and its current run as one row of one table,
-- with only what a claim needs (primary key, run id, the claimable index): no other
-- index, check, foreign key or trigger. Created in a throw-away cluster, never in the
-- schema; shape_create_task takes dq_create_task's arguments and answers as it does.
CREATE TABLE shape_tasks (
    id uuid PRIMARY KEY DEFAULT uuidv7(),
    queue_id uuid NOT NULL,
    task_name text NOT NULL,
    params jsonb,
    headers jsonb,
    retry_strategy jsonb,
    max_attempts integer NOT NULL DEFAULT 1,
    start_timeout integer NOT NULL DEFAULT 0,
    execution_timeout integer NOT NULL DEFAULT 0,
    workflow_run_id uuid,
    idempotency_key text,
    status text NOT NULL DEFAULT 'pending',
    failure_count integer NOT NULL DEFAULT 0,
    expiry_count integer NOT NULL DEFAULT 0,
    start_deadline timestamptz,
    execution_deadline timestamptz,
    error text,
    result jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    run_id uuid NOT NULL DEFAULT uuidv7(),
    attempt integer NOT NULL DEFAULT 1,
    run_status text NOT NULL DEFAULT 'pending',
    available_at timestamptz NOT NULL DEFAULT now(),
    claimed_at timestamptz,
    first_claimed_at timestamptz,
    claim_expires_at timestamptz,
    claim_token uuid
);
CREATE UNIQUE INDEX shape_tasks_run ON shape_tasks (run_id);
CREATE INDEX shape_tasks_claimable ON shape_tasks (queue_id, available_at, id)
    WHERE run_status = 'pending';

-- One row per create: the queue looked up (key-share locked, as dq_create_task does),
-- then one insert.
CREATE FUNCTION shape_create_task(
    p_queue_name text, p_task_name text, p_params jsonb, p_headers jsonb,
    p_retry_strategy jsonb, p_max_attempts integer, p_start_timeout integer,
    p_execution_timeout integer, p_workflow_run_id uuid, p_idempotency_key text,
    p_run_at timestamptz
) RETURNS TABLE (outcome text, task_id uuid, run_id uuid, workflow_run_id uuid, created boolean)
LANGUAGE plpgsql SET enable_seqscan = off AS $$
#variable_conflict use_column
DECLARE
    v_queue_id uuid;
BEGIN
    SELECT q.id INTO v_queue_id FROM queues q WHERE q.name = p_queue_name FOR KEY SHARE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'queue_not_found', NULL::uuid, NULL::uuid, NULL::uuid, false;
        RETURN;
    END IF;
    RETURN QUERY
    INSERT INTO shape_tasks (queue_id, task_name, params, headers, retry_strategy,
                             max_attempts, start_timeout, execution_timeout, workflow_run_id,
                             idempotency_key, start_deadline, execution_deadline,
                             available_at)
    VALUES (v_queue_id, p_task_name, p_params, p_headers, p_retry_strategy, p_max_attempts,
            p_start_timeout, p_execution_timeout, p_workflow_run_id, p_idempotency_key,
            CASE WHEN p_start_timeout > 0 THEN now() + make_interval(secs => p_start_timeout) END,
            CASE WHEN p_execution_timeout > 0
                 THEN now() + make_interval(secs => p_execution_timeout) END,
            coalesce(p_run_at, now()))
    RETURNING 'ok', shape_tasks.id, shape_tasks.run_id, p_workflow_run_id, true;
END
$$;
