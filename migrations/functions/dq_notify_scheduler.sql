-- Wake the scheduler (durable_queue/scheduler.py) when its timer may be too late: a
-- schedule was created, or its definition changed (a PATCH, a resume: its revision
-- moves; the scheduler's own fires do not). A schedule's task leaving pending wakes it
-- through dq_task_settled. PostgreSQL folds identical notifications of a transaction
-- into one and delivers them at commit.
CREATE OR REPLACE FUNCTION dq_notify_scheduler() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('durable_queue_schedules', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER schedules_notify_insert AFTER INSERT ON schedules
    FOR EACH ROW WHEN (NOT NEW.paused)
    EXECUTE FUNCTION dq_notify_scheduler();

CREATE OR REPLACE TRIGGER schedules_notify_change AFTER UPDATE OF revision ON schedules
    FOR EACH ROW WHEN (NEW.revision <> OLD.revision AND NOT NEW.paused)
    EXECUTE FUNCTION dq_notify_scheduler();
