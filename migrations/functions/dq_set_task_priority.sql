-- Change a pending task's priority, with its pending and sleeping runs' (a claimed run
-- keeps its claim; a later attempt takes the task's); they join the new priority's line
-- (dq_next_rank). outcome: ok, not_found, or conflict with the task's status when it is
-- finished. Marks the queue as ordered.
CREATE OR REPLACE FUNCTION dq_set_task_priority(p_task_id uuid, p_priority integer)
RETURNS TABLE (outcome text, status text)
LANGUAGE plpgsql SET enable_seqscan = off AS $$
#variable_conflict use_column
DECLARE
    v_task tasks;
BEGIN
    SELECT * INTO v_task FROM tasks t WHERE t.id = p_task_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found', NULL::text;
        RETURN;
    END IF;
    IF v_task.status <> 'pending' THEN
        RETURN QUERY SELECT 'conflict', v_task.status::text;
        RETURN;
    END IF;
    UPDATE tasks t SET priority = p_priority WHERE t.id = p_task_id;
    UPDATE queues q SET ordered = true WHERE q.id = v_task.queue_id AND NOT q.ordered;
    UPDATE runs r
    SET priority = p_priority,
        fair_rank = dq_next_rank(v_task.queue_id, v_task.concurrency_key, p_priority)
    WHERE r.task_id = p_task_id AND r.status IN ('pending', 'sleeping')
      AND r.priority <> p_priority;
    RETURN QUERY SELECT 'ok', 'pending';
END
$$;
