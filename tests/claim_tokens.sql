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

-- name: holder_functions()
-- Test-only: the dq_ functions and their argument lists, to check a migration's rollback restores them.
SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS arguments
FROM pg_proc p
WHERE starts_with(p.proname, 'dq_')
ORDER BY p.proname, arguments;

-- name: has_claim_token_column()$
-- Test-only: whether runs has the claim_token column.
SELECT EXISTS (SELECT 1 FROM information_schema.columns
               WHERE table_name = 'runs' AND column_name = 'claim_token');
