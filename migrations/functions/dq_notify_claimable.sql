-- Wake long-polling claimers (durable_queue/listener.py) when a run becomes claimable
-- again: moved back to pending, or made due earlier; or when a run claimed under a
-- limit leaves `claimed` (complete, fail, schedule, wait-for-event, cancel, expiry): its
-- slot is free, and a run the limit held back may be claimable. The trigger's WHEN
-- clause picks those rows, so claims, and completions in queues without limits, never
-- call the function. The payload is the queue's name; PostgreSQL folds identical
-- notifications of a transaction into one and delivers them at commit. Inserted runs notify through dq_notify_inserted.
CREATE OR REPLACE FUNCTION dq_notify_claimable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('durable_queue_claimable',
                      (SELECT q.name FROM queues q WHERE q.id = NEW.queue_id));
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER runs_notify_claimable AFTER UPDATE OF status, available_at ON runs
    FOR EACH ROW
    WHEN ((NEW.status = 'pending'
           AND (OLD.status <> 'pending' OR NEW.available_at < OLD.available_at))
          OR (OLD.limited AND NEW.status <> 'claimed'))
    EXECUTE FUNCTION dq_notify_claimable();
