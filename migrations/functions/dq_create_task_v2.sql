-- Create a task and its first run: the previous release's signature, kept for its
-- servers during a rolling upgrade (docs/upgrading.md); dq_create_task_v4 without a
-- schedule.
CREATE OR REPLACE FUNCTION dq_create_task_v2(
    p_queue_name text, p_task_name text, p_params jsonb, p_headers jsonb,
    p_retry_strategy jsonb, p_max_attempts integer, p_start_timeout integer,
    p_execution_timeout integer, p_workflow_run_id uuid, p_idempotency_key text,
    p_run_at timestamptz, p_priority integer, p_concurrency_key text
) RETURNS TABLE (outcome text, task_id uuid, run_id uuid, workflow_run_id uuid, created boolean)
LANGUAGE sql AS $$
    SELECT * FROM dq_create_task_v4(p_queue_name, p_task_name, p_params, p_headers,
                                    p_retry_strategy, p_max_attempts, p_start_timeout,
                                    p_execution_timeout, p_workflow_run_id, p_idempotency_key,
                                    p_run_at, p_priority, p_concurrency_key, NULL, NULL, NULL,
                                    NULL, NULL)
$$;
