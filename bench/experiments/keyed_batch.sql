-- bench/experiments/keyed_batch.py: a batch create whose items all carry idempotency keys
-- none of which is stored yet (the Python client's every batch) through the bulk path:
-- one probe of the keys, then the one-statement insert of dq_create_tasks's bulk path
-- with the keys set (no ON CONFLICT, ids from uuidv7_series, the answer from the arrays).
-- A key already stored, a key twice in the batch, a workflow run, or a unique violation
-- (a concurrent create of one of the keys) goes to dq_create_tasks as it is. Written
-- against the 0001.baseline schema (no priority or concurrency key); created in a
-- throw-away database, never in the schema.
CREATE OR REPLACE FUNCTION shape_create_tasks_keyed(p_queue_name text, p_tasks jsonb)
RETURNS TABLE (outcome text, task_id uuid, run_id uuid, workflow_run_id uuid, created boolean)
LANGUAGE plpgsql SET enable_seqscan = off AS $$
#variable_conflict use_column
DECLARE
    v_queue_id uuid := (SELECT q.id FROM queues q WHERE q.name = p_queue_name FOR KEY SHARE);
    v_ids uuid[];
    v_run_ids uuid[];
    v_keys text[];
BEGIN
    IF v_queue_id IS NULL OR p_tasks @? '$[*].workflow_run_id ? (@ != null)' THEN
        RETURN QUERY SELECT * FROM dq_create_tasks(p_queue_name, p_tasks);
        RETURN;
    END IF;
    v_keys := ARRAY(SELECT e->>'idempotency_key' FROM jsonb_array_elements(p_tasks) e
                    WHERE e->>'idempotency_key' IS NOT NULL);
    IF cardinality(v_keys) > 0 AND (
           EXISTS (SELECT 1 FROM tasks t WHERE t.queue_id = v_queue_id
                   AND t.idempotency_key = ANY (v_keys))
           OR cardinality(v_keys) <> (SELECT count(DISTINCT k) FROM unnest(v_keys) k)) THEN
        RETURN QUERY SELECT * FROM dq_create_tasks(p_queue_name, p_tasks);
        RETURN;
    END IF;
    v_ids := uuidv7_series(jsonb_array_length(p_tasks));
    v_run_ids := uuidv7_series(jsonb_array_length(p_tasks));
    BEGIN
        -- no rows returned inside the block: a unique violation (a concurrent create of
        -- one of the keys) undoes the inserts and leaves nothing in the result
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
                   NULL, e->>'idempotency_key',
                   CASE WHEN items.start_timeout > 0
                        THEN now() + make_interval(secs => items.start_timeout) END,
                   CASE WHEN items.execution_timeout > 0
                        THEN now() + make_interval(secs => items.execution_timeout) END
            FROM items
            ORDER BY items.ord
        )
        INSERT INTO runs (id, task_id, queue_id, attempt, available_at)
        SELECT v_run_ids[items.ord], v_ids[items.ord], v_queue_id, 1,
               coalesce(CAST(items.e->>'run_at' AS timestamptz), now())
        FROM items
        ORDER BY items.ord;
    EXCEPTION WHEN unique_violation THEN
        RETURN QUERY SELECT * FROM dq_create_tasks(p_queue_name, p_tasks);
        RETURN;
    END;
    RETURN QUERY
    SELECT 'ok', v_ids[g], v_run_ids[g], NULL::uuid, true
    FROM generate_series(1, cardinality(v_ids)) AS g
    ORDER BY g;
END
$$;
