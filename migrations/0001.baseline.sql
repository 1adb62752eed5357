-- The durable-queue schema, as of the first release: types, tables, indexes.
--
-- Functions, and the triggers that call them, are not here: each lives in a file of
-- its own in migrations/functions/, installed by `durable-queue migrate` after the
-- migrations (docs/upgrading.md). Later migrations change this schema forward only.
--
-- Every index says which statements need it. Every write to tasks and runs pays for
-- every index of its table, so an index no statement needs does not stay.

-- A time-ordered UUIDv7 (48-bit Unix milliseconds, version 7, variant, random bits),
-- for PostgreSQL before 18, which has its own uuidv7(). Ids in creation order keep
-- the primary keys' inserts at their right edge, and make a range of ids a range of
-- creation times (the monitoring sample counts the tasks created since its last run
-- on the primary key).
DO $baseline$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'uuidv7') THEN
        EXECUTE $fn$
            CREATE FUNCTION uuidv7() RETURNS uuid
            LANGUAGE sql VOLATILE PARALLEL SAFE AS $body$
                SELECT encode(
                    set_bit(
                        set_bit(
                            overlay(uuid_send(gen_random_uuid())
                                    PLACING substring(int8send(
                                        floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint
                                    ) FROM 3)
                                    FROM 1 FOR 6),
                            52, 1),
                        53, 1),
                    'hex')::uuid
            $body$
        $fn$;
    END IF;
END
$baseline$;

-- The rules of the hot tables' columns, as domains. PostgreSQL keeps a domain's check
-- parsed in its type cache for the life of a connection, where a table's CHECK is
-- read back and planned by every statement that writes the table (docs/scale.md
-- "Checks read cheaply" has the measurements).
-- A value outside a domain is a check violation (SQLSTATE 23514) naming the domain.
-- Clients read the base type (text, integer): PostgreSQL sends a domain's base type.
CREATE DOMAIN dq_task_status AS text
    CHECK (VALUE IN ('pending', 'completed', 'failed', 'canceled'));
CREATE DOMAIN dq_run_status AS text
    CHECK (VALUE IN ('pending', 'claimed', 'sleeping', 'completed', 'failed', 'canceled'));
CREATE DOMAIN dq_positive_integer AS integer CHECK (VALUE >= 1);
CREATE DOMAIN dq_nonnegative_integer AS integer CHECK (VALUE >= 0);

CREATE TABLE queues (
    id                uuid PRIMARY KEY DEFAULT uuidv7(),
    -- a queue being deleted is renamed '/deleting/<id>' first (docs/scale.md)
    name              text NOT NULL UNIQUE,
    task_ttl_seconds  integer NOT NULL DEFAULT 259200 CHECK (task_ttl_seconds >= 0),
    event_ttl_seconds integer NOT NULL DEFAULT 259200 CHECK (event_ttl_seconds >= 0),
    created_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE workflow_runs (
    id               uuid PRIMARY KEY DEFAULT uuidv7(),
    workflow_name    text NOT NULL,
    workflow_version text,
    inputs           jsonb,
    created_by       text,
    tags             jsonb,
    status           text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'running', 'completed', 'failed', 'canceled')),
    result           jsonb,
    started_at       timestamptz,
    completed_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
-- list_workflow_runs by name, newest first (a page is one backward range scan)
CREATE INDEX workflow_runs_by_name ON workflow_runs (workflow_name, id);
-- list_workflow_runs by status, newest first
CREATE INDEX workflow_runs_by_status ON workflow_runs (status, id);

CREATE TABLE tasks (
    id                 uuid PRIMARY KEY DEFAULT uuidv7(),
    queue_id           uuid NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    task_name          text NOT NULL,
    params             jsonb,
    headers            jsonb,
    retry_strategy     jsonb,
    max_attempts       dq_positive_integer NOT NULL DEFAULT 1,
    start_timeout      dq_nonnegative_integer NOT NULL DEFAULT 0,
    execution_timeout  dq_nonnegative_integer NOT NULL DEFAULT 0,
    workflow_run_id    uuid REFERENCES workflow_runs (id) ON DELETE SET NULL,
    idempotency_key    text,
    status             dq_task_status NOT NULL DEFAULT 'pending',
    failure_count      integer NOT NULL DEFAULT 0,
    expiry_count       integer NOT NULL DEFAULT 0,
    -- created_at + start_timeout / execution_timeout, when those are set
    start_deadline     timestamptz,
    execution_deadline timestamptz,
    error              text,
    result             jsonb,
    created_at         timestamptz NOT NULL DEFAULT now(),
    completed_at       timestamptz
);
-- list_tasks_of_queue, newest first; the queue-delete sweep's batches
CREATE INDEX tasks_by_queue ON tasks (queue_id, id);
-- list_tasks_of_workflow_run, workflow_task_counts; only tasks of a workflow run
CREATE INDEX tasks_by_workflow_run ON tasks (workflow_run_id, id) WHERE workflow_run_id IS NOT NULL;
-- list_tasks_by_status, newest first
CREATE INDEX tasks_by_status ON tasks (status, id);
-- list_tasks_of_queue_by_status, newest first; a queue's unfinished tasks (queue delete)
CREATE INDEX tasks_by_queue_status ON tasks (queue_id, status, id);
-- list_tasks_by_name, newest first
CREATE INDEX tasks_by_name ON tasks (task_name, id);
-- the timeout sweep: pending tasks past their start deadline
CREATE INDEX tasks_start_deadline ON tasks (start_deadline)
    WHERE status = 'pending' AND start_deadline IS NOT NULL;
-- the timeout sweep: pending tasks past their execution deadline
CREATE INDEX tasks_execution_deadline ON tasks (execution_deadline)
    WHERE status = 'pending' AND execution_deadline IS NOT NULL;
-- the retention sweep (per queue, oldest finished first) and the monitoring sample
CREATE INDEX tasks_finished ON tasks (queue_id, completed_at) WHERE status <> 'pending';
-- one task per idempotency key and queue: the ON CONFLICT arbiter of the creates and
-- their lookup of the task that holds a key. Only tasks with a key have an entry.
CREATE UNIQUE INDEX tasks_idempotency_key ON tasks (queue_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- One row per attempt of a task. runs.task_id has no foreign key: the trigger of
-- dq_delete_task_runs deletes a task's runs with it, and the protocol inserts a run
-- only with its task locked or just created, so the referential check each insert
-- would make guards nothing (docs/scale.md "Hot path"). runs.queue_id is always its
-- task's queue_id; a run goes with its task, so it has no foreign key either.
CREATE TABLE runs (
    id               uuid PRIMARY KEY DEFAULT uuidv7(),
    task_id          uuid NOT NULL,
    queue_id         uuid NOT NULL,
    attempt          dq_positive_integer NOT NULL,
    status           dq_run_status NOT NULL DEFAULT 'pending',
    available_at     timestamptz NOT NULL DEFAULT now(),
    claimed_at       timestamptz,
    first_claimed_at timestamptz,
    claim_expires_at timestamptz,
    error            text,
    result           jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz,
    -- the fence of the claim: a new uuid per claim; kept by the complete or fail that
    -- ended it (a repeat with it answers the first outcome), else NULL when not claimed
    claim_token      uuid,
    UNIQUE (task_id, attempt)
);
-- dq_claim: the due, pending runs of one queue in due order; also the gauges' oldest
-- due run and scheduled count, and seconds_until_due for long polls
CREATE INDEX runs_claimable ON runs (queue_id, available_at, id) WHERE status = 'pending';
-- the expiry sweep: claims past their expiry
CREATE INDEX runs_claimed_expiry ON runs (claim_expires_at) WHERE status = 'claimed';
-- list_runs_by_status, newest first
CREATE INDEX runs_by_status ON runs (status, id);

CREATE TABLE checkpoints (
    task_id    uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    step_name  text NOT NULL,
    state      jsonb NOT NULL,
    owner_run  uuid NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (task_id, step_name)
);

CREATE TABLE events (
    id         uuid PRIMARY KEY DEFAULT uuidv7(),
    event_name text NOT NULL,
    payload    jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- dq_wait_for_event: the latest event of a name
CREATE INDEX events_by_name ON events (event_name, created_at DESC, id DESC);
-- the event retention sweep, oldest first
CREATE INDEX events_by_age ON events (created_at);

CREATE TABLE event_waits (
    id          uuid PRIMARY KEY DEFAULT uuidv7(),
    task_id     uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    run_id      uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_name   text NOT NULL,
    event_name  text NOT NULL,
    status      text NOT NULL DEFAULT 'waiting'
        CHECK (status IN ('waiting', 'resolved', 'timeout')),
    payload     jsonb,
    timeout_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    UNIQUE (task_id, step_name)
);
-- dq_emit_event: the waits an event resolves
CREATE INDEX event_waits_waiting ON event_waits (event_name) WHERE status = 'waiting';
-- the wait-timeout sweep
CREATE INDEX event_waits_timeout ON event_waits (timeout_at) WHERE status = 'waiting';
-- the cascade from a deleted run (without it, every run delete read the whole table)
CREATE INDEX event_waits_by_run ON event_waits (run_id);

-- Exact task and run counts per queue and status (docs/scale.md "Counts"). The
-- triggers of dq_count_changes append one row per (queue, kind, status) a statement
-- changed to queue_count_deltas; appends never wait on each other. The maintenance
-- loop folds the deltas into queue_counts. A count is its row plus its deltas.
CREATE TABLE queue_counts (
    queue_id uuid NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    kind     text NOT NULL CHECK (kind IN ('task', 'run')),
    status   text NOT NULL,
    count    bigint NOT NULL,
    PRIMARY KEY (queue_id, kind, status)
);

-- No foreign key: an append must not look at the queue row. Deltas of a deleted
-- queue are dropped by the fold.
CREATE TABLE queue_count_deltas (
    queue_id uuid NOT NULL,
    kind     text NOT NULL,
    status   text NOT NULL,
    delta    bigint NOT NULL
);
-- a queue's counts (stats, gauges) and the fold
CREATE INDEX queue_count_deltas_by_queue ON queue_count_deltas (queue_id);

-- Monitoring totals per queue, only ever increased by dq_monitoring_sample.
CREATE TABLE monitoring_totals (
    queue_id       uuid PRIMARY KEY REFERENCES queues (id) ON DELETE CASCADE,
    tasks_created  bigint NOT NULL DEFAULT 0,
    runs_completed bigint NOT NULL DEFAULT 0,
    runs_failed    bigint NOT NULL DEFAULT 0,
    runs_expired   bigint NOT NULL DEFAULT 0,
    runs_retried   bigint NOT NULL DEFAULT 0
);

-- Everything created or finished before counted_until is in monitoring_totals.
CREATE TABLE monitoring_watermark (
    id            integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    counted_until timestamptz NOT NULL
);
INSERT INTO monitoring_watermark (counted_until) VALUES (now());

-- One row per queue per sample: the gauges at sampled_at, and what was counted into
-- the totals by that sample (the dashboard's charts).
CREATE TABLE queue_samples (
    queue_id                   uuid NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    sampled_at                 timestamptz NOT NULL,
    pending                    bigint NOT NULL,
    scheduled                  bigint NOT NULL,
    claimed                    bigint NOT NULL,
    sleeping                   bigint NOT NULL,
    oldest_pending_age_seconds float8,
    tasks_created              bigint NOT NULL,
    runs_completed             bigint NOT NULL,
    runs_failed                bigint NOT NULL,
    runs_expired               bigint NOT NULL,
    runs_retried               bigint NOT NULL,
    PRIMARY KEY (queue_id, sampled_at)
);
-- the sample's purge of old samples
CREATE INDEX queue_samples_by_time ON queue_samples (sampled_at);
