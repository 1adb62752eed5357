-- name: insert_workflow_run(workflow_name, workflow_version, inputs, created_by, tags)^
-- Create a workflow run, pending.
INSERT INTO workflow_runs (workflow_name, workflow_version, inputs, created_by, tags)
VALUES (:workflow_name, :workflow_version, CAST(:inputs AS jsonb), :created_by,
        CAST(:tags AS jsonb))
RETURNING id, workflow_name, status, created_at;

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

-- name: get_workflow_run(workflow_run_id)^
-- Every stored field of one workflow run.
SELECT id, id AS workflow_run_id, workflow_name, workflow_version, inputs, created_by, tags,
       status, result, started_at, completed_at, created_at, updated_at
FROM workflow_runs
WHERE id = :workflow_run_id;

-- name: workflow_task_counts(workflow_run_id)
-- Task counts of a workflow run by status.
SELECT status, count(*) AS count
FROM tasks
WHERE workflow_run_id = :workflow_run_id
GROUP BY status;

-- name: list_workflow_runs(workflow_name, status, cursor, limit)
-- A page of workflow runs, newest first, filtered; cursor is the last id of the previous page.
SELECT id, id AS workflow_run_id, workflow_name, workflow_version, inputs, created_by, tags,
       status, result, started_at, completed_at, created_at, updated_at
FROM workflow_runs
WHERE (CAST(:workflow_name AS text) IS NULL OR workflow_name = :workflow_name)
  AND (CAST(:status AS text) IS NULL OR status = :status)
  AND (CAST(:cursor AS uuid) IS NULL OR id < :cursor)
ORDER BY id DESC
LIMIT :limit;
