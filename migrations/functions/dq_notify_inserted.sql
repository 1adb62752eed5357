-- Wake long-polling claimers when runs are inserted pending: one notification per
-- statement and queue (the row-level dq_notify_claimable would look the queue up
-- once per run, a thousand times for a batch). Same channel and payload.
CREATE OR REPLACE FUNCTION dq_notify_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('durable_queue_claimable', q.name)
    FROM queues q
    WHERE q.id IN (SELECT n.queue_id FROM new_rows n WHERE n.status = 'pending');
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER runs_notify_inserted AFTER INSERT ON runs
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dq_notify_inserted();
