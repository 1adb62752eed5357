-- depends: 0003.schedules
-- Composition (docs/composition.md): waiting for a task's result, child tasks and
-- parent-close, and joins (a run sleeping until a set of tasks has finished).
--
-- Tasks gain nullable or defaulted columns (no rewrite; the previous release keeps
-- working on this schema) and a partial index that holds children only.

ALTER TABLE tasks
    -- somebody acts when the task leaves pending: a result wait, a join, its schedule,
    -- its children (parent-close); the trigger tasks_settled fires only for these
    ADD COLUMN watched boolean NOT NULL DEFAULT false,
    -- no foreign key: a parent deleted by retention leaves its children alone
    ADD COLUMN parent_task_id uuid,
    -- 'cancel' or 'abandon', on children only. Not a CHECK: every statement that writes
    -- tasks would compile it (two such checks cost a create and a claim and complete 46k
    -- instructions each, bench/README.md); the API and dq_create_task_v4 allow no other.
    ADD COLUMN parent_close text;
-- a task's children, newest first (listing, counts, parent-close)
CREATE INDEX tasks_by_parent ON tasks (parent_task_id, id) WHERE parent_task_id IS NOT NULL;
-- the pending tasks of schedules were watched by their trigger's own test until now
UPDATE tasks SET watched = true WHERE schedule_id IS NOT NULL AND status = 'pending';

-- A run waiting for a set of tasks to finish (POST /runs/{id}/wait-for-tasks): one per
-- waiting task; `remaining` counts its members still pending, and the member that
-- brings it to 0 makes the run claimable again.
CREATE TABLE task_joins (
    task_id      uuid PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    run_id       uuid NOT NULL,
    -- the members, sorted, hashed: a repeat of the same call finds its join
    members_hash text NOT NULL,
    remaining    integer NOT NULL,
    status       text NOT NULL DEFAULT 'waiting'
        CHECK (status IN ('waiting', 'resolved', 'timeout')),
    timeout_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    resolved_at  timestamptz
);
-- the join-timeout sweep
CREATE INDEX task_joins_timeout ON task_joins (timeout_at) WHERE status = 'waiting';

CREATE TABLE task_join_members (
    member_id uuid NOT NULL,
    task_id   uuid NOT NULL REFERENCES task_joins (task_id) ON DELETE CASCADE,
    PRIMARY KEY (member_id, task_id)
);
-- the cascade from a deleted join
CREATE INDEX task_join_members_by_join ON task_join_members (task_id);

-- the schedules' task trigger became tasks_settled (dq_task_settled), for every watched task
DROP TRIGGER IF EXISTS tasks_notify_schedule ON tasks;
