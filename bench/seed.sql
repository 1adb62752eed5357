-- name: bench_seed_backlog(queue_id, count)!
-- Insert `count` tasks with one due pending run each into a queue (benchmark set-up only).
WITH new_tasks AS (
    INSERT INTO tasks (queue_id, task_name, params)
    SELECT :queue_id, 'bench', '{"n": 1}'::jsonb
    FROM generate_series(1, :count)
    RETURNING id, queue_id
)
INSERT INTO runs (task_id, queue_id, attempt, available_at)
SELECT id, queue_id, 1, now() - interval '1 minute'
FROM new_tasks;

-- name: bench_analyze()!
-- Refresh planner statistics after seeding.
ANALYZE;

-- name: bench_seed_flow_backlog(queue_id, count, keys, max_priority)!
-- Like bench_seed_backlog, with flow control's columns (migration 0002): each task a
-- random priority in -max_priority..max_priority and, when keys > 0, a concurrency key
-- drawn at random from `keys` keys ('key-0' ...); a run's fair_rank is its place in its
-- key's line at its priority, as dq_next_rank gives it to runs created one after the
-- other into an empty queue (the runs of a key and priority, by id: ranks 0, 1, 2 ...),
-- 0 for a run without a key; the queue is marked ordered, as the first create with a
-- priority or key marks it.
WITH src AS MATERIALIZED (
    SELECT g,
           CAST(floor(random() * (2 * :max_priority + 1)) - :max_priority AS smallint)
               AS priority,
           CASE WHEN :keys > 0 THEN 'key-' || CAST(floor(random() * :keys) AS integer) END
               AS concurrency_key
    FROM generate_series(1, :count) g
), new_tasks AS (
    INSERT INTO tasks (queue_id, task_name, params, priority, concurrency_key)
    SELECT :queue_id, 'bench', '{"n": 1}'::jsonb, priority, concurrency_key
    FROM src
    ORDER BY g
    RETURNING id, queue_id, priority, concurrency_key
)
INSERT INTO runs (task_id, queue_id, attempt, available_at, priority, concurrency_key,
                  fair_rank)
SELECT id, queue_id, 1, now() - interval '1 minute', priority, concurrency_key,
       CASE WHEN concurrency_key IS NULL THEN 0
            ELSE row_number() OVER (PARTITION BY concurrency_key, priority ORDER BY id) - 1
       END
FROM new_tasks;
UPDATE queues SET ordered = true WHERE id = :queue_id;
