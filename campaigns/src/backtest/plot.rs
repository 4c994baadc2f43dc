//! The daily plot: granted and proposed points per day, two polylines on one axis, as a plain
//! SVG written by hand (as the benchmark's latency plot is).

use std::fmt::Write as _;

use super::Tally;

const W: f64 = 720.0;
const H: f64 = 300.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 40.0;

/// The SVG of `tally`'s daily totals.
pub fn daily_svg(tally: &Tally) -> String {
    let days: Vec<_> = tally.daily.iter().collect();
    let max = days
        .iter()
        .map(|(_, (g, p))| (*g).max(*p))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let x = |i: usize| LEFT + pw * (i as f64 + 0.5) / days.len().max(1) as f64;
    let y = |v: i64| TOP + ph * (1.0 - v as f64 / max);
    let line = |pick: fn(&(i64, i64)) -> i64| -> String {
        days.iter()
            .enumerate()
            .map(|(i, (_, v))| format!("{:.1},{:.1}", x(i), y(pick(v))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="18" font-size="13">Points per day: <tspan fill="#1f77b4">granted</tspan>, <tspan fill="#d62728">proposed</tspan></text>
<line x1="{LEFT}" y1="{}" x2="{}" y2="{}" stroke="black"/>
<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{}" stroke="black"/>
"##,
        TOP + ph,
        LEFT + pw,
        TOP + ph,
        TOP + ph
    );
    for tick in 0..=4 {
        let v = (max * f64::from(tick) / 4.0) as i64;
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{v}</text>"#,
            LEFT - 4.0,
            y(v) + 4.0
        );
    }
    if let (Some((first, _)), Some((last, _))) = (days.first(), days.last()) {
        let _ = writeln!(
            svg,
            r#"<text x="{LEFT}" y="{}">{first}</text><text x="{}" y="{}" text-anchor="end">{last}</text>"#,
            H - 12.0,
            LEFT + pw,
            H - 12.0
        );
    }
    for (colour, points) in [("#1f77b4", line(|v| v.0)), ("#d62728", line(|v| v.1))] {
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>"#
        );
    }
    svg.push_str("</svg>\n");
    svg
}
