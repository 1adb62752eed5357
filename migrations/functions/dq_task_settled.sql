-- What follows a watched task leaving pending (docs/composition.md), in the transaction
-- that ends it:
-- - its result waits (GET /tasks/{id}/result) are woken: NOTIFY durable_queue_task_done
--   with its id;
-- - the scheduler is woken when a schedule made it (a slot buffered behind it may fire);
-- - each join waiting on it counts it, and the join it completes makes its sleeping run
--   claimable again (the claimable notification follows from that run's update);
-- - when it failed or was canceled, its unfinished children whose parent_close is
--   'cancel' are canceled with their runs; they are watched, so this recurses down the
--   tree.
-- Only watched tasks (a result wait, a join, a schedule or a child marks them) call
-- the function: the trigger's WHEN is one test, read back on every statement that
-- updates tasks (a longer one costs every claim and complete: bench/README.md).
CREATE OR REPLACE FUNCTION dq_task_settled() RETURNS trigger
LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    v_join record;
    v_children uuid[];
BEGIN
    IF OLD.status <> 'pending' OR NEW.status = 'pending' THEN
        RETURN NULL;
    END IF;
    PERFORM pg_notify('durable_queue_task_done', NEW.id::text);
    IF NEW.schedule_id IS NOT NULL THEN
        PERFORM pg_notify('durable_queue_schedules', 'tasks');
    END IF;
    FOR v_join IN
        UPDATE task_joins j
        SET remaining = j.remaining - 1
        FROM task_join_members m
        WHERE m.member_id = NEW.id AND j.task_id = m.task_id AND j.status = 'waiting'
        RETURNING j.task_id, j.run_id, j.remaining
    LOOP
        IF v_join.remaining <= 0 THEN
            UPDATE task_joins j SET status = 'resolved', resolved_at = now()
            WHERE j.task_id = v_join.task_id;
            UPDATE runs r SET status = 'pending', available_at = now()
            WHERE r.id = v_join.run_id AND r.status = 'sleeping';
        END IF;
    END LOOP;
    IF NEW.status IN ('failed', 'canceled') THEN
        v_children := ARRAY(
            SELECT t.id FROM tasks t
            WHERE t.parent_task_id = NEW.id AND t.status = 'pending'
              AND t.parent_close = 'cancel'
            ORDER BY t.id
            FOR UPDATE);
        IF cardinality(v_children) > 0 THEN
            UPDATE runs r
            SET status = 'canceled', error = 'parent ' || NEW.status, completed_at = now(),
                claim_expires_at = NULL, claim_token = NULL
            WHERE r.task_id = ANY (v_children) AND r.status IN ('pending', 'claimed', 'sleeping');
            UPDATE tasks t
            SET status = 'canceled', error = 'parent ' || NEW.status, result = NULL,
                completed_at = now()
            WHERE t.id = ANY (v_children) AND t.status = 'pending';
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER tasks_settled AFTER UPDATE OF status ON tasks
    FOR EACH ROW WHEN (NEW.watched)
    EXECUTE FUNCTION dq_task_settled();
