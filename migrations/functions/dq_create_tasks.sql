-- Create many tasks of one queue from a JSON array of create-task objects (absent keys
-- take the defaults), all or nothing. One row per item in input order; or a single row
-- queue_not_found / workflow_run_not_found (with the missing id) when nothing was
-- created. A batch without idempotency keys or workflow runs (the common bulk load) is
-- one statement here: both inserts are data-modifying CTEs over the array read once,
-- with ids drawn up front by uuidv7_series, which also answer it. Any other batch goes
-- to dq_create_tasks_general.
CREATE OR REPLACE FUNCTION dq_create_tasks(p_queue_name text, p_tasks jsonb)
RETURNS TABLE (outcome text, task_id uuid, run_id uuid, workflow_run_id uuid, created boolean)
LANGUAGE plpgsql SET enable_seqscan = off AS $$
#variable_conflict use_column
DECLARE
    v_queue_id uuid;
    v_ids uuid[];
    v_run_ids uuid[];
BEGIN
    IF p_tasks @? '$[*].idempotency_key ? (@ != null)'
       OR p_tasks @? '$[*].workflow_run_id ? (@ != null)' THEN
        RETURN QUERY SELECT * FROM dq_create_tasks_general(p_queue_name, p_tasks);
        RETURN;
    END IF;
    SELECT q.id INTO v_queue_id FROM queues q WHERE q.name = p_queue_name FOR KEY SHARE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'queue_not_found', NULL::uuid, NULL::uuid, NULL::uuid, false;
        RETURN;
    END IF;
    -- no keys, no workflow runs: every item inserts, answered with the ids chosen here
    v_ids := uuidv7_series(jsonb_array_length(p_tasks));
    v_run_ids := uuidv7_series(jsonb_array_length(p_tasks));
    RETURN QUERY
    WITH items AS MATERIALIZED (
        SELECT i.ord, i.e,
               CAST(i.e->>'start_timeout' AS integer) AS start_timeout,
               CAST(i.e->>'execution_timeout' AS integer) AS execution_timeout
        FROM jsonb_array_elements(p_tasks) WITH ORDINALITY AS i(e, ord)
    ), new_tasks AS (
        INSERT INTO tasks (id, queue_id, task_name, params, headers, retry_strategy,
                           max_attempts, start_timeout, execution_timeout, workflow_run_id,
                           idempotency_key, start_deadline, execution_deadline)
        SELECT v_ids[items.ord], v_queue_id, e->>'task_name', e->'params', e->'headers',
               e->'retry_strategy', coalesce(CAST(e->>'max_attempts' AS integer), 1),
               coalesce(items.start_timeout, 0), coalesce(items.execution_timeout, 0),
               NULL, NULL,
               CASE WHEN items.start_timeout > 0
                    THEN now() + make_interval(secs => items.start_timeout) END,
               CASE WHEN items.execution_timeout > 0
                    THEN now() + make_interval(secs => items.execution_timeout) END
        FROM items
        ORDER BY items.ord
    ), new_runs AS (
        INSERT INTO runs (id, task_id, queue_id, attempt, available_at)
        SELECT v_run_ids[items.ord], v_ids[items.ord], v_queue_id, 1,
               coalesce(CAST(items.e->>'run_at' AS timestamptz), now())
        FROM items
        ORDER BY items.ord
    )
    SELECT 'ok', v_ids[items.ord], v_run_ids[items.ord], NULL::uuid, true
    FROM items
    ORDER BY items.ord;
END
$$;
