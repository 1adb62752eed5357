-- Complete many runs, each fenced on its own: one row per item of the JSON array
-- [{run_id, result?, claim_token?}], in input order, with outcome completed,
-- conflict / stale_token (status: the run's status) or not_found. A run named
-- twice completes once; the second item is a conflict. A run keeps the claim_token it
-- completed under: an item repeating that complete with that token (its answer was
-- lost) answers completed again and changes nothing.
CREATE OR REPLACE FUNCTION dq_complete_runs(p_runs jsonb)
RETURNS TABLE (run_id uuid, outcome text, status text)
LANGUAGE plpgsql SET enable_seqscan = off AS $$
#variable_conflict use_column
DECLARE
    v_run_ids uuid[];
    v_task_ids uuid[];
BEGIN
    v_run_ids := ARRAY(SELECT CAST(e->>'run_id' AS uuid) FROM jsonb_array_elements(p_runs) e);
    -- lock order task → run; each in id order, so concurrent batches cannot deadlock
    v_task_ids := ARRAY(
        SELECT t.id FROM tasks t
        WHERE t.id = ANY (ARRAY(SELECT r.task_id FROM runs r WHERE r.id = ANY (v_run_ids)))
        ORDER BY t.id
        FOR UPDATE);
    PERFORM 1 FROM runs r WHERE r.id = ANY (v_run_ids) ORDER BY r.id FOR UPDATE;
    RETURN QUERY
    WITH items AS (
        SELECT CAST(i.e->>'run_id' AS uuid) AS run_id, i.e->'result' AS result,
               i.e->>'claim_token' AS claim_token, i.ord,
               row_number() OVER (PARTITION BY CAST(i.e->>'run_id' AS uuid) ORDER BY i.ord) = 1
                   AS first
        FROM jsonb_array_elements(p_runs) WITH ORDINALITY AS i(e, ord)
    ), done_runs AS (
        UPDATE runs r
        SET status = 'completed', result = items.result, completed_at = now(),
            claim_expires_at = NULL
        FROM items
        WHERE r.id = ANY (v_run_ids) AND r.id = items.run_id AND items.first
          AND r.status = 'claimed'
          AND (items.claim_token IS NULL OR items.claim_token = CAST(r.claim_token AS text))
        RETURNING r.id, r.task_id, r.result
    ), done_tasks AS (
        UPDATE tasks t
        SET status = 'completed', error = NULL, result = d.result, completed_at = now()
        FROM done_runs d
        WHERE t.id = ANY (v_task_ids) AND t.id = d.task_id AND t.status = 'pending'
        RETURNING t.id
    )
    SELECT items.run_id,
           CASE WHEN r.id IS NULL THEN 'not_found'
                WHEN items.first AND d.id IS NOT NULL THEN 'completed'
                -- completed before this statement under the item's token: a repeat
                WHEN r.status = 'completed'
                     AND items.claim_token = CAST(r.claim_token AS text) THEN 'completed'
                -- claimed before this statement and not completed by it: another token
                WHEN items.first AND r.status = 'claimed' THEN 'stale_token'
                ELSE 'conflict' END,
           CASE WHEN r.id IS NULL THEN NULL
                WHEN d.id IS NOT NULL THEN 'completed'
                ELSE r.status::text END
    FROM items
    LEFT JOIN runs r ON r.id = items.run_id AND r.id = ANY (v_run_ids)
    LEFT JOIN done_runs d ON d.id = items.run_id
    ORDER BY items.ord;
END
$$;
