-- Qualifying points count over a rolling window: each lot remembers how many qualifying points
-- its earn added and until when they count; a sweep ages them out with an `adjust` entry.
-- Members below their tier's threshold are downgraded after a grace period.
ALTER TABLE lots ADD COLUMN IF NOT EXISTS qualifying BIGINT NOT NULL DEFAULT 0;
ALTER TABLE lots ADD COLUMN IF NOT EXISTS qualifying_until TIMESTAMPTZ;
CREATE INDEX IF NOT EXISTS lots_qualifying_idx ON lots (qualifying_until) WHERE qualifying > 0;
ALTER TABLE members ADD COLUMN IF NOT EXISTS tier_below_since TIMESTAMPTZ;
CREATE INDEX IF NOT EXISTS members_tier_below_idx ON members (tier_below_since) WHERE tier_below_since IS NOT NULL;
