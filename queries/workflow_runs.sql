-- name: insert_workflow_run(workflow_name, workflow_version, inputs, created_by, tags)^
-- Create a workflow run, pending.
INSERT INTO workflow_runs (workflow_name, workflow_version, inputs, created_by, tags)
VALUES (:workflow_name, :workflow_version, CAST(:inputs AS jsonb), :created_by,
        CAST(:tags AS jsonb))
RETURNING id, workflow_name, status, created_at;

-- name: workflow_run_exists(workflow_run_id)$
-- Whether a workflow run exists.
SELECT EXISTS (SELECT 1 FROM workflow_runs WHERE id = :workflow_run_id);

-- name: update_workflow_run(workflow_run_id, status, set_result, result, started_at, completed_at)^
-- Change any subset of a workflow run's status, result, start and completion times.
UPDATE workflow_runs
SET status = coalesce(:status, status),
    result = CASE WHEN :set_result THEN CAST(:result AS jsonb) ELSE result END,
    started_at = coalesce(CAST(:started_at AS timestamptz), started_at),
    completed_at = coalesce(CAST(:completed_at AS timestamptz), completed_at),
    updated_at = now()
WHERE id = :workflow_run_id
RETURNING id, status, updated_at;
