-- The transactional outbox (docs/events.md): one CloudEvents 1.0 JSON event per ledger movement
-- (and per tier change), inserted in the movement's own SERIALIZABLE transaction, so an event
-- exists exactly when its movement committed. Member data, homed with the member (REGIONAL BY
-- ROW on CockroachDB): an event never leaves the member's residency group. Rows are immutable
-- once written; consumers (a changefeed, a dispatcher) keep their own position.
CREATE TABLE IF NOT EXISTS outbox (
    member_id   UUID NOT NULL,
    -- The ledger entry's seq (per member, gap-free): events of one member are ordered by it.
    -- A tier change carries the seq of the entry that caused it.
    member_seq  BIGINT NOT NULL,
    -- The CloudEvents `type`, e.g. travel.loyalty.points.earned.
    type        TEXT NOT NULL,
    -- The CloudEvents `id`: stable across deliveries, a receiver's deduplication key.
    id          UUID NOT NULL,
    home_region TEXT NOT NULL,
    -- The whole event as delivered (attributes and data).
    event       JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    CONSTRAINT outbox_pkey PRIMARY KEY (member_id, member_seq, type),
    CONSTRAINT outbox_id_key UNIQUE (id)
);

-- Consumers read in commit-time order.
CREATE INDEX IF NOT EXISTS outbox_created_at_idx ON outbox (created_at);
