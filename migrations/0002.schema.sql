-- depends: 0001.uuidv7
-- The whole durable-queue schema: queues, workflow runs, tasks, runs,
-- checkpoints, events and event waits.

CREATE TABLE queues (
    id                uuid PRIMARY KEY DEFAULT uuidv7(),
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
CREATE INDEX workflow_runs_by_name ON workflow_runs (workflow_name, id);

CREATE TABLE tasks (
    id                uuid PRIMARY KEY DEFAULT uuidv7(),
    queue_id          uuid NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    task_name         text NOT NULL,
    params            jsonb,
    headers           jsonb,
    retry_strategy    jsonb,
    max_attempts      integer NOT NULL DEFAULT 1 CHECK (max_attempts >= 1),
    start_timeout     integer NOT NULL DEFAULT 0 CHECK (start_timeout >= 0),
    execution_timeout integer NOT NULL DEFAULT 0 CHECK (execution_timeout >= 0),
    workflow_run_id   uuid REFERENCES workflow_runs (id) ON DELETE SET NULL,
    idempotency_key   text,
    status            text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'completed', 'failed', 'canceled')),
    failure_count     integer NOT NULL DEFAULT 0,
    expiry_count      integer NOT NULL DEFAULT 0,
    -- created_at + start_timeout / execution_timeout, when those are set
    start_deadline    timestamptz,
    execution_deadline timestamptz,
    error             text,
    result            jsonb,
    created_at        timestamptz NOT NULL DEFAULT now(),
    completed_at      timestamptz,
    UNIQUE (queue_id, idempotency_key)
);
CREATE INDEX tasks_by_queue ON tasks (queue_id, id);
CREATE INDEX tasks_by_workflow_run ON tasks (workflow_run_id, id) WHERE workflow_run_id IS NOT NULL;
CREATE INDEX tasks_unfinished ON tasks (queue_id) WHERE status = 'pending';
CREATE INDEX tasks_start_deadline ON tasks (start_deadline)
    WHERE status = 'pending' AND start_deadline IS NOT NULL;
CREATE INDEX tasks_execution_deadline ON tasks (execution_deadline)
    WHERE status = 'pending' AND execution_deadline IS NOT NULL;
CREATE INDEX tasks_finished ON tasks (queue_id, completed_at) WHERE status <> 'pending';

CREATE TABLE runs (
    id               uuid PRIMARY KEY DEFAULT uuidv7(),
    task_id          uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    queue_id         uuid NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    attempt          integer NOT NULL CHECK (attempt >= 1),
    status           text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'claimed', 'sleeping', 'completed', 'failed', 'canceled')),
    available_at     timestamptz NOT NULL DEFAULT now(),
    claimed_at       timestamptz,
    first_claimed_at timestamptz,
    claim_expires_at timestamptz,
    error            text,
    result           jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz,
    UNIQUE (task_id, attempt)
);
-- The claim path: index-only over the due, pending runs of one queue.
CREATE INDEX runs_claimable ON runs (queue_id, available_at, id) WHERE status = 'pending';
CREATE INDEX runs_claimed_expiry ON runs (claim_expires_at) WHERE status = 'claimed';
CREATE INDEX runs_by_queue_status ON runs (queue_id, status);

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
CREATE INDEX events_by_name ON events (event_name, created_at DESC, id DESC);
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
CREATE INDEX event_waits_waiting ON event_waits (event_name) WHERE status = 'waiting';
CREATE INDEX event_waits_timeout ON event_waits (timeout_at) WHERE status = 'waiting';

-- Wake long-polling claimers: notify with the queue name whenever a run
-- becomes claimable (inserted pending, moved back to pending, or made due
-- earlier). PostgreSQL folds identical notifications within a transaction.
CREATE FUNCTION durable_notify_claimable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'pending' AND (
        TG_OP = 'INSERT'
        OR OLD.status <> 'pending'
        OR NEW.available_at < OLD.available_at
    ) THEN
        PERFORM pg_notify('durable_queue_claimable',
                          (SELECT name FROM queues WHERE id = NEW.queue_id));
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER runs_notify_claimable
    AFTER INSERT OR UPDATE OF status, available_at ON runs
    FOR EACH ROW EXECUTE FUNCTION durable_notify_claimable();
