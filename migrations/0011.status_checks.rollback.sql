-- Back to the status checks as lists (0002.schema).
ALTER TABLE tasks
    DROP CONSTRAINT tasks_status_check,
    ADD CONSTRAINT tasks_status_check
        CHECK (status IN ('pending', 'completed', 'failed', 'canceled'));
ALTER TABLE runs
    DROP CONSTRAINT runs_status_check,
    ADD CONSTRAINT runs_status_check
        CHECK (status IN ('pending', 'claimed', 'sleeping', 'completed', 'failed', 'canceled'));
DROP TYPE dq_task_status;
DROP TYPE dq_run_status;
