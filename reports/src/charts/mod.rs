//! The report's charts, drawn with plotters into SVG strings.
//!
//! Every chart function returns `Ok(None)` when it has no data to draw; the
//! sections then say "no data" in its place. Values are filtered to finite
//! numbers and every axis range is made finite and non-empty before plotters
//! sees it, so bad input draws a smaller chart instead of panicking.

mod font;
pub(crate) mod forecast;
mod legend;
pub(crate) mod policy;
pub(crate) mod trace;
pub(crate) mod tuning;

use std::error::Error;
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::format::{num_short, sanitize_file_stem};
use crate::model::{PolicySection, RunReport};
use crate::{Chart, ReportError};

pub(crate) use font::ensure_font;
use legend::{Legend, Mark};

/// `forecast-series.svg`.
pub(crate) const FORECAST_SERIES: &str = "forecast-series.svg";
/// `error-by-horizon.svg`.
pub(crate) const ERROR_BY_HORIZON: &str = "error-by-horizon.svg";
/// `residuals.svg`.
pub(crate) const RESIDUALS: &str = "residuals.svg";
/// `importance.svg`.
pub(crate) const IMPORTANCE: &str = "importance.svg";
/// `model-comparison.svg`.
pub(crate) const MODEL_COMPARISON: &str = "model-comparison.svg";
/// `tuning.svg`.
pub(crate) const TUNING: &str = "tuning.svg";

/// How many importances the importance chart shows.
pub(crate) const TOP_IMPORTANCES: usize = 20;

/// File name of the wait CDF of the scenario with this file stem.
pub(crate) fn wait_cdf_file(stem: &str) -> String {
    format!("wait-cdf-{stem}.svg")
}

/// File name of the size-vs-demand chart of the scenario with this stem.
pub(crate) fn size_vs_demand_file(stem: &str) -> String {
    format!("size-vs-demand-{stem}.svg")
}

/// File name of the cost-vs-latency chart of the scenario with this stem.
pub(crate) fn cost_vs_latency_file(stem: &str) -> String {
    format!("cost-vs-latency-{stem}.svg")
}

/// One file stem per scenario, sanitized and made unique (`-2`, `-3`, … on
/// a clash), in scenario order.
pub(crate) fn scenario_stems(section: &PolicySection) -> Vec<String> {
    let mut stems: Vec<String> = Vec::with_capacity(section.scenarios.len());
    for s in &section.scenarios {
        let base = sanitize_file_stem(&s.scenario);
        let mut stem = base.clone();
        let mut k = 2;
        while stems.contains(&stem) {
            stem = format!("{base}-{k}");
            k += 1;
        }
        stems.push(stem);
    }
    stems
}

/// Draws every chart the report has data for, in report order.
pub(crate) fn render_all(report: &RunReport) -> Result<Vec<Chart>, ReportError> {
    ensure_font()?;
    let mut charts = Vec::new();
    if let Some(f) = &report.forecast {
        charts.extend(forecast::series(f)?);
        charts.extend(forecast::error_by_horizon(f)?);
        charts.extend(forecast::residuals(f)?);
        charts.extend(forecast::importance(f)?);
        charts.extend(forecast::model_comparison(f)?);
    }
    if let Some(p) = &report.policies {
        for (scenario, stem) in p.scenarios.iter().zip(scenario_stems(p)) {
            charts.extend(policy::wait_cdf(scenario, &stem)?);
            charts.extend(policy::size_vs_demand(scenario, &stem)?);
            charts.extend(policy::cost_vs_latency(
                scenario,
                &stem,
                &p.baseline,
                p.replications,
            )?);
        }
    }
    if let Some(t) = &report.tuning {
        charts.extend(tuning::tuning(t)?);
    }
    Ok(charts)
}

/// The points of one line, in data coordinates.
type Points = Vec<(f64, f64)>;

/// What a drawing closure returns.
type DrawResult = Result<(), Box<dyn Error + Send + Sync>>;

/// The drawing area a chart draws on.
type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Draws one chart into an SVG string. A plotters error or panic becomes a
/// [`ReportError::Chart`] naming the file.
fn draw_svg<F>(
    file_name: &str,
    title: &str,
    size: (u32, u32),
    draw: F,
) -> Result<Chart, ReportError>
where
    F: FnOnce(&Area<'_>) -> DrawResult,
{
    ensure_font()?;
    let chart_err = |message: String| ReportError::Chart {
        file_name: file_name.to_string(),
        message,
    };
    let mut svg = String::new();
    let outcome = catch_unwind(AssertUnwindSafe(|| -> DrawResult {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
        Ok(())
    }));
    match outcome {
        Ok(Ok(())) => Ok(Chart {
            file_name: file_name.to_string(),
            title: title.to_string(),
            svg,
        }),
        Ok(Err(e)) => Err(chart_err(e.to_string())),
        Err(_) => Err(chart_err("plotters panicked while drawing".to_string())),
    }
}

/// A chart's builder in the report's frame: the caption, 14-px margins
/// but `right` px on the right (room for a legend or for labels beside
/// the plot), a 48-px x label area and a `y_labels`-px y label area.
fn frame<'a, 'b>(
    root: &'a Area<'b>,
    title: &str,
    right: u32,
    y_labels: u32,
) -> ChartBuilder<'a, 'static, SVGBackend<'b>> {
    let mut builder = ChartBuilder::on(root);
    builder
        .caption(title, caption_font())
        .margin(14)
        .margin_right(right)
        .x_label_area_size(48)
        .y_label_area_size(y_labels);
    builder
}

/// The report's mesh: its label and axis fonts, two light lines between
/// bold ones, pale grid lines. Each chart adds its axis descriptions and
/// label formatters.
fn house_mesh<'m, 'a, 'b, X, Y, DB>(
    mesh: &'m mut plotters::chart::MeshStyle<'a, 'b, X, Y, DB>,
) -> &'m mut plotters::chart::MeshStyle<'a, 'b, X, Y, DB>
where
    X: plotters::coord::ranged1d::Ranged,
    Y: plotters::coord::ranged1d::Ranged,
    DB: DrawingBackend,
{
    mesh.label_style(label_font())
        .axis_desc_style(desc_font())
        .max_light_lines(2)
        .light_line_style(RGBColor(242, 242, 242))
        .bold_line_style(RGBColor(215, 215, 215))
}

/// Font family the embedded font is registered under.
pub(crate) const FAMILY: &str = "sans-serif";

fn caption_font() -> TextStyle<'static> {
    (FAMILY, 20).into_font().color(&BLACK)
}

fn label_font() -> TextStyle<'static> {
    (FAMILY, 14).into_font().color(&RGBColor(40, 40, 40))
}

fn desc_font() -> TextStyle<'static> {
    (FAMILY, 15).into_font().color(&BLACK)
}

fn small_font() -> TextStyle<'static> {
    (FAMILY, 13).into_font().color(&RGBColor(30, 30, 30))
}

/// Qualitative colours for series: Tableau 10, then D3's cyan and olive,
/// so that the eleven policies of a default evaluation all differ.
const PALETTE: [RGBColor; 12] = [
    RGBColor(0x4e, 0x79, 0xa7),
    RGBColor(0xf2, 0x8e, 0x2b),
    RGBColor(0xe1, 0x57, 0x59),
    RGBColor(0x59, 0xa1, 0x4f),
    RGBColor(0xb0, 0x7a, 0xa1),
    RGBColor(0x76, 0xb7, 0xb2),
    RGBColor(0xed, 0xc9, 0x48),
    RGBColor(0xff, 0x9d, 0xa7),
    RGBColor(0x9c, 0x75, 0x5f),
    RGBColor(0xba, 0xb0, 0xac),
    RGBColor(0x17, 0xbe, 0xcf),
    RGBColor(0xbc, 0xbd, 0x22),
];

/// Greys for baselines, so they read apart from the models.
const GREYS: [RGBColor; 4] = [
    RGBColor(0x55, 0x55, 0x55),
    RGBColor(0x88, 0x88, 0x88),
    RGBColor(0x33, 0x33, 0x33),
    RGBColor(0xaa, 0xaa, 0xaa),
];

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

fn grey(i: usize) -> RGBColor {
    GREYS[i % GREYS.len()]
}

/// Largest magnitude drawn; beyond it values are clamped so that spans and
/// logarithms stay finite.
const LIMIT: f64 = 1e150;

/// A value clamped to the drawable range.
fn clamp(v: f64) -> f64 {
    v.clamp(-LIMIT, LIMIT)
}

/// The finite extent of some values.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Extent {
    lo: f64,
    hi: f64,
}

impl Extent {
    /// Extent of the finite values, clamped; `None` when there is none.
    fn of(values: impl IntoIterator<Item = f64>) -> Option<Self> {
        let mut it = values.into_iter().filter(|v| v.is_finite()).map(clamp);
        let first = it.next()?;
        Some(it.fold(
            Self {
                lo: first,
                hi: first,
            },
            |e, v| Self {
                lo: e.lo.min(v),
                hi: e.hi.max(v),
            },
        ))
    }

    /// Widened to include `v` when `v` is finite.
    fn with(self, v: f64) -> Self {
        if v.is_finite() {
            let v = clamp(v);
            Self {
                lo: self.lo.min(v),
                hi: self.hi.max(v),
            }
        } else {
            self
        }
    }

    /// An axis range: padded by `pad` of the span on each side, never empty
    /// and never thinner than floating point can label.
    fn range(self, pad: f64) -> Range<f64> {
        let (lo, hi) = (self.lo, self.hi);
        let scale = lo.abs().max(hi.abs());
        let min_span = (scale * 1e-6).max(1e-9);
        let span = hi - lo;
        if span < min_span {
            let half = (scale * 0.05).max(0.5).max(min_span);
            return clamp(lo - half)..clamp(hi + half);
        }
        clamp(lo - span * pad)..clamp(hi + span * pad)
    }
}

/// A tick label: short, with `k`/`M`/`G` for large magnitudes
/// (`2100000` → `2.1M`).
fn tick(v: f64) -> String {
    let a = v.abs();
    if !v.is_finite() || a >= 1e12 {
        return num_short(v);
    }
    for (from, scale, suffix) in [(1e9, 1e9, "G"), (1e6, 1e6, "M"), (1e4, 1e3, "k")] {
        if a >= from {
            return format!("{}{suffix}", num_short(v / scale));
        }
    }
    num_short(v)
}

/// A tick label for a percentage axis whose values are already in percent.
fn tick_pct(v: f64) -> String {
    format!("{}%", tick(v))
}

/// Time axis unit chosen for a span of seconds: divisor and label.
fn time_unit(span_s: f64) -> (f64, &'static str) {
    if span_s >= 3.0 * 3600.0 {
        (3600.0, "h")
    } else if span_s >= 600.0 {
        (60.0, "min")
    } else {
        (1.0, "s")
    }
}

/// Truncates a label to `max` characters, with an ellipsis.
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// Splits indices into runs where `ok(i)` holds, for drawing lines with
/// gaps at missing values.
fn runs(len: usize, ok: impl Fn(usize) -> bool) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = None;
    for i in 0..len {
        match (ok(i), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push(s..i);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(s..len);
    }
    out
}

/// Most points one line is drawn with; longer series are decimated.
const MAX_POINTS: usize = 2400;

/// At most about `max` points of a line, keeping each bucket's lowest and
/// highest value (in time order) so that spikes stay visible.
fn decimate(points: &[(f64, f64)], max: usize) -> Vec<(f64, f64)> {
    if points.len() <= max || max < 4 {
        return points.to_vec();
    }
    let per = points.len().div_ceil(max / 2);
    let mut out = Vec::with_capacity(max + 2);
    for chunk in points.chunks(per) {
        let (mut lo, mut hi) = (0, 0);
        for (i, p) in chunk.iter().enumerate() {
            if p.1 < chunk[lo].1 {
                lo = i;
            }
            if p.1 > chunk[hi].1 {
                hi = i;
            }
        }
        let (a, b) = (lo.min(hi), lo.max(hi));
        out.push(chunk[a]);
        if b != a {
            out.push(chunk[b]);
        }
    }
    out
}

/// plotters' SVG backend writes a font of size `s` as `font-size: s / 1.24`
/// (`plotters-svg`), so text is drawn smaller than it measures.
const SVG_FONT_SCALE: f64 = 1.24;

/// Width of `text` in `font` as an SVG viewer draws it, px (a generous
/// estimate if it cannot be measured).
fn text_width(font: &TextStyle<'_>, text: &str) -> u32 {
    // Charts measure their legends before drawing, when the font may not
    // have been registered yet as `font` was made (plotters resolves a font
    // when it is made): register it, then make the font again.
    let _ = ensure_font();
    let measured = (FAMILY, font.font.get_size())
        .into_font()
        .box_size(text)
        .map_or(text.chars().count() as u32 * 9, |(w, _)| w);
    (f64::from(measured) / SVG_FONT_SCALE).ceil() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extents_are_finite_and_non_empty() {
        assert_eq!(Extent::of([f64::NAN, f64::INFINITY]), None);
        let e = Extent::of([3.0, f64::NAN, -1.0]).unwrap_or(Extent { lo: 0.0, hi: 0.0 });
        assert_eq!((e.lo, e.hi), (-1.0, 3.0));
        let r = Extent { lo: 5.0, hi: 5.0 }.range(0.05);
        assert!(r.start < 5.0 && r.end > 5.0);
        let r = Extent::of([1e300, -1e300]).map(|e| e.range(0.05));
        assert!(r.is_some_and(|r| r.start.is_finite() && r.end.is_finite() && r.start < r.end));
        let r = Extent {
            lo: 1e15,
            hi: 1e15 + 0.5,
        }
        .range(0.0);
        assert!(r.end - r.start >= 1e9);
    }

    #[test]
    fn ticks_and_runs() {
        assert_eq!(tick(0.1), "0.1");
        assert_eq!(tick(20.0), "20");
        assert_eq!(tick(2.5e7), "25M");
        assert_eq!(tick(2_100_000.0), "2.1M");
        assert_eq!(tick(15_000.0), "15k");
        assert_eq!(tick(5000.0), "5000");
        assert_eq!(runs(5, |i| i != 2), vec![0..2, 3..5]);
        assert_eq!(runs(0, |_| true), Vec::<Range<usize>>::new());
        assert_eq!(shorten("abcdef", 4), "abc…");
        let long: Vec<(f64, f64)> = (0..10_000).map(|i| (i as f64, (i % 97) as f64)).collect();
        let short = decimate(&long, 1000);
        assert!(short.len() <= 1002 && short.len() > 500);
        assert!(short.iter().any(|p| p.1 == 96.0) && short.iter().any(|p| p.1 == 0.0));
        assert!(short.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn scenario_stems_are_unique() {
        let section = PolicySection {
            replications: 1,
            baseline: "reactive".into(),
            scenarios: ["Spike A", "spike-a", "spike a"]
                .iter()
                .map(|s| crate::model::PolicyScenario {
                    scenario: s.to_string(),
                    seen_in_training: false,
                    rows: vec![],
                    wait_cdf: vec![],
                    size_series: vec![],
                    model_contribution: None,
                    ideal_contribution: None,
                })
                .collect(),
        };
        assert_eq!(
            scenario_stems(&section),
            vec!["spike-a", "spike-a-2", "spike-a-3"]
        );
    }
}
