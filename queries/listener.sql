-- name: listen_claimable()!
-- Subscribe this (listener) connection to runs becoming claimable; the payload is the queue name.
LISTEN durable_queue_claimable;
