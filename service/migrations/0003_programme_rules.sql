-- Programme rules: tiers, campaign caps and budgets, pending (vesting) lots.

-- Tier ladder (GLOBAL): a member reaches a tier when their qualifying points reach its
-- threshold; the tier's multiplier applies to every earn.
CREATE TABLE IF NOT EXISTS tiers (
    name              TEXT PRIMARY KEY,
    rank              INT4 NOT NULL,
    threshold         BIGINT NOT NULL CONSTRAINT tiers_threshold_check CHECK (threshold >= 0),
    multiplier_milli  BIGINT NOT NULL CONSTRAINT tiers_multiplier_check CHECK (multiplier_milli BETWEEN 1000 AND 10000),
    CONSTRAINT tiers_rank_key UNIQUE (rank)
);

-- Every tier change of a member, oldest first (REGIONAL BY ROW).
CREATE TABLE IF NOT EXISTS tier_history (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    member_id   UUID NOT NULL,
    home_region TEXT NOT NULL,
    from_tier   TEXT NOT NULL,
    to_tier     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    qualifying  BIGINT NOT NULL,
    changed_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS tier_history_member_idx ON tier_history (member_id, changed_at);

-- Points a campaign has granted in total, against its global budget. A GLOBAL row: every
-- region's earns that use a budgeted campaign write it (see docs/rules.md for the cost).
CREATE TABLE IF NOT EXISTS campaign_budgets (
    namespace TEXT NOT NULL,
    name      TEXT NOT NULL,
    spent     BIGINT NOT NULL CONSTRAINT campaign_budgets_spent_check CHECK (spent >= 0),
    PRIMARY KEY (namespace, name)
);

-- Points a campaign has granted one member in one cap window (REGIONAL BY ROW).
CREATE TABLE IF NOT EXISTS campaign_member_usage (
    namespace    TEXT NOT NULL,
    name         TEXT NOT NULL,
    member_id    UUID NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    home_region  TEXT NOT NULL,
    points       BIGINT NOT NULL CONSTRAINT campaign_member_usage_points_check CHECK (points >= 0),
    PRIMARY KEY (namespace, name, member_id, window_start)
);

-- A lot with vests_at in the future is pending: visible, not spendable. The vest job clears
-- it when the time comes (NULL = vested).
ALTER TABLE lots ADD COLUMN IF NOT EXISTS vests_at TIMESTAMPTZ;
CREATE INDEX IF NOT EXISTS lots_vesting_idx ON lots (vests_at) WHERE vests_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS lots_expiry_idx ON lots (expires_at) WHERE remaining > 0;
