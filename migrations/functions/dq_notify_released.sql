-- Wake long-polling claimers when a run claimed under a limit leaves `claimed`
-- (complete, fail, schedule, wait-for-event, cancel, expiry): its slot is free, and a
-- run held back by the limit may be claimable. The WHEN clause picks those rows only,
-- so runs of queues without limits never call it. Same channel and payload as
-- dq_notify_claimable; PostgreSQL folds a transaction's identical notifications.
CREATE OR REPLACE FUNCTION dq_notify_released() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('durable_queue_claimable',
                      (SELECT q.name FROM queues q WHERE q.id = NEW.queue_id));
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER runs_notify_released AFTER UPDATE OF status ON runs
    FOR EACH ROW
    WHEN (OLD.status = 'claimed' AND NEW.status <> 'claimed' AND OLD.limited)
    EXECUTE FUNCTION dq_notify_released();
