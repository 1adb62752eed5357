-- name: task_state(task_id)$
-- Test-only: everything stored about a task (its row, runs, checkpoints, waits) as one JSON value, to compare before and after a refused call.
SELECT jsonb_build_object(
    'task', (SELECT to_jsonb(t) FROM tasks t WHERE t.id = :task_id),
    'runs', (SELECT jsonb_agg(to_jsonb(r) ORDER BY r.attempt) FROM runs r
             WHERE r.task_id = :task_id),
    'checkpoints', (SELECT coalesce(jsonb_agg(to_jsonb(c) ORDER BY c.step_name), '[]')
                    FROM checkpoints c WHERE c.task_id = :task_id),
    'waits', (SELECT coalesce(jsonb_agg(to_jsonb(w) ORDER BY w.step_name), '[]')
              FROM event_waits w WHERE w.task_id = :task_id)
);

-- name: run_token(run_id)$
-- Test-only: the claim token stored on a run, as text (NULL when it holds none).
SELECT CAST(claim_token AS text) FROM runs WHERE id = :run_id;
