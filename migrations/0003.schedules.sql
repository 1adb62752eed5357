-- depends: 0002.flow_control
-- Schedules (docs/schedules.md): cron and interval tasks, fired by the elected scheduler.
--
-- Tasks gain three nullable columns (the previous release keeps working on this
-- schema); the uniqueness of a schedule's slot is an index on tasks, partial, so tasks
-- not made by a schedule never touch it.

CREATE TABLE schedules (
    id                     uuid PRIMARY KEY DEFAULT uuidv7(),
    name                   text NOT NULL UNIQUE,
    -- by name: the queue may be deleted (the schedule is then paused) and made again
    queue_name             text NOT NULL,
    task_name              text NOT NULL,
    params                 jsonb,
    headers                jsonb,
    retry_strategy         jsonb,
    max_attempts           dq_positive_integer NOT NULL DEFAULT 1,
    priority               smallint NOT NULL DEFAULT 0 CHECK (priority BETWEEN -1000 AND 1000),
    concurrency_key        text,
    cron                   text,
    interval_seconds       integer CHECK (interval_seconds >= 1),
    timezone               text NOT NULL DEFAULT 'UTC',
    -- interval slots are anchor + k * interval_seconds
    anchor                 timestamptz NOT NULL DEFAULT date_trunc('second', now()),
    start_at               timestamptz,
    end_at                 timestamptz,
    catchup                text NOT NULL DEFAULT 'skip' CHECK (catchup IN ('skip', 'latest', 'all')),
    catchup_window_seconds integer NOT NULL DEFAULT 3600 CHECK (catchup_window_seconds >= 0),
    overlap                text NOT NULL DEFAULT 'allow'
        CHECK (overlap IN ('allow', 'skip', 'buffer_one', 'cancel_previous')),
    paused                 boolean NOT NULL DEFAULT false,
    note                   text,
    -- bumped by every change of the definition: a fire planned on an older one is dropped
    revision               bigint NOT NULL DEFAULT 1,
    -- the first slot not handled yet; NULL: none is left (past end_at)
    next_fire_at           timestamptz,
    -- overlap buffer_one: the slot waiting for the last task to finish
    buffered_slot          timestamptz,
    last_task_id           uuid,
    last_scheduled_for     timestamptz,
    last_fired_at          timestamptz,
    fires                  bigint NOT NULL DEFAULT 0,
    skipped                bigint NOT NULL DEFAULT 0,
    missed                 bigint NOT NULL DEFAULT 0,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT schedules_one_calendar CHECK ((cron IS NULL) <> (interval_seconds IS NULL)),
    CONSTRAINT schedules_window CHECK (end_at IS NULL OR start_at IS NULL OR end_at > start_at)
);
-- the scheduler: the earliest next slot (its timer) and the due schedules, in due order
CREATE INDEX schedules_due ON schedules (next_fire_at) WHERE NOT paused AND next_fire_at IS NOT NULL;
-- the scheduler: buffered slots (overlap buffer_one) whose last task may have finished
CREATE INDEX schedules_buffered ON schedules (id) WHERE buffered_slot IS NOT NULL;
-- list_schedules by queue; pausing a deleted queue's schedules
CREATE INDEX schedules_by_queue ON schedules (queue_name, name);

ALTER TABLE tasks
    -- no foreign key: deleting a schedule leaves its tasks alone
    ADD COLUMN schedule_id uuid,
    ADD COLUMN schedule_name text,
    ADD COLUMN scheduled_for timestamptz;
-- exactly one task per slot of a schedule
CREATE UNIQUE INDEX tasks_schedule_slot ON tasks (schedule_id, scheduled_for)
    WHERE schedule_id IS NOT NULL;
