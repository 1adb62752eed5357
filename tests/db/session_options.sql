-- name: settings()^
-- The settings the server's connections are given at connect: JIT, and one a user may give in DATABASE_URL's options or PGOPTIONS.
SELECT current_setting('jit') AS jit, current_setting('statement_timeout') AS statement_timeout;
