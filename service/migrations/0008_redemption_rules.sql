-- What points are worth at checkout and how they may pay (GLOBAL configuration, like
-- earn_rates and tiers; read into the programme snapshot on every poll).

-- How points may pay for a product type. A product without a row cannot be paid with points.
CREATE TABLE IF NOT EXISTS redemption_rules (
    product      TEXT PRIMARY KEY,
    redeemable   BOOL NOT NULL,
    min_points   BIGINT NOT NULL CONSTRAINT redemption_rules_min_check CHECK (min_points BETWEEN 1 AND 1000000000),
    step_points  BIGINT NOT NULL CONSTRAINT redemption_rules_step_check CHECK (step_points BETWEEN 1 AND 1000000),
    max_share_bp INT4 NOT NULL CONSTRAINT redemption_rules_share_check CHECK (max_share_bp BETWEEN 0 AND 10000)
);

-- What one point is worth for a tier, in millionths of a euro; a tier without a row uses
-- basic's.
CREATE TABLE IF NOT EXISTS point_values (
    tier                TEXT PRIMARY KEY,
    eur_micro_per_point BIGINT NOT NULL CONSTRAINT point_values_value_check CHECK (eur_micro_per_point BETWEEN 1 AND 1000000000)
);
