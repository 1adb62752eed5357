-- The rounds of a batch's runs (p_tasks: dq_create_tasks' array), by item position:
-- none (every run takes round 0) while the queue is not ordered; else, per priority,
-- the floor for an item without a key, and for the items of one key dq_next_rank of that
-- key, then the next rounds, in input order (dq_next_rank once per key and priority).
CREATE OR REPLACE FUNCTION dq_batch_ranks(p_queue_id uuid, p_ordered boolean, p_tasks jsonb)
RETURNS TABLE (ord bigint, fair_rank bigint)
LANGUAGE sql STABLE AS $$
    WITH items AS (
        SELECT i.ord, i.e->>'concurrency_key' AS key,
               coalesce(CAST(i.e->>'priority' AS integer), 0) AS priority
        FROM jsonb_array_elements(p_tasks) WITH ORDINALITY AS i(e, ord)
        WHERE p_ordered
    ), bases AS (
        SELECT k.key, k.priority, dq_next_rank(p_queue_id, k.key, k.priority) AS base
        FROM (SELECT DISTINCT items.key, items.priority FROM items) k
    )
    SELECT items.ord,
           bases.base + CASE WHEN items.key IS NULL THEN 0
                             ELSE row_number() OVER (PARTITION BY items.key, items.priority
                                                     ORDER BY items.ord) - 1
                        END
    FROM items
    JOIN bases ON bases.key IS NOT DISTINCT FROM items.key AND bases.priority = items.priority
$$;
