-- name: listen_claimable()!
-- Subscribe this (listener) connection to runs becoming claimable; the payload is the queue name.
LISTEN durable_queue_claimable;

-- name: listen_schedules()!
-- Subscribe this (listener) connection to schedule changes and schedule tasks finishing (the scheduler's wake-up).
LISTEN durable_queue_schedules;

-- name: listen_task_done()!
-- Subscribe this (listener) connection to watched tasks finishing (result waits); the payload is the task's id.
LISTEN durable_queue_task_done;
