-- Claim up to p_limit due pending runs of a queue: the previous release's signature,
-- kept for its servers during a rolling upgrade (docs/upgrading.md); dq_claim_v3's
-- claim, within the queue's limits, without the columns that release does not read.
CREATE OR REPLACE FUNCTION dq_claim(p_queue_name text, p_limit integer, p_claim_timeout integer)
RETURNS TABLE (outcome text, run_id uuid, task_id uuid, attempt integer, task_name text,
               params jsonb, headers jsonb, retry_strategy jsonb, max_attempts integer,
               claim_expires_at timestamptz, workflow_run_id uuid, claim_token uuid)
LANGUAGE sql AS $$
    SELECT c.outcome, c.run_id, c.task_id, c.attempt, c.task_name, c.params, c.headers,
           c.retry_strategy, c.max_attempts, c.claim_expires_at, c.workflow_run_id,
           c.claim_token
    FROM dq_claim_v3(p_queue_name, p_limit, p_claim_timeout, false) c
$$;
