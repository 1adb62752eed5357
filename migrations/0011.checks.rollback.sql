-- Back to the checks as 0002.schema wrote them.
ALTER TABLE tasks
    DROP CONSTRAINT tasks_status_check,
    ADD CONSTRAINT tasks_status_check
        CHECK (status IN ('pending', 'completed', 'failed', 'canceled')),
    DROP CONSTRAINT tasks_max_attempts_check,
    ADD CONSTRAINT tasks_max_attempts_check CHECK (max_attempts >= 1),
    DROP CONSTRAINT tasks_start_timeout_check,
    ADD CONSTRAINT tasks_start_timeout_check CHECK (start_timeout >= 0),
    DROP CONSTRAINT tasks_execution_timeout_check,
    ADD CONSTRAINT tasks_execution_timeout_check CHECK (execution_timeout >= 0);
ALTER TABLE runs
    DROP CONSTRAINT runs_status_check,
    ADD CONSTRAINT runs_status_check
        CHECK (status IN ('pending', 'claimed', 'sleeping', 'completed', 'failed', 'canceled')),
    DROP CONSTRAINT runs_attempt_check,
    ADD CONSTRAINT runs_attempt_check CHECK (attempt >= 1);
DROP DOMAIN dq_task_status;
DROP DOMAIN dq_run_status;
DROP DOMAIN dq_positive_integer;
DROP DOMAIN dq_nonnegative_integer;
