-- Steps 1-4 of a wait (docs/lifecycle.md "Events and waits") for the run holding its claim.
-- outcome: resolved (payload), timeout, sleeping, not_found, conflict / stale_token
-- (status: the run's status), not_of_task.
CREATE OR REPLACE FUNCTION dq_wait_for_event(p_run_id uuid, p_task_id uuid, p_event_name text,
                                  p_step_name text, p_timeout_seconds integer,
                                  p_claim_token text DEFAULT NULL)
RETURNS TABLE (outcome text, status text, payload jsonb)
LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    v_run runs;
    v_wait event_waits;
    v_payload jsonb;
    v_event_found boolean;
    v_refusal text;
BEGIN
    PERFORM pg_advisory_xact_lock(7301, hashtext(p_event_name));
    v_run := dq_lock_run(p_run_id);
    v_refusal := coalesce(nullif(dq_holds(v_run, p_claim_token), 'ok'),
                          CASE WHEN v_run.task_id <> p_task_id THEN 'not_of_task' END);
    IF v_refusal IS NOT NULL THEN
        RETURN QUERY SELECT v_refusal, v_run.status::text, NULL::jsonb;
        RETURN;
    END IF;
    SELECT * INTO v_wait FROM event_waits w
    WHERE w.task_id = p_task_id AND w.step_name = p_step_name;
    IF FOUND AND v_wait.status = 'resolved' THEN
        RETURN QUERY SELECT 'resolved', v_run.status::text, v_wait.payload;
        RETURN;
    END IF;
    IF FOUND AND v_wait.status = 'timeout' THEN
        RETURN QUERY SELECT 'timeout', v_run.status::text, NULL::jsonb;
        RETURN;
    END IF;
    SELECT e.payload INTO v_payload FROM events e
    WHERE e.event_name = p_event_name
    ORDER BY e.created_at DESC, e.id DESC
    LIMIT 1;
    v_event_found := FOUND;
    INSERT INTO event_waits AS w (task_id, run_id, step_name, event_name, status, payload,
                                  timeout_at, resolved_at)
    VALUES (p_task_id, p_run_id, p_step_name, p_event_name,
            CASE WHEN v_event_found THEN 'resolved' ELSE 'waiting' END, v_payload,
            now() + make_interval(secs => p_timeout_seconds),
            CASE WHEN v_event_found THEN now() END)
    ON CONFLICT (task_id, step_name)
    DO UPDATE SET run_id = EXCLUDED.run_id, event_name = EXCLUDED.event_name,
                  status = EXCLUDED.status, payload = EXCLUDED.payload,
                  timeout_at = EXCLUDED.timeout_at, resolved_at = EXCLUDED.resolved_at;
    IF v_event_found THEN
        RETURN QUERY SELECT 'resolved', v_run.status::text, v_payload;
        RETURN;
    END IF;
    UPDATE runs r
    SET status = 'sleeping', claimed_at = NULL, claim_expires_at = NULL, claim_token = NULL
    WHERE r.id = p_run_id;
    RETURN QUERY SELECT 'sleeping', 'sleeping', NULL::jsonb;
END
$$;
