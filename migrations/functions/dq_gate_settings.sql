-- A queue about to have its settings or key overrides changed: its row, read after its
-- settings gate (7302, on the queue's name) is taken exclusive for the rest of the transaction, so claims in
-- flight have finished and later ones read the change; NULL for an unknown queue.
CREATE OR REPLACE FUNCTION dq_gate_settings(p_queue_name text) RETURNS queues
LANGUAGE plpgsql AS $$
DECLARE
    v_queue queues;
BEGIN
    PERFORM pg_advisory_xact_lock(7302, hashtext(p_queue_name));
    SELECT * INTO v_queue FROM queues q WHERE q.name = p_queue_name;
    RETURN v_queue;
END
$$;
