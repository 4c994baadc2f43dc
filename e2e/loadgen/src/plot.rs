//! The latency plot: one panel per scenario, p50 and p99 (log scale) against offered rate,
//! written as a plain SVG with polylines.

use std::fmt::Write as _;

use crate::engine::RunResult;

const PANEL_W: f64 = 360.0;
const PANEL_H: f64 = 240.0;
const MARGIN_L: f64 = 56.0;
const MARGIN_B: f64 = 36.0;
const MARGIN_T: f64 = 28.0;
const MARGIN_R: f64 = 12.0;
const COLUMNS: usize = 3;

/// The SVG for every scenario that has open-loop runs.
pub fn latency_svg(runs: &[RunResult]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for r in runs.iter().filter(|r| r.mode == "open") {
        if !names.contains(&r.scenario.as_str()) {
            names.push(&r.scenario);
        }
    }
    let rows = names.len().div_ceil(COLUMNS).max(1);
    let (w, h) = (PANEL_W * COLUMNS as f64, PANEL_H * rows as f64 + 30.0);
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="18" font-size="13">Open-loop latency against offered rate (log scale): <tspan fill="#1f77b4">p50</tspan>, <tspan fill="#d62728">p99</tspan></text>
"##
    );
    for (i, name) in names.iter().enumerate() {
        let mut points: Vec<(f64, f64, f64)> = runs
            .iter()
            .filter(|r| r.mode == "open" && r.scenario == *name)
            .filter_map(|r| {
                Some((
                    r.offered_rps?,
                    r.latency.p50_us.max(1) as f64 / 1000.0,
                    r.latency.p99_us.max(1) as f64 / 1000.0,
                ))
            })
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let x0 = (i % COLUMNS) as f64 * PANEL_W;
        let y0 = 30.0 + (i / COLUMNS) as f64 * PANEL_H;
        panel(&mut svg, name, &points, x0, y0);
    }
    svg.push_str("</svg>\n");
    svg
}

fn panel(svg: &mut String, name: &str, points: &[(f64, f64, f64)], x0: f64, y0: f64) {
    let (pw, ph) = (PANEL_W - MARGIN_L - MARGIN_R, PANEL_H - MARGIN_T - MARGIN_B);
    let (left, top) = (x0 + MARGIN_L, y0 + MARGIN_T);
    let x_max = points.iter().map(|p| p.0).fold(1.0, f64::max) * 1.05;
    let lo = points.iter().map(|p| p.1).fold(f64::MAX, f64::min).min(1.0);
    let hi = points
        .iter()
        .map(|p| p.2)
        .fold(0.0, f64::max)
        .max(lo * 10.0);
    let (log_lo, log_hi) = (lo.log10().floor(), hi.log10().ceil());
    let x = |v: f64| left + v / x_max * pw;
    let y = |ms: f64| top + ph - (ms.log10() - log_lo) / (log_hi - log_lo) * ph;
    let _ = writeln!(
        svg,
        r##"<text x="{}" y="{}" font-size="12" font-weight="bold">{name}</text><rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>"##,
        left,
        y0 + 18.0
    );
    let mut decade = log_lo;
    while decade <= log_hi {
        let ms = 10f64.powf(decade);
        let yy = y(ms);
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" x2="{}" y1="{yy}" y2="{yy}" stroke="#eee"/><text x="{}" y="{}" text-anchor="end">{} ms</text>"##,
            left + pw,
            left - 4.0,
            yy + 4.0,
            trim(ms)
        );
        decade += 1.0;
    }
    for k in 0..=4 {
        let v = x_max / 1.05 * f64::from(k) / 4.0;
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">{:.0}</text>"#,
            x(v),
            top + ph + 14.0,
            v
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">offered requests/s</text>"#,
        left + pw / 2.0,
        top + ph + 30.0
    );
    for (pick, colour) in [(1usize, "#1f77b4"), (2, "#d62728")] {
        let coords: Vec<String> = points
            .iter()
            .map(|p| {
                let v = if pick == 1 { p.1 } else { p.2 };
                format!("{:.1},{:.1}", x(p.0), y(v))
            })
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
            coords.join(" ")
        );
        for c in &coords {
            let (cx, cy) = c.split_once(',').expect("formatted above");
            let _ = writeln!(
                svg,
                r#"<circle cx="{cx}" cy="{cy}" r="3" fill="{colour}"/>"#
            );
        }
    }
}

fn trim(ms: f64) -> String {
    if ms >= 1.0 {
        format!("{ms:.0}")
    } else {
        format!("{ms}")
    }
}
