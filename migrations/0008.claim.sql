-- depends: 0007.hot_path
-- The claim, planned once per connection and quick when there is nothing to claim.
--
-- dq_claim of 0006 ran one statement: pick (LIMIT p_limit, FOR UPDATE SKIP LOCKED),
-- update and join the tasks as data-modifying CTEs. Two costs showed under load:
-- 1. PostgreSQL re-planned it on every call. With LIMIT a parameter, the generic plan
--    of the whole statement estimated a tenth of the table and joined by hashing the
--    runs (12 ms per claim on 77k pending runs), so the plan cache kept custom plans,
--    and each custom plan probed the end of runs_claimable for the `available_at <=
--    now()` estimate, walking the dead entries claims leave there (0.3 to 1 ms of
--    planning per claim on a busy queue).
-- 2. A claim that found nothing still ran the UPDATE, and with it the statement-level
--    count trigger (statement triggers fire for zero rows).
-- Now the ids are picked first into an array; with none, the function returns before
-- any UPDATE. The update and the join address the picked ids (= ANY), whose plan does
-- not depend on how many there are, and the function runs its statements with
-- generic plans (plan_cache_mode), planned once per connection: the pick is an ordered
-- scan of runs_claimable whatever the parameters (checked in tests/test_query_plans.py).
-- Same answers, same order, same locks.

CREATE OR REPLACE FUNCTION dq_claim(p_queue_name text, p_limit integer, p_claim_timeout integer)
RETURNS TABLE (outcome text, run_id uuid, task_id uuid, attempt integer, task_name text,
               params jsonb, headers jsonb, retry_strategy jsonb, max_attempts integer,
               claim_expires_at timestamptz, workflow_run_id uuid, claim_token uuid)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
    v_queue_id uuid;
    v_ids uuid[];
BEGIN
    SELECT q.id INTO v_queue_id FROM queues q WHERE q.name = p_queue_name;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found', NULL::uuid, NULL::uuid, NULL::integer, NULL::text,
                            NULL::jsonb, NULL::jsonb, NULL::jsonb, NULL::integer,
                            NULL::timestamptz, NULL::uuid, NULL::uuid;
        RETURN;
    END IF;
    v_ids := ARRAY(
        SELECT r.id
        FROM runs r
        WHERE r.queue_id = v_queue_id AND r.status = 'pending' AND r.available_at <= now()
        ORDER BY r.available_at, r.id
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    );
    IF cardinality(v_ids) = 0 THEN
        RETURN;
    END IF;
    RETURN QUERY
    WITH claimed AS (
        UPDATE runs r
        SET status = 'claimed',
            claimed_at = now(),
            first_claimed_at = coalesce(r.first_claimed_at, now()),
            claim_expires_at = now() + make_interval(secs => p_claim_timeout),
            claim_token = gen_random_uuid()
        WHERE r.id = ANY (v_ids)
        RETURNING r.id, r.task_id, r.attempt, r.available_at, r.claim_expires_at, r.claim_token
    )
    SELECT 'ok', c.id, c.task_id, c.attempt, t.task_name, t.params, t.headers,
           t.retry_strategy, t.max_attempts, c.claim_expires_at, t.workflow_run_id,
           c.claim_token
    FROM claimed c
    JOIN tasks t ON t.id = c.task_id
    ORDER BY c.available_at, c.id;
END
$$;
