-- The scheduler's reads (durable_queue/scheduler.py): active schedules holding a
-- buffered slot (overlap buffer_one) whose last task has finished. On
-- schedules_buffered whatever the statistics say (as dq_due_schedules).
CREATE OR REPLACE FUNCTION dq_buffered_schedules(p_batch_size integer)
RETURNS TABLE (id uuid)
LANGUAGE sql STABLE SET enable_seqscan = off AS $$
    SELECT s.id
    FROM schedules s
    WHERE s.buffered_slot IS NOT NULL AND NOT s.paused
      AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.id = s.last_task_id AND t.status = 'pending')
    ORDER BY s.id
    LIMIT p_batch_size
$$;
