-- Push a live claim's expiry to now + p_extend_by seconds.
-- outcome: ok (claim_expires_at), not_found, conflict / stale_token (status: the run's status).
CREATE OR REPLACE FUNCTION dq_extend_claim(p_run_id uuid, p_extend_by integer,
                                p_claim_token text DEFAULT NULL)
RETURNS TABLE (outcome text, status text, claim_expires_at timestamptz)
LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    v_run runs := dq_lock_run(p_run_id);
    v_holds text := dq_holds(v_run, p_claim_token);
BEGIN
    IF v_holds = 'ok' THEN
        RETURN QUERY
        UPDATE runs r
        SET claim_expires_at = now() + make_interval(secs => p_extend_by)
        WHERE r.id = p_run_id
        RETURNING 'ok', r.status::text, r.claim_expires_at;
    ELSE
        RETURN QUERY SELECT v_holds, v_run.status::text, NULL::timestamptz;
    END IF;
END
$$;
