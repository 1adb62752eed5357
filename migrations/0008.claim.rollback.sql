-- Back to dq_claim of 0006: one statement, plans chosen per call.
CREATE OR REPLACE FUNCTION dq_claim(p_queue_name text, p_limit integer, p_claim_timeout integer)
RETURNS TABLE (outcome text, run_id uuid, task_id uuid, attempt integer, task_name text,
               params jsonb, headers jsonb, retry_strategy jsonb, max_attempts integer,
               claim_expires_at timestamptz, workflow_run_id uuid, claim_token uuid)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_queue_id uuid;
BEGIN
    SELECT q.id INTO v_queue_id FROM queues q WHERE q.name = p_queue_name;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found', NULL::uuid, NULL::uuid, NULL::integer, NULL::text,
                            NULL::jsonb, NULL::jsonb, NULL::jsonb, NULL::integer,
                            NULL::timestamptz, NULL::uuid, NULL::uuid;
        RETURN;
    END IF;
    RETURN QUERY
    WITH picked AS (
        SELECT r.id
        FROM runs r
        WHERE r.queue_id = v_queue_id AND r.status = 'pending' AND r.available_at <= now()
        ORDER BY r.available_at, r.id
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE runs r
        SET status = 'claimed',
            claimed_at = now(),
            first_claimed_at = coalesce(r.first_claimed_at, now()),
            claim_expires_at = now() + make_interval(secs => p_claim_timeout),
            claim_token = gen_random_uuid()
        FROM picked
        WHERE r.id = picked.id
        RETURNING r.id, r.task_id, r.attempt, r.available_at, r.claim_expires_at, r.claim_token
    )
    SELECT 'ok', c.id, c.task_id, c.attempt, t.task_name, t.params, t.headers,
           t.retry_strategy, t.max_attempts, c.claim_expires_at, t.workflow_run_id,
           c.claim_token
    FROM claimed c
    JOIN tasks t ON t.id = c.task_id
    ORDER BY c.available_at, c.id;
END
$$;
