-- When a queue has a limit (or key overrides), mark its runs claimed now as claimed
-- under a limit: counted by the claims that follow (runs_in_flight), and waking long
-- polls when released. Runs claimed before the queue had limits were not marked; the
-- caller holds the queue's settings gate exclusive, so no claim is in flight. Reads the
-- claimed runs of every queue (runs_by_status): bounded by the runs claimed now.
CREATE OR REPLACE FUNCTION dq_mark_limited(p_queue queues) RETURNS void
LANGUAGE sql AS $$
    UPDATE runs r SET limited = true
    WHERE r.status = 'claimed' AND r.queue_id = p_queue.id AND NOT r.limited
      AND (p_queue.max_concurrency IS NOT NULL OR p_queue.key_concurrency IS NOT NULL
           OR p_queue.rate_limit IS NOT NULL OR p_queue.key_rate_limit IS NOT NULL
           OR p_queue.key_overrides > 0)
$$;
