-- Store an event and resolve every pending wait on its name with the payload,
-- waking their sleeping runs (runs locked before their waits, the order a queue
-- delete's cascade takes them in).
CREATE OR REPLACE FUNCTION dq_emit_event(p_event_name text, p_payload jsonb)
RETURNS TABLE (event_id uuid, event_name text, created_at timestamptz)
LANGUAGE plpgsql SET enable_seqscan = off AS $$
#variable_conflict use_column
BEGIN
    PERFORM pg_advisory_xact_lock(7301, hashtext(p_event_name));
    WITH locked_runs AS (
        SELECT r.id
        FROM runs r
        JOIN event_waits w ON w.run_id = r.id
        WHERE w.event_name = p_event_name AND w.status = 'waiting'
        ORDER BY r.id
        FOR UPDATE OF r
    ), resolved AS (
        UPDATE event_waits w
        SET status = 'resolved', payload = p_payload, resolved_at = now()
        WHERE w.event_name = p_event_name AND w.status = 'waiting'
          AND w.run_id IN (SELECT id FROM locked_runs)
        RETURNING w.run_id
    )
    UPDATE runs r
    SET status = 'pending', available_at = now()
    FROM resolved
    WHERE r.id = resolved.run_id AND r.status = 'sleeping';
    RETURN QUERY
    INSERT INTO events AS e (event_name, payload)
    VALUES (p_event_name, p_payload)
    RETURNING e.id, e.event_name, e.created_at;
END
$$;
