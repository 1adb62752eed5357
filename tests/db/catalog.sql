-- name: catalog_columns()
-- Test-only: every column of the public schema's tables, in order, with type, nullability and default.
SELECT c.relname AS table_name, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod) AS type,
       a.attnotnull, pg_get_expr(d.adbin, d.adrelid) AS default_expr
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE c.relkind IN ('r', 'p', 'v', 'm')
ORDER BY 1, 2;

-- name: catalog_constraints()
-- Test-only: every constraint of the public schema (tables and domains) with its definition.
SELECT coalesce(c.conrelid::regclass::text, c.contypid::regtype::text) AS owner, c.conname,
       pg_get_constraintdef(c.oid) AS definition
FROM pg_constraint c
JOIN pg_namespace n ON n.oid = c.connamespace AND n.nspname = 'public'
ORDER BY 1, 2;

-- name: catalog_indexes()
-- Test-only: every index of the public schema with its definition.
SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1, 2;

-- name: catalog_triggers()
-- Test-only: every user trigger with its definition.
SELECT t.tgrelid::regclass::text AS table_name, t.tgname, pg_get_triggerdef(t.oid) AS definition
FROM pg_trigger t
WHERE NOT t.tgisinternal
ORDER BY 1, 2;

-- name: catalog_functions()
-- Test-only: every function of the public schema: arguments, result, settings and body.
SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS arguments,
       pg_get_functiondef(p.oid) AS definition
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace AND n.nspname = 'public'
ORDER BY 1, 2;

-- name: catalog_types()
-- Test-only: every domain, enum and composite type of the public schema, with its base type.
SELECT t.typname, t.typtype, format_type(t.typbasetype, t.typtypmod) AS base_type, t.typnotnull
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace AND n.nspname = 'public'
WHERE t.typtype IN ('d', 'e') OR (t.typtype = 'c' AND t.typrelid = 0)
ORDER BY 1;

-- name: table_fingerprints()
-- Test-only: each table's row count and a hash of its rows in primary-key order.
SELECT 'queues' AS table_name, count(*) AS n, md5(string_agg(x::text, ',' ORDER BY x.id)) AS hash FROM queues x
UNION ALL SELECT 'workflow_runs', count(*), md5(string_agg(x::text, ',' ORDER BY x.id)) FROM workflow_runs x
UNION ALL SELECT 'tasks', count(*), md5(string_agg(x::text, ',' ORDER BY x.id)) FROM tasks x
UNION ALL SELECT 'runs', count(*), md5(string_agg(x::text, ',' ORDER BY x.id)) FROM runs x
UNION ALL SELECT 'checkpoints', count(*), md5(string_agg(x::text, ',' ORDER BY x.task_id, x.step_name)) FROM checkpoints x
UNION ALL SELECT 'events', count(*), md5(string_agg(x::text, ',' ORDER BY x.id)) FROM events x
UNION ALL SELECT 'event_waits', count(*), md5(string_agg(x::text, ',' ORDER BY x.id)) FROM event_waits x
UNION ALL SELECT 'queue_counts', count(*), md5(string_agg(x::text, ',' ORDER BY x.queue_id, x.kind, x.status)) FROM queue_counts x
UNION ALL SELECT 'queue_count_deltas', count(*), md5(string_agg(x::text, ',' ORDER BY x::text)) FROM queue_count_deltas x
UNION ALL SELECT 'monitoring_totals', count(*), md5(string_agg(x::text, ',' ORDER BY x.queue_id)) FROM monitoring_totals x
UNION ALL SELECT 'monitoring_watermark', count(*), md5(string_agg(x::text, ',' ORDER BY x.id)) FROM monitoring_watermark x
UNION ALL SELECT 'queue_samples', count(*), md5(string_agg(x::text, ',' ORDER BY x.queue_id, x.sampled_at)) FROM queue_samples x
ORDER BY 1;
