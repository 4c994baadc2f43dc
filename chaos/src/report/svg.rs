//! The timeline plot: one panel per scenario, acknowledged operations per second (solid) and
//! failed or unknown ones (dashed) for each region, with the fault, fence, recovery and
//! fail-back marked. Plain SVG, in the style of the benchmark's latency plot.

use std::fmt::Write as _;

use crate::scenario::ScenarioResult;

const PANEL_W: f64 = 540.0;
const PANEL_H: f64 = 220.0;
const MARGIN_L: f64 = 48.0;
const MARGIN_B: f64 = 30.0;
const MARGIN_T: f64 = 28.0;
const MARGIN_R: f64 = 12.0;
const COLUMNS: usize = 2;
const REGION_COLOURS: [&str; 4] = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b"];

fn marker_colour(kind: &str) -> &'static str {
    match kind {
        "fault" => "#d62728",
        "fence" => "#ff7f0e",
        "recover" => "#17becf",
        "observe" => "#999999",
        _ => "#000000",
    }
}

/// The SVG of every played scenario.
pub fn timeline_svg(results: &[ScenarioResult]) -> String {
    let played: Vec<&ScenarioResult> = results.iter().filter(|r| r.check.is_some()).collect();
    let rows = played.len().div_ceil(COLUMNS).max(1);
    let (w, h) = (PANEL_W * COLUMNS as f64, PANEL_H * rows as f64 + 30.0);
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="18" font-size="13">Acknowledged ops/s per region (solid), errors (dashed); <tspan fill="#d62728">fault</tspan>, <tspan fill="#ff7f0e">fence</tspan>, <tspan fill="#17becf">recovery</tspan>, fail-back</text>
"##
    );
    for (i, result) in played.iter().enumerate() {
        let x0 = (i % COLUMNS) as f64 * PANEL_W;
        let y0 = 30.0 + (i / COLUMNS) as f64 * PANEL_H;
        panel(&mut svg, result, x0, y0);
    }
    svg.push_str("</svg>\n");
    svg
}

fn panel(svg: &mut String, result: &ScenarioResult, x0: f64, y0: f64) {
    let (pw, ph) = (PANEL_W - MARGIN_L - MARGIN_R, PANEL_H - MARGIN_T - MARGIN_B);
    let (left, top) = (x0 + MARGIN_L, y0 + MARGIN_T);
    let seconds = result
        .timeline
        .iter()
        .map(|s| s.acks.len())
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let y_max = result
        .timeline
        .iter()
        .flat_map(|s| s.acks.iter().chain(&s.errors))
        .copied()
        .max()
        .unwrap_or(1)
        .max(1) as f64
        * 1.1;
    let x = |s: f64| left + s / seconds * pw;
    let y = |v: f64| top + ph - v / y_max * ph;
    let _ = writeln!(
        svg,
        r##"<text x="{left}" y="{}" font-size="12" font-weight="bold">{}</text><rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>"##,
        y0 + 18.0,
        result.name.as_str()
    );
    let _ = writeln!(
        svg,
        r##"<text x="{}" y="{}" text-anchor="end">{:.0}/s</text><text x="{}" y="{}" text-anchor="end">0</text><text x="{}" y="{}" text-anchor="end">{:.0} s</text>"##,
        left - 4.0,
        top + 10.0,
        y_max / 1.1,
        left - 4.0,
        top + ph,
        left + pw,
        top + ph + 14.0,
        seconds
    );
    for (i, series) in result.timeline.iter().enumerate() {
        let colour = REGION_COLOURS[i % REGION_COLOURS.len()];
        for (values, dash) in [
            (&series.acks, ""),
            (&series.errors, r#" stroke-dasharray="4 3""#),
        ] {
            let points: Vec<String> = values
                .iter()
                .enumerate()
                .map(|(s, v)| format!("{:.1},{:.1}", x(s as f64 + 0.5), y(f64::from(*v))))
                .collect();
            let _ = writeln!(
                svg,
                r#"<polyline fill="none" stroke="{colour}" stroke-width="1.5"{dash} points="{}"/>"#,
                points.join(" ")
            );
        }
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" fill="{colour}">{}</text>"#,
            left + pw - 90.0,
            top + 12.0 + 12.0 * i as f64,
            series.region
        );
    }
    for marker in &result.played.markers {
        let mx = x(marker.at_ms as f64 / 1_000.0);
        let _ = writeln!(
            svg,
            r#"<line x1="{mx:.1}" x2="{mx:.1}" y1="{top}" y2="{}" stroke="{}" stroke-width="1"><title>{}</title></line>"#,
            top + ph,
            marker_colour(&marker.kind),
            marker.label
        );
    }
}
