-- Lock a run's task, then the run (the one lock order of every transition);
-- the locked run, or NULL when it does not exist.
CREATE OR REPLACE FUNCTION dq_lock_run(p_run_id uuid) RETURNS runs
LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    v_run runs;
BEGIN
    PERFORM 1 FROM tasks t WHERE t.id = (SELECT r.task_id FROM runs r WHERE r.id = p_run_id)
    FOR UPDATE;
    SELECT * INTO v_run FROM runs r WHERE r.id = p_run_id FOR UPDATE;
    RETURN v_run;
END
$$;
