-- name: insert_queue(name, task_ttl_seconds, event_ttl_seconds)^
-- Create a queue, with no limits; no row when the name is taken.
INSERT INTO queues (name, task_ttl_seconds, event_ttl_seconds)
VALUES (:name, :task_ttl_seconds, :event_ttl_seconds)
ON CONFLICT (name) DO NOTHING
RETURNING id, name, task_ttl_seconds, event_ttl_seconds, created_at, max_concurrency, key_concurrency,
       rate_limit, rate_period_seconds, key_rate_limit, key_rate_period_seconds, paused;

-- name: list_queues()
-- Every queue, oldest first, except those being deleted (detached).
SELECT id, name, task_ttl_seconds, event_ttl_seconds, created_at, max_concurrency, key_concurrency,
       rate_limit, rate_period_seconds, key_rate_limit, key_rate_period_seconds, paused
FROM queues
WHERE NOT starts_with(name, '/deleting/')
ORDER BY created_at, id;

-- name: get_queue_by_name(name)^
-- One queue by its name.
SELECT id, name, task_ttl_seconds, event_ttl_seconds, created_at, max_concurrency, key_concurrency,
       rate_limit, rate_period_seconds, key_rate_limit, key_rate_period_seconds, paused
FROM queues
WHERE name = :name;

-- name: lock_queue_by_name(name)^
-- One queue by its name, locked against concurrent deletion or task creation races.
SELECT id, name, task_ttl_seconds, event_ttl_seconds, created_at, max_concurrency, key_concurrency,
       rate_limit, rate_period_seconds, key_rate_limit, key_rate_period_seconds, paused
FROM queues
WHERE name = :name
FOR UPDATE;

-- name: queue_counts(queue_id)
-- Exact task and run counts of one queue by kind and status: the folded counts plus the deltas not yet folded.
SELECT kind, status, CAST(sum(n) AS bigint) AS count
FROM (SELECT c.kind, c.status, c.count AS n FROM queue_counts c WHERE c.queue_id = :queue_id
      UNION ALL
      SELECT d.kind, d.status, d.delta FROM queue_count_deltas d WHERE d.queue_id = :queue_id) AS all_counts
GROUP BY kind, status
HAVING sum(n) <> 0;

-- name: update_queue(name, changes)^
-- Change a queue's settings named in the JSON object changes (null clears a limit), waking its long polls; no row for an unknown queue (dq_update_queue).
SELECT id, name, task_ttl_seconds, event_ttl_seconds, created_at, max_concurrency, key_concurrency,
       rate_limit, rate_period_seconds, key_rate_limit, key_rate_period_seconds, paused
FROM dq_update_queue(:name, CAST(:changes AS jsonb));

-- name: put_key(queue_name, key, max_concurrency, rate_limit, rate_period_seconds)^
-- Set a concurrency key's override in a queue, waking its long polls; the queue's id, or no row for an unknown queue (dq_put_key).
SELECT id FROM dq_put_key(:queue_name, :key, :max_concurrency, :rate_limit, :rate_period_seconds);

-- name: delete_key(queue_name, key)$
-- Remove a concurrency key's override: ok, queue_not_found or key_not_found (dq_delete_key).
SELECT dq_delete_key(:queue_name, :key);

-- name: key_rows(queue_id, keys)
-- The concurrency keys named, in that order, with their runs claimed and pending, the limits that apply and their override (dq_key_rows).
SELECT key, in_flight, pending, max_concurrency, rate_limit, rate_period_seconds, has_override,
       override_max_concurrency, override_rate_limit, override_rate_period_seconds
FROM dq_key_rows(:queue_id, CAST(:keys AS text[]));

-- name: list_key_names(queue_id, cursor, limit)
-- A page of the concurrency keys of a queue in text order after cursor: the keys of its pending runs (a skip scan of runs_keyed_pending, one probe per key), of its claimed runs (runs_by_status: the runs claimed now), and of its overrides.
WITH RECURSIVE pending_keys AS (
    (SELECT r.concurrency_key AS key FROM runs r
     WHERE r.queue_id = :queue_id AND r.status = 'pending' AND r.concurrency_key IS NOT NULL
       AND (CAST(:cursor AS text) IS NULL OR r.concurrency_key > :cursor)
     ORDER BY r.concurrency_key LIMIT 1)
    UNION ALL
    SELECT (SELECT r.concurrency_key FROM runs r
            WHERE r.queue_id = :queue_id AND r.status = 'pending'
              AND r.concurrency_key IS NOT NULL AND r.concurrency_key > p.key
            ORDER BY r.concurrency_key LIMIT 1)
    FROM pending_keys p
    WHERE p.key IS NOT NULL
)
SELECT key FROM (
    (SELECT p.key FROM pending_keys p WHERE p.key IS NOT NULL LIMIT :limit)
    UNION
    (SELECT DISTINCT r.concurrency_key FROM runs r
     WHERE r.status = 'claimed' AND r.queue_id = :queue_id AND r.concurrency_key IS NOT NULL
       AND (CAST(:cursor AS text) IS NULL OR r.concurrency_key > :cursor))
    UNION
    (SELECT k.concurrency_key FROM queue_keys k
     WHERE k.queue_id = :queue_id AND (CAST(:cursor AS text) IS NULL OR k.concurrency_key > :cursor)
     ORDER BY k.concurrency_key LIMIT :limit)
) AS keys
ORDER BY key
LIMIT :limit;

-- name: busiest_key_names(queue_id, limit)
-- The concurrency keys of a queue with the most runs claimed now (runs_by_status: the runs claimed now).
SELECT r.concurrency_key AS key
FROM runs r
WHERE r.status = 'claimed' AND r.queue_id = :queue_id AND r.concurrency_key IS NOT NULL
GROUP BY r.concurrency_key
ORDER BY count(*) DESC, r.concurrency_key
LIMIT :limit;

-- name: held_back_runs(queue_id)$
-- Due pending runs of a queue that its limits hold back now, all counted (dq_held_back).
SELECT dq_held_back(:queue_id, NULL);

-- name: queue_due_runs(queue_id)^
-- Pending runs of one queue not yet due (counted on runs_claimable), and the age of its oldest due one (its first entry).
SELECT
    (SELECT count(*) FROM runs r
     WHERE r.queue_id = :queue_id AND r.status = 'pending' AND r.available_at > now())
        AS scheduled_runs,
    (SELECT extract(epoch FROM now() - r.available_at)::float8 FROM runs r
     WHERE r.queue_id = :queue_id AND r.status = 'pending' AND r.available_at <= now()
     ORDER BY r.available_at
     LIMIT 1) AS oldest_pending_run_age_seconds;

-- name: detach_queue(queue_id)!
-- Rename a queue being deleted to /deleting/<id>, a name no request can address: its name is free at once and creates, claims and stats on it answer 404.
UPDATE queues SET name = '/deleting/' || id WHERE id = :queue_id;

-- name: detached_queues()
-- Queues whose deletion was started and not finished (the maintenance loop finishes them).
SELECT id FROM queues WHERE starts_with(name, '/deleting/') ORDER BY id;

-- name: delete_queue_tasks(queue_id, after, batch_size)^
-- Delete up to batch_size tasks of a queue with ids above `after` (NULL: from the first), with their runs, checkpoints and waits, skipping rows locked now; how many, and the last id.
WITH doomed AS (
    SELECT t.id
    FROM tasks t
    WHERE t.queue_id = :queue_id AND (CAST(:after AS uuid) IS NULL OR t.id > :after)
    ORDER BY t.id
    LIMIT :batch_size
    FOR UPDATE SKIP LOCKED
), deleted AS (
    -- an id list, not a join: the planner may hash-join a join by scanning all of tasks
    DELETE FROM tasks t WHERE t.id = ANY (ARRAY(SELECT id FROM doomed)) RETURNING t.id
)
SELECT (SELECT count(*) FROM deleted) AS deleted,
       (SELECT d.id FROM deleted d ORDER BY d.id DESC LIMIT 1) AS last_id;

-- name: delete_queue(queue_id)!
-- Delete a queue row; what is left of its tasks, runs, checkpoints, waits and counts goes with it (cascade).
DELETE FROM queues WHERE id = :queue_id;

-- name: fold_queue_counts(batch_size)$
-- Move up to batch_size count deltas into queue_counts in one statement (exact at every instant); deltas of deleted queues are dropped; returns how many moved.
WITH moved AS (
    DELETE FROM queue_count_deltas d
    WHERE d.ctid = ANY (ARRAY(SELECT x.ctid FROM queue_count_deltas x LIMIT :batch_size))
    RETURNING d.queue_id, d.kind, d.status, d.delta
), summed AS (
    SELECT m.queue_id, m.kind, m.status, sum(m.delta) AS delta
    FROM moved m
    GROUP BY m.queue_id, m.kind, m.status
), live AS (
    -- key-share: a queue deleted meanwhile is waited for and then left out
    SELECT s.queue_id, s.kind, s.status, s.delta
    FROM summed s
    JOIN queues q ON q.id = s.queue_id
    FOR KEY SHARE OF q
), folded AS (
    INSERT INTO queue_counts AS c (queue_id, kind, status, count)
    SELECT queue_id, kind, status, delta FROM live
    ON CONFLICT (queue_id, kind, status) DO UPDATE SET count = c.count + EXCLUDED.count
    RETURNING 1
)
SELECT count(*) FROM moved;
