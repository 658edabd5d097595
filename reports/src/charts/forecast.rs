//! Forecast charts: predictions over time, accuracy by horizon, residuals,
//! permutation importance and the model comparison at the export horizon.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{
    Area, DrawResult, ERROR_BY_HORIZON, Extent, FORECAST_SERIES, IMPORTANCE, Legend, MAX_POINTS,
    MODEL_COMPARISON, Mark, Points, RESIDUALS, TOP_IMPORTANCES, color, decimate, draw_svg, frame,
    grey, house_mesh, label_font, runs, shorten, small_font, text_width, tick, tick_pct, time_unit,
};
use crate::format::{fixed, num, pct};
use crate::model::{ForecastSection, HorizonResult, ModelKind};
use crate::{Chart, ReportError};

const ACTUAL: RGBColor = RGBColor(0x22, 0x22, 0x22);
const MODEL_BAR: RGBColor = RGBColor(0x4e, 0x79, 0xa7);
const BASELINE_BAR: RGBColor = RGBColor(0xa0, 0xa0, 0xa0);
/// Simulator-only references (the forecastability ceiling).
const REFERENCE_BAR: RGBColor = RGBColor(0xd9, 0xa4, 0x41);
/// Their line in the accuracy-by-horizon chart.
const REFERENCE_LINE: RGBColor = RGBColor(0xb0, 0x7a, 0x1a);

/// The result at the export horizon, if the section has one.
pub(crate) fn export_result(f: &ForecastSection) -> Option<&HorizonResult> {
    f.horizons.iter().find(|h| h.horizon == f.export_horizon)
}

/// Title of the forecast-series chart.
pub(crate) fn series_title(f: &ForecastSection) -> String {
    let run = f.series.as_ref().map_or("", |s| s.run.as_str());
    format!(
        "Predicted vs actual: {} at h = {}, run {}",
        f.exported_model, f.export_horizon, run
    )
}

/// 1. Predicted vs actual over time, the interval as a shaded band.
pub(super) fn series(f: &ForecastSection) -> Result<Option<Chart>, ReportError> {
    let Some(s) = &f.series else {
        return Ok(None);
    };
    let n = s.t_s.len().min(s.actual.len().max(s.predicted.len()));
    let at = |v: &Vec<f64>, i: usize| v.get(i).copied().unwrap_or(f64::NAN);
    let t_ext = Extent::of(s.t_s.iter().take(n).copied());
    let y_ext = Extent::of((0..n).flat_map(|i| {
        [
            at(&s.actual, i),
            at(&s.predicted, i),
            at(&s.lower, i),
            at(&s.upper, i),
        ]
    }));
    let (Some(t_ext), Some(y_ext)) = (t_ext, y_ext) else {
        return Ok(None);
    };
    let (div, unit) = time_unit(t_ext.hi - t_ext.lo);
    let x_range = Extent {
        lo: t_ext.lo / div,
        hi: t_ext.hi / div,
    }
    .range(0.0);
    let y_range = y_ext.range(0.06);
    let line = |v: &Vec<f64>| -> Vec<Vec<(f64, f64)>> {
        runs(n, |i| s.t_s[i].is_finite() && at(v, i).is_finite())
            .into_iter()
            .map(|r| {
                let pts: Vec<(f64, f64)> = r
                    .map(|i| (super::clamp(s.t_s[i]) / div, super::clamp(at(v, i))))
                    .collect();
                decimate(&pts, MAX_POINTS)
            })
            .collect()
    };
    let actual = line(&s.actual);
    let predicted = line(&s.predicted);
    let band: Vec<Vec<(f64, f64)>> = runs(n, |i| {
        s.t_s[i].is_finite() && at(&s.lower, i).is_finite() && at(&s.upper, i).is_finite()
    })
    .into_iter()
    .filter(|r| r.len() >= 2)
    .map(|r| band_polygon(&s.t_s, &s.lower, &s.upper, r, div))
    .collect();
    let title = series_title(f);
    let y_desc = shorten(&f.target, 60);
    let band_color = RGBColor(0x4e, 0x79, 0xa7).mix(0.22);
    let mut legend = Legend::new();
    if !band.is_empty() {
        legend.add(
            format!("{} prediction interval", pct(s.level)),
            Mark::Swatch(band_color.filled()),
        );
    }
    if !actual.is_empty() {
        legend.add("actual", Mark::Line(ACTUAL.stroke_width(2)));
    }
    if !predicted.is_empty() {
        legend.add("predicted", Mark::Line(color(0).stroke_width(2)));
    }
    let gutter = legend.width();
    let chart = draw_svg(
        FORECAST_SERIES,
        &title,
        (960 + gutter, 460),
        |root: &Area<'_>| -> DrawResult {
            let mut chart = frame(root, &title, 14 + gutter, 70)
                .build_cartesian_2d(x_range.clone(), y_range.clone())?;
            house_mesh(
                chart
                    .configure_mesh()
                    .x_desc(format!("simulated time ({unit})"))
                    .y_desc(y_desc.as_str()),
            )
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .draw()?;
            chart.draw_series(
                band.iter()
                    .map(|p| Polygon::new(p.clone(), band_color.filled())),
            )?;
            chart.draw_series(
                actual
                    .iter()
                    .map(|p| PathElement::new(p.clone(), ACTUAL.stroke_width(2))),
            )?;
            let c = color(0);
            chart.draw_series(
                predicted
                    .iter()
                    .map(|p| PathElement::new(p.clone(), c.stroke_width(2))),
            )?;
            legend.draw(root, &chart, 0)
        },
    )?;
    Ok(Some(chart))
}

/// The band over indices `r`: the upper bound forward, the lower backward.
/// Long runs keep each bucket's widest bounds.
fn band_polygon(
    t: &[f64],
    lower: &[f64],
    upper: &[f64],
    r: std::ops::Range<usize>,
    div: f64,
) -> Vec<(f64, f64)> {
    let idx: Vec<usize> = r.collect();
    let per = idx.len().div_ceil(MAX_POINTS / 2).max(1);
    let mut top = Vec::new();
    let mut bottom = Vec::new();
    for chunk in idx.chunks(per) {
        let hi = chunk
            .iter()
            .map(|&i| super::clamp(upper[i]))
            .fold(f64::NEG_INFINITY, f64::max);
        let lo = chunk
            .iter()
            .map(|&i| super::clamp(lower[i]))
            .fold(f64::INFINITY, f64::min);
        let (first, last) = (chunk[0], chunk[chunk.len() - 1]);
        for i in [first, last] {
            let x = super::clamp(t[i]) / div;
            top.push((x, hi));
            bottom.push((x, lo));
            if first == last {
                break;
            }
        }
    }
    bottom.reverse();
    top.extend(bottom);
    top
}

/// 2. Test accuracy vs horizon, one line per model and per baseline.
pub(super) fn error_by_horizon(f: &ForecastSection) -> Result<Option<Chart>, ReportError> {
    // Series in first-seen order, with their kind: a model's line joins
    // its rows across horizons, whose names differ by hyper-parameters
    // and shrinkage weight.
    let mut names: Vec<(String, ModelKind)> = Vec::new();
    for h in &f.horizons {
        for m in &h.models {
            if !names.iter().any(|(n, _)| n == m.series()) {
                names.push((m.series().to_string(), m.kind));
            }
        }
    }
    let lines: Vec<(String, ModelKind, Points)> = names
        .into_iter()
        .map(|(name, kind)| {
            let pts = f
                .horizons
                .iter()
                .filter_map(|h| {
                    let m = h.models.iter().find(|m| m.series() == name)?;
                    let y = m.test.accuracy * 100.0;
                    y.is_finite()
                        .then_some((f64::from(h.horizon), super::clamp(y)))
                })
                .collect();
            (name, kind, pts)
        })
        .filter(|(_, _, pts): &(String, ModelKind, Points)| !pts.is_empty())
        .collect();
    // Models in colour, baselines in grey and dashed, the simulator's
    // references in ochre and dotted; one style per line, shared with the
    // legend.
    let (mut mi, mut bi) = (0, 0);
    let mut legend = Legend::new();
    let styled: Vec<(ModelKind, ShapeStyle, &Points)> = lines
        .iter()
        .map(|(name, kind, pts)| {
            let (style, label, mark) = match kind {
                ModelKind::Model => {
                    let s = color(mi).stroke_width(2);
                    mi += 1;
                    (s, name.clone(), Mark::LineDot(s))
                }
                ModelKind::Baseline => {
                    let s = grey(bi).stroke_width(2);
                    bi += 1;
                    (s, format!("{name} (baseline)"), Mark::DashSquare(s))
                }
                ModelKind::Reference => {
                    let s = REFERENCE_LINE.stroke_width(1);
                    (
                        s,
                        format!("{name} (simulator reference)"),
                        Mark::LineTriangle(s),
                    )
                }
            };
            legend.add(label, mark);
            (*kind, style, pts)
        })
        .collect();
    let gutter = legend.width();
    let x_ext = Extent::of(lines.iter().flat_map(|l| l.2.iter().map(|p| p.0)));
    let y_ext = Extent::of(lines.iter().flat_map(|l| l.2.iter().map(|p| p.1)));
    let (Some(x_ext), Some(y_ext)) = (x_ext, y_ext) else {
        return Ok(None);
    };
    let x_range = x_ext.range(0.04);
    let y_range = y_ext.range(0.08);
    let title = format!(
        "Test accuracy (1 − WAPE) by horizon ({} per interval)",
        crate::format::duration_s(f.interval_s)
    );
    let chart = draw_svg(
        ERROR_BY_HORIZON,
        &title,
        (960 + gutter, 480),
        |root: &Area<'_>| -> DrawResult {
            let mut chart = frame(root, &title, 14 + gutter, 70)
                .build_cartesian_2d(x_range.clone(), y_range.clone())?;
            house_mesh(
                chart
                    .configure_mesh()
                    .x_desc("horizon (intervals ahead)")
                    .y_desc("test accuracy, 1 − WAPE"),
            )
            .x_label_formatter(&|v| integer_tick(*v))
            .y_label_formatter(&|v| tick_pct(*v))
            .draw()?;
            for (kind, style, pts) in &styled {
                let (style, c) = (*style, style.color);
                match kind {
                    ModelKind::Model => {
                        chart
                            .draw_series(std::iter::once(PathElement::new(pts.to_vec(), style)))?;
                        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, c.filled())))?;
                    }
                    ModelKind::Baseline => {
                        chart.draw_series(DashedLineSeries::new(pts.to_vec(), 7, 5, style))?;
                        chart.draw_series(pts.iter().map(|&p| {
                            EmptyElement::at(p) + Rectangle::new([(-4, -4), (4, 4)], c.filled())
                        }))?;
                    }
                    ModelKind::Reference => {
                        chart.draw_series(DashedLineSeries::new(pts.to_vec(), 3, 4, style))?;
                        chart.draw_series(pts.iter().map(|&p| {
                            EmptyElement::at(p) + TriangleMarker::new((0, 0), 5, c.filled())
                        }))?;
                    }
                }
            }
            legend.draw(root, &chart, 0)
        },
    )?;
    Ok(Some(chart))
}

/// A tick label only at whole numbers (horizons are integers).
fn integer_tick(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        fixed(v, 0)
    } else {
        String::new()
    }
}

/// 3. Histogram of the exported model's test residuals.
pub(super) fn residuals(f: &ForecastSection) -> Result<Option<Chart>, ReportError> {
    let values: Vec<f64> = f
        .residuals
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .map(super::clamp)
        .collect();
    let Some(ext) = Extent::of(values.iter().copied()) else {
        return Ok(None);
    };
    let k = ((values.len() as f64).sqrt().ceil() as usize).clamp(5, 40);
    let x_range = ext.range(0.0);
    let width = (x_range.end - x_range.start) / k as f64;
    let mut counts = vec![0usize; k];
    for v in &values {
        let i = ((v - x_range.start) / width).floor();
        let i = if i.is_finite() && i > 0.0 {
            i as usize
        } else {
            0
        };
        counts[i.min(k - 1)] += 1;
    }
    let max_count = counts.iter().copied().max().unwrap_or(0).max(1);
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let title = format!(
        "Test residuals y − ŷ of {} at h = {} (n = {}, mean {})",
        f.exported_model,
        f.export_horizon,
        values.len(),
        num(mean)
    );
    let y_range = 0.0..(max_count as f64 * 1.08);
    let zero_inside = x_range.start < 0.0 && x_range.end > 0.0;
    let zero_style = RGBColor(0xe1, 0x57, 0x59).stroke_width(2);
    let mut legend = Legend::new();
    if zero_inside {
        legend.add("zero error", Mark::Line(zero_style));
    }
    let gutter = legend.width();
    let chart = draw_svg(
        RESIDUALS,
        &title,
        (960 + gutter, 440),
        |root: &Area<'_>| -> DrawResult {
            let mut chart = frame(root, &title, 14 + gutter, 70)
                .build_cartesian_2d(x_range.clone(), y_range.clone())?;
            house_mesh(
                chart
                    .configure_mesh()
                    .x_desc("residual y − ŷ (target units; positive = under-forecast)")
                    .y_desc("test rows")
                    .disable_x_mesh(),
            )
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| integer_tick(*v))
            .draw()?;
            let c = color(0);
            chart.draw_series(counts.iter().enumerate().filter(|(_, n)| **n > 0).map(
                |(i, n)| {
                    let x0 = x_range.start + width * i as f64;
                    let mut bar =
                        Rectangle::new([(x0, 0.0), (x0 + width, *n as f64)], c.mix(0.85).filled());
                    bar.set_margin(0, 0, 1, 1);
                    bar
                },
            ))?;
            if zero_inside {
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(0.0, 0.0), (0.0, y_range.end)],
                    zero_style,
                )))?;
                legend.draw(root, &chart, 0)?;
            }
            Ok(())
        },
    )?;
    Ok(Some(chart))
}

/// One horizontal bar.
struct Bar {
    label: String,
    value: f64,
    text: String,
    group: usize,
}

/// Room right of the plot for the value written after a bar, px.
const VALUE_TEXT: u32 = 56;

/// Horizontal bars, top to bottom in the order given; one legend entry per
/// group when there are several.
fn hbars(
    file_name: &str,
    title: &str,
    x_desc: &str,
    bars: &[Bar],
    groups: &[(&str, RGBColor)],
    percent_axis: bool,
) -> Result<Chart, ReportError> {
    let n = bars.len();
    let mut ext = Extent::of(bars.iter().map(|b| b.value)).unwrap_or(Extent { lo: 0.0, hi: 1.0 });
    ext = ext.with(0.0);
    if percent_axis && ext.lo >= 0.0 && ext.hi <= 100.0 {
        ext = ext.with(100.0);
    }
    let mut x_range = ext.range(0.04);
    if ext.lo >= 0.0 {
        x_range.start = 0.0;
    }
    // The labels are measured, not counted, and the chart widens for long
    // ones, so that names differing only at their end stay apart.
    let longest = bars
        .iter()
        .map(|b| text_width(&label_font(), &b.label))
        .max()
        .unwrap_or(0);
    let label_area = (longest + 16).clamp(60, 560);
    let mut legend = Legend::new();
    if groups.len() > 1 {
        for (g, (name, c)) in groups.iter().enumerate() {
            if bars.iter().any(|b| b.group == g) {
                legend.add(*name, Mark::Swatch(c.filled()));
            }
        }
    }
    let gutter = legend.width();
    let height = (110 + 30 * n as u32).max(220);
    let y_range = -0.5..(n as f64 - 0.5);
    draw_svg(
        file_name,
        title,
        (960 + gutter + label_area.saturating_sub(340), height),
        |root: &Area<'_>| -> DrawResult {
            let mut chart = frame(root, title, 14 + VALUE_TEXT + gutter, label_area)
                .build_cartesian_2d(x_range.clone(), y_range.clone())?;
            house_mesh(
                chart
                    .configure_mesh()
                    .x_desc(x_desc)
                    .disable_y_mesh()
                    .y_labels(0),
            )
            .x_label_formatter(&|v| if percent_axis { tick_pct(*v) } else { tick(*v) })
            .draw()?;
            for (g, (_, c)) in groups.iter().enumerate() {
                let c = *c;
                let in_group: Vec<(usize, &Bar)> = bars
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| b.group == g)
                    .collect();
                if in_group.is_empty() {
                    continue;
                }
                chart.draw_series(in_group.iter().map(|(i, b)| {
                    let y = (n - 1 - i) as f64;
                    Rectangle::new(
                        [(0.0, y - 0.36), (super::clamp(b.value), y + 0.36)],
                        c.filled(),
                    )
                }))?;
            }
            let left = x_range.start;
            for (i, b) in bars.iter().enumerate() {
                let y = (n - 1 - i) as f64;
                let (px, py) = chart.backend_coord(&(left, y));
                root.draw(&Text::new(
                    b.label.clone(),
                    (px - 8, py),
                    label_font().pos(Pos::new(HPos::Right, VPos::Center)),
                ))?;
                if b.value.is_finite() {
                    let end = super::clamp(b.value).max(left);
                    let (vx, vy) = chart.backend_coord(&(end, y));
                    root.draw(&Text::new(
                        b.text.clone(),
                        (vx + 5, vy),
                        small_font().pos(Pos::new(HPos::Left, VPos::Center)),
                    ))?;
                }
            }
            // past the values written after the bars
            legend.draw(root, &chart, VALUE_TEXT)
        },
    )
}

/// 4. The top permutation importances, horizontal bars.
pub(super) fn importance(f: &ForecastSection) -> Result<Option<Chart>, ReportError> {
    let bars: Vec<Bar> = f
        .importance
        .iter()
        .filter(|i| i.increase_mae.is_finite())
        .take(TOP_IMPORTANCES)
        .map(|i| Bar {
            label: shorten(&i.feature, 40),
            value: i.increase_mae,
            text: num(i.increase_mae),
            group: 0,
        })
        .collect();
    if bars.is_empty() {
        return Ok(None);
    }
    let title = format!(
        "Permutation importance of {} on test (top {})",
        f.exported_model,
        bars.len()
    );
    let chart = hbars(
        IMPORTANCE,
        &title,
        "increase of test MAE when the feature is permuted",
        &bars,
        &[("feature", color(0))],
        false,
    )?;
    Ok(Some(chart))
}

/// 5. Test accuracy of every model and baseline at the export horizon.
pub(super) fn model_comparison(f: &ForecastSection) -> Result<Option<Chart>, ReportError> {
    let Some(h) = export_result(f) else {
        return Ok(None);
    };
    let bars: Vec<Bar> = h
        .models
        .iter()
        .filter(|m| m.test.accuracy.is_finite())
        .map(|m| {
            // Whole names: rows of one family differ only at their end
            // (the form and the shrinkage weight).
            let mut label = shorten(&m.name, 96);
            match m.kind {
                ModelKind::Model => {}
                ModelKind::Baseline => label.push_str(" (baseline)"),
                ModelKind::Reference => label.push_str(" (reference)"),
            }
            if m.name == h.winner {
                label.push_str(" ★ selected");
            }
            Bar {
                label,
                value: m.test.accuracy * 100.0,
                text: pct(m.test.accuracy),
                group: match m.kind {
                    ModelKind::Model => 0,
                    ModelKind::Baseline => 1,
                    ModelKind::Reference => 2,
                },
            }
        })
        .collect();
    if bars.is_empty() {
        return Ok(None);
    }
    let title = format!(
        "Test accuracy at the export horizon h = {} ({} ahead)",
        h.horizon,
        crate::format::duration_s(f64::from(h.horizon) * f.interval_s)
    );
    let chart = hbars(
        MODEL_COMPARISON,
        &title,
        "test accuracy, 1 − WAPE (★ = selected on validation)",
        &bars,
        &[
            ("model", MODEL_BAR),
            ("baseline", BASELINE_BAR),
            ("simulator reference", REFERENCE_BAR),
        ],
        true,
    )?;
    Ok(Some(chart))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model whose name differs by horizon (its hyper-parameters or
    /// shrinkage weight) is still one line: the chart joins rows by their
    /// series, so renaming the rows of one horizon changes nothing drawn.
    #[test]
    fn rows_of_one_series_make_one_line_across_horizons() {
        let f = crate::fixture::sample_report().forecast.unwrap();
        let mut renamed = f.clone();
        for m in &mut renamed.horizons[1].models {
            m.series = m.name.clone();
            m.name = format!("{} ~0.50", m.name);
        }
        for m in &mut renamed.horizons[0].models {
            m.series = m.name.clone();
        }
        let a = error_by_horizon(&f).unwrap().unwrap();
        let b = error_by_horizon(&renamed).unwrap().unwrap();
        assert_eq!(a.svg, b.svg);
        // without the series, the renamed rows would be lines of their own
        for m in &mut renamed.horizons[1].models {
            m.series.clear();
        }
        let c = error_by_horizon(&renamed).unwrap().unwrap();
        assert_ne!(a.svg, c.svg);
    }
}
