-- Back to dq_create_tasks of 0003 (kept by 0009 as dq_create_tasks_general), then drop
-- uuidv7_series.
DROP FUNCTION dq_create_tasks(text, jsonb);
ALTER FUNCTION dq_create_tasks_general(text, jsonb) RENAME TO dq_create_tasks;
DROP FUNCTION uuidv7_series(integer);
