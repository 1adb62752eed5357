-- Cancel a pending task and its pending, claimed and sleeping runs (a holder's
-- next call gets a conflict). outcome: ok, not_found, conflict (status: the task's).
CREATE OR REPLACE FUNCTION dq_cancel_task(p_task_id uuid)
RETURNS TABLE (outcome text, status text)
LANGUAGE plpgsql SET enable_seqscan = off AS $$
#variable_conflict use_column
DECLARE
    v_status text;
BEGIN
    SELECT t.status INTO v_status FROM tasks t WHERE t.id = p_task_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found', NULL::text;
        RETURN;
    END IF;
    IF v_status <> 'pending' THEN
        RETURN QUERY SELECT 'conflict', v_status;
        RETURN;
    END IF;
    UPDATE tasks t
    SET status = 'canceled', error = 'canceled', result = NULL, completed_at = now()
    WHERE t.id = p_task_id;
    UPDATE runs r
    SET status = 'canceled', error = 'canceled', completed_at = now(), claim_expires_at = NULL,
        claim_token = NULL
    WHERE r.task_id = p_task_id AND r.status IN ('pending', 'claimed', 'sleeping');
    RETURN QUERY SELECT 'ok', 'canceled';
END
$$;
