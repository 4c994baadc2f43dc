//! The dataset builder: members, balances, ledger entries, lots and earns streamed straight
//! into the service's schema with `COPY`, with valid hash chains and consistent balances.
//!
//! Ids are deterministic so the load generator and the pgbench scripts can name any member
//! without reading the database: member `n` is [`member_id`]`(n)`, its `j`-th lot is
//! [`lot_id`]`(n, j)`. Member 0 is the hot member, funded with [`HOT_MEMBER_POINTS`] in one
//! lot; members `1..=members` each get `entries_per_member` entries: earns, with every fourth
//! entry a redemption of part of the balance (earliest-expiring lots first, as the service
//! does). Ids ascend with `n`, so every index is filled in key order.
//!
//! Rows are written in the text COPY format. The ledger, lots and earns tables are truncated
//! and filled in the same transaction with `COPY ... FREEZE`, so the loaded rows are frozen
//! from the start; the builder then vacuums, checkpoints and syncs (see [`build`]).

use std::fmt::Write as _;
use std::time::Instant;

use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use futures::SinkExt;
use serde::Serialize;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_postgres::{Client, NoTls};
use uuid::Uuid;

use crate::error::{Error, Result};
use loyalty_service::store::ledger::{Deltas, HashInput, canonical_json, genesis_hash};

/// The region every dataset member is homed in and every entry written in.
pub const REGION: &str = "eu-west-1";
/// Countries homed in [`REGION`] by the service's reference data.
const COUNTRIES: &[&str] = &["FR", "IE", "ES", "PT", "NL", "BE", "LU"];
/// The hot member's one lot.
pub const HOT_MEMBER_POINTS: i64 = 1_000_000_000;
/// The source of the dataset's earns.
pub const SOURCE: &str = "hotel-bookings";
/// Bytes buffered per table before a chunk is handed to its COPY.
const CHUNK_BYTES: usize = 1 << 20;
/// Chunks queued per table between the generator and its COPY.
const CHUNKS_QUEUED: usize = 8;
/// Lots per member are numbered in 8 bits of the lot id.
pub const MAX_ENTRIES_PER_MEMBER: u32 = 255;

const MEMBER_BASE: u128 = 0x0b00_0000_0000_4000_8000_0000_0000_0000;
const LOT_BASE: u128 = 0x0c00_0000_0000_4000_8000_0000_0000_0000;
const ENTRY_BASE: u128 = 0x0d00_0000_0000_4000_8000_0000_0000_0000;
/// The last 48 bits of each id are free for the counter.
const ID_COUNTER_BITS: u32 = 48;

/// Member `n` (0 is the hot member).
pub fn member_id(n: u64) -> Uuid {
    Uuid::from_u128(MEMBER_BASE | u128::from(n))
}

/// The `j`-th lot of member `n`.
pub fn lot_id(n: u64, j: u32) -> Uuid {
    Uuid::from_u128(LOT_BASE | (u128::from(n) << 8) | u128::from(j))
}

fn entry_id(n: u64, seq: u32) -> Uuid {
    Uuid::from_u128(ENTRY_BASE | (u128::from(n) << 8) | u128::from(seq))
}

/// What to build.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct DatasetSpec {
    /// Regular members, numbered 1..=members.
    pub members: u64,
    pub entries_per_member: u32,
}

impl DatasetSpec {
    /// Ledger entries the dataset holds (the hot member's one included).
    pub fn entries(&self) -> u64 {
        self.members * u64::from(self.entries_per_member) + 1
    }

    /// Entry `i` (1-based) of a regular member is a redemption when this is true.
    fn is_redeem(i: u32) -> bool {
        i.is_multiple_of(4)
    }

    /// Lots each regular member has (one per earn).
    pub fn lots_per_member(&self) -> u32 {
        (1..=self.entries_per_member)
            .filter(|i| !Self::is_redeem(*i))
            .count() as u32
    }

    fn validate(&self) -> Result<()> {
        let fits = self.members < (1 << (ID_COUNTER_BITS - 8));
        if !fits || self.entries_per_member == 0 || self.entries_per_member > MAX_ENTRIES_PER_MEMBER
        {
            return Err(Error::Other(format!("unsupported dataset shape {self:?}")));
        }
        Ok(())
    }
}

/// What a build produced and how long it took.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetInfo {
    pub spec: DatasetSpec,
    pub ledger_entries: u64,
    pub lots: u64,
    /// Generating and copying the rows.
    pub build_s: f64,
    pub rows_per_s: f64,
    /// Vacuum, checkpoint, sync and prewarm afterwards.
    pub settle_s: f64,
    /// What the prewarm read into shared_buffers.
    pub prewarmed_mib: i64,
    pub database_bytes: i64,
}

/// Reads the relations the scenarios read into shared_buffers, as they would be on a
/// database that has been serving for a while: every index, and the members, balances,
/// lots and regions tables. The ledger and earns tables are only appended to by the
/// scenarios (and read by the audit), so their old rows stay cold. Returns MiB read.
async fn prewarm(client: &Client) -> Result<i64> {
    client
        .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        .await?;
    let blocks: i64 = client
        .query_one(
            "SELECT COALESCE(SUM(pg_prewarm(c.oid)), 0)::BIGINT FROM pg_class c \
             WHERE c.relnamespace = 'public'::regnamespace \
               AND (c.relkind = 'i' OR c.relname IN ('members', 'balances', 'lots', 'regions'))",
            &[],
        )
        .await?
        .get(0);
    Ok(blocks * 8 / 1024)
}

/// Connects to `url` and drives the connection in the background.
pub async fn connect(url: &str) -> Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("loadgen: database connection ended: {e}");
        }
    });
    Ok(client)
}

/// Migrates the database at `url`, seeds the service's reference data and loads `spec`.
/// The database must be empty.
pub async fn build(url: &str, spec: DatasetSpec) -> Result<DatasetInfo> {
    spec.validate()?;
    let started = Instant::now();
    let client = connect(url).await?;
    loyalty_service::store::migrate::run(&client)
        .await
        .map_err(|e| Error::Other(format!("migrations: {e}")))?;
    loyalty_service::store::seed::reference_data(&client)
        .await
        .map_err(|e| Error::Other(format!("reference data: {e}")))?;

    let now = DateTime::from_timestamp_micros(Utc::now().timestamp_micros())
        .expect("the current time is in range");
    // Members first: the balances' foreign key must find them committed.
    copy_stream(
        url,
        "members",
        MEMBER_COLUMNS,
        false,
        members_chunks(spec, now),
    )
    .await?;

    let (senders, receivers): (Vec<_>, Vec<_>) = (0..4)
        .map(|_| mpsc::channel::<Bytes>(CHUNKS_QUEUED))
        .unzip();
    let generator = tokio::task::spawn_blocking(move || generate(spec, now, senders));
    let mut copies = Vec::new();
    for ((table, columns, freeze), rx) in [
        ("balances", BALANCE_COLUMNS, false),
        ("ledger_entries", LEDGER_COLUMNS, true),
        ("lots", LOT_COLUMNS, true),
        ("earns", EARN_COLUMNS, true),
    ]
    .into_iter()
    .zip(receivers)
    {
        let url = url.to_owned();
        copies.push(tokio::spawn(async move {
            copy_stream(&url, table, columns, freeze, rx).await
        }));
    }
    let mut copied = Vec::new();
    for c in copies {
        copied.push(c.await.expect("copy task panicked")?);
    }
    generator.await.expect("generator panicked");
    let build_s = started.elapsed().as_secs_f64();
    let settling = Instant::now();
    // Measure a settled database, not the aftermath of the load: statistics and visibility
    // maps complete (so autovacuum has nothing to start mid-run), every dirty buffer written
    // by a checkpoint, and the files flushed to disk (with fsync off the kernel would
    // otherwise write gigabytes back while the run is measuring, stalling the backends that
    // evict buffers). One statement per call: VACUUM refuses to run inside the implicit
    // transaction of a multi-statement batch.
    for statement in [
        "VACUUM ANALYZE members, balances, ledger_entries, lots, earns",
        "CHECKPOINT",
    ] {
        client.batch_execute(statement).await?;
    }
    tokio::task::spawn_blocking(|| std::process::Command::new("sync").status())
        .await
        .expect("sync task panicked")?;
    let prewarmed_mib = prewarm(&client).await?;
    let size: i64 = client
        .query_one("SELECT pg_database_size(current_database())", &[])
        .await?
        .get(0);
    let settle_s = settling.elapsed().as_secs_f64();
    let rows = spec.members * 2 + copied.iter().sum::<u64>();
    Ok(DatasetInfo {
        spec,
        ledger_entries: copied[1],
        lots: copied[2],
        build_s,
        rows_per_s: rows as f64 / build_s,
        settle_s,
        prewarmed_mib,
        database_bytes: size,
    })
}

const MEMBER_COLUMNS: &str =
    "id, external_id, country, home_region, residency_group, tier, created_at";
const BALANCE_COLUMNS: &str = "member_id, home_region, residency_group, available, pending, held, lifetime, qualifying, last_seq, last_hash, updated_at";
const LEDGER_COLUMNS: &str = "member_id, seq, id, home_region, kind, available_delta, pending_delta, held_delta, lifetime_delta, qualifying_delta, reason, source, reference, hold_id, details, written_in, created_at, entry_hash";
const LOT_COLUMNS: &str =
    "id, member_id, home_region, earn_seq, points, remaining, expires_at, created_at";
const EARN_COLUMNS: &str = "source, booking_ref, member_id, home_region, entry_seq, lot_id, points, reversed, response, created_at";

/// Streams the chunks of `rx` into `table` with one COPY; returns the rows copied.
async fn copy_stream(
    url: &str,
    table: &str,
    columns: &str,
    freeze: bool,
    mut rx: mpsc::Receiver<Bytes>,
) -> Result<u64> {
    let mut client = connect(url).await?;
    let tx = client.transaction().await?;
    let options = if freeze {
        tx.batch_execute(&format!("TRUNCATE {table}")).await?;
        "(FORMAT text, FREEZE)"
    } else {
        "(FORMAT text)"
    };
    let sink = tx
        .copy_in::<_, Bytes>(&format!("COPY {table} ({columns}) FROM STDIN {options}"))
        .await?;
    futures::pin_mut!(sink);
    while let Some(chunk) = rx.recv().await {
        sink.send(chunk).await?;
    }
    let rows = sink.finish().await?;
    tx.commit().await?;
    Ok(rows)
}

fn members_chunks(spec: DatasetSpec, now: DateTime<Utc>) -> mpsc::Receiver<Bytes> {
    let (tx, rx) = mpsc::channel(CHUNKS_QUEUED);
    tokio::task::spawn_blocking(move || {
        let mut buf = String::with_capacity(CHUNK_BYTES + 4096);
        for n in 0..=spec.members {
            let country = COUNTRIES[(n % COUNTRIES.len() as u64) as usize];
            let _ = writeln!(
                buf,
                "{}\tbench-{n:010}\t{country}\t{REGION}\teu\tbasic\t{}",
                member_id(n),
                ts(now - Duration::days(400))
            );
            if buf.len() >= CHUNK_BYTES && tx.blocking_send(take(&mut buf)).is_err() {
                return;
            }
        }
        let _ = tx.blocking_send(take(&mut buf));
    });
    rx
}

fn take(buf: &mut String) -> Bytes {
    Bytes::from(std::mem::replace(buf, String::with_capacity(CHUNK_BYTES + 4096)).into_bytes())
}

/// Timestamps in COPY's text form, always UTC, microsecond precision.
fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string()
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(3 + bytes.len() * 2);
    s.push_str("\\\\x");
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A cheap deterministic pseudo-random number per (member, entry), so rebuilding a dataset
/// gives the same data.
fn mix(n: u64, i: u32) -> u64 {
    let mut x =
        n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(i).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^ (x >> 32)
}

struct Lot {
    j: u32,
    remaining: i64,
}

/// The four generated tables' buffers and where their chunks go.
struct Out {
    bufs: [String; 4],
    senders: Vec<mpsc::Sender<Bytes>>,
}

impl Out {
    fn flush(&mut self, force: bool) -> bool {
        for (buf, tx) in self.bufs.iter_mut().zip(&self.senders) {
            if (force || buf.len() >= CHUNK_BYTES)
                && !buf.is_empty()
                && tx.blocking_send(take(buf)).is_err()
            {
                return false;
            }
        }
        true
    }
}

/// Generates balances, ledger entries, lots and earns for every member.
fn generate(spec: DatasetSpec, now: DateTime<Utc>, senders: Vec<mpsc::Sender<Bytes>>) {
    let mut out = Out {
        bufs: std::array::from_fn(|_| String::with_capacity(CHUNK_BYTES + 4096)),
        senders,
    };
    for n in 0..=spec.members {
        member_rows(n, spec, now, &mut out);
        if !out.flush(false) {
            return;
        }
    }
    out.flush(true);
}

fn member_rows(n: u64, spec: DatasetSpec, now: DateTime<Utc>, out: &mut Out) {
    let member = member_id(n);
    let [balances, ledger, lots_buf, earns] = &mut out.bufs;
    let mut hash = genesis_hash(member);
    let (mut available, mut lifetime) = (0i64, 0i64);
    let mut lots: Vec<Lot> = Vec::new();
    let entries = if n == 0 { 1 } else { spec.entries_per_member };
    // Entries are spread over the past 350 days, so the first lots expire within the
    // balance's 30-day `expiring_soon` window.
    let first = now - Duration::days(350) + Duration::seconds((n % 86_400) as i64);
    let step = Duration::days(300 / i64::from(entries.max(1)));
    for i in 1..=entries {
        let created = first + step * (i as i32 - 1);
        let created_ts = ts(created);
        let seq = i64::from(i);
        let r = mix(n, i);
        let (kind, deltas, reason, source, reference, details) = if n > 0
            && DatasetSpec::is_redeem(i)
        {
            let points = (available / 2).max(1).min(available);
            let mut left = points;
            let mut taken = Vec::new();
            for lot in lots.iter_mut().filter(|l| l.remaining > 0) {
                let take = left.min(lot.remaining);
                lot.remaining -= take;
                left -= take;
                taken.push(json!({"lot": lot_id(n, lot.j), "points": take}));
                if left == 0 {
                    break;
                }
            }
            available -= points;
            let reference = format!("RD{n:010}-{i}");
            (
                "redeem",
                [-points, 0, 0, 0, 0],
                "redemption",
                None,
                Some(reference),
                json!({ "lots": taken }),
            )
        } else {
            let points = if n == 0 {
                HOT_MEMBER_POINTS
            } else {
                100 + (r % 4_900) as i64
            };
            let j = lots.len() as u32;
            lots.push(Lot {
                j,
                remaining: points,
            });
            available += points;
            lifetime += points;
            let booking_ref = format!("DS{n:010}-{i:03}");
            let _ = writeln!(
                lots_buf,
                "{}\t{member}\t{REGION}\t{seq}\t{points}\t{{REMAINING:{j}}}\t{}\t{created_ts}",
                lot_id(n, j),
                ts(created + Duration::days(365)),
            );
            let _ = writeln!(
                earns,
                "{SOURCE}\t{booking_ref}\t{member}\t{REGION}\t{seq}\t{}\t{points}\t0\t{{\"points\": {points}, \"dataset\": true}}\t{created_ts}",
                lot_id(n, j),
            );
            (
                "earn",
                [points, 0, 0, points, points],
                "booking",
                Some(SOURCE),
                Some(booking_ref),
                json!({ "calculation": { "product": "hotel", "spend_minor": points * 10,
                    "currency": "EUR", "points_per_eur_milli": 10_000, "base_points": points,
                    "rounding": "down" } }),
            )
        };
        let [a, p, h, l, q] = deltas;
        let next = HashInput {
            member_id: member,
            seq,
            kind,
            deltas: Deltas {
                available: a,
                pending: p,
                held: h,
                lifetime: l,
                qualifying: q,
            },
            reason,
            source,
            reference: reference.as_deref(),
            hold_id: None,
            details: &details,
            written_in: REGION,
            created_at: created,
        }
        .chain(&hash);
        let details = canonical_json(&details);
        let _ = writeln!(
            ledger,
            "{member}\t{seq}\t{}\t{REGION}\t{kind}\t{a}\t{p}\t{h}\t{l}\t{q}\t{reason}\t{}\t{}\t\\N\t{details}\t{REGION}\t{created_ts}\t{}",
            entry_id(n, i),
            source.unwrap_or("\\N"),
            reference.as_deref().unwrap_or("\\N"),
            hex(&next),
        );
        hash = next;
    }
    // The lots' remainders are known only now: patch the placeholders of this member's lots
    // (the buffer holds no other member's placeholders, they were patched already).
    for lot in &lots {
        let placeholder = format!("{{REMAINING:{}}}", lot.j);
        if let Some(pos) = lots_buf.rfind(&placeholder) {
            lots_buf.replace_range(pos..pos + placeholder.len(), &lot.remaining.to_string());
        }
    }
    // A lot fully consumed keeps remaining 0; the lots_points_check only needs points > 0.
    let updated = ts(first + step * (entries as i32 - 1));
    let _ = writeln!(
        balances,
        "{member}\t{REGION}\teu\t{available}\t0\t0\t{lifetime}\t{lifetime}\t{entries}\t{}\t{updated}",
        hex(&hash),
    );
}
