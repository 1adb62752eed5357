-- Create many tasks of one queue from a JSON array of create-task objects (absent keys
-- take the defaults), all or nothing. One row per item in input order: created, or not
-- (its idempotency key named a task already, possibly one an earlier item of the same
-- array created); or a single row queue_not_found / workflow_run_not_found (with the
-- missing id) when nothing was created; parent_not_found likewise (docs/composition.md:
-- a child takes its parent's workflow run, and its priority and concurrency key when the
-- item gives none; it and its parent are watched).
-- Runs take their task's priority and concurrency key, and their rounds once the queue
-- uses priorities or keys (dq_next_rank once per key; the items of one key take
-- consecutive rounds in input order).
CREATE OR REPLACE FUNCTION dq_create_tasks(p_queue_name text, p_tasks jsonb)
RETURNS TABLE (outcome text, task_id uuid, run_id uuid, workflow_run_id uuid, created boolean)
LANGUAGE plpgsql SET enable_seqscan = off AS $$
#variable_conflict use_column
DECLARE
    -- key-share locked, as by dq_create_task
    v_queue queues := (SELECT q FROM queues q WHERE q.name = p_queue_name FOR KEY SHARE);
    v_queue_id uuid := v_queue.id;
    v_ordered boolean := v_queue.ordered;
    v_missing uuid;
    v_ids uuid[];
    v_run_ids uuid[];
    v_bulk boolean;
    v_keys text[];
    v_parents uuid[];
BEGIN
    IF v_queue_id IS NULL THEN
        RETURN QUERY SELECT 'queue_not_found', NULL::uuid, NULL::uuid, NULL::uuid, false;
        RETURN;
    END IF;
    IF p_tasks @? '$[*].parent_task_id ? (@ != null)' THEN
        v_parents := ARRAY(SELECT DISTINCT CAST(e->>'parent_task_id' AS uuid)
                           FROM jsonb_array_elements(p_tasks) e
                           WHERE e->>'parent_task_id' IS NOT NULL ORDER BY 1);
        PERFORM 1 FROM tasks t WHERE t.id = ANY (v_parents) ORDER BY t.id FOR KEY SHARE;
        SELECT x INTO v_missing FROM unnest(v_parents) x
        WHERE NOT EXISTS (SELECT 1 FROM tasks t WHERE t.id = x) ORDER BY x LIMIT 1;
        IF v_missing IS NOT NULL THEN
            RETURN QUERY SELECT 'parent_not_found', NULL::uuid, NULL::uuid, v_missing, false;
            RETURN;
        END IF;
        -- the parent's values under the item's own, in input order
        p_tasks := (
            SELECT jsonb_agg(CASE WHEN t.id IS NULL THEN i.e
                                  ELSE jsonb_strip_nulls(jsonb_build_object(
                                           'workflow_run_id', t.workflow_run_id,
                                           'priority', t.priority,
                                           'concurrency_key', t.concurrency_key))
                                       || i.e
                                       || jsonb_build_object('parent_close',
                                              coalesce(i.e->>'parent_close', 'cancel'))
                             END ORDER BY i.ord)
            FROM jsonb_array_elements(p_tasks) WITH ORDINALITY AS i(e, ord)
            LEFT JOIN tasks t ON t.id = CAST(i.e->>'parent_task_id' AS uuid));
        UPDATE tasks t SET watched = true
        WHERE t.id = ANY (v_parents) AND t.status = 'pending' AND NOT t.watched;
    END IF;
    IF NOT v_ordered AND (p_tasks @? '$[*].priority ? (@ != 0)'
                          OR p_tasks @? '$[*].concurrency_key ? (@ != null)') THEN
        UPDATE queues q SET ordered = true WHERE q.id = v_queue_id AND NOT q.ordered;
        v_ordered := true;
    END IF;
    -- The common bulk load, without workflow runs, and with no idempotency key or only
    -- keys that are new (the Python client gives every item one), is one statement:
    -- every item inserts, so both inserts are data-modifying CTEs over the array read
    -- once, answered with the ids drawn up front (uuidv7_series, in input order). New
    -- keys: none stored in the queue (one index probe per key, in one statement), none
    -- twice in the batch. A key a concurrent create stores first makes the insert fail
    -- with a unique violation: the block undoes it, and the batch goes the keyed way.
    v_bulk := NOT p_tasks @? '$[*].workflow_run_id ? (@ != null)';
    IF v_bulk AND p_tasks @? '$[*].idempotency_key ? (@ != null)' THEN
        v_keys := ARRAY(SELECT e->>'idempotency_key' FROM jsonb_array_elements(p_tasks) e
                        WHERE e->>'idempotency_key' IS NOT NULL);
        v_bulk := cardinality(v_keys) = (SELECT count(DISTINCT k) FROM unnest(v_keys) k)
                  AND NOT EXISTS (
                      -- one probe of tasks_idempotency_key per key (as = ANY, the
                      -- planner may read every keyed task of the queue instead)
                      SELECT 1 FROM unnest(v_keys) AS k(key)
                      CROSS JOIN LATERAL (SELECT 1 FROM tasks t
                                          WHERE t.queue_id = v_queue_id
                                            AND t.idempotency_key = k.key
                                          LIMIT 1) AS stored);
    END IF;
    IF v_bulk THEN
        v_ids := uuidv7_series(jsonb_array_length(p_tasks));
        v_run_ids := uuidv7_series(jsonb_array_length(p_tasks));
        BEGIN
            WITH items AS MATERIALIZED (
                SELECT i.ord, i.e,
                       CAST(i.e->>'start_timeout' AS integer) AS start_timeout,
                       CAST(i.e->>'execution_timeout' AS integer) AS execution_timeout,
                       coalesce(CAST(i.e->>'priority' AS integer), 0) AS priority,
                       i.e->>'concurrency_key' AS concurrency_key
                FROM jsonb_array_elements(p_tasks) WITH ORDINALITY AS i(e, ord)
            ), ranks AS MATERIALIZED (
                SELECT r.ord, r.fair_rank FROM dq_batch_ranks(v_queue_id, v_ordered, p_tasks) r
            ), new_tasks AS (
                INSERT INTO tasks (id, queue_id, task_name, params, headers, retry_strategy,
                                   max_attempts, start_timeout, execution_timeout, workflow_run_id,
                                   idempotency_key, start_deadline, execution_deadline, priority,
                                   concurrency_key, parent_task_id, parent_close, watched)
                SELECT v_ids[items.ord], v_queue_id, e->>'task_name', e->'params', e->'headers',
                       e->'retry_strategy', coalesce(CAST(e->>'max_attempts' AS integer), 1),
                       coalesce(items.start_timeout, 0), coalesce(items.execution_timeout, 0),
                       NULL, e->>'idempotency_key',
                       CASE WHEN items.start_timeout > 0
                            THEN now() + make_interval(secs => items.start_timeout) END,
                       CASE WHEN items.execution_timeout > 0
                            THEN now() + make_interval(secs => items.execution_timeout) END,
                       items.priority, items.concurrency_key,
                       CAST(e->>'parent_task_id' AS uuid), e->>'parent_close',
                       e->>'parent_task_id' IS NOT NULL
                FROM items
                ORDER BY items.ord
            )
            INSERT INTO runs (id, task_id, queue_id, attempt, available_at, priority,
                              concurrency_key, fair_rank)
            SELECT v_run_ids[items.ord], v_ids[items.ord], v_queue_id, 1,
                   coalesce(CAST(items.e->>'run_at' AS timestamptz), now()),
                   items.priority, items.concurrency_key, coalesce(ranks.fair_rank, 0)
            FROM items
            LEFT JOIN ranks ON ranks.ord = items.ord
            ORDER BY items.ord;
        EXCEPTION WHEN unique_violation THEN
            v_bulk := false;  -- nothing was inserted; the keyed way answers
        END;
    END IF;
    IF v_bulk THEN
        RETURN QUERY
        SELECT 'ok', v_ids[g], v_run_ids[g], NULL::uuid, true
        FROM generate_series(1, cardinality(v_ids)) AS g
        ORDER BY g;
        RETURN;
    END IF;
    -- With workflow runs, or keys stored already or repeated: the workflow runs are checked and locked,
    -- the tasks inserted in input order, and each item answered by a later statement,
    -- which sees a task an earlier item of the same batch inserted.
    -- Every workflow run named must exist (key-share locked until the tasks reference it).
    WITH wanted AS (
        SELECT DISTINCT CAST(e->>'workflow_run_id' AS uuid) AS id
        FROM jsonb_array_elements(p_tasks) e
        WHERE e->>'workflow_run_id' IS NOT NULL
    ), present AS (
        SELECT w.id FROM workflow_runs w WHERE w.id IN (SELECT id FROM wanted)
        ORDER BY w.id
        FOR KEY SHARE
    )
    SELECT wanted.id INTO v_missing
    FROM wanted LEFT JOIN present ON present.id = wanted.id
    WHERE present.id IS NULL
    ORDER BY wanted.id
    LIMIT 1;
    IF v_missing IS NOT NULL THEN
        RETURN QUERY SELECT 'workflow_run_not_found', NULL::uuid, NULL::uuid, v_missing, false;
        RETURN;
    END IF;
    -- ids chosen up front, so the rows inserted below can be told from those found
    v_ids := ARRAY(SELECT uuidv7() FROM generate_series(1, jsonb_array_length(p_tasks)));
    WITH items AS (
        SELECT v_ids[i.ord] AS id, i.ord, i.e
        FROM jsonb_array_elements(p_tasks) WITH ORDINALITY AS i(e, ord)
    ), ranks AS MATERIALIZED (
        SELECT r.ord, r.fair_rank FROM dq_batch_ranks(v_queue_id, v_ordered, p_tasks) r
    ), new_tasks AS (
        -- in input order: of two items with one idempotency key, the first is inserted
        INSERT INTO tasks (id, queue_id, task_name, params, headers, retry_strategy,
                           max_attempts, start_timeout, execution_timeout, workflow_run_id,
                           idempotency_key, start_deadline, execution_deadline, priority,
                           concurrency_key, parent_task_id, parent_close, watched)
        SELECT items.id, v_queue_id, e->>'task_name', e->'params', e->'headers',
               e->'retry_strategy', coalesce(CAST(e->>'max_attempts' AS integer), 1),
               coalesce(CAST(e->>'start_timeout' AS integer), 0),
               coalesce(CAST(e->>'execution_timeout' AS integer), 0),
               CAST(e->>'workflow_run_id' AS uuid), e->>'idempotency_key',
               CASE WHEN CAST(e->>'start_timeout' AS integer) > 0
                    THEN now() + make_interval(secs => CAST(e->>'start_timeout' AS integer)) END,
               CASE WHEN CAST(e->>'execution_timeout' AS integer) > 0
                    THEN now() + make_interval(secs => CAST(e->>'execution_timeout' AS integer))
               END,
               coalesce(CAST(e->>'priority' AS integer), 0), e->>'concurrency_key',
               CAST(e->>'parent_task_id' AS uuid), e->>'parent_close',
               e->>'parent_task_id' IS NOT NULL
        FROM items
        ORDER BY items.ord
        ON CONFLICT (queue_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING id
    )
    INSERT INTO runs (task_id, queue_id, attempt, available_at, priority, concurrency_key,
                      fair_rank)
    SELECT items.id, v_queue_id, 1,
           coalesce(CAST(items.e->>'run_at' AS timestamptz), now()),
           coalesce(CAST(items.e->>'priority' AS integer), 0), items.e->>'concurrency_key',
           coalesce(ranks.fair_rank, 0)
    FROM new_tasks JOIN items ON items.id = new_tasks.id
    LEFT JOIN ranks ON ranks.ord = items.ord
    ORDER BY items.ord;

    RETURN QUERY
    SELECT 'ok', t.id, r.id, t.workflow_run_id, t.id = v_ids[x.ord]
    FROM jsonb_array_elements(p_tasks) WITH ORDINALITY AS x(e, ord)
    CROSS JOIN LATERAL (
        -- the task this item inserted, else the one that holds its idempotency key
        (SELECT t1.id, t1.workflow_run_id FROM tasks t1 WHERE t1.id = v_ids[x.ord])
        UNION ALL
        (SELECT t2.id, t2.workflow_run_id FROM tasks t2
         WHERE t2.queue_id = v_queue_id AND t2.idempotency_key = x.e->>'idempotency_key')
        LIMIT 1
    ) t
    JOIN runs r ON r.task_id = t.id AND r.attempt = 1
    ORDER BY x.ord;
END
$$;
