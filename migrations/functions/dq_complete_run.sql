-- Complete a claimed run with its result, and its task.
-- outcome: ok, not_found, conflict / stale_token (status: the run's status).
-- The run keeps the claim_token it completed under, so the same complete repeated with
-- that token (its answer was lost) answers ok again and changes nothing.
CREATE OR REPLACE FUNCTION dq_complete_run(p_run_id uuid, p_result jsonb,
                                           p_claim_token text DEFAULT NULL)
RETURNS TABLE (outcome text, status text)
LANGUAGE plpgsql SET enable_seqscan = off AS $$
#variable_conflict use_column
DECLARE
    v_task_id uuid;
    v_run runs;
    v_holds text;
BEGIN
    SELECT t.id INTO v_task_id FROM tasks t
    WHERE t.id = (SELECT r.task_id FROM runs r WHERE r.id = p_run_id)
    FOR UPDATE;
    UPDATE runs r
    SET status = 'completed', result = p_result, completed_at = now(), claim_expires_at = NULL
    WHERE r.id = p_run_id AND r.status = 'claimed'
      AND (p_claim_token IS NULL OR p_claim_token = CAST(r.claim_token AS text));
    IF NOT FOUND THEN
        -- refused, or claimed meanwhile (a claim does not lock the task): decide under the
        -- run's lock, as dq_lock_run would have
        SELECT * INTO v_run FROM runs r WHERE r.id = p_run_id FOR UPDATE;
        IF NOT FOUND THEN
            RETURN QUERY SELECT 'not_found', NULL::text;
            RETURN;
        END IF;
        IF v_run.status = 'completed' AND p_claim_token = CAST(v_run.claim_token AS text) THEN
            RETURN QUERY SELECT 'ok', 'completed';  -- a repeat of the complete that ended it
            RETURN;
        END IF;
        v_holds := dq_holds(v_run, p_claim_token);
        IF v_holds <> 'ok' THEN
            RETURN QUERY SELECT v_holds, v_run.status::text;
            RETURN;
        END IF;
        UPDATE runs r
        SET status = 'completed', result = p_result, completed_at = now(),
            claim_expires_at = NULL
        WHERE r.id = p_run_id;
    END IF;
    UPDATE tasks t
    SET status = 'completed', error = NULL, result = p_result, completed_at = now()
    WHERE t.id = v_task_id AND t.status = 'pending';
    RETURN QUERY SELECT 'ok', 'completed';
END
$$;
