-- The round (fair_rank) of a run of priority p_priority joining a queue's pending runs
-- now (docs/flow-control.md "Rounds"): the floor, the rank of the first pending run of
-- that priority in claim order (due or not; 0 when none), or for a run with a
-- concurrency key one past the last rank of its key's pending runs of that priority when
-- that is higher: a key's runs go one per round, and a key that has none pending starts
-- at the current round. Two index probes (runs_claim_order, runs_keyed_pending).
CREATE OR REPLACE FUNCTION dq_next_rank(p_queue_id uuid, p_key text, p_priority integer)
RETURNS bigint
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
AS $$
DECLARE
    v_floor bigint := coalesce(
        (SELECT r.fair_rank FROM runs r
         WHERE r.queue_id = p_queue_id AND r.status = 'pending' AND r.priority = p_priority
         ORDER BY r.priority DESC, r.fair_rank, r.available_at, r.id
         LIMIT 1), 0);
BEGIN
    IF p_key IS NULL THEN
        RETURN v_floor;
    END IF;
    RETURN greatest(v_floor, coalesce(
        (SELECT r.fair_rank + 1 FROM runs r
         WHERE r.queue_id = p_queue_id AND r.status = 'pending' AND r.concurrency_key = p_key
           AND r.priority = p_priority
         ORDER BY r.fair_rank DESC
         LIMIT 1), 0));
END
$$;
