-- A join (docs/composition.md) for the run holding its claim: wait until every task of
-- p_task_ids has left pending. outcome:
-- - completed (tasks: each one's outcome, in input order) when all have finished;
-- - timeout (tasks: as they are now) when the same call's join timed out;
-- - sleeping: the run sleeps (no claim) until the last member finishes (dq_task_settled
--   makes it claimable) or the timeout passes (the maintenance sweep does);
-- - unknown_task (task_id: the first id that names no task), not_found, conflict,
--   stale_token (status: the run's).
-- The members are read FOR SHARE, in id order: a member finishing meanwhile commits
-- first and is read finished, or finishes after this join commits and counts in it.
CREATE OR REPLACE FUNCTION dq_wait_for_tasks(p_run_id uuid, p_task_ids uuid[],
                                             p_timeout_seconds integer,
                                             p_claim_token text DEFAULT NULL)
RETURNS TABLE (outcome text, status text, task_id uuid, tasks jsonb)
LANGUAGE plpgsql SET enable_seqscan = off AS $$
#variable_conflict use_column
DECLARE
    v_run runs;
    v_refusal text;
    v_members uuid[] := ARRAY(SELECT DISTINCT m FROM unnest(p_task_ids) m ORDER BY m);
    v_hash text;
    v_join task_joins;
    v_found integer;
    v_pending uuid[];
    v_missing uuid;
BEGIN
    v_run := dq_lock_run(p_run_id);
    v_refusal := nullif(dq_holds(v_run, p_claim_token), 'ok');
    IF v_refusal IS NOT NULL THEN
        RETURN QUERY SELECT v_refusal, v_run.status::text, NULL::uuid, NULL::jsonb;
        RETURN;
    END IF;
    v_hash := md5(array_to_string(v_members, ','));
    SELECT * INTO v_join FROM task_joins j WHERE j.task_id = v_run.task_id;
    -- the members, locked against finishing until this join is in place
    SELECT count(*), coalesce(array_agg(t.id) FILTER (WHERE t.status = 'pending'), '{}')
    INTO v_found, v_pending
    FROM (SELECT t.id, t.status FROM tasks t WHERE t.id = ANY (v_members)
          ORDER BY t.id FOR SHARE) t;
    IF v_found < cardinality(v_members) THEN
        SELECT m INTO v_missing FROM unnest(v_members) m
        WHERE NOT EXISTS (SELECT 1 FROM tasks t WHERE t.id = m) ORDER BY m LIMIT 1;
        RETURN QUERY SELECT 'unknown_task', v_run.status::text, v_missing, NULL::jsonb;
        RETURN;
    END IF;
    IF cardinality(v_pending) = 0 OR (v_join.members_hash = v_hash AND v_join.status = 'timeout') THEN
        RETURN QUERY
        SELECT CASE WHEN cardinality(v_pending) = 0 THEN 'completed' ELSE 'timeout' END,
               v_run.status::text, NULL::uuid,
               -- the SQL NULLs left out; a completed task's result kept, a JSON null too
               coalesce(jsonb_agg(
                   jsonb_strip_nulls(jsonb_build_object('task_id', t.id, 'status', t.status,
                                                        'error', t.error,
                                                        'completed_at', t.completed_at))
                   || CASE WHEN t.status = 'completed'
                           THEN jsonb_build_object('result', coalesce(t.result, 'null'::jsonb))
                           ELSE '{}'::jsonb END
                   ORDER BY x.ord), '[]'::jsonb)
        FROM unnest(p_task_ids) WITH ORDINALITY AS x(id, ord)
        JOIN tasks t ON t.id = x.id;
        RETURN;
    END IF;
    DELETE FROM task_joins j WHERE j.task_id = v_run.task_id;
    INSERT INTO task_joins (task_id, run_id, members_hash, remaining, timeout_at)
    VALUES (v_run.task_id, p_run_id, v_hash, cardinality(v_pending),
            now() + make_interval(secs => p_timeout_seconds));
    INSERT INTO task_join_members (member_id, task_id)
    SELECT m, v_run.task_id FROM unnest(v_pending) m;
    UPDATE tasks t SET watched = true WHERE t.id = ANY (v_pending) AND NOT t.watched;
    UPDATE runs r
    SET status = 'sleeping', claimed_at = NULL, claim_expires_at = NULL, claim_token = NULL
    WHERE r.id = p_run_id;
    RETURN QUERY SELECT 'sleeping', 'sleeping', NULL::uuid, NULL::jsonb;
END
$$;
