//! `simulate`: what each booking would earn under a campaign set, with the explanation the
//! earn records (base calculation, tier, each campaign's grant after caps).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use clap::ValueEnum;
use serde_json::{Map, Value};

use crate::pricing::{Booking, Priced, Pricer, reference_ladder, reference_rates};

/// `--format` of `simulate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One line a booking, then a line per campaign.
    Human,
    /// A JSON array, one earn explanation a booking.
    Json,
}

/// A booking written `key=value,key=value` (the fields of a bookings file).
pub fn parse_booking(raw: &str) -> Result<Booking> {
    let mut map = Map::new();
    for pair in raw.split(',').filter(|p| !p.trim().is_empty()) {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| anyhow!("booking {raw:?}: {pair:?} is not key=value"))?;
        let value = match key.trim() {
            "amountMinor" => serde_yaml::from_str(value.trim())?,
            _ => Value::String(value.trim().to_owned()),
        };
        map.insert(key.trim().to_owned(), value);
    }
    serde_json::from_value(Value::Object(map)).with_context(|| format!("booking {raw:?}"))
}

/// The bookings of a YAML or JSON file holding a list of bookings.
pub fn read_bookings(path: &Path) -> Result<Vec<Booking>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    serde_yaml::from_str(&text)
        .with_context(|| format!("{}: not a list of bookings", path.display()))
}

/// Prices `bookings` in order under `pricer`, with the reference programme.
pub fn simulate(pricer: &mut Pricer, bookings: &[Booking]) -> Result<Vec<Priced>> {
    let (rates, ladder) = (reference_rates(), reference_ladder());
    bookings
        .iter()
        .enumerate()
        .map(|(i, b)| {
            pricer
                .price(b, rates.clone(), ladder.clone())
                .map_err(|e| anyhow!("booking {}: {} ({})", i + 1, e.message, e.code))
        })
        .collect()
}

/// `priced` in `format`.
pub fn render(bookings: &[Booking], priced: &[Priced], format: Format) -> Result<String> {
    if format == Format::Json {
        return Ok(serde_json::to_string_pretty(priced)? + "\n");
    }
    let mut out = String::new();
    for (i, (b, p)) in bookings.iter().zip(priced).enumerate() {
        let e = &p.explanation;
        let _ = writeln!(
            out,
            "booking {}: {} {} {} at {} by {} ({:?}): {} points = {} base × tier {:.3} → {}",
            i + 1,
            serde_json::to_value(b.product)?
                .as_str()
                .unwrap_or_default(),
            b.amount_minor,
            b.currency,
            b.at.to_rfc3339(),
            b.member,
            b.tier,
            p.points,
            e.calculation.base_points,
            e.tier_multiplier_milli as f64 / 1000.0,
            e.tier_points,
        );
        for g in &e.campaigns {
            let capped = g
                .capped_by
                .map(|c| format!(", cut by {c:?}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  + {} {} ({:?}, ×{:.3} + {} bonus; planned {}{capped})",
                g.campaign,
                g.points,
                g.mode,
                g.multiplier_milli as f64 / 1000.0,
                g.bonus_points,
                g.planned,
            );
        }
    }
    Ok(out)
}
