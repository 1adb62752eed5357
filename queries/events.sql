-- name: emit_event(event_name, payload)^
-- Store an event and resolve every pending wait on its name, waking their runs (dq_emit_event).
SELECT event_id AS id, event_name, created_at
FROM dq_emit_event(:event_name, CAST(:payload AS jsonb));

-- name: wait_for_event(run_id, task_id, event_name, step_name, timeout_seconds, claim_token)^
-- Wait for an event on behalf of the run holding its claim (under claim_token when given): resolved, timeout or sleeping, or why not (dq_wait_for_event).
SELECT outcome, status, payload
FROM dq_wait_for_event(:run_id, :task_id, :event_name, :step_name, :timeout_seconds,
                       :claim_token);
