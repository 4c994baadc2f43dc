-- The ledger core: regions, reference data, members, balances, the ledger, lots, holds,
-- earns and idempotency records.
--
-- Portable-SQL rules (docs/adr/0002-portable-sql.md): this file must run unchanged on
-- PostgreSQL 15 and CockroachDB. UUID keys from gen_random_uuid(), integers spelled BIGINT or
-- INT4, no triggers, domains, stored procedures, advisory locks or PARTITION BY. Every
-- member-owned table carries `home_region` so the operator can make it REGIONAL BY ROW on
-- CockroachDB; configuration tables hold no personal data so they can be GLOBAL.

-- Configuration (GLOBAL on CockroachDB): PII-free.
CREATE TABLE IF NOT EXISTS regions (
    name            TEXT PRIMARY KEY,
    residency_group TEXT NOT NULL,
    -- 'active' regions commit writes; a 'fenced' region commits nothing (see ADR 0004).
    state           TEXT NOT NULL DEFAULT 'active'
                    CONSTRAINT regions_state_check CHECK (state IN ('active', 'fenced')),
    -- Bumped on every state change so that a write which read the old row cannot commit.
    epoch           BIGINT NOT NULL DEFAULT 1,
    endpoint        TEXT NOT NULL,
    -- The region that serves this region's members: itself, or a failover target in the
    -- same residency group.
    served_by       TEXT NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS country_homes (
    country TEXT PRIMARY KEY,
    region  TEXT NOT NULL REFERENCES regions (name)
);

-- Conversion into the programme's reference currency (EUR): one unit of `code` is worth
-- eur_rate_ppm / 1e6 EUR. `exponent` is the ISO-4217 number of minor-unit digits.
CREATE TABLE IF NOT EXISTS currencies (
    code         TEXT PRIMARY KEY,
    exponent     INT4 NOT NULL CONSTRAINT currencies_exponent_check CHECK (exponent BETWEEN 0 AND 4),
    eur_rate_ppm BIGINT NOT NULL CONSTRAINT currencies_rate_check CHECK (eur_rate_ppm > 0)
);

-- Base earn rate per product type: points per EUR, in thousandths.
CREATE TABLE IF NOT EXISTS earn_rates (
    product             TEXT PRIMARY KEY,
    points_per_eur_milli BIGINT NOT NULL CONSTRAINT earn_rates_rate_check CHECK (points_per_eur_milli >= 0)
);

-- Member-owned tables (REGIONAL BY ROW AS home_region on CockroachDB).
CREATE TABLE IF NOT EXISTS members (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    external_id     TEXT NOT NULL,
    country         TEXT NOT NULL,
    home_region     TEXT NOT NULL,
    residency_group TEXT NOT NULL,
    tier            TEXT NOT NULL DEFAULT 'basic',
    created_at      TIMESTAMPTZ NOT NULL,
    CONSTRAINT members_external_id_key UNIQUE (external_id)
);

-- One row per member; every column equals the sum of the matching delta column of the
-- member's ledger entries (the audit checks it).
CREATE TABLE IF NOT EXISTS balances (
    member_id   UUID PRIMARY KEY REFERENCES members (id),
    home_region TEXT NOT NULL,
    available   BIGINT NOT NULL DEFAULT 0 CONSTRAINT balances_available_check CHECK (available >= 0),
    pending     BIGINT NOT NULL DEFAULT 0 CONSTRAINT balances_pending_check CHECK (pending >= 0),
    held        BIGINT NOT NULL DEFAULT 0 CONSTRAINT balances_held_check CHECK (held >= 0),
    lifetime    BIGINT NOT NULL DEFAULT 0 CONSTRAINT balances_lifetime_check CHECK (lifetime >= 0),
    qualifying  BIGINT NOT NULL DEFAULT 0 CONSTRAINT balances_qualifying_check CHECK (qualifying >= 0),
    -- Sequence number of the member's newest ledger entry, and that entry's chain hash.
    last_seq    BIGINT NOT NULL DEFAULT 0,
    last_hash   BYTEA NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

-- Immutable: rows are only ever inserted.
CREATE TABLE IF NOT EXISTS ledger_entries (
    member_id        UUID NOT NULL,
    seq              BIGINT NOT NULL,
    id               UUID NOT NULL DEFAULT gen_random_uuid(),
    home_region      TEXT NOT NULL,
    kind             TEXT NOT NULL CONSTRAINT ledger_entries_kind_check CHECK (kind IN (
                         'earn', 'redeem', 'hold', 'capture', 'void', 'expire', 'reverse',
                         'transfer', 'adjust')),
    available_delta  BIGINT NOT NULL,
    pending_delta    BIGINT NOT NULL,
    held_delta       BIGINT NOT NULL,
    lifetime_delta   BIGINT NOT NULL,
    qualifying_delta BIGINT NOT NULL,
    reason           TEXT NOT NULL,
    source           TEXT,
    reference        TEXT,
    hold_id          UUID,
    -- Everything that explains the entry: rates, multipliers, campaigns, shortfalls.
    details          JSONB NOT NULL,
    -- The region whose service instance wrote the entry.
    written_in       TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    -- sha256(previous entry's hash || canonical encoding of this entry).
    entry_hash       BYTEA NOT NULL,
    PRIMARY KEY (member_id, seq),
    CONSTRAINT ledger_entries_id_key UNIQUE (id)
);

-- Earned points, consumed earliest-expiring first.
CREATE TABLE IF NOT EXISTS lots (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    member_id   UUID NOT NULL,
    home_region TEXT NOT NULL,
    earn_seq    BIGINT NOT NULL,
    points      BIGINT NOT NULL CONSTRAINT lots_points_check CHECK (points > 0),
    remaining   BIGINT NOT NULL CONSTRAINT lots_remaining_check CHECK (remaining >= 0 AND remaining <= points),
    expires_at  TIMESTAMPTZ NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS lots_member_expiry_idx ON lots (member_id, expires_at, id) WHERE remaining > 0;

CREATE TABLE IF NOT EXISTS holds (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    member_id   UUID NOT NULL,
    home_region TEXT NOT NULL,
    points      BIGINT NOT NULL CONSTRAINT holds_points_check CHECK (points > 0),
    captured    BIGINT NOT NULL DEFAULT 0 CONSTRAINT holds_captured_check CHECK (captured >= 0 AND captured <= points),
    state       TEXT NOT NULL CONSTRAINT holds_state_check CHECK (state IN ('active', 'captured', 'voided', 'expired')),
    reference   TEXT NOT NULL,
    -- The lot portions this hold took: [{"lot": uuid, "points": n}], restored on void/expiry.
    allocations JSONB NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS holds_active_expiry_idx ON holds (expires_at) WHERE state = 'active';
CREATE INDEX IF NOT EXISTS holds_member_idx ON holds (member_id);

-- One row per earned booking: (source, booking_ref) is earned at most once.
CREATE TABLE IF NOT EXISTS earns (
    source      TEXT NOT NULL,
    booking_ref TEXT NOT NULL,
    member_id   UUID NOT NULL,
    home_region TEXT NOT NULL,
    entry_seq   BIGINT NOT NULL,
    lot_id      UUID NOT NULL,
    points      BIGINT NOT NULL,
    reversed    BIGINT NOT NULL DEFAULT 0 CONSTRAINT earns_reversed_check CHECK (reversed >= 0 AND reversed <= points),
    response    JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    CONSTRAINT earns_pkey PRIMARY KEY (source, booking_ref)
);

-- Stored responses of mutating requests, keyed by the client's Idempotency-Key.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    key          TEXT PRIMARY KEY,
    home_region  TEXT NOT NULL,
    request_hash BYTEA NOT NULL,
    status       INT4 NOT NULL,
    response     JSONB NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS idempotency_keys_created_idx ON idempotency_keys (created_at);
