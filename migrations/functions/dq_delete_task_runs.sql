-- AFTER DELETE ... FOR EACH STATEMENT on tasks: the runs of the deleted tasks.
-- An id list, not a join: the planner may hash-join a join by scanning all of runs.
CREATE OR REPLACE FUNCTION dq_delete_task_runs() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM runs r WHERE r.task_id = ANY (ARRAY(SELECT o.id FROM old_rows o));
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER tasks_delete_runs AFTER DELETE ON tasks
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dq_delete_task_runs();
