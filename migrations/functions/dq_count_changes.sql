-- AFTER ... FOR EACH STATEMENT on tasks or runs (TG_ARGV[0]: 'task' or 'run'),
-- with the transition tables old_rows / new_rows. A statement fires it once,
-- foreign-key cascades and several data-modifying CTEs on the table included.
CREATE OR REPLACE FUNCTION dq_count_changes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        -- no transition table: forget every count of that kind
        DELETE FROM queue_counts WHERE kind = TG_ARGV[0];
        DELETE FROM queue_count_deltas WHERE kind = TG_ARGV[0];
    ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO queue_count_deltas (queue_id, kind, status, delta)
        SELECT n.queue_id, TG_ARGV[0], n.status, count(*)
        FROM new_rows n
        GROUP BY n.queue_id, n.status;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO queue_count_deltas (queue_id, kind, status, delta)
        SELECT o.queue_id, TG_ARGV[0], o.status, -count(*)
        FROM old_rows o
        GROUP BY o.queue_id, o.status;
    ELSE
        INSERT INTO queue_count_deltas (queue_id, kind, status, delta)
        SELECT c.queue_id, TG_ARGV[0], c.status, sum(c.delta)
        FROM (SELECT n.queue_id, n.status, 1 AS delta FROM new_rows n
              UNION ALL
              SELECT o.queue_id, o.status, -1 FROM old_rows o) c
        GROUP BY c.queue_id, c.status
        HAVING sum(c.delta) <> 0;
    END IF;
    RETURN NULL;
END
$$;

-- On tasks ('task') and runs ('run'), one trigger per event: transition tables allow
-- neither several events nor column lists (and TRUNCATE has none).
DO $triggers$
DECLARE
    v_table text;
BEGIN
    FOREACH v_table IN ARRAY ARRAY['tasks', 'runs'] LOOP
        EXECUTE format('CREATE OR REPLACE TRIGGER %1$s_count_insert AFTER INSERT ON %1$I'
                       ' REFERENCING NEW TABLE AS new_rows'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION dq_count_changes(%2$L)',
                       v_table, rtrim(v_table, 's'));
        EXECUTE format('CREATE OR REPLACE TRIGGER %1$s_count_update AFTER UPDATE ON %1$I'
                       ' REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION dq_count_changes(%2$L)',
                       v_table, rtrim(v_table, 's'));
        EXECUTE format('CREATE OR REPLACE TRIGGER %1$s_count_delete AFTER DELETE ON %1$I'
                       ' REFERENCING OLD TABLE AS old_rows'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION dq_count_changes(%2$L)',
                       v_table, rtrim(v_table, 's'));
        EXECUTE format('CREATE OR REPLACE TRIGGER %1$s_count_truncate AFTER TRUNCATE ON %1$I'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION dq_count_changes(%2$L)',
                       v_table, rtrim(v_table, 's'));
    END LOOP;
END
$triggers$;
