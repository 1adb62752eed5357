-- depends: 0001.baseline
-- Flow control (docs/flow-control.md): priorities, fair rounds between concurrency keys,
-- concurrency limits per queue and per key, rate limits, pause.
--
-- Every column is added with a default or nullable, so the previous release keeps
-- working on this schema (its functions are replaced by ones that read the new columns).
-- The three indexes are built plainly: on a large runs table, writes to runs wait while
-- they are built (CHANGELOG.md).

-- A queue's settings. A NULL limit is no limit; a rate limit is its count and period.
ALTER TABLE queues
    ADD COLUMN max_concurrency integer CHECK (max_concurrency >= 1),
    ADD COLUMN key_concurrency integer CHECK (key_concurrency >= 1),
    ADD COLUMN rate_limit integer CHECK (rate_limit >= 1),
    ADD COLUMN rate_period_seconds float8 CHECK (rate_period_seconds > 0),
    ADD COLUMN key_rate_limit integer CHECK (key_rate_limit >= 1),
    ADD COLUMN key_rate_period_seconds float8 CHECK (key_rate_period_seconds > 0),
    ADD COLUMN paused boolean NOT NULL DEFAULT false,
    -- how many rows of queue_keys the queue has (a claim takes the limited path with any)
    ADD COLUMN key_overrides integer NOT NULL DEFAULT 0,
    -- set for good once a run of the queue had a priority or a concurrency key: its
    -- claims then read runs_claim_order; before, every rank and priority is 0, and the
    -- claim reads runs_claimable, which stops at the first run not yet due
    ADD COLUMN ordered boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT queues_rate_limit_pair CHECK ((rate_limit IS NULL) = (rate_period_seconds IS NULL)),
    ADD CONSTRAINT queues_key_rate_limit_pair
        CHECK ((key_rate_limit IS NULL) = (key_rate_period_seconds IS NULL));

ALTER TABLE tasks
    ADD COLUMN priority smallint NOT NULL DEFAULT 0 CHECK (priority BETWEEN -1000 AND 1000),
    ADD COLUMN concurrency_key text;

-- A run carries its task's priority and key (the claim's index reads them), its round
-- (fair_rank: docs/flow-control.md "Rounds"), and whether it was claimed under a limit
-- (limited: counted in runs_in_flight, and its release wakes the queue's long polls).
ALTER TABLE runs
    ADD COLUMN priority smallint NOT NULL DEFAULT 0,
    ADD COLUMN concurrency_key text,
    ADD COLUMN fair_rank bigint NOT NULL DEFAULT 0,
    ADD COLUMN limited boolean NOT NULL DEFAULT false;

-- dq_claim_v2 in a queue that uses priorities or keys: the pending runs in claim order;
-- dq_next_rank: the queue's head (the floor of a new run's round)
CREATE INDEX runs_claim_order ON runs (queue_id, priority DESC, fair_rank, available_at, id)
    WHERE status = 'pending';
-- dq_claim_v2 under a concurrency limit: the claimed runs of a queue, and of one key;
-- dq_held_back, the keys listing's in-flight counts
CREATE INDEX runs_in_flight ON runs (queue_id, concurrency_key)
    WHERE status = 'claimed' AND limited;
-- dq_next_rank: the last rank of a key's line at a priority; the keys listing (distinct
-- keys with pending runs, their pending counts); dq_held_back (a held key's due runs)
CREATE INDEX runs_keyed_pending ON runs (queue_id, concurrency_key, priority, fair_rank)
    INCLUDE (available_at)
    WHERE status = 'pending' AND concurrency_key IS NOT NULL;

-- A concurrency key's own limits, in place of its queue's key_concurrency and
-- key_rate_limit (a NULL one: the queue's applies).
CREATE TABLE queue_keys (
    queue_id            uuid NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    concurrency_key     text NOT NULL,
    max_concurrency     integer CHECK (max_concurrency >= 1),
    rate_limit          integer CHECK (rate_limit >= 1),
    rate_period_seconds float8 CHECK (rate_period_seconds > 0),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (queue_id, concurrency_key),
    CHECK ((rate_limit IS NULL) = (rate_period_seconds IS NULL))
);

-- The token buckets of the rate limits: the queue's own (concurrency_key '') and one per
-- key that spent tokens. A missing row is a full bucket: the maintenance loop deletes
-- the rows that have refilled.
CREATE TABLE rate_buckets (
    queue_id        uuid NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    concurrency_key text NOT NULL,
    tokens          float8 NOT NULL,
    -- when tokens was computed (the database's clock, read under the queue's claim lock)
    updated_at      timestamptz NOT NULL,
    -- when the bucket is full again if nothing more is spent: the purge's order
    full_at         timestamptz NOT NULL,
    PRIMARY KEY (queue_id, concurrency_key)
);
-- purge_full_rate_buckets: the buckets full by now, oldest first
CREATE INDEX rate_buckets_full_at ON rate_buckets (full_at);
