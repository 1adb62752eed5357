-- Claim up to p_limit due pending runs of a queue: the previous release's signature,
-- kept for its servers during a rolling upgrade (docs/upgrading.md); dq_claim_v3's
-- claim without the columns that release does not read.
CREATE OR REPLACE FUNCTION dq_claim_v2(p_queue_name text, p_limit integer,
                                       p_claim_timeout integer, p_want_due boolean)
RETURNS TABLE (outcome text, run_id uuid, task_id uuid, attempt integer, task_name text,
               params jsonb, headers jsonb, retry_strategy jsonb, max_attempts integer,
               claim_expires_at timestamptz, workflow_run_id uuid, claim_token uuid,
               priority integer, concurrency_key text, seconds_until_due float8)
LANGUAGE sql AS $$
    SELECT c.outcome, c.run_id, c.task_id, c.attempt, c.task_name, c.params, c.headers,
           c.retry_strategy, c.max_attempts, c.claim_expires_at, c.workflow_run_id,
           c.claim_token, c.priority, c.concurrency_key, c.seconds_until_due
    FROM dq_claim_v3(p_queue_name, p_limit, p_claim_timeout, p_want_due) c
$$;
