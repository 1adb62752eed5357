-- Remove a concurrency key's override; outcome ok, queue_not_found or key_not_found.
-- Under the queue's settings gate (dq_gate_settings); wakes the queue's long polls
-- (the key's limit may have risen to the queue's default, or gone).
CREATE OR REPLACE FUNCTION dq_delete_key(p_queue_name text, p_key text) RETURNS text
LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    v_queue queues;
BEGIN
    v_queue := dq_gate_settings(p_queue_name);
    IF v_queue.id IS NULL THEN
        RETURN 'queue_not_found';
    END IF;
    DELETE FROM queue_keys k WHERE k.queue_id = v_queue.id AND k.concurrency_key = p_key;
    IF NOT FOUND THEN
        RETURN 'key_not_found';
    END IF;
    UPDATE queues q
    SET key_overrides = (SELECT count(*) FROM queue_keys k WHERE k.queue_id = v_queue.id)
    WHERE q.id = v_queue.id;
    PERFORM pg_notify('durable_queue_claimable', v_queue.name);
    RETURN 'ok';
END
$$;
