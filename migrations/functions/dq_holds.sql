-- Whether a holder call may act on v_run (as dq_lock_run found it: NULL when there is
-- no such run): ok when it is claimed, and under p_claim_token when one is given; else
-- the call's outcome: not_found, conflict or stale_token.
CREATE OR REPLACE FUNCTION dq_holds(v_run runs, p_claim_token text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN v_run.id IS NULL THEN 'not_found'
        WHEN v_run.status <> 'claimed' THEN 'conflict'
        WHEN p_claim_token IS NOT NULL
             AND p_claim_token IS DISTINCT FROM CAST(v_run.claim_token AS text) THEN 'stale_token'
        ELSE 'ok'
    END
$$;
