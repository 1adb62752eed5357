-- Store the state of one step of a task for the run that holds the claim, and
-- optionally extend that claim. outcome: ok (updated_at), task_not_found,
-- run_not_found, not_of_task, conflict / stale_token (status: the run's status).
CREATE OR REPLACE FUNCTION dq_put_checkpoint(
    p_task_id uuid,
    p_step_name text,
    p_state jsonb,
    p_owner_run uuid,              -- the run that must hold the task's claim
    p_extend_claim_by integer,     -- seconds from now; NULL leaves the claim as it is
    p_claim_token text DEFAULT NULL  -- fences a stale holder when given
)
RETURNS TABLE (outcome text, status text, updated_at timestamptz)
LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    v_run runs;
    v_holds text;
BEGIN
    PERFORM 1 FROM tasks t WHERE t.id = p_task_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'task_not_found', NULL::text, NULL::timestamptz;
        RETURN;
    END IF;
    SELECT * INTO v_run FROM runs r WHERE r.id = p_owner_run FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'run_not_found', NULL::text, NULL::timestamptz;
        RETURN;
    END IF;
    IF v_run.task_id <> p_task_id THEN
        RETURN QUERY SELECT 'not_of_task', v_run.status::text, NULL::timestamptz;
        RETURN;
    END IF;
    v_holds := dq_holds(v_run, p_claim_token);
    IF v_holds <> 'ok' THEN
        RETURN QUERY SELECT v_holds, v_run.status::text, NULL::timestamptz;
        RETURN;
    END IF;
    IF p_extend_claim_by IS NOT NULL THEN
        UPDATE runs r SET claim_expires_at = now() + make_interval(secs => p_extend_claim_by)
        WHERE r.id = p_owner_run;
    END IF;
    RETURN QUERY
    INSERT INTO checkpoints AS c (task_id, step_name, state, owner_run, updated_at)
    VALUES (p_task_id, p_step_name, p_state, p_owner_run, now())
    ON CONFLICT (task_id, step_name)
    DO UPDATE SET state = EXCLUDED.state, owner_run = EXCLUDED.owner_run, updated_at = now()
    RETURNING 'ok', v_run.status::text, c.updated_at;
END
$$;
