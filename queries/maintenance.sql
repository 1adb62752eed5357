-- name: lock_migrations()$
-- Hold the session-level advisory lock that lets one server at a time migrate.
SELECT pg_advisory_lock(7300, 1);

-- name: unlock_migrations()$
-- Release the migration lock.
SELECT pg_advisory_unlock(7300, 1);

-- name: ping()$
-- Check that the database answers.
SELECT 1;
