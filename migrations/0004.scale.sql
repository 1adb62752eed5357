-- depends: 0003.functions
-- Every query bounded by what it returns or changes, not by the table:
-- composite indexes for each list filter (a page is one index range scan),
-- the index the event_waits.run_id cascade was missing, and exact per-queue
-- task and run counts kept by statement-level triggers.
--
-- Counts: each INSERT, UPDATE or DELETE statement on tasks or runs, whoever
-- sends it (the server, the retention sweep, a cascade, an operator's
-- hand-written SQL), appends one aggregated row per (queue, status) it changed
-- to queue_count_deltas. Appends never wait on each other, so writers of one
-- queue never queue up behind a counter row. A queue's count is its
-- queue_counts row plus the sum of its deltas; the maintenance loop folds
-- deltas into queue_counts (delete and upsert in one statement), so the sum is
-- exact at every instant.

CREATE TABLE queue_counts (
    queue_id uuid NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    kind     text NOT NULL CHECK (kind IN ('task', 'run')),
    status   text NOT NULL,
    count    bigint NOT NULL,
    PRIMARY KEY (queue_id, kind, status)
);

-- No foreign key: an append must not look at the queue row. Deltas of a
-- deleted queue are dropped by the fold.
CREATE TABLE queue_count_deltas (
    queue_id uuid NOT NULL,
    kind     text NOT NULL,
    status   text NOT NULL,
    delta    bigint NOT NULL
);
CREATE INDEX queue_count_deltas_by_queue ON queue_count_deltas (queue_id);

-- AFTER ... FOR EACH STATEMENT on tasks or runs (TG_ARGV[0]: 'task' or 'run'),
-- with the transition tables old_rows / new_rows. A statement fires it once,
-- foreign-key cascades and several data-modifying CTEs on the table included.
CREATE FUNCTION dq_count_changes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO queue_count_deltas (queue_id, kind, status, delta)
        SELECT n.queue_id, TG_ARGV[0], n.status, count(*)
        FROM new_rows n
        GROUP BY n.queue_id, n.status;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO queue_count_deltas (queue_id, kind, status, delta)
        SELECT o.queue_id, TG_ARGV[0], o.status, -count(*)
        FROM old_rows o
        GROUP BY o.queue_id, o.status;
    ELSE
        INSERT INTO queue_count_deltas (queue_id, kind, status, delta)
        SELECT c.queue_id, TG_ARGV[0], c.status, sum(c.delta)
        FROM (SELECT n.queue_id, n.status, 1 AS delta FROM new_rows n
              UNION ALL
              SELECT o.queue_id, o.status, -1 FROM old_rows o) c
        GROUP BY c.queue_id, c.status
        HAVING sum(c.delta) <> 0;
    END IF;
    RETURN NULL;
END
$$;

-- TRUNCATE carries no transition table: forget every count of that kind.
CREATE FUNCTION dq_count_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM queue_counts WHERE kind = TG_ARGV[0];
    DELETE FROM queue_count_deltas WHERE kind = TG_ARGV[0];
    RETURN NULL;
END
$$;

-- One trigger per event: transition tables allow neither several events nor column lists.
CREATE TRIGGER tasks_count_insert AFTER INSERT ON tasks
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dq_count_changes('task');
CREATE TRIGGER tasks_count_update AFTER UPDATE ON tasks
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dq_count_changes('task');
CREATE TRIGGER tasks_count_delete AFTER DELETE ON tasks
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dq_count_changes('task');
CREATE TRIGGER tasks_count_truncate AFTER TRUNCATE ON tasks
    FOR EACH STATEMENT EXECUTE FUNCTION dq_count_truncated('task');
CREATE TRIGGER runs_count_insert AFTER INSERT ON runs
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dq_count_changes('run');
CREATE TRIGGER runs_count_update AFTER UPDATE ON runs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dq_count_changes('run');
CREATE TRIGGER runs_count_delete AFTER DELETE ON runs
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dq_count_changes('run');
CREATE TRIGGER runs_count_truncate AFTER TRUNCATE ON runs
    FOR EACH STATEMENT EXECUTE FUNCTION dq_count_truncated('run');

-- The counts of the rows already there. CREATE TRIGGER above locked writers
-- out until this migration commits, so no change is counted twice or missed.
INSERT INTO queue_counts (queue_id, kind, status, count)
SELECT queue_id, 'task', status, count(*) FROM tasks GROUP BY queue_id, status
UNION ALL
SELECT queue_id, 'run', status, count(*) FROM runs GROUP BY queue_id, status;

-- The cascade from runs to event_waits looked every deleted run up by a
-- sequential scan.
CREATE INDEX event_waits_by_run ON event_waits (run_id);

-- List filters, newest first: (filter columns..., id), so a page with its
-- cursor is one backward range scan. tasks_by_queue (queue_id, id) and
-- tasks_by_workflow_run already exist; tasks_by_queue_status also serves the
-- pending tasks of a queue, which tasks_unfinished indexed alone.
CREATE INDEX tasks_by_status ON tasks (status, id);
CREATE INDEX tasks_by_queue_status ON tasks (queue_id, status, id);
CREATE INDEX tasks_by_name ON tasks (task_name, id);
DROP INDEX tasks_unfinished;
CREATE INDEX runs_by_status ON runs (status, id);
CREATE INDEX workflow_runs_by_status ON workflow_runs (status, id);
