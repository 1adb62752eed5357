-- name: put_checkpoint(task_id, step_name, state, owner_run, extend_claim_by, claim_token)^
-- Store a step's state for the run holding the task's claim (under claim_token when given), optionally extending the claim (dq_put_checkpoint).
SELECT outcome, status, updated_at
FROM dq_put_checkpoint(:task_id, :step_name, CAST(:state AS jsonb), :owner_run,
                       :extend_claim_by, :claim_token);

-- name: get_checkpoint(task_id, step_name)^
-- The stored state of one step of a task.
SELECT task_id, step_name, state, updated_at
FROM checkpoints
WHERE task_id = :task_id AND step_name = :step_name;
