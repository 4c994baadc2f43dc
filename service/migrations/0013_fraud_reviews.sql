-- Fraud checks with a review queue (docs/fraud.md, ADR 0022).

-- The rules every redemption, hold and transfer out is screened against (GLOBAL
-- configuration, like redemption_rules; read into the programme snapshot on every poll).
-- `limit_value` is a count, points, or the size of a transfer in, by kind; `window_s` is
-- unused (0) by single_points.
CREATE TABLE IF NOT EXISTS fraud_rules (
    name        TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CONSTRAINT fraud_rules_kind_check CHECK (kind IN (
                    'velocity_count', 'velocity_points', 'single_points', 'after_transfer_in')),
    limit_value BIGINT NOT NULL CONSTRAINT fraud_rules_limit_check CHECK (limit_value >= 1),
    window_s    BIGINT NOT NULL DEFAULT 0 CONSTRAINT fraud_rules_window_check CHECK (window_s BETWEEN 0 AND 2592000),
    enabled     BOOL NOT NULL DEFAULT true
);

-- A flagged operation's points wait in a hold of this state until the review is decided.
ALTER TABLE holds DROP CONSTRAINT IF EXISTS holds_state_check;
ALTER TABLE holds ADD CONSTRAINT holds_state_check
    CHECK (state IN ('active', 'captured', 'voided', 'expired', 'in_review'));

-- The review queue (REGIONAL BY ROW: a review is the member's data). One row per flagged
-- operation; its hold reserves the points.
CREATE TABLE IF NOT EXISTS fraud_reviews (
    id          UUID PRIMARY KEY,
    member_id   UUID NOT NULL,
    home_region TEXT NOT NULL,
    hold_id     UUID NOT NULL,
    -- The seq of the hold entry that opened the review: every event of the review carries it.
    opened_seq  BIGINT NOT NULL,
    operation   TEXT NOT NULL CONSTRAINT fraud_reviews_operation_check CHECK (operation IN ('redemption', 'hold', 'transfer')),
    points      BIGINT NOT NULL CONSTRAINT fraud_reviews_points_check CHECK (points > 0),
    reference   TEXT NOT NULL,
    -- The flags that sent the operation here: [{"rule", "kind", "observed", "limit"}].
    flags       JSONB NOT NULL,
    -- What approval needs to finish the operation: the recipient of a transfer, the
    -- lifetime of a hold.
    transfer_to UUID,
    hold_ttl_s  BIGINT,
    state       TEXT NOT NULL CONSTRAINT fraud_reviews_state_check CHECK (state IN ('open', 'approved', 'rejected', 'expired')),
    -- Who decided (the support or admin token's subject and client; the sweep for expiry).
    decided_by  JSONB,
    expires_at  TIMESTAMPTZ NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    decided_at  TIMESTAMPTZ,
    CONSTRAINT fraud_reviews_hold_key UNIQUE (hold_id)
);
CREATE INDEX IF NOT EXISTS fraud_reviews_open_idx ON fraud_reviews (expires_at) WHERE state = 'open';
CREATE INDEX IF NOT EXISTS fraud_reviews_member_idx ON fraud_reviews (member_id, created_at);
