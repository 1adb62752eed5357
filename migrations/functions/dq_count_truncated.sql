-- TRUNCATE carries no transition table: forget every count of that kind.
CREATE OR REPLACE FUNCTION dq_count_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM queue_counts WHERE kind = TG_ARGV[0];
    DELETE FROM queue_count_deltas WHERE kind = TG_ARGV[0];
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER tasks_count_truncate AFTER TRUNCATE ON tasks
    FOR EACH STATEMENT EXECUTE FUNCTION dq_count_truncated('task');
CREATE OR REPLACE TRIGGER runs_count_truncate AFTER TRUNCATE ON runs
    FOR EACH STATEMENT EXECUTE FUNCTION dq_count_truncated('run');
