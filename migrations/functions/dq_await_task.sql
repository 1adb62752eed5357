-- A task's outcome for GET /tasks/{id}/result (docs/composition.md). With p_watch, a
-- pending task is marked watched first, so that it notifies durable_queue_task_done
-- when it finishes (dq_task_settled): a finish racing this call either commits first
-- (and is read here) or waits for this mark and then notifies.
CREATE OR REPLACE FUNCTION dq_await_task(p_task_id uuid, p_watch boolean)
RETURNS TABLE (task_id uuid, status text, result jsonb, error text, completed_at timestamptz)
LANGUAGE plpgsql SET enable_seqscan = off AS $$
#variable_conflict use_column
BEGIN
    IF p_watch THEN
        UPDATE tasks t SET watched = true
        WHERE t.id = p_task_id AND t.status = 'pending' AND NOT t.watched;
    END IF;
    RETURN QUERY
    SELECT t.id, t.status::text, t.result, t.error, t.completed_at FROM tasks t
    WHERE t.id = p_task_id;
END
$$;
