-- AFTER TRUNCATE on tasks: every run goes. A DELETE, not a TRUNCATE: event_waits
-- references runs and is truncated by the same command (TRUNCATE tasks requires
-- it), and a trigger may not truncate a table its command is truncating.
CREATE OR REPLACE FUNCTION dq_truncate_task_runs() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM runs;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER tasks_truncate_runs AFTER TRUNCATE ON tasks
    FOR EACH STATEMENT EXECUTE FUNCTION dq_truncate_task_runs();
