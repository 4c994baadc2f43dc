//! Reading the recorded earns of a period from one snapshot, in batches from a portal.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use loyalty_crds::common::{Channel, ProductType, RegionName, ResidencyGroup, Tier};
use loyalty_service::domain::EarnRates;
use loyalty_service::domain::earn::CurrencyRate;
use loyalty_service::domain::rules::{TierLadder, TierRule};
use serde::Deserialize;
use tokio_postgres::IsolationLevel;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::pricing::{Booking, Priced, Pricer};

/// Rows fetched per round trip.
const BATCH: i32 = 5_000;

const EARNS: &str = "\
SELECT e.member_id, e.created_at, e.points, e.source || '/' || e.booking_ref,
       e.response -> 'calculation', e.response ->> 'tier',
       (e.response ->> 'tier_multiplier_milli')::INT8,
       COALESCE(e.response -> 'campaigns', '[]'::JSONB),
       m.residency_group, e.home_region, c.exponent
FROM earns e
JOIN members m ON m.id = e.member_id
LEFT JOIN currencies c ON c.code = e.response -> 'calculation' ->> 'currency'
WHERE e.created_at >= $1 AND e.created_at < $2
ORDER BY e.created_at, e.source, e.booking_ref";

/// The base calculation an earn recorded (`PointsBreakdown` as serialized).
#[derive(Debug, Deserialize)]
struct Calculation {
    product: ProductType,
    amount_minor: i64,
    currency: String,
    eur_rate_ppm: i64,
    points_per_eur_milli: i64,
}

/// One campaign's grant as an earn recorded it.
#[derive(Debug, Deserialize)]
pub struct GrantedBefore {
    pub campaign: String,
    pub points: i64,
}

/// A recorded earn, and what the rules need to price it again as it was priced then: the
/// rates and the tier multiplier it recorded.
#[derive(Debug)]
pub struct RecordedEarn {
    pub member: Uuid,
    pub at: DateTime<Utc>,
    pub points: i64,
    pub booking: String,
    pub campaigns: Vec<GrantedBefore>,
    /// `None` when the record has no calculation to re-price (e.g. a hand-made row).
    repriceable: Option<Repriceable>,
}

#[derive(Debug)]
struct Repriceable {
    calculation: Calculation,
    tier: Tier,
    tier_multiplier_milli: i64,
    exponent: u32,
    group: ResidencyGroup,
    region: RegionName,
}

impl RecordedEarn {
    fn from_row(row: &Row) -> Result<Self> {
        let campaigns = serde_json::from_value(row.try_get(7)?).context("earn campaigns")?;
        Ok(Self {
            member: row.try_get(0)?,
            at: row.try_get(1)?,
            points: row.try_get(2)?,
            booking: row.try_get(3)?,
            campaigns,
            repriceable: repriceable(row),
        })
    }

    /// The earn priced under `pricer`'s campaigns, or `None` when it cannot be.
    pub fn reprice(&self, pricer: &mut Pricer, channel: Channel) -> Option<Priced> {
        let r = self.repriceable.as_ref()?;
        let c = &r.calculation;
        let mut rates = EarnRates::default();
        let rate = CurrencyRate {
            exponent: r.exponent,
            eur_rate_ppm: c.eur_rate_ppm,
        };
        rates.currencies.insert(c.currency.clone(), rate);
        rates.products.insert(c.product, c.points_per_eur_milli);
        let ladder = TierLadder::new(vec![TierRule {
            tier: r.tier,
            threshold: 0,
            multiplier_milli: r.tier_multiplier_milli,
        }]);
        let booking = Booking {
            member: self.member.to_string(),
            at: self.at,
            product: c.product,
            amount_minor: c.amount_minor,
            currency: c.currency.clone(),
            tier: r.tier,
            channel,
            residency_group: r.group.clone(),
            region: r.region.clone(),
            partner: None,
        };
        pricer.price(&booking, rates, ladder).ok()
    }
}

fn repriceable(row: &Row) -> Option<Repriceable> {
    let calculation: Calculation = serde_json::from_value(row.try_get(4).ok()?).ok()?;
    let tier: Option<String> = row.try_get(5).ok()?;
    let exponent: Option<i32> = row.try_get(10).ok()?;
    Some(Repriceable {
        calculation,
        tier: tier?.parse().ok()?,
        tier_multiplier_milli: row.try_get::<_, Option<i64>>(6).ok()??,
        exponent: u32::try_from(exponent?).ok()?,
        group: ResidencyGroup::new(row.try_get::<_, &str>(8).ok()?).ok()?,
        region: RegionName::new(row.try_get::<_, &str>(9).ok()?).ok()?,
    })
}

/// Calls `each` with every earn recorded in `[from, until)`, oldest first, all read in one
/// read-only REPEATABLE READ transaction.
pub async fn each_earn(
    url: &str,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    mut each: impl FnMut(RecordedEarn),
) -> Result<()> {
    let url = loyalty_pgtls::DatabaseUrl::parse(url).context("--database")?;
    let (mut client, connection) = url.connect().await.context("connecting to the database")?;
    let driver = tokio::spawn(connection);
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let statement = tx
        .prepare(EARNS)
        .await
        .context("preparing the earns query")?;
    let portal = tx.bind(&statement, &[&from, &until]).await?;
    loop {
        let rows = tx.query_portal(&portal, BATCH).await?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            each(RecordedEarn::from_row(row)?);
        }
    }
    tx.rollback().await?;
    drop(client);
    let _ = driver.await;
    Ok(())
}
