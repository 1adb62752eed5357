-- The scheduler's reads (durable_queue/scheduler.py): up to p_batch_size active
-- schedules whose next slot has come, earliest first, with their calendar and the
-- database's clock. On schedules_due whatever the statistics say: right after a bulk
-- create, before autovacuum has analyzed the table, the planner would sort a full scan,
-- and every pass of an idle scheduler would read every schedule.
CREATE OR REPLACE FUNCTION dq_due_schedules(p_batch_size integer)
RETURNS TABLE (id uuid, revision bigint, cron text, interval_seconds integer, timezone text,
               anchor timestamptz, start_at timestamptz, end_at timestamptz, catchup text,
               catchup_window_seconds integer, next_fire_at timestamptz,
               database_now timestamptz)
LANGUAGE sql STABLE SET enable_seqscan = off SET enable_bitmapscan = off AS $$
    SELECT s.id, s.revision, s.cron, s.interval_seconds, s.timezone, s.anchor, s.start_at,
           s.end_at, s.catchup, s.catchup_window_seconds, s.next_fire_at, now()
    FROM schedules s
    WHERE NOT s.paused AND s.next_fire_at IS NOT NULL AND s.next_fire_at <= now()
    ORDER BY s.next_fire_at
    LIMIT p_batch_size
$$;
