-- depends: 0010.plans
-- The CHECK constraints of tasks and runs, written so that PostgreSQL reads them cheaply.
--
-- A CHECK constraint is stored as a node tree in text, and every statement that
-- inserts into or updates its table reads it back (parses and plans it) before its
-- first row; the hot functions change one row per statement, so that is once per
-- row. `status IN ('pending', ...)` keeps its list as an array constant written out
-- byte by byte, by far the longest of those trees: reading the checks of tasks and
-- runs was about a tenth of PostgreSQL's instructions per create (callgrind,
-- bench/pg_cost.py).
--
-- Each rule now lives in a domain, and the table's check casts the column to it:
-- `CHECK (CAST(status AS dq_run_status) IS NOT NULL)` is a tree of three nodes
-- without a constant, and PostgreSQL keeps a domain's own check parsed and planned
-- in its type cache for the life of the connection. The rules are the same and a
-- value outside them is refused as before, a check violation (SQLSTATE 23514, the
-- domain's constraint named). The columns keep their types: no table is rewritten,
-- and no function or query changes (a column of a domain type would change what ten
-- functions hand back through RETURN QUERY); adding the checks reads each table once.

CREATE DOMAIN dq_task_status AS text
    CHECK (VALUE IN ('pending', 'completed', 'failed', 'canceled'));
CREATE DOMAIN dq_run_status AS text
    CHECK (VALUE IN ('pending', 'claimed', 'sleeping', 'completed', 'failed', 'canceled'));
CREATE DOMAIN dq_positive_integer AS integer CHECK (VALUE >= 1);
CREATE DOMAIN dq_nonnegative_integer AS integer CHECK (VALUE >= 0);

ALTER TABLE tasks
    DROP CONSTRAINT tasks_status_check,
    ADD CONSTRAINT tasks_status_check CHECK (CAST(status AS dq_task_status) IS NOT NULL),
    DROP CONSTRAINT tasks_max_attempts_check,
    ADD CONSTRAINT tasks_max_attempts_check
        CHECK (CAST(max_attempts AS dq_positive_integer) IS NOT NULL),
    DROP CONSTRAINT tasks_start_timeout_check,
    ADD CONSTRAINT tasks_start_timeout_check
        CHECK (CAST(start_timeout AS dq_nonnegative_integer) IS NOT NULL),
    DROP CONSTRAINT tasks_execution_timeout_check,
    ADD CONSTRAINT tasks_execution_timeout_check
        CHECK (CAST(execution_timeout AS dq_nonnegative_integer) IS NOT NULL);
ALTER TABLE runs
    DROP CONSTRAINT runs_status_check,
    ADD CONSTRAINT runs_status_check CHECK (CAST(status AS dq_run_status) IS NOT NULL),
    DROP CONSTRAINT runs_attempt_check,
    ADD CONSTRAINT runs_attempt_check CHECK (CAST(attempt AS dq_positive_integer) IS NOT NULL);
