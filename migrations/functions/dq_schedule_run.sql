-- Move a pending run to p_run_at, or release a claimed one to resume then. With a
-- token, only the claim it names may release the run (a pending run is a conflict).
-- The token '' (never a client's: a given token has 1 character or more) is a call
-- without one under DURABLE_REQUIRE_CLAIM_TOKENS (durable_queue/api/claim_rule.py): it
-- may move a pending run, and a claimed run is token_required.
-- outcome: ok (available_at), not_found, conflict / stale_token / token_required
-- (status: the run's status).
CREATE OR REPLACE FUNCTION dq_schedule_run(p_run_id uuid, p_run_at timestamptz,
                                p_claim_token text DEFAULT NULL)
RETURNS TABLE (outcome text, status text, available_at timestamptz)
LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    v_refusal text;
    v_run runs := dq_lock_run(p_run_id);
BEGIN
    -- why not, or NULL: it may go ahead
    v_refusal := CASE
        WHEN v_run.id IS NULL THEN 'not_found'
        WHEN v_run.status NOT IN ('pending', 'claimed') THEN 'conflict'
        WHEN p_claim_token = '' THEN CASE WHEN v_run.status = 'claimed' THEN 'token_required' END
        WHEN p_claim_token IS NOT NULL THEN nullif(dq_holds(v_run, p_claim_token), 'ok')
    END;
    IF v_refusal IS NOT NULL THEN
        RETURN QUERY SELECT v_refusal, v_run.status::text, NULL::timestamptz;
        RETURN;
    END IF;
    RETURN QUERY
    UPDATE runs r
    SET status = 'pending', available_at = p_run_at, claimed_at = NULL, claim_expires_at = NULL,
        claim_token = NULL
    WHERE r.id = p_run_id
    RETURNING 'ok', r.status::text, r.available_at;
END
$$;
