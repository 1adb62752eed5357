-- name: upsert_checkpoint(task_id, step_name, state, owner_run)^
-- Store the state of one step of a task, replacing an earlier one.
INSERT INTO checkpoints (task_id, step_name, state, owner_run, updated_at)
VALUES (:task_id, :step_name, CAST(:state AS jsonb), :owner_run, now())
ON CONFLICT (task_id, step_name)
DO UPDATE SET state = EXCLUDED.state, owner_run = EXCLUDED.owner_run, updated_at = now()
RETURNING task_id, step_name, updated_at;

-- name: get_checkpoint(task_id, step_name)^
-- The stored state of one step of a task.
SELECT task_id, step_name, state, updated_at
FROM checkpoints
WHERE task_id = :task_id AND step_name = :step_name;
