-- name: listen_claimable()!
-- Test-only: subscribe to the claimable notifications.
LISTEN durable_queue_claimable;

-- name: notify_sentinel()!
-- Test-only: a notification after which every earlier commit's notifications have arrived.
SELECT pg_notify('durable_queue_claimable', '/sentinel/');
