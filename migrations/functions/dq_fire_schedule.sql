-- Fire slots of a schedule (docs/schedules.md), oldest first, under the schedule's row
-- lock: the scheduler's planned slots (p_revision: the definition they were planned on;
-- another one answers 'changed' and fires nothing), a trigger's one slot, or a
-- backfill's. A slot that has a task already is not fired again (already_fired; the
-- unique index tasks_schedule_slot is the guarantee). With p_overlap, the overlap policy
-- applies against the schedule's last task while it is unfinished (status pending). A
-- buffered slot (buffer_one) whose last task has finished fires first, as the slot it
-- was. With p_advance, next_fire_at moves to p_next_fire_at and p_missed is counted.
-- A queue that no longer exists pauses the schedule with a note ('queue_not_found').
-- lateness: seconds from each planned slot fired to now (buffered releases are not in it).
CREATE OR REPLACE FUNCTION dq_fire_schedule(
    p_schedule_id uuid, p_revision bigint, p_slots timestamptz[], p_missed integer,
    p_next_fire_at timestamptz, p_advance boolean, p_overlap boolean
) RETURNS TABLE (outcome text, fired integer, skipped integer, buffered integer,
                 already_fired integer, task_id uuid, run_id uuid, lateness float8[])
LANGUAGE plpgsql SET enable_seqscan = off AS $$
#variable_conflict use_column
DECLARE
    s schedules;
    v_slot timestamptz;
    v_slots timestamptz[] := coalesce(p_slots, '{}');
    v_released timestamptz;
    v_unfinished boolean;
    v_created record;
    v_fired integer := 0;
    v_skipped integer := 0;
    v_buffered integer := 0;
    v_already integer := 0;
    v_lateness float8[] := '{}';
    v_task_id uuid;
    v_run_id uuid;
BEGIN
    SELECT * INTO s FROM schedules WHERE id = p_schedule_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found', 0, 0, 0, 0, NULL::uuid, NULL::uuid, NULL::float8[];
        RETURN;
    END IF;
    IF p_revision IS NOT NULL AND s.revision <> p_revision THEN
        RETURN QUERY SELECT 'changed', 0, 0, 0, 0, NULL::uuid, NULL::uuid, NULL::float8[];
        RETURN;
    END IF;
    v_unfinished := s.last_task_id IS NOT NULL
        AND EXISTS (SELECT 1 FROM tasks t WHERE t.id = s.last_task_id AND t.status = 'pending');
    IF s.buffered_slot IS NOT NULL AND NOT v_unfinished THEN
        v_released := s.buffered_slot;
        s.buffered_slot := NULL;
        v_slots := v_released || v_slots;
    END IF;
    FOREACH v_slot IN ARRAY v_slots LOOP
        IF EXISTS (SELECT 1 FROM tasks t WHERE t.schedule_id = s.id AND t.scheduled_for = v_slot) THEN
            v_already := v_already + 1;
            CONTINUE;
        END IF;
        IF p_overlap AND v_unfinished THEN
            IF s.overlap = 'skip' THEN
                v_skipped := v_skipped + 1;
                CONTINUE;
            ELSIF s.overlap = 'buffer_one' THEN
                IF s.buffered_slot IS NULL THEN
                    s.buffered_slot := v_slot;
                    v_buffered := v_buffered + 1;
                ELSE
                    v_skipped := v_skipped + 1;
                END IF;
                CONTINUE;
            ELSIF s.overlap = 'cancel_previous' THEN
                PERFORM dq_cancel_task(s.last_task_id);
            END IF;
        END IF;
        SELECT * INTO v_created
        FROM dq_create_task_v4(s.queue_name, s.task_name, s.params, s.headers, s.retry_strategy,
                               s.max_attempts, 0, 0, NULL, NULL, NULL, s.priority,
                               s.concurrency_key, s.id, s.name, v_slot, NULL, NULL);
        IF v_created.outcome <> 'ok' THEN  -- queue_not_found: the queue was deleted
            UPDATE schedules
            SET paused = true, note = format('queue %s was deleted', s.queue_name),
                revision = revision + 1, updated_at = now()
            WHERE id = s.id;
            RETURN QUERY SELECT 'queue_not_found', v_fired, v_skipped, v_buffered, v_already,
                                v_task_id, v_run_id, v_lateness;
            RETURN;
        END IF;
        v_fired := v_fired + 1;
        v_task_id := v_created.task_id;
        v_run_id := v_created.run_id;
        v_unfinished := true;
        s.last_task_id := v_created.task_id;
        s.last_scheduled_for := v_slot;
        IF v_released IS DISTINCT FROM v_slot THEN
            v_lateness := v_lateness || extract(epoch FROM now() - v_slot)::float8;
        END IF;
    END LOOP;
    UPDATE schedules
    SET next_fire_at = CASE WHEN p_advance THEN p_next_fire_at ELSE next_fire_at END,
        missed = missed + CASE WHEN p_advance THEN coalesce(p_missed, 0) ELSE 0 END,
        buffered_slot = s.buffered_slot,
        last_task_id = s.last_task_id,
        last_scheduled_for = s.last_scheduled_for,
        last_fired_at = CASE WHEN v_fired > 0 THEN now() ELSE last_fired_at END,
        fires = fires + v_fired,
        skipped = skipped + v_skipped
    WHERE id = s.id;
    RETURN QUERY SELECT 'ok', v_fired, v_skipped, v_buffered, v_already, v_task_id, v_run_id,
                        v_lateness;
END
$$;
