-- name: server_version_num()$
-- The PostgreSQL server's version as a number (160002 for 16.2).
SELECT current_setting('server_version_num')::integer;

-- name: create_installed_functions#
-- The function step's own record of what it installed (one row), made on first use.
CREATE TABLE IF NOT EXISTS installed_functions (
    id           integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    release      text NOT NULL,
    checksum     text NOT NULL,
    installed_at timestamptz NOT NULL DEFAULT now()
);

-- name: lock_installed_functions()^
-- The release and checksum of the installed function bodies, locked until commit.
SELECT release, checksum FROM installed_functions WHERE id = 1 FOR UPDATE;

-- name: record_installed_functions(release, checksum)!
-- Record the release and checksum of the function bodies just installed.
INSERT INTO installed_functions (id, release, checksum, installed_at)
VALUES (1, :release, :checksum, now())
ON CONFLICT (id) DO UPDATE
SET release = EXCLUDED.release, checksum = EXCLUDED.checksum, installed_at = now();

-- name: applied_migration_ids()
-- The ids of the migrations yoyo recorded as applied (once yoyo_tables_exist).
SELECT migration_id FROM _yoyo_migration;

-- name: yoyo_tables_exist()$
-- Whether yoyo has recorded migrations in this database.
SELECT to_regclass('_yoyo_migration') IS NOT NULL;

-- name: replace_applied_migrations(old_ids, new_hash, new_id)!
-- Record the migration new_id (yoyo's hash new_hash) as applied in place of old_ids.
WITH dropped AS (
    DELETE FROM _yoyo_migration WHERE migration_id = ANY (:old_ids)
)
INSERT INTO _yoyo_migration (migration_hash, migration_id, applied_at_utc)
VALUES (:new_hash, :new_id, now() AT TIME ZONE 'UTC');

-- name: defer_function_body_checks()!
-- For the rest of the function step's transaction, create SQL functions without checking their bodies: a body may call a function of a file installed after it (the files go in name order).
SET LOCAL check_function_bodies = off;
