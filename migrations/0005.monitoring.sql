-- depends: 0004.scale
-- Monitoring: live gauges per queue in one function, monotonic totals counted
-- from the rows themselves, and a bounded per-queue history for the dashboard's
-- charts. One server process (the sampler, under an advisory lock) calls
-- dq_monitoring_sample() every ~10 s; every process reads the same totals, so
-- the counters agree across server processes and survive restarts.

-- The smallest UUIDv7 of the millisecond of p_at: ids (uuidv7) at or after p_at
-- compare >= it, so a range of ids is a range of creation times on the primary key.
CREATE FUNCTION dq_uuid_floor(p_at timestamptz) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT encode(substring(int8send(floor(extract(epoch FROM p_at) * 1000)::bigint) FROM 3)
                  || '\x00000000000000000000'::bytea, 'hex')::uuid
$$;

-- Per queue (queues being deleted left out): pending runs (due or not), scheduled
-- (pending, not yet due), claimed, sleeping, and seconds since the oldest due pending
-- run became available. The counts by status are 0004's exact counters (folded
-- counts plus pending deltas); scheduled is a range scan of runs_claimable from now()
-- on, the oldest due run its first entry: the cost follows the number of queues and
-- of scheduled runs, never the finished ones.
CREATE FUNCTION dq_queue_gauges()
RETURNS TABLE (queue_id uuid, pending bigint, scheduled bigint, claimed bigint,
               sleeping bigint, oldest_pending_age_seconds float8)
LANGUAGE sql STABLE AS $$
    SELECT q.id,
           coalesce(c.pending, 0)::bigint,
           (SELECT count(*) FROM runs r
            WHERE r.queue_id = q.id AND r.status = 'pending' AND r.available_at > now()),
           coalesce(c.claimed, 0)::bigint,
           coalesce(c.sleeping, 0)::bigint,
           (SELECT extract(epoch FROM now() - r.available_at)::float8 FROM runs r
            WHERE r.queue_id = q.id AND r.status = 'pending' AND r.available_at <= now()
            ORDER BY r.available_at
            LIMIT 1)
    FROM queues q
    LEFT JOIN LATERAL (
        SELECT sum(x.n) FILTER (WHERE x.status = 'pending') AS pending,
               sum(x.n) FILTER (WHERE x.status = 'claimed') AS claimed,
               sum(x.n) FILTER (WHERE x.status = 'sleeping') AS sleeping
        FROM (SELECT k.status, k.count AS n FROM queue_counts k
              WHERE k.queue_id = q.id AND k.kind = 'run'
              UNION ALL
              SELECT d.status, d.delta FROM queue_count_deltas d
              WHERE d.queue_id = q.id AND d.kind = 'run') x
    ) c ON true
    WHERE NOT starts_with(q.name, '/deleting/')
$$;

-- Totals since monitoring was installed, per queue; only ever increased.
CREATE TABLE monitoring_totals (
    queue_id       uuid PRIMARY KEY REFERENCES queues (id) ON DELETE CASCADE,
    tasks_created  bigint NOT NULL DEFAULT 0,
    runs_completed bigint NOT NULL DEFAULT 0,
    runs_failed    bigint NOT NULL DEFAULT 0,
    runs_expired   bigint NOT NULL DEFAULT 0,
    runs_retried   bigint NOT NULL DEFAULT 0
);

-- Everything created or finished before counted_until is in monitoring_totals.
CREATE TABLE monitoring_watermark (
    id             integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    counted_until  timestamptz NOT NULL
);
INSERT INTO monitoring_watermark (counted_until) VALUES (now());

-- One row per queue per sample: the gauges at sampled_at, and what was counted
-- into the totals by that sample.
CREATE TABLE queue_samples (
    queue_id                   uuid NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    sampled_at                 timestamptz NOT NULL,
    pending                    bigint NOT NULL,
    scheduled                  bigint NOT NULL,
    claimed                    bigint NOT NULL,
    sleeping                   bigint NOT NULL,
    oldest_pending_age_seconds float8,
    tasks_created              bigint NOT NULL,
    runs_completed             bigint NOT NULL,
    runs_failed                bigint NOT NULL,
    runs_expired               bigint NOT NULL,
    runs_retried               bigint NOT NULL,
    PRIMARY KEY (queue_id, sampled_at)
);
CREATE INDEX queue_samples_by_time ON queue_samples (sampled_at);

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
CREATE FUNCTION dq_monitoring_sample(p_settle_seconds float8, p_keep_seconds float8)
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
