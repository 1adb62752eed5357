-- Drop the state-change functions of 0003.functions.
DROP FUNCTION dq_cancel_task(uuid);
DROP FUNCTION dq_wait_for_event(uuid, uuid, text, text, integer);
DROP FUNCTION dq_emit_event(text, jsonb);
DROP FUNCTION dq_put_checkpoint(uuid, text, jsonb, uuid, integer);
DROP FUNCTION dq_extend_claim(uuid, integer);
DROP FUNCTION dq_schedule_run(uuid, timestamptz);
DROP FUNCTION dq_fail_run(uuid, text);
DROP FUNCTION dq_complete_runs(jsonb);
DROP FUNCTION dq_complete_run(uuid, jsonb);
DROP FUNCTION dq_claim(text, integer, integer);
DROP FUNCTION dq_create_tasks(text, jsonb);
DROP FUNCTION dq_create_task(text, text, jsonb, jsonb, jsonb, integer, integer, integer, uuid, text, timestamptz);
DROP FUNCTION dq_lock_run(uuid);
DROP FUNCTION dq_retry_delay(jsonb, integer);
