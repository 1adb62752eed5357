-- name: bench_seed_finished(queue_id, count)!
-- Insert `count` completed tasks, each with its completed run, finished over the last two days (benchmark set-up only).
WITH new_tasks AS (
    INSERT INTO tasks (queue_id, task_name, params, status, result, created_at, completed_at)
    SELECT :queue_id, 'bench', '{"n": 1}'::jsonb, 'completed', '1'::jsonb,
           now() - make_interval(secs => 172800.0 * g / :count + 1),
           now() - make_interval(secs => 172800.0 * g / :count)
    FROM generate_series(1, :count) g
    RETURNING id, queue_id, created_at, completed_at
)
INSERT INTO runs (task_id, queue_id, attempt, status, available_at, claimed_at,
                  first_claimed_at, result, created_at, completed_at)
SELECT id, queue_id, 1, 'completed', created_at, created_at, created_at, '1'::jsonb,
       created_at, completed_at
FROM new_tasks;

-- name: bench_seed_history(queue_id)!
-- A full day of history samples, one every 10 s, for one queue (benchmark set-up only).
INSERT INTO queue_samples (queue_id, sampled_at, pending, scheduled, claimed, sleeping,
                           oldest_pending_age_seconds, tasks_created, runs_completed,
                           runs_failed, runs_expired, runs_retried)
SELECT :queue_id, now() - make_interval(secs => 10 * g), 500 + mod(g, 360), 0, 8, 0, 1.5,
       120, 118, 1, 0, 1
FROM generate_series(1, 8640) g;
