-- name: seed_queue(queue_name, count, age_seconds, due_seconds)$
-- Test data in bulk for one queue, each task with one run: `count` tasks finished one second apart (the newest age_seconds ago), and `count` each of pending tasks, claimed runs and runs sleeping on an event wait (task_name says which), whose start and execution deadlines, claim expiry and wait timeout fall due_seconds from now. Returns the tasks created.
WITH q AS (
    SELECT id FROM queues WHERE name = :queue_name
), new_tasks AS (
    INSERT INTO tasks (queue_id, task_name, status, result, start_deadline, execution_deadline,
                       created_at, completed_at)
    SELECT q.id, role,
           CASE WHEN role = 'finished' THEN 'completed' ELSE 'pending' END,
           CASE WHEN role = 'finished' THEN '1'::jsonb END,
           CASE WHEN role <> 'finished' THEN now() + make_interval(secs => :due_seconds) END,
           CASE WHEN role <> 'finished' THEN now() + make_interval(secs => :due_seconds) END,
           now() - make_interval(secs => :age_seconds + :count - g + 1),
           CASE WHEN role = 'finished' THEN now() - make_interval(secs => :age_seconds + :count - g) END
    FROM q,
         unnest(ARRAY['finished', 'pending', 'claimed', 'sleeping']) AS role,
         generate_series(1, :count) AS g
    RETURNING id, queue_id, task_name AS role, created_at, completed_at
), new_runs AS (
    INSERT INTO runs (task_id, queue_id, attempt, status, available_at, claimed_at,
                      first_claimed_at, claim_expires_at, claim_token, created_at, completed_at)
    SELECT t.id, t.queue_id, 1,
           CASE WHEN t.role = 'finished' THEN 'completed' ELSE t.role END,
           t.created_at,
           CASE WHEN t.role <> 'pending' THEN t.created_at END,
           CASE WHEN t.role <> 'pending' THEN t.created_at END,
           CASE WHEN t.role = 'claimed' THEN now() + make_interval(secs => :due_seconds) END,
           CASE WHEN t.role = 'claimed' THEN gen_random_uuid() END,
           t.created_at, t.completed_at
    FROM new_tasks t
    RETURNING id, task_id, status
), new_waits AS (
    INSERT INTO event_waits (task_id, run_id, step_name, event_name, timeout_at, created_at)
    SELECT r.task_id, r.id, 'wait', 'never', now() + make_interval(secs => :due_seconds),
           now() - make_interval(secs => :age_seconds)
    FROM new_runs r
    WHERE r.status = 'sleeping'
)
SELECT count(*) FROM new_tasks;

-- name: seed_events(count, age_seconds)!
-- `count` events one second apart, the newest age_seconds ago.
INSERT INTO events (event_name, payload, created_at)
SELECT 'e', '1'::jsonb, now() - make_interval(secs => :age_seconds + :count - g)
FROM generate_series(1, :count) AS g;

-- name: analyze()!
-- Refresh the planner's statistics after seeding.
ANALYZE;

-- name: rows_in_transaction()
-- Rows each table gave to the current transaction (sequential scans, index and bitmap scans) and the rows it inserted, updated and deleted; tables it did not touch left out.
SELECT relname AS table_name,
       coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) AS read,
       n_tup_ins + n_tup_upd + n_tup_del AS changed
FROM pg_stat_xact_user_tables
WHERE coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) + n_tup_ins + n_tup_upd
      + n_tup_del > 0;

-- name: flush_statistics()$
-- Have this backend flush its pending statistics as soon as this statement ends (PostgreSQL 15+), so the next transaction's counters start from zero.
SELECT pg_stat_force_next_flush();

-- name: server_version_num()$
-- The server's version as a number (160002).
SELECT current_setting('server_version_num')::integer;

-- name: seed_flow_queue(queue_name, keys, per_key, overrides)$
-- Test data in bulk for flow control (issue 23): a queue with a key limit of 1, a rate limit and a key rate limit (an hour's period: its buckets stay short of full), `overrides` keys with an override (a rate limit of their own); `keys` keys, each with one run claimed under the limit (expiring in an hour) and `per_key` due pending runs held back behind it, in the key's rounds, of priorities 0 to 2; and a bucket short of full for the queue and for every key. Returns the runs created.
WITH q AS (
    INSERT INTO queues (name, task_ttl_seconds, event_ttl_seconds, key_concurrency, rate_limit,
                        rate_period_seconds, key_rate_limit, key_rate_period_seconds,
                        key_overrides, ordered)
    VALUES (:queue_name, 0, 3600, 1, 100, 3600, 10, 3600, :overrides, true)
    RETURNING id
), overrides AS (
    INSERT INTO queue_keys (queue_id, concurrency_key, rate_limit, rate_period_seconds)
    SELECT q.id, 'k' || k, 5, 3600
    FROM q, generate_series(0, :overrides - 1) AS k
), new_tasks AS (
    -- g = 0: the key's claimed run; g = 1..per_key: its pending runs, g - 1 its round
    INSERT INTO tasks (queue_id, task_name, status, params, priority, concurrency_key, created_at)
    SELECT q.id, CASE WHEN g = 0 THEN 'claimed' ELSE 'pending' END, 'pending', to_jsonb(g),
           mod(g, 3), 'k' || k, now() - interval '1 hour' + make_interval(secs => g)
    FROM q, generate_series(0, :keys - 1) AS k, generate_series(0, :per_key) AS g
    RETURNING id, queue_id, task_name AS role, params, priority, concurrency_key, created_at
), new_runs AS (
    INSERT INTO runs (task_id, queue_id, attempt, status, available_at, claimed_at,
                      first_claimed_at, claim_expires_at, claim_token, priority, concurrency_key,
                      fair_rank, limited, created_at)
    SELECT t.id, t.queue_id, 1, t.role, t.created_at,
           CASE WHEN t.role = 'claimed' THEN now() END,
           CASE WHEN t.role = 'claimed' THEN now() END,
           CASE WHEN t.role = 'claimed' THEN now() + interval '1 hour' END,
           CASE WHEN t.role = 'claimed' THEN gen_random_uuid() END,
           t.priority, t.concurrency_key, greatest((t.params #>> '{}')::bigint - 1, 0),
           t.role = 'claimed', t.created_at
    FROM new_tasks t
    RETURNING id
), buckets AS (
    INSERT INTO rate_buckets (queue_id, concurrency_key, tokens, updated_at, full_at)
    SELECT q.id, b.key, 0, now(), now() + interval '1 hour'
    FROM q, (SELECT '' UNION ALL SELECT 'k' || generate_series(0, :keys - 1)) AS b(key)
)
SELECT count(*) FROM new_runs;
