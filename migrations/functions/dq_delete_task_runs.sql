-- AFTER DELETE ... FOR EACH STATEMENT on tasks: the runs of the deleted tasks (an id
-- list, not a join: the planner may hash-join a join by scanning all of runs). After a
-- TRUNCATE of tasks, every run. A DELETE, not a TRUNCATE: event_waits references runs
-- and is truncated by the same command (TRUNCATE tasks requires it), and a trigger may
-- not truncate a table its command is truncating.
CREATE OR REPLACE FUNCTION dq_delete_task_runs() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM runs;
    ELSE
        DELETE FROM runs r WHERE r.task_id = ANY (ARRAY(SELECT o.id FROM old_rows o));
    END IF;
    RETURN NULL;
END
$$;

-- These two stand in for a runs.task_id foreign key with ON DELETE CASCADE, which
-- measured slower on create (docs/scale.md, "One baseline"); in the body's order.
CREATE OR REPLACE TRIGGER tasks_truncate_runs AFTER TRUNCATE ON tasks
    FOR EACH STATEMENT EXECUTE FUNCTION dq_delete_task_runs();
CREATE OR REPLACE TRIGGER tasks_delete_runs AFTER DELETE ON tasks
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dq_delete_task_runs();
