//! Reference data and demo members for development, the README's examples and the tests.
//! In production the operator writes regions from LoyaltyRegion resources and rates come
//! from the programme's configuration; these rows are the local sandbox's stand-ins.
//! Every insert is `ON CONFLICT DO NOTHING`, so seeding twice changes nothing.

use tokio_postgres::Client;
use uuid::Uuid;

use super::ledger::genesis_hash;
use super::now_micros;
use crate::error::Result;

/// (region, residency group, endpoint, countries homed there).
pub const REGIONS: &[(&str, &str, &str, &[&str])] = &[
    (
        "eu-west-1",
        "eu",
        "http://127.0.0.1:8080",
        &["FR", "IE", "ES", "PT", "NL", "BE", "LU"],
    ),
    (
        "eu-central-1",
        "eu",
        "http://127.0.0.1:8081",
        &["DE", "AT", "IT", "PL", "CZ", "DK", "SE"],
    ),
    (
        "us-east-1",
        "us",
        "http://127.0.0.1:8082",
        &["US", "CA", "MX"],
    ),
    (
        "ap-southeast-1",
        "apac",
        "http://127.0.0.1:8083",
        &["SG", "JP", "AU"],
    ),
];

/// (ISO-4217 code, minor-unit digits, value of one unit in EUR × 10^6).
pub const CURRENCIES: &[(&str, i32, i64)] = &[
    ("EUR", 2, 1_000_000),
    ("USD", 2, 920_000),
    ("GBP", 2, 1_170_000),
    ("CHF", 2, 1_050_000),
    ("JPY", 0, 6_100),
    ("SGD", 2, 690_000),
    ("AUD", 2, 610_000),
    ("KWD", 3, 3_000_000),
];

/// (product, points per EUR × 1000).
pub const EARN_RATES: &[(&str, i64)] = &[
    ("hotel", 10_000),
    ("flight", 5_000),
    ("car", 5_000),
    ("experience", 8_000),
];

/// (tier, rank, qualifying-points threshold, earn multiplier × 1000).
pub const TIERS: &[(&str, i32, i64, i64)] = &[
    ("basic", 0, 0, 1_000),
    ("silver", 1, 5_000, 1_250),
    ("gold", 2, 20_000, 1_500),
    ("genius", 3, 50_000, 2_000),
];

/// (product, redeemable, minimum points, step, largest share of the price in basis points).
pub const REDEMPTION_RULES: &[(&str, bool, i64, i64, i32)] = &[
    ("hotel", true, 500, 100, 5_000),
    ("flight", true, 1_000, 100, 3_000),
    ("car", true, 500, 100, 5_000),
    ("experience", false, 500, 100, 0),
];

/// (tier, value of one point in EUR × 10^6): a point is worth 1 cent, more for the top tiers.
pub const POINT_VALUES: &[(&str, i64)] = &[("basic", 10_000), ("gold", 11_000), ("genius", 12_000)];

/// A point cap: `None` for none.
type Cap = Option<i64>;

/// (activity, points, daily cap, monthly cap, lifetime cap, points for the referred member,
/// days a streak needs).
pub const ACTIVITY_RULES: &[(&str, i64, Cap, Cap, Cap, i64, i32)] = &[
    ("referral", 1_000, None, Some(5_000), Some(20_000), 250, 0),
    ("review", 50, Some(100), Some(500), None, 0, 0),
    ("streak", 200, None, Some(800), None, 0, 7),
];

/// (member id, external id, country): the README's examples use these.
/// The demo's fraud rules (name, kind, limit, window): `serve --demo` only, so tests and
/// benchmarks screen against the rules they set themselves.
pub const DEMO_FRAUD_RULES: &[(&str, &str, i64, i64)] = &[
    ("large-redemption", "single_points", 50_000, 0),
    ("rapid-redemptions", "velocity_count", 10, 3_600),
    ("points-drain", "velocity_points", 100_000, 86_400),
    ("after-large-transfer", "after_transfer_in", 10_000, 86_400),
];

pub const DEMO_MEMBERS: &[(u128, &str, &str)] = &[
    (
        0x0000_0000_0000_4000_8000_0000_0000_0001,
        "demo-alice",
        "FR",
    ),
    (
        0x0000_0000_0000_4000_8000_0000_0000_0002,
        "demo-bruno",
        "DE",
    ),
    (
        0x0000_0000_0000_4000_8000_0000_0000_0003,
        "demo-carla",
        "US",
    ),
];

pub async fn reference_data(client: &Client) -> Result<()> {
    regions(client).await?;
    rates(client).await?;
    redemption_and_activities(client).await?;
    tiers(client).await
}

/// The sandbox's regions, their first transitions and the countries they home.
async fn regions(client: &Client) -> Result<()> {
    for (name, group, endpoint, countries) in REGIONS {
        client
            .execute(
                "INSERT INTO regions (name, residency_group, endpoint, served_by) VALUES ($1, $2, $3, $1) \
                 ON CONFLICT (name) DO NOTHING",
                &[name, group, endpoint],
            )
            .await?;
        // Every epoch of a region has its transition row, as the operator writes them: the
        // chaos checker and the audit read a region's state at an entry's epoch from there.
        client
            .execute(
                "INSERT INTO region_transitions (region, epoch, state, served_by, reason) \
                 SELECT name, epoch, state, served_by, 'Created' FROM regions WHERE name = $1 \
                 ON CONFLICT (region, epoch) DO NOTHING",
                &[name],
            )
            .await?;
        for country in *countries {
            client
                .execute(
                    "INSERT INTO country_homes (country, region) VALUES ($1, $2) ON CONFLICT (country) DO NOTHING",
                    &[country, name],
                )
                .await?;
        }
    }
    Ok(())
}

/// Currencies and earn rates.
async fn rates(client: &Client) -> Result<()> {
    for (code, exponent, rate) in CURRENCIES {
        client
            .execute(
                "INSERT INTO currencies (code, exponent, eur_rate_ppm) VALUES ($1, $2, $3) ON CONFLICT (code) DO NOTHING",
                &[code, exponent, rate],
            )
            .await?;
    }
    for (product, rate) in EARN_RATES {
        client
            .execute(
                "INSERT INTO earn_rates (product, points_per_eur_milli) VALUES ($1, $2) ON CONFLICT (product) DO NOTHING",
                &[product, rate],
            )
            .await?;
    }
    Ok(())
}

/// Redemption rules, point values and activity rules.
async fn redemption_and_activities(client: &Client) -> Result<()> {
    for (product, redeemable, min, step, share) in REDEMPTION_RULES {
        client
            .execute(
                "INSERT INTO redemption_rules (product, redeemable, min_points, step_points, max_share_bp) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (product) DO NOTHING",
                &[product, redeemable, min, step, share],
            )
            .await?;
    }
    for (tier, value) in POINT_VALUES {
        client
            .execute(
                "INSERT INTO point_values (tier, eur_micro_per_point) VALUES ($1, $2) ON CONFLICT (tier) DO NOTHING",
                &[tier, value],
            )
            .await?;
    }
    for (kind, points, daily, monthly, lifetime, referred, streak) in ACTIVITY_RULES {
        client
            .execute(
                "INSERT INTO activity_rules (kind, points, daily_cap, monthly_cap, lifetime_cap, referred_points, streak_days) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (kind) DO NOTHING",
                &[kind, points, daily, monthly, lifetime, referred, streak],
            )
            .await?;
    }
    Ok(())
}

/// The tier ladder.
async fn tiers(client: &Client) -> Result<()> {
    for (name, rank, threshold, multiplier) in TIERS {
        client
            .execute(
                "INSERT INTO tiers (name, rank, threshold, multiplier_milli) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (name) DO NOTHING",
                &[name, rank, threshold, multiplier],
            )
            .await?;
    }
    Ok(())
}

/// [`DEMO_FRAUD_RULES`], unless a rule of that name exists.
pub async fn demo_fraud_rules(client: &Client) -> Result<()> {
    for (name, kind, limit, window_s) in DEMO_FRAUD_RULES {
        client
            .execute(
                "INSERT INTO fraud_rules (name, kind, limit_value, window_s) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (name) DO NOTHING",
                &[name, kind, limit, window_s],
            )
            .await?;
    }
    Ok(())
}

pub async fn demo_members(client: &Client) -> Result<()> {
    let now = now_micros();
    for (id, external_id, country) in DEMO_MEMBERS {
        let id = Uuid::from_u128(*id);
        let row = client
            .query_one(
                "SELECT r.name, r.residency_group FROM country_homes c JOIN regions r ON r.name = c.region WHERE c.country = $1",
                &[country],
            )
            .await?;
        let (home, group): (String, String) = (row.get(0), row.get(1));
        client
            .execute(
                "INSERT INTO members (id, external_id, country, home_region, residency_group, tier, created_at) \
                 VALUES ($1, $2, $3, $4, $5, 'basic', $6) ON CONFLICT (id) DO NOTHING",
                &[&id, external_id, country, &home, &group, &now],
            )
            .await?;
        client
            .execute(
                "INSERT INTO balances (member_id, home_region, residency_group, last_hash, updated_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (member_id) DO NOTHING",
                &[&id, &home, &group, &genesis_hash(id), &now],
            )
            .await?;
    }
    Ok(())
}
