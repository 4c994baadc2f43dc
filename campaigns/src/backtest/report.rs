//! The backtest's Markdown report.

use std::collections::HashMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use loyalty_service::domain::rules::CampaignEntry;

use super::Tally;

/// What the report says besides the tally.
pub struct Context<'a> {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub point_value_micro_eur: i64,
    pub campaigns: &'a [CampaignEntry],
    pub budgets: &'a HashMap<String, i64>,
    /// The plot's file name, beside the report.
    pub svg: Option<String>,
    pub elapsed_s: f64,
    pub peak_rss_kib: Option<u64>,
}

impl Context<'_> {
    fn eur(&self, points: i64) -> String {
        let micro = i128::from(points) * i128::from(self.point_value_micro_eur);
        format!("{:.2}", micro as f64 / 1e6)
    }
}

/// The report.
pub fn markdown(t: &Tally, c: &Context<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Backtest: proposed campaigns against the earns granted\n\n\
         Earns recorded from {} to {}, read from one snapshot (a READ ONLY REPEATABLE READ \
         transaction). A point is valued at {} EUR.\n",
        c.from.to_rfc3339(),
        c.until.to_rfc3339(),
        c.eur(1)
    );
    totals(&mut out, t, c);
    per_campaign(&mut out, t, c);
    biggest(&mut out, t);
    if let Some(svg) = &c.svg {
        let _ = writeln!(
            out,
            "## Points per day\n\n![granted and proposed points per day]({svg})\n"
        );
    }
    let rss = c.peak_rss_kib.map_or("unknown".to_owned(), |k| {
        format!("{:.1} MiB", k as f64 / 1024.0)
    });
    let _ = writeln!(
        out,
        "Run: {} earns in {:.1} s, peak RSS {rss}.",
        t.earns + t.skipped,
        c.elapsed_s
    );
    out
}

fn totals(out: &mut String, t: &Tally, c: &Context<'_>) {
    let change = t.proposed - t.granted;
    let _ = writeln!(
        out,
        "| | granted | proposed | change |\n| --- | ---: | ---: | ---: |\n\
         | points | {} | {} | {change:+} |\n| liability (EUR) | {} | {} | {} |\n",
        t.granted,
        t.proposed,
        c.eur(t.granted),
        c.eur(t.proposed),
        c.eur(change)
    );
    let _ = writeln!(
        out,
        "{} earns re-priced, {} of them change; {} members affected; {} earns could not be \
         re-priced (no recorded calculation).\n",
        t.earns,
        t.changed,
        t.members_affected.len(),
        t.skipped
    );
}

fn per_campaign(out: &mut String, t: &Tally, c: &Context<'_>) {
    let _ = writeln!(
        out,
        "## Per campaign\n\n| campaign | granted points | earns | proposed points | earns | change (EUR) | cut by member cap | cut by budget | budget |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    );
    for (name, totals) in &t.campaigns {
        let budget = c
            .campaigns
            .iter()
            .find(|e| format!("{}/{}", e.namespace, e.name) == *name)
            .and_then(|e| e.spec.caps.budget_points)
            .map_or("—".to_owned(), |limit| {
                let used = c.budgets.get(name).copied().unwrap_or(0);
                format!("{used} of {limit} (respected: {})", used <= limit)
            });
        let change = totals.proposed_points - totals.granted_points;
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {change:+} ({}) | {} | {} | {budget} |",
            totals.granted_points,
            totals.granted_earns,
            totals.proposed_points,
            totals.proposed_earns,
            c.eur(change),
            totals.cut_by_member_cap,
            totals.cut_by_budget,
        );
    }
    out.push('\n');
}

fn biggest(out: &mut String, t: &Tally) {
    let _ = writeln!(
        out,
        "## Biggest changes\n\n| at | booking | member | granted | proposed | change |\n\
         | --- | --- | --- | ---: | ---: | ---: |"
    );
    for ch in t.biggest() {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {:+} |",
            ch.at.to_rfc3339(),
            ch.booking,
            ch.member,
            ch.granted,
            ch.proposed,
            ch.proposed - ch.granted
        );
    }
    out.push('\n');
}
