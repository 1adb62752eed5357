-- depends: 0010.plans
-- The status checks of tasks and runs, written so that PostgreSQL reads them cheaply.
--
-- A CHECK constraint is stored as a node tree in text, and every statement that
-- inserts into or updates its table reads it back (parses and plans it) before its
-- first row; the hot functions change one row per statement, so that is once per
-- row. `status IN ('pending', ...)` keeps its list as an array constant written out
-- byte by byte, by far the longest of those trees: reading the two status checks was
-- about a tenth of PostgreSQL's instructions per create (callgrind, bench/pg_cost.py).
-- The same rule as a cast to an enum of the statuses is a tree of three nodes without
-- a constant; the cast finds the label in the catalog cache.
--
-- A status outside the list is refused as before, by the cast: SQLSTATE 22P02
-- (invalid input value for enum dq_run_status), not 23514. No request carries a
-- status; the code writes only these labels. The columns stay text: no table is
-- rewritten, no function or query changes; adding the checks reads each table once.

CREATE TYPE dq_task_status AS ENUM ('pending', 'completed', 'failed', 'canceled');
CREATE TYPE dq_run_status AS ENUM (
    'pending', 'claimed', 'sleeping', 'completed', 'failed', 'canceled'
);

ALTER TABLE tasks
    DROP CONSTRAINT tasks_status_check,
    ADD CONSTRAINT tasks_status_check CHECK (CAST(status AS dq_task_status) IS NOT NULL);
ALTER TABLE runs
    DROP CONSTRAINT runs_status_check,
    ADD CONSTRAINT runs_status_check CHECK (CAST(status AS dq_run_status) IS NOT NULL);
