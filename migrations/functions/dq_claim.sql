-- Claim up to p_limit due pending runs of a queue, oldest due first, each with a new
-- claim token; one not_found row for an unknown queue, no row when nothing is due.
-- The ids are picked first into an array (an ordered scan of runs_claimable, FOR UPDATE
-- SKIP LOCKED), so a claim that finds nothing returns before any UPDATE (and before the
-- statement-level count trigger, which fires for zero rows too). The update and the
-- join address the picked ids (= ANY), whose plan does not depend on how many there
-- are, and the statements run on generic plans made once per connection: a custom plan
-- would probe the end of runs_claimable for its estimate on every call, walking the dead
-- entries claims leave there (tests/db checks the plan).
CREATE OR REPLACE FUNCTION dq_claim(p_queue_name text, p_limit integer, p_claim_timeout integer)
RETURNS TABLE (outcome text, run_id uuid, task_id uuid, attempt integer, task_name text,
               params jsonb, headers jsonb, retry_strategy jsonb, max_attempts integer,
               claim_expires_at timestamptz, workflow_run_id uuid, claim_token uuid)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
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
    SELECT 'ok', c.id, c.task_id, c.attempt::integer, t.task_name, t.params, t.headers,
           t.retry_strategy, t.max_attempts::integer, c.claim_expires_at, t.workflow_run_id,
           c.claim_token
    FROM claimed c
    JOIN tasks t ON t.id = c.task_id
    ORDER BY c.available_at, c.id;
END
$$;
