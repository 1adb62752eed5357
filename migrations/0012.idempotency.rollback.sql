-- Back to the unique constraint of 0002. dq_create_task and dq_create_tasks_general keep
-- 0012's arbiter: an ON CONFLICT naming the key's predicate infers any unique index on
-- (queue_id, idempotency_key) that satisfies it, the constraint's full index included.
DROP INDEX tasks_idempotency_key;
ALTER TABLE tasks ADD CONSTRAINT tasks_queue_id_idempotency_key_key UNIQUE (queue_id, idempotency_key);
