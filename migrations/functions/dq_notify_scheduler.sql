-- Wake the scheduler (durable_queue/scheduler.py) when what it waits for may have
-- changed: a schedule was created, or its definition changed (a PATCH, a resume: its
-- revision moves; the scheduler's own fires do not), so its timer may be too late; or a
-- task a schedule made left pending, so a slot buffered behind it (overlap buffer_one)
-- may fire now. The WHEN clauses pick those rows, so other tasks never call the
-- function; the tasks trigger's is one test (its text is read back on every statement
-- that updates tasks: three tests cost a claim and complete 2% more instructions,
-- bench/README.md), and the function checks the status. PostgreSQL folds identical
-- notifications of a transaction into one and delivers them at commit.
CREATE OR REPLACE FUNCTION dq_notify_scheduler() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'tasks' THEN  -- (OLD.status exists only in the tasks trigger's call)
        IF OLD.status <> 'pending' OR NEW.status = 'pending' THEN
            RETURN NULL;
        END IF;
    END IF;
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

CREATE OR REPLACE TRIGGER tasks_notify_schedule AFTER UPDATE OF status ON tasks
    FOR EACH ROW
    WHEN (NEW.schedule_id IS NOT NULL)
    EXECUTE FUNCTION dq_notify_scheduler();
