//! SVG charts of a drift sweep: block rate and false-approval rate against the drift
//! probability (one line per member count), and decision latency against the member count.
//!
//! Only plotters' SVG backend is used, without a font rasteriser: text becomes SVG
//! `<text>` elements that the viewer lays out, so nothing links against system fonts.
//! The charts are a function of the rows alone, so the same sweep draws the same bytes.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use crate::study::SweepRow;

/// Why a chart could not be drawn or written.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// There is nothing to draw.
    #[error("no sweep rows to chart")]
    Empty,
    /// plotters refused to draw (a backend or layout error).
    #[error("cannot draw {chart}: {message}")]
    Draw {
        /// The chart's file name.
        chart: &'static str,
        /// plotters' message.
        message: String,
    },
    /// The output directory or file could not be written.
    #[error("{path}: cannot write: {source}")]
    Write {
        /// The file or directory.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Chart size in pixels.
const SIZE: (u32, u32) = (720, 480);

/// Series colours, in order: distinct hues that stay readable on white.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x17, 0xbe, 0xcf),
];

/// The colour of series `i` (cycling through [`PALETTE`]).
pub fn colour(i: usize) -> RGBColor {
    PALETTE
        .get(i % PALETTE.len())
        .copied()
        .unwrap_or(RGBColor(0, 0, 0))
}

/// The chart files [`write_sweep_charts`] writes, in order.
pub const FILES: [&str; 3] = ["block-rate.svg", "false-approval-rate.svg", "latency.svg"];

/// One line of a chart: a label and its points, sorted by x.
struct Series {
    label: String,
    points: Vec<(f64, f64)>,
}

/// The member counts of `rows`, in first-seen order.
fn member_counts(rows: &[SweepRow]) -> Vec<u32> {
    let mut ns: Vec<u32> = Vec::new();
    for r in rows {
        if !ns.contains(&r.n) {
            ns.push(r.n);
        }
    }
    ns
}

/// One series per n of `metric` against p.
fn per_n(rows: &[SweepRow], metric: fn(&SweepRow) -> f64) -> Vec<Series> {
    member_counts(rows)
        .into_iter()
        .map(|n| {
            let mut points: Vec<(f64, f64)> = rows
                .iter()
                .filter(|r| r.n == n)
                .map(|r| (r.p, metric(r)))
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            Series {
                label: format!("n = {n}"),
                points,
            }
        })
        .collect()
}

/// The mean of `metric` over the rows with member count `n`.
fn mean_over_p(rows: &[SweepRow], n: u32, metric: fn(&SweepRow) -> f64) -> f64 {
    let xs: Vec<f64> = rows.iter().filter(|r| r.n == n).map(metric).collect();
    if xs.is_empty() {
        return 0.0;
    }
    // Cell counts are tiny.
    #[allow(clippy::cast_precision_loss)]
    let len = xs.len() as f64;
    xs.iter().sum::<f64>() / len
}

/// `[lo, hi]` widened so a single value still spans a visible range.
fn span(values: impl Iterator<Item = f64>, pad: f64) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if (hi - lo).abs() < f64::EPSILON {
        return (lo - pad, hi + pad);
    }
    (lo, hi)
}

/// Everything one chart needs.
struct Spec<'a> {
    file: &'static str,
    title: &'a str,
    x_desc: &'a str,
    y_desc: &'a str,
    x: (f64, f64),
    y: (f64, f64),
    /// Label x ticks as integers (member counts).
    integer_x: bool,
    /// Where the legend goes: the corner the lines leave empty.
    legend: SeriesLabelPosition,
    series: Vec<Series>,
}

/// Draws `spec` as an SVG document.
fn draw(spec: &Spec<'_>) -> Result<String, ChartError> {
    let err = |e: &dyn std::fmt::Display| ChartError::Draw {
        chart: spec.file,
        message: e.to_string(),
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(spec.title, ("sans-serif", 20))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(spec.x.0..spec.x.1, spec.y.0..spec.y.1)
            .map_err(|e| err(&e))?;
        let integer_labels = |x: &f64| format!("{x:.0}");
        let decimal_labels = |x: &f64| format!("{x:.2}");
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(spec.x_desc)
            .y_desc(spec.y_desc)
            .y_label_formatter(&decimal_labels)
            .max_light_lines(0)
            .bold_line_style(RGBColor(0xe6, 0xe6, 0xe6));
        if spec.integer_x {
            // One tick per integer in the range, so no label repeats.
            let count = (spec.x.1 - spec.x.0).floor().clamp(1.0, 20.0);
            // Clamped to 1..=20 above.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let count = count as usize;
            mesh.x_labels(count.saturating_add(1))
                .x_label_formatter(&integer_labels);
        } else {
            mesh.x_label_formatter(&decimal_labels);
        }
        mesh.draw().map_err(|e| err(&e))?;
        for (i, s) in spec.series.iter().enumerate() {
            let c = colour(i);
            chart
                .draw_series(LineSeries::new(s.points.iter().copied(), c.stroke_width(2)))
                .map_err(|e| err(&e))?
                .label(s.label.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x.saturating_add(20), y)], c.stroke_width(2))
                });
            chart
                .draw_series(
                    s.points
                        .iter()
                        .map(|&(x, y)| Circle::new((x, y), 3, c.filled())),
                )
                .map_err(|e| err(&e))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(spec.legend.clone())
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    Ok(svg)
}

fn block_rate(r: &SweepRow) -> f64 {
    r.block_rate
}
fn false_approval_rate(r: &SweepRow) -> f64 {
    r.false_approval_rate
}
fn p50(r: &SweepRow) -> f64 {
    r.p50_latency_ms
}
fn p99(r: &SweepRow) -> f64 {
    r.p99_latency_ms
}

fn p_range(rows: &[SweepRow]) -> (f64, f64) {
    span(rows.iter().map(|r| r.p), 0.05)
}

/// Block rate against drift probability, one line per n.
pub fn block_rate_svg(rows: &[SweepRow]) -> Result<String, ChartError> {
    if rows.is_empty() {
        return Err(ChartError::Empty);
    }
    draw(&Spec {
        file: "block-rate.svg",
        title: "Anomalous proposals blocked (mean over seeds)",
        x_desc: "drift probability p (per member, of a wrong vote)",
        y_desc: "block rate",
        x: p_range(rows),
        y: (0.0, 1.05),
        integer_x: false,
        legend: SeriesLabelPosition::LowerLeft,
        series: per_n(rows, block_rate),
    })
}

/// False-approval rate against drift probability, one line per n. The y axis is scaled
/// to the data (at least 0..0.05) so small rates stay visible.
pub fn false_approval_svg(rows: &[SweepRow]) -> Result<String, ChartError> {
    if rows.is_empty() {
        return Err(ChartError::Empty);
    }
    let top = rows
        .iter()
        .map(|r| r.false_approval_rate)
        .fold(0.0f64, f64::max);
    draw(&Spec {
        file: "false-approval-rate.svg",
        title: "Anomalous proposals approved (mean over seeds)",
        x_desc: "drift probability p (per member, of a wrong vote)",
        y_desc: "false-approval rate",
        x: p_range(rows),
        y: (0.0, (top * 1.1).clamp(0.05, 1.05)),
        integer_x: false,
        legend: SeriesLabelPosition::UpperLeft,
        series: per_n(rows, false_approval_rate),
    })
}

/// Decision latency at the proposer against n: the p50 and p99 lines, each the mean over
/// the swept drift probabilities of the per-seed percentile.
pub fn latency_svg(rows: &[SweepRow]) -> Result<String, ChartError> {
    if rows.is_empty() {
        return Err(ChartError::Empty);
    }
    let mut ns = member_counts(rows);
    ns.sort_unstable();
    let line = |label: &str, metric: fn(&SweepRow) -> f64| Series {
        label: label.to_string(),
        points: ns
            .iter()
            .map(|&n| (f64::from(n), mean_over_p(rows, n, metric)))
            .collect(),
    };
    let series = vec![line("p50", p50), line("p99", p99)];
    let top = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0f64, f64::max);
    let (lo, hi) = span(ns.iter().map(|&n| f64::from(n)), 1.0);
    draw(&Spec {
        file: "latency.svg",
        title: "Decision latency at the proposer (mean over p and seeds)",
        x_desc: "members n",
        y_desc: "decision latency (ms)",
        x: (lo - 0.5, hi + 0.5),
        y: (0.0, (top * 1.15).max(1.0)),
        integer_x: true,
        legend: SeriesLabelPosition::LowerRight,
        series,
    })
}

/// Writes the three sweep charts ([`FILES`]) into `dir`, creating it if needed, and
/// returns their paths.
pub fn write_sweep_charts(rows: &[SweepRow], dir: &Path) -> Result<Vec<PathBuf>, ChartError> {
    std::fs::create_dir_all(dir).map_err(|source| ChartError::Write {
        path: dir.display().to_string(),
        source,
    })?;
    let charts = [
        block_rate_svg(rows)?,
        false_approval_svg(rows)?,
        latency_svg(rows)?,
    ];
    let mut written = Vec::new();
    for (name, svg) in FILES.iter().zip(charts) {
        let path = dir.join(name);
        std::fs::write(&path, svg).map_err(|source| ChartError::Write {
            path: path.display().to_string(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn rows() -> Vec<SweepRow> {
        let mut rows = Vec::new();
        for n in [1u32, 3, 5] {
            for p in [0.0, 0.25, 0.5] {
                rows.push(SweepRow {
                    n,
                    q: n.div_ceil(2),
                    p,
                    seeds: 2,
                    block_rate: 1.0 - p / f64::from(n),
                    false_approval_rate: p / f64::from(n),
                    mean_latency_ms: 1.0 + f64::from(n) / 10.0,
                    p50_latency_ms: 1.0 + f64::from(n) / 10.0,
                    p99_latency_ms: 2.0 + f64::from(n) / 10.0,
                    violations: 0,
                });
            }
        }
        rows
    }

    /// Every tag is closed in order: the SVG is well-formed as far as nesting goes.
    fn assert_balanced(svg: &str) {
        let mut stack: Vec<String> = Vec::new();
        let mut rest = svg;
        while let Some(start) = rest.find('<') {
            let end = rest[start..].find('>').expect("unclosed tag") + start;
            let tag = &rest[start + 1..end];
            rest = &rest[end + 1..];
            if tag.starts_with('?') || tag.starts_with('!') || tag.ends_with('/') {
                continue;
            }
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(
                    stack.pop().as_deref(),
                    Some(name.trim()),
                    "mismatched </{name}>"
                );
            } else {
                let name = tag.split_whitespace().next().expect("empty tag");
                stack.push(name.to_string());
            }
        }
        assert!(stack.is_empty(), "unclosed: {stack:?}");
    }

    /// Polylines drawn in series colour `i` at the series' width, by point count.
    fn series_lines(svg: &str, i: usize) -> Vec<usize> {
        let c = colour(i);
        let stroke = format!(
            "stroke=\"#{:02X}{:02X}{:02X}\" stroke-width=\"2\"",
            c.0, c.1, c.2
        );
        svg.lines()
            .filter(|l| l.starts_with("<polyline") && l.contains(&stroke))
            .map(|l| {
                let points = l.split("points=\"").nth(1).unwrap();
                points.split('"').next().unwrap().split_whitespace().count()
            })
            .collect()
    }

    fn check(svg: &str, series: usize, points: usize, texts: &[&str]) {
        assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_balanced(svg);
        for i in 0..series {
            let mut lines = series_lines(svg, i);
            lines.sort_unstable();
            // The data line, and the legend's 2-point sample.
            assert_eq!(lines, vec![2, points], "series {i}");
        }
        assert!(series_lines(svg, series).is_empty(), "an extra series");
        for t in texts {
            assert!(svg.contains(&format!("\n{t}\n</text>")), "no text {t:?}");
        }
    }

    #[test]
    fn rate_charts_draw_one_line_per_n_against_p() {
        let rows = rows();
        let svg = block_rate_svg(&rows).unwrap();
        check(
            &svg,
            3,
            3,
            &[
                "block rate",
                "drift probability p (per member, of a wrong vote)",
                "n = 1",
                "n = 3",
                "n = 5",
            ],
        );
        let svg = false_approval_svg(&rows).unwrap();
        check(&svg, 3, 3, &["false-approval rate", "n = 5"]);
        // The same rows draw the same bytes.
        assert_eq!(svg, false_approval_svg(&rows).unwrap());
    }

    #[test]
    fn latency_chart_draws_p50_and_p99_against_n() {
        let svg = latency_svg(&rows()).unwrap();
        check(
            &svg,
            2,
            3,
            &["decision latency (ms)", "members n", "p50", "p99"],
        );
    }

    #[test]
    fn a_single_cell_still_draws_and_no_rows_is_an_error() {
        let one: Vec<SweepRow> = rows().into_iter().take(1).collect();
        for svg in [
            block_rate_svg(&one).unwrap(),
            false_approval_svg(&one).unwrap(),
            latency_svg(&one).unwrap(),
        ] {
            assert_balanced(&svg);
        }
        assert!(matches!(block_rate_svg(&[]), Err(ChartError::Empty)));
        assert!(matches!(latency_svg(&[]), Err(ChartError::Empty)));
    }
}
