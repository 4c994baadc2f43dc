//! A database of recorded earns for backtests: the service's schema and reference data, then
//! members and earns streamed in with COPY. Each earn's record is what the service would have
//! written: the booking priced under the "granted" campaign set by the same pricing code.

use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use futures::SinkExt;
use loyalty_campaigns::pricing::{Booking, Pricer, reference_ladder, reference_rates};
use loyalty_crds::common::{Channel, ProductType, RegionName, ResidencyGroup, Tier};
use loyalty_service::domain::rules::CampaignEntry;
use tokio_postgres::{Client, NoTls};
use uuid::Uuid;

/// Bytes buffered before a chunk goes to COPY.
const CHUNK: usize = 1 << 20;
/// The recorded earns span this many days before now.
pub const SPAN_DAYS: i64 = 28;

const PRODUCTS: [ProductType; 4] = [
    ProductType::Hotel,
    ProductType::Flight,
    ProductType::Car,
    ProductType::Experience,
];
const TIERS: [(Tier, &str); 4] = [
    (Tier::Basic, "basic"),
    (Tier::Silver, "silver"),
    (Tier::Gold, "gold"),
    (Tier::Genius, "genius"),
];

fn member_id(n: u64) -> Uuid {
    Uuid::from_u128(0x0e00_0000_0000_4000_8000_0000_0000_0000 | u128::from(n))
}

/// The `i`-th of `earns` bookings: members in turn, times evenly spread and increasing.
fn booking(i: u64, earns: u64, members: u64, start: DateTime<Utc>) -> Booking {
    let n = i % members;
    let step = Duration::days(SPAN_DAYS).num_milliseconds() / earns.max(1) as i64;
    Booking {
        member: member_id(n).to_string(),
        at: start + Duration::milliseconds(step * i as i64),
        product: PRODUCTS[(i % 4) as usize],
        amount_minor: 2_000 + (i * 7_919 % 60_000) as i64,
        currency: if i.is_multiple_of(5) { "USD" } else { "EUR" }.into(),
        tier: TIERS[(n % 4) as usize].0,
        channel: Channel::Web,
        residency_group: ResidencyGroup::new("eu").expect("valid"),
        region: RegionName::new("eu-west-1").expect("valid"),
        partner: None,
    }
}

async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.expect("connects");
    tokio::spawn(connection);
    client
}

async fn copy(client: &Client, table: &str, rows: impl Iterator<Item = String>) {
    let sink = client
        .copy_in(&format!("COPY {table} FROM STDIN"))
        .await
        .expect("COPY starts");
    futures::pin_mut!(sink);
    let mut buf = String::new();
    for row in rows {
        buf.push_str(&row);
        if buf.len() >= CHUNK {
            sink.send(Bytes::from(std::mem::take(&mut buf)))
                .await
                .expect("COPY data");
        }
    }
    sink.send(Bytes::from(buf)).await.expect("COPY data");
    sink.finish().await.expect("COPY ends");
}

/// A new database holding `earns` earns of `members` members granted under `granted`;
/// returns its URL.
pub async fn build(earns: u64, members: u64, granted: Vec<CampaignEntry>) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let server = pgharness::shared();
    let name = format!(
        "backtest_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    server
        .create_database(&name, None)
        .expect("a fresh database");
    let url = server.url(&name);
    let client = connect(&url).await;
    loyalty_service::store::migrate::run(&client)
        .await
        .expect("migrations");
    loyalty_service::store::seed::reference_data(&client)
        .await
        .expect("reference data");
    let now = Utc::now();
    let start = now - Duration::days(SPAN_DAYS);
    let created = now.to_rfc3339();
    copy(
        &client,
        "members (id, external_id, country, home_region, residency_group, tier, created_at)",
        (0..members).map(|n| {
            let tier = TIERS[(n % 4) as usize].1;
            format!(
                "{}\tbt-{n}\tFR\teu-west-1\teu\t{tier}\t{created}\n",
                member_id(n)
            )
        }),
    )
    .await;
    let (rates, ladder) = (reference_rates(), reference_ladder());
    let mut pricer = Pricer::new(granted);
    let rows = (0..earns).map(move |i| {
        let b = booking(i, earns, members, start);
        let priced = pricer
            .price(&b, rates.clone(), ladder.clone())
            .expect("a priceable booking");
        let response = serde_json::to_string(&priced)
            .expect("JSON")
            .replace('\\', "\\\\");
        format!(
            "dataset\tBT{i:09}\t{}\teu-west-1\t{i}\t{}\t{}\t0\t{response}\t{}\n",
            b.member,
            Uuid::from_u128(u128::from(i)),
            priced.points,
            b.at.to_rfc3339()
        )
    });
    copy(
        &client,
        "earns (source, booking_ref, member_id, home_region, entry_seq, lot_id, points, reversed, response, created_at)",
        rows,
    )
    .await;
    client
        .batch_execute("ANALYZE members, earns")
        .await
        .expect("ANALYZE");
    url
}
