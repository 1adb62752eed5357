-- Carry a database made by the pre-release migration chain (0001.uuidv7 ...
-- 0012.idempotency, all of them applied) onto the baseline schema, keeping every row.
-- durable_queue/prerelease.py runs it in one transaction, records the baseline as
-- applied in place of the chain, and the function step then installs every function
-- and trigger of migrations/functions/. docs/upgrading.md says when this runs.
--
-- The chain's tables, indexes and domains are the baseline's; what differs:
-- 1. the functions: the chain's go (their triggers with them) and the function step
--    installs the current ones (its notification function had another name);
-- 2. the hot columns of tasks and runs take their domain types, where the chain kept
--    them of the base type with checks that cast to the domain.

DROP FUNCTION dq_cancel_task(uuid),
              dq_claim(text, integer, integer),
              dq_complete_run(uuid, jsonb, text),
              dq_complete_runs(jsonb),
              dq_count_changes(),
              dq_count_truncated(),
              dq_create_task(text, text, jsonb, jsonb, jsonb, integer, integer, integer, uuid,
                             text, timestamptz),
              dq_create_tasks(text, jsonb),
              dq_create_tasks_general(text, jsonb),
              dq_delete_task_runs(),
              dq_emit_event(text, jsonb),
              dq_extend_claim(uuid, integer, text),
              dq_fail_run(uuid, text, text),
              dq_holds(runs, text),
              dq_lock_run(uuid),
              dq_monitoring_sample(float8, float8),
              dq_notify_inserted(),
              dq_put_checkpoint(uuid, text, jsonb, uuid, integer, text),
              dq_queue_gauges(),
              dq_retry_delay(jsonb, integer),
              dq_schedule_run(uuid, timestamptz, text),
              dq_truncate_task_runs(),
              dq_uuid_floor(timestamptz),
              dq_wait_for_event(uuid, uuid, text, text, integer, text),
              durable_notify_claimable(),
              uuidv7_series(integer)
    CASCADE;  -- and the triggers that call them

ALTER TABLE tasks
    DROP CONSTRAINT tasks_status_check,
    DROP CONSTRAINT tasks_max_attempts_check,
    DROP CONSTRAINT tasks_start_timeout_check,
    DROP CONSTRAINT tasks_execution_timeout_check,
    ALTER COLUMN status DROP DEFAULT,
    ALTER COLUMN max_attempts DROP DEFAULT,
    ALTER COLUMN start_timeout DROP DEFAULT,
    ALTER COLUMN execution_timeout DROP DEFAULT,
    ALTER COLUMN status TYPE dq_task_status,
    ALTER COLUMN max_attempts TYPE dq_positive_integer,
    ALTER COLUMN start_timeout TYPE dq_nonnegative_integer,
    ALTER COLUMN execution_timeout TYPE dq_nonnegative_integer,
    ALTER COLUMN status SET DEFAULT 'pending',
    ALTER COLUMN max_attempts SET DEFAULT 1,
    ALTER COLUMN start_timeout SET DEFAULT 0,
    ALTER COLUMN execution_timeout SET DEFAULT 0;

ALTER TABLE runs
    DROP CONSTRAINT runs_status_check,
    DROP CONSTRAINT runs_attempt_check,
    ALTER COLUMN status DROP DEFAULT,
    ALTER COLUMN status TYPE dq_run_status,
    ALTER COLUMN attempt TYPE dq_positive_integer,
    ALTER COLUMN status SET DEFAULT 'pending';
