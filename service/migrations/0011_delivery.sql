-- Delivery of the outbox to partners' webhooks (docs/events.md, ADR 0020).

-- Each Partner's webhook subscriptions as the operator publishes them: PII-free configuration.
-- The signing secret stays in its Kubernetes Secret, mounted into the service; only its
-- fingerprint is here. The service writes `disabled_at` when the receiver answers 410 Gone;
-- the operator clears it when the subscription's Partner changes (a new generation).
CREATE TABLE IF NOT EXISTS webhook_subscriptions (
    partner_code    TEXT NOT NULL,
    name            TEXT NOT NULL,
    url             TEXT NOT NULL,
    -- Event type names without the `travel.loyalty.` prefix; an empty array is every type.
    event_types     JSONB NOT NULL,
    secret_sha256   TEXT NOT NULL,
    generation      BIGINT NOT NULL,
    -- Events written before this are not delivered to the subscription.
    subscribed_at   TIMESTAMPTZ NOT NULL,
    disabled_at     TIMESTAMPTZ,
    disabled_reason TEXT,
    updated_at      TIMESTAMPTZ NOT NULL,
    CONSTRAINT webhook_subscriptions_pkey PRIMARY KEY (partner_code, name)
);

-- How far each subscription's fan-out has read one home region's outbox: events created up to
-- `fanned_out_until` have a delivery row (or were not for this subscription). The next fan-out
-- re-reads a margin before it, so an event whose transaction committed late is not skipped.
CREATE TABLE IF NOT EXISTS delivery_cursors (
    partner_code     TEXT NOT NULL,
    subscription     TEXT NOT NULL,
    home_region      TEXT NOT NULL,
    fanned_out_until TIMESTAMPTZ NOT NULL,
    CONSTRAINT delivery_cursors_pkey PRIMARY KEY (partner_code, subscription, home_region)
);

-- One row per (subscription, event): its state, attempts and lease. Member data (it names
-- the member and is homed with the member's events).
CREATE TABLE IF NOT EXISTS deliveries (
    partner_code    TEXT NOT NULL,
    subscription    TEXT NOT NULL,
    event_id        UUID NOT NULL,
    member_id       UUID NOT NULL,
    member_seq      BIGINT NOT NULL,
    type            TEXT NOT NULL,
    home_region     TEXT NOT NULL,
    -- When the event was written: with member_seq, the per-member order.
    event_at        TIMESTAMPTZ NOT NULL,
    -- pending (waiting or in flight), delivered, dead (after the last attempt, or 410 Gone).
    state           TEXT NOT NULL,
    attempts        INT4 NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    -- The dispatcher instance sending it, until lease_until; an expired lease is taken over.
    lease_owner     UUID,
    lease_until     TIMESTAMPTZ,
    last_status     INT4,
    last_error      TEXT,
    last_attempt_at TIMESTAMPTZ,
    delivered_at    TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL,
    CONSTRAINT deliveries_pkey PRIMARY KEY (partner_code, subscription, event_id),
    CONSTRAINT deliveries_state_check CHECK (state IN ('pending', 'delivered', 'dead'))
);

CREATE INDEX IF NOT EXISTS deliveries_due_idx ON deliveries (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS deliveries_member_idx
    ON deliveries (partner_code, subscription, member_id, state, member_seq);

-- "Points expiring in 30, 7 and 1 days": one row per lot and threshold, written with the
-- notice's outbox event, so each is announced once.
CREATE TABLE IF NOT EXISTS lot_expiry_notices (
    lot_id      UUID NOT NULL,
    days_before INT4 NOT NULL,
    member_id   UUID NOT NULL,
    home_region TEXT NOT NULL,
    noticed_at  TIMESTAMPTZ NOT NULL,
    CONSTRAINT lot_expiry_notices_pkey PRIMARY KEY (lot_id, days_before)
);

-- An expiry notice carries the seq of the member's latest entry, like tier.changed, so two
-- notices can share (member_id, member_seq, type): the event id joins the key. One statement
-- drops and re-adds the primary key, which PostgreSQL and CockroachDB both accept.
ALTER TABLE outbox DROP CONSTRAINT outbox_pkey,
    ADD CONSTRAINT outbox_pkey PRIMARY KEY (member_id, member_seq, type, id);
