-- Whether a holder call may act on v_run: claimed, and under p_claim_token when given.
CREATE OR REPLACE FUNCTION dq_holds(v_run runs, p_claim_token text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN v_run.status <> 'claimed' THEN 'conflict'
        WHEN p_claim_token IS NOT NULL
             AND p_claim_token IS DISTINCT FROM CAST(v_run.claim_token AS text) THEN 'stale_token'
        ELSE 'ok'
    END
$$;
