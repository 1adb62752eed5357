-- Move a pending run to p_run_at, or release a claimed one to resume then. With a
-- token, only the claim it names may release the run (a pending run is a conflict).
-- outcome: ok (available_at), not_found, conflict / stale_token (status: the run's status).
CREATE OR REPLACE FUNCTION dq_schedule_run(p_run_id uuid, p_run_at timestamptz,
                                p_claim_token text DEFAULT NULL)
RETURNS TABLE (outcome text, status text, available_at timestamptz)
LANGUAGE plpgsql SET enable_seqscan = off AS $$
#variable_conflict use_column
DECLARE
    v_run runs;
    v_holds text;
BEGIN
    v_run := dq_lock_run(p_run_id);
    IF v_run.id IS NULL THEN
        RETURN QUERY SELECT 'not_found', NULL::text, NULL::timestamptz;
        RETURN;
    END IF;
    IF v_run.status NOT IN ('pending', 'claimed') THEN
        RETURN QUERY SELECT 'conflict', v_run.status::text, NULL::timestamptz;
        RETURN;
    END IF;
    IF p_claim_token IS NOT NULL THEN
        v_holds := dq_holds(v_run, p_claim_token);
        IF v_holds <> 'ok' THEN
            RETURN QUERY SELECT v_holds, v_run.status::text, NULL::timestamptz;
            RETURN;
        END IF;
    END IF;
    RETURN QUERY
    UPDATE runs r
    SET status = 'pending', available_at = p_run_at, claimed_at = NULL, claim_expires_at = NULL,
        claim_token = NULL
    WHERE r.id = p_run_id
    RETURNING 'ok', r.status::text, r.available_at;
END
$$;
