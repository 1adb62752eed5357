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
