-- bench/experiments/pg_shapes.py, then: the one-row table given what tasks and runs keep up for
-- everyone else (the rules of 0011, the foreign keys, the listing, deadline, expiry and
-- idempotency indexes, one count trigger for both kinds, the claimable notification).
ALTER TABLE shape_tasks
    ADD CHECK (CAST(status AS dq_task_status) IS NOT NULL),
    ADD CHECK (CAST(run_status AS dq_run_status) IS NOT NULL),
    ADD CHECK (CAST(max_attempts AS dq_positive_integer) IS NOT NULL),
    ADD CHECK (CAST(attempt AS dq_positive_integer) IS NOT NULL),
    ADD CHECK (CAST(start_timeout AS dq_nonnegative_integer) IS NOT NULL),
    ADD CHECK (CAST(execution_timeout AS dq_nonnegative_integer) IS NOT NULL),
    ADD FOREIGN KEY (queue_id) REFERENCES queues (id) ON DELETE CASCADE,
    ADD FOREIGN KEY (workflow_run_id) REFERENCES workflow_runs (id) ON DELETE SET NULL;
CREATE INDEX shape_tasks_by_name ON shape_tasks (task_name, id);
CREATE INDEX shape_tasks_by_queue ON shape_tasks (queue_id, id);
CREATE INDEX shape_tasks_by_queue_status ON shape_tasks (queue_id, status, id);
CREATE INDEX shape_tasks_by_status ON shape_tasks (status, id);
CREATE UNIQUE INDEX shape_tasks_key ON shape_tasks (queue_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX shape_tasks_start_deadline ON shape_tasks (start_deadline)
    WHERE status = 'pending' AND start_deadline IS NOT NULL;
CREATE INDEX shape_tasks_execution_deadline ON shape_tasks (execution_deadline)
    WHERE status = 'pending' AND execution_deadline IS NOT NULL;
CREATE INDEX shape_tasks_finished ON shape_tasks (queue_id, completed_at)
    WHERE status <> 'pending';
CREATE INDEX shape_tasks_claimed_expiry ON shape_tasks (claim_expires_at)
    WHERE run_status = 'claimed';

-- Counted as tasks.count and runs.count are, one statement for both kinds.
CREATE FUNCTION shape_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO queue_count_deltas (queue_id, kind, status, delta)
    SELECT n.queue_id, k.kind, k.status, count(*)
    FROM new_rows n
    CROSS JOIN LATERAL (VALUES ('task', n.status), ('run', n.run_status)) AS k(kind, status)
    GROUP BY n.queue_id, k.kind, k.status;
    RETURN NULL;
END
$$;
CREATE TRIGGER shape_tasks_count AFTER INSERT ON shape_tasks
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION shape_count_inserted();

-- The wake-up of long polls, as runs_notify_inserted sends it.
CREATE FUNCTION shape_notify_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('durable_queue_claimable', q.name)
    FROM queues q
    WHERE q.id IN (SELECT n.queue_id FROM new_rows n WHERE n.run_status = 'pending');
    RETURN NULL;
END
$$;
CREATE TRIGGER shape_tasks_notify AFTER INSERT ON shape_tasks
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION shape_notify_inserted();
