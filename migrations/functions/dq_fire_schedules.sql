-- Fire the scheduler's plans for many due schedules in one statement: one
-- dq_fire_schedule per plan ({id, revision, slots, missed, next_fire_at}), in input
-- order; a row per plan with the schedule's id.
CREATE OR REPLACE FUNCTION dq_fire_schedules(p_plans jsonb)
RETURNS TABLE (schedule_id uuid, outcome text, fired integer, skipped integer,
               buffered integer, lateness float8[])
LANGUAGE sql AS $$
    SELECT p.id, f.outcome, f.fired, f.skipped, f.buffered, f.lateness
    FROM ROWS FROM (jsonb_to_recordset(p_plans)
                        AS (id uuid, revision bigint, slots timestamptz[], missed integer,
                            next_fire_at timestamptz)) WITH ORDINALITY
             AS p(id, revision, slots, missed, next_fire_at, ord)
    CROSS JOIN LATERAL dq_fire_schedule(p.id, p.revision, p.slots, p.missed, p.next_fire_at,
                                        true, true) f
    ORDER BY p.ord
$$;
