-- Per queue (queues being deleted left out): pending runs (due or not), scheduled
-- (pending, not yet due), claimed, sleeping, and seconds since the oldest due pending
-- run became available. The counts by status are the exact counters (folded
-- counts plus pending deltas), summed for every queue at once: one pass over
-- queue_counts and queue_count_deltas, whatever the number of queues (a sum per queue
-- read the deltas once per queue, and the deltas table grows between folds under
-- load). Scheduled is a range scan of runs_claimable from now() on, the oldest due
-- run its first entry: the cost follows the number of queues and of scheduled runs,
-- never the finished ones.
CREATE OR REPLACE FUNCTION dq_queue_gauges()
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
    LEFT JOIN (
        SELECT x.queue_id,
               sum(x.n) FILTER (WHERE x.status = 'pending') AS pending,
               sum(x.n) FILTER (WHERE x.status = 'claimed') AS claimed,
               sum(x.n) FILTER (WHERE x.status = 'sleeping') AS sleeping
        FROM (SELECT k.queue_id, k.status, k.count AS n FROM queue_counts k
              WHERE k.kind = 'run'
              UNION ALL
              SELECT d.queue_id, d.status, d.delta FROM queue_count_deltas d
              WHERE d.kind = 'run') x
        GROUP BY x.queue_id
    ) c ON c.queue_id = q.id
    WHERE NOT starts_with(q.name, '/deleting/')
$$;
