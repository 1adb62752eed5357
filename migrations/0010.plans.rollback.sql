-- Back to the plans chosen by cost alone.
ALTER FUNCTION dq_create_task(text, text, jsonb, jsonb, jsonb, integer, integer, integer, uuid, text, timestamptz) RESET enable_seqscan;
ALTER FUNCTION dq_create_tasks(text, jsonb) RESET enable_seqscan;
ALTER FUNCTION dq_create_tasks_general(text, jsonb) RESET enable_seqscan;
ALTER FUNCTION dq_claim(text, integer, integer) RESET enable_seqscan;
ALTER FUNCTION dq_complete_run(uuid, jsonb, text) RESET enable_seqscan;
ALTER FUNCTION dq_complete_runs(jsonb) RESET enable_seqscan;
ALTER FUNCTION dq_fail_run(uuid, text, text) RESET enable_seqscan;
ALTER FUNCTION dq_schedule_run(uuid, timestamptz, text) RESET enable_seqscan;
ALTER FUNCTION dq_extend_claim(uuid, integer, text) RESET enable_seqscan;
ALTER FUNCTION dq_put_checkpoint(uuid, text, jsonb, uuid, integer, text) RESET enable_seqscan;
ALTER FUNCTION dq_wait_for_event(uuid, uuid, text, text, integer, text) RESET enable_seqscan;
ALTER FUNCTION dq_cancel_task(uuid) RESET enable_seqscan;
ALTER FUNCTION dq_emit_event(text, jsonb) RESET enable_seqscan;
ALTER FUNCTION dq_lock_run(uuid) RESET enable_seqscan;
