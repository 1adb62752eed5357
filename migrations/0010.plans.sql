-- depends: 0009.batch_create
-- Plans that stay index scans however small the tables were when they were made.
--
-- PostgreSQL caches a plan per statement of a PL/pgSQL function, per connection: a
-- generic plan after five custom ones (at once for dq_claim, planned once per
-- connection by 0008). A plan made while runs and tasks are still small, as in a new
-- database, reads `id = ANY (array)` and the join to the task as sequential scans (the
-- cheapest way through a few pages), and keeps doing so as the tables grow, until an
-- ANALYZE invalidates it: every claim and every completion then read both tables
-- whole. In a 10-second pipeline on a new database that was one sequential scan of
-- each table per task (17.7 million rows read for 5,700 tasks), and 500-580 tasks/s
-- instead of 700-770. Every statement of these functions reaches its rows through an
-- index, so they plan without sequential scans, whatever the statistics say then.

ALTER FUNCTION dq_create_task(text, text, jsonb, jsonb, jsonb, integer, integer, integer, uuid, text, timestamptz) SET enable_seqscan = off;
ALTER FUNCTION dq_create_tasks(text, jsonb) SET enable_seqscan = off;
ALTER FUNCTION dq_create_tasks_general(text, jsonb) SET enable_seqscan = off;
ALTER FUNCTION dq_claim(text, integer, integer) SET enable_seqscan = off;
ALTER FUNCTION dq_complete_run(uuid, jsonb, text) SET enable_seqscan = off;
ALTER FUNCTION dq_complete_runs(jsonb) SET enable_seqscan = off;
ALTER FUNCTION dq_fail_run(uuid, text, text) SET enable_seqscan = off;
ALTER FUNCTION dq_schedule_run(uuid, timestamptz, text) SET enable_seqscan = off;
ALTER FUNCTION dq_extend_claim(uuid, integer, text) SET enable_seqscan = off;
ALTER FUNCTION dq_put_checkpoint(uuid, text, jsonb, uuid, integer, text) SET enable_seqscan = off;
ALTER FUNCTION dq_wait_for_event(uuid, uuid, text, text, integer, text) SET enable_seqscan = off;
ALTER FUNCTION dq_cancel_task(uuid) SET enable_seqscan = off;
ALTER FUNCTION dq_emit_event(text, jsonb) SET enable_seqscan = off;
ALTER FUNCTION dq_lock_run(uuid) SET enable_seqscan = off;
