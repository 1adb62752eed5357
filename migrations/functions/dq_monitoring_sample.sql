-- Count what happened in [counted_until, now() - p_settle_seconds) (at most 15
-- minutes of it per call, so a long outage is caught up in bounded steps), add it
-- to the totals, store one sample per queue and drop samples older than
-- p_keep_seconds. Returns how many queues were sampled, and whether the count
-- reached now() - p_settle_seconds (false: call again to catch up).
--   tasks created: tasks whose uuidv7 id falls in the window (primary key range);
--   runs retried: runs of attempt > 1 created in the window (runs' primary key), each
--     one an explicit failure or a claim expiry of the attempt before it;
--   final outcomes: tasks finished in the window (tasks_finished index, per queue):
--     completed (its run completed), failed with error 'claim expired' (expired),
--     otherwise failed (an explicit failure with no attempt left).
-- p_settle_seconds leaves time for statements in flight to commit: a row committed
-- more than that after its id or completed_at was taken is not counted.
CREATE OR REPLACE FUNCTION dq_monitoring_sample(p_settle_seconds float8, p_keep_seconds float8)
RETURNS TABLE (sampled integer, caught_up boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_from timestamptz;
    v_until timestamptz;
    v_first_id uuid;
    v_end_id uuid;
BEGIN
    SELECT w.counted_until INTO v_from FROM monitoring_watermark w WHERE w.id = 1 FOR UPDATE;
    v_until := greatest(v_from, least(now() - make_interval(secs => p_settle_seconds),
                                      v_from + interval '15 minutes'));
    caught_up := v_until >= now() - make_interval(secs => p_settle_seconds);
    v_first_id := dq_uuid_floor(v_from);
    v_end_id := dq_uuid_floor(v_until);
    WITH created AS (
        SELECT t.queue_id, count(*) AS n
        FROM tasks t
        WHERE t.id >= v_first_id AND t.id < v_end_id
        GROUP BY t.queue_id
    ), retried AS (
        SELECT r.queue_id,
               count(*) AS retried,
               count(*) FILTER (WHERE prev.error = 'claim expired') AS expired,
               count(*) FILTER (WHERE prev.error IS DISTINCT FROM 'claim expired') AS failed
        FROM runs r
        JOIN runs prev ON prev.task_id = r.task_id AND prev.attempt = r.attempt - 1
        WHERE r.id >= v_first_id AND r.id < v_end_id AND r.attempt > 1
        GROUP BY r.queue_id
    ), finished AS (
        SELECT q.id AS queue_id, f.completed, f.expired, f.failed
        FROM queues q
        CROSS JOIN LATERAL (
            SELECT count(*) FILTER (WHERE t.status = 'completed') AS completed,
                   count(*) FILTER (WHERE t.status = 'failed'
                                    AND t.error = 'claim expired') AS expired,
                   count(*) FILTER (WHERE t.status = 'failed'
                                    AND t.error IS DISTINCT FROM 'claim expired') AS failed
            FROM tasks t
            WHERE t.queue_id = q.id AND t.status <> 'pending'
              AND t.completed_at >= v_from AND t.completed_at < v_until
        ) f
    ), deltas AS (
        SELECT f.queue_id,
               coalesce(c.n, 0) AS tasks_created,
               f.completed AS runs_completed,
               f.failed + coalesce(r.failed, 0) AS runs_failed,
               f.expired + coalesce(r.expired, 0) AS runs_expired,
               coalesce(r.retried, 0) AS runs_retried
        FROM finished f
        LEFT JOIN created c ON c.queue_id = f.queue_id
        LEFT JOIN retried r ON r.queue_id = f.queue_id
    ), added AS (
        INSERT INTO monitoring_totals AS m
            (queue_id, tasks_created, runs_completed, runs_failed, runs_expired, runs_retried)
        SELECT d.queue_id, d.tasks_created, d.runs_completed, d.runs_failed, d.runs_expired,
               d.runs_retried
        FROM deltas d
        ON CONFLICT (queue_id) DO UPDATE
        SET tasks_created = m.tasks_created + EXCLUDED.tasks_created,
            runs_completed = m.runs_completed + EXCLUDED.runs_completed,
            runs_failed = m.runs_failed + EXCLUDED.runs_failed,
            runs_expired = m.runs_expired + EXCLUDED.runs_expired,
            runs_retried = m.runs_retried + EXCLUDED.runs_retried
    )
    INSERT INTO queue_samples (queue_id, sampled_at, pending, scheduled, claimed, sleeping,
                               oldest_pending_age_seconds, tasks_created, runs_completed,
                               runs_failed, runs_expired, runs_retried)
    SELECT g.queue_id, now(), g.pending, g.scheduled, g.claimed, g.sleeping,
           g.oldest_pending_age_seconds, d.tasks_created, d.runs_completed, d.runs_failed,
           d.runs_expired, d.runs_retried
    FROM dq_queue_gauges() g
    JOIN deltas d ON d.queue_id = g.queue_id
    ON CONFLICT (queue_id, sampled_at) DO NOTHING;
    GET DIAGNOSTICS sampled = ROW_COUNT;
    UPDATE monitoring_watermark SET counted_until = v_until WHERE id = 1;
    DELETE FROM queue_samples
    WHERE sampled_at < now() - make_interval(secs => p_keep_seconds);
    RETURN NEXT;
END
$$;
