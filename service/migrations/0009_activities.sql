-- Points for activities other than bookings: referrals, reviews, streaks of visits.

-- How the programme rewards each activity (GLOBAL configuration). An activity without a row
-- earns nothing.
CREATE TABLE IF NOT EXISTS activity_rules (
    kind            TEXT PRIMARY KEY CONSTRAINT activity_rules_kind_check CHECK (kind IN ('referral', 'review', 'streak')),
    points          BIGINT NOT NULL CONSTRAINT activity_rules_points_check CHECK (points BETWEEN 1 AND 1000000),
    daily_cap       BIGINT CONSTRAINT activity_rules_daily_check CHECK (daily_cap >= 0),
    monthly_cap     BIGINT CONSTRAINT activity_rules_monthly_check CHECK (monthly_cap >= 0),
    lifetime_cap    BIGINT CONSTRAINT activity_rules_lifetime_check CHECK (lifetime_cap >= 0),
    referred_points BIGINT NOT NULL DEFAULT 0 CONSTRAINT activity_rules_referred_check CHECK (referred_points BETWEEN 0 AND 1000000),
    streak_days     INT4 NOT NULL DEFAULT 0 CONSTRAINT activity_rules_streak_check CHECK (streak_days BETWEEN 0 AND 366)
);

-- Every reported activity (REGIONAL BY ROW): idempotent on (source, reference); the caps
-- count its points per member, kind and local day.
CREATE TABLE IF NOT EXISTS activity_earns (
    source      TEXT NOT NULL,
    reference   TEXT NOT NULL,
    member_id   UUID NOT NULL,
    home_region TEXT NOT NULL,
    kind        TEXT NOT NULL,
    points      BIGINT NOT NULL CONSTRAINT activity_earns_points_check CHECK (points >= 0),
    local_day   DATE NOT NULL,
    response    JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source, reference)
);
CREATE INDEX IF NOT EXISTS activity_earns_member_idx ON activity_earns (member_id, kind, local_day);

-- Who referred whom (REGIONAL BY ROW, with the referred member): a member is referred once.
CREATE TABLE IF NOT EXISTS referrals (
    referred_id UUID PRIMARY KEY,
    member_id   UUID NOT NULL,
    home_region TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS referrals_referrer_idx ON referrals (member_id);

-- Opaque identity hints given at enrolment (hashed e-mail, phone, device or payment
-- fingerprints; stored as SHA-256): two accounts sharing one cannot refer each other.
CREATE TABLE IF NOT EXISTS member_identity_hints (
    member_id   UUID NOT NULL,
    home_region TEXT NOT NULL,
    hint_hash   BYTEA NOT NULL,
    PRIMARY KEY (member_id, hint_hash)
);
CREATE INDEX IF NOT EXISTS member_identity_hints_hash_idx ON member_identity_hints (hint_hash);

-- The local days a member visited, for streaks (REGIONAL BY ROW).
CREATE TABLE IF NOT EXISTS activity_days (
    member_id   UUID NOT NULL,
    home_region TEXT NOT NULL,
    day         DATE NOT NULL,
    PRIMARY KEY (member_id, day)
);
