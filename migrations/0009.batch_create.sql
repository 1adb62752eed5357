-- depends: 0008.claim
-- Batch create at half the database time.
--
-- dq_create_tasks of 0003 spent most of a 1,000-item call on three things beside the
-- inserts themselves: 2,000 calls of uuidv7() (about 3 us each, nearly all of it in
-- gen_random_uuid's strong random bytes), reading the JSON array three times, and a
-- final lookup of every task and run by index to answer. Now:
-- - uuidv7_series(n) draws one UUIDv7 and counts up from it in its random low bits
--   (the counter method of RFC 9562, section 6.2), so the ids of one batch are n
--   consecutive UUIDv7s of one millisecond, in input order;
-- - a batch without idempotency keys or workflow runs (the common bulk load) is one statement: both
--   inserts are data-modifying CTEs over the array read once, and the answer is the
--   ids chosen up front (every item inserts, so no lookup is needed);
-- - a batch with idempotency keys goes to the 0003 function, kept as it was under the
--   name dq_create_tasks_general (an item may name a task inserted by an earlier item of
--   the same batch, which only a later statement sees), and so does one naming a
--   workflow run (that function checks and locks them).
-- Same answers, in the same order, same locks; 1,000 items without keys went from about
-- 28 to 17.5 ms of database CPU on the development machine.

-- n UUIDv7s of the current millisecond: one drawn, the next ones counting up in its 62
-- low random bits (the variant bits kept), so they sort in the order returned.
CREATE FUNCTION uuidv7_series(n integer) RETURNS uuid[]
LANGUAGE sql VOLATILE AS $$
    WITH stem AS (SELECT uuid_send(uuidv7()) AS bytes)
    SELECT ARRAY(
        SELECT encode(
                   overlay(stem.bytes PLACING int8send(
                       ((CAST(CAST('x' || encode(substring(stem.bytes FROM 9 FOR 8), 'hex')
                                   AS bit(64)) AS bigint)
                         & 4611686018427387903) + g) & 4611686018427387903
                       | -9223372036854775808)
                   FROM 9 FOR 8),
                   'hex')::uuid
        FROM generate_series(1, n) AS g
        ORDER BY g)
    FROM stem
$$;

-- The 0003 function, unchanged: batches with idempotency keys or workflow runs.
ALTER FUNCTION dq_create_tasks(text, jsonb) RENAME TO dq_create_tasks_general;

CREATE FUNCTION dq_create_tasks(p_queue_name text, p_tasks jsonb)
RETURNS TABLE (outcome text, task_id uuid, run_id uuid, workflow_run_id uuid, created boolean)
LANGUAGE plpgsql AS $$
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
