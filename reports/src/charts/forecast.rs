//! Forecast charts: predictions over time, accuracy by horizon, residuals,
//! permutation importance and the model comparison at the export horizon.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{
    Area, DrawResult, ERROR_BY_HORIZON, Extent, FORECAST_SERIES, IMPORTANCE, MAX_POINTS,
    MODEL_COMPARISON, Points, RESIDUALS, TOP_IMPORTANCES, caption_font, color, decimate, desc_font,
    draw_legend, draw_svg, grey, label_font, runs, shorten, small_font, tick, tick_pct, time_unit,
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
    let level = pct(s.level);
    let chart = draw_svg(
        FORECAST_SERIES,
        &title,
        (960, 460),
        |root: &Area<'_>| -> DrawResult {
            let mut chart = ChartBuilder::on(root)
                .caption(&title, caption_font())
                .margin(14)
                .x_label_area_size(48)
                .y_label_area_size(70)
                .build_cartesian_2d(x_range.clone(), y_range.clone())?;
            chart
                .configure_mesh()
                .x_desc(format!("simulated time ({unit})"))
                .y_desc(y_desc.as_str())
                .label_style(label_font())
                .axis_desc_style(desc_font())
                .max_light_lines(2)
                .light_line_style(RGBColor(242, 242, 242))
                .bold_line_style(RGBColor(215, 215, 215))
                .x_label_formatter(&|v| tick(*v))
                .y_label_formatter(&|v| tick(*v))
                .draw()?;
            let band_color = RGBColor(0x4e, 0x79, 0xa7).mix(0.22);
            if !band.is_empty() {
                chart
                    .draw_series(
                        band.iter()
                            .map(|p| Polygon::new(p.clone(), band_color.filled())),
                    )?
                    .label(format!("{level} prediction interval"))
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 6), (x + 20, y + 6)], band_color.filled())
                    });
            }
            if !actual.is_empty() {
                chart
                    .draw_series(
                        actual
                            .iter()
                            .map(|p| PathElement::new(p.clone(), ACTUAL.stroke_width(2))),
                    )?
                    .label("actual")
                    .legend(|(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], ACTUAL.stroke_width(2))
                    });
            }
            if !predicted.is_empty() {
                let c = color(0);
                chart
                    .draw_series(
                        predicted
                            .iter()
                            .map(|p| PathElement::new(p.clone(), c.stroke_width(2))),
                    )?
                    .label("predicted")
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                    });
            }
            draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)
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
        (960, 480),
        |root: &Area<'_>| -> DrawResult {
            let mut chart = ChartBuilder::on(root)
                .caption(&title, caption_font())
                .margin(14)
                .x_label_area_size(48)
                .y_label_area_size(70)
                .build_cartesian_2d(x_range.clone(), y_range.clone())?;
            chart
                .configure_mesh()
                .x_desc("horizon (intervals ahead)")
                .y_desc("test accuracy, 1 − WAPE")
                .label_style(label_font())
                .axis_desc_style(desc_font())
                .max_light_lines(2)
                .light_line_style(RGBColor(242, 242, 242))
                .bold_line_style(RGBColor(215, 215, 215))
                .x_label_formatter(&|v| integer_tick(*v))
                .y_label_formatter(&|v| tick_pct(*v))
                .draw()?;
            let (mut mi, mut bi) = (0, 0);
            for (name, kind, pts) in &lines {
                match kind {
                    ModelKind::Model => {
                        let c = color(mi);
                        mi += 1;
                        let style = c.stroke_width(2);
                        chart.draw_series(std::iter::once(PathElement::new(pts.clone(), style)))?;
                        chart
                            .draw_series(pts.iter().map(|&p| Circle::new(p, 4, c.filled())))?
                            .label(name.clone())
                            .legend(move |(x, y)| {
                                EmptyElement::at((x, y))
                                    + PathElement::new(vec![(0, 0), (20, 0)], style)
                                    + Circle::new((10, 0), 4, c.filled())
                            });
                    }
                    ModelKind::Baseline => {
                        let c = grey(bi);
                        bi += 1;
                        let style = c.stroke_width(2);
                        chart.draw_series(DashedLineSeries::new(pts.clone(), 7, 5, style))?;
                        chart
                            .draw_series(pts.iter().map(|&p| {
                                EmptyElement::at(p) + Rectangle::new([(-4, -4), (4, 4)], c.filled())
                            }))?
                            .label(format!("{name} (baseline)"))
                            .legend(move |(x, y)| {
                                EmptyElement::at((x, y))
                                    + PathElement::new(vec![(0, 0), (7, 0)], style)
                                    + PathElement::new(vec![(13, 0), (20, 0)], style)
                                    + Rectangle::new([(6, -4), (14, 4)], c.filled())
                            });
                    }
                    ModelKind::Reference => {
                        let c = REFERENCE_LINE;
                        let style = c.stroke_width(1);
                        chart.draw_series(DashedLineSeries::new(pts.clone(), 3, 4, style))?;
                        chart
                            .draw_series(pts.iter().map(|&p| {
                                EmptyElement::at(p) + TriangleMarker::new((0, 0), 5, c.filled())
                            }))?
                            .label(format!("{name} (simulator reference)"))
                            .legend(move |(x, y)| {
                                EmptyElement::at((x, y))
                                    + PathElement::new(vec![(0, 0), (20, 0)], style)
                                    + TriangleMarker::new((10, 0), 5, c.filled())
                            });
                    }
                }
            }
            draw_legend(&mut chart, SeriesLabelPosition::LowerLeft)
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
    let chart = draw_svg(
        RESIDUALS,
        &title,
        (960, 440),
        |root: &Area<'_>| -> DrawResult {
            let mut chart = ChartBuilder::on(root)
                .caption(&title, caption_font())
                .margin(14)
                .x_label_area_size(48)
                .y_label_area_size(70)
                .build_cartesian_2d(x_range.clone(), y_range.clone())?;
            chart
                .configure_mesh()
                .x_desc("residual y − ŷ (target units; positive = under-forecast)")
                .y_desc("test rows")
                .label_style(label_font())
                .axis_desc_style(desc_font())
                .disable_x_mesh()
                .max_light_lines(2)
                .light_line_style(RGBColor(242, 242, 242))
                .bold_line_style(RGBColor(215, 215, 215))
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
            if x_range.start < 0.0 && x_range.end > 0.0 {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(0.0, 0.0), (0.0, y_range.end)],
                        RGBColor(0xe1, 0x57, 0x59).stroke_width(2),
                    )))?
                    .label("zero error")
                    .legend(|(x, y)| {
                        PathElement::new(
                            vec![(x, y), (x + 20, y)],
                            RGBColor(0xe1, 0x57, 0x59).stroke_width(2),
                        )
                    });
                draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
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
    let longest = bars
        .iter()
        .map(|b| b.label.chars().count())
        .max()
        .unwrap_or(0);
    let label_area = (longest as u32 * 8 + 16).clamp(60, 340);
    // A band below the bars for the legend (one row per group shown), so
    // it never covers a bar.
    let shown = groups
        .iter()
        .enumerate()
        .filter(|(g, _)| bars.iter().any(|b| b.group == *g))
        .count();
    let legend_rows = if groups.len() > 1 {
        shown as f64 * 0.75 + 0.5
    } else {
        0.0
    };
    let height = (110 + 30 * n as u32 + (30.0 * legend_rows) as u32).max(220);
    let y_range = (-0.5 - legend_rows)..(n as f64 - 0.5);
    draw_svg(
        file_name,
        title,
        (960, height),
        |root: &Area<'_>| -> DrawResult {
            let mut chart = ChartBuilder::on(root)
                .caption(title, caption_font())
                .margin(14)
                .margin_right(70)
                .x_label_area_size(48)
                .y_label_area_size(label_area)
                .build_cartesian_2d(x_range.clone(), y_range.clone())?;
            chart
                .configure_mesh()
                .x_desc(x_desc)
                .label_style(label_font())
                .axis_desc_style(desc_font())
                .disable_y_mesh()
                .y_labels(0)
                .max_light_lines(2)
                .light_line_style(RGBColor(242, 242, 242))
                .bold_line_style(RGBColor(215, 215, 215))
                .x_label_formatter(&|v| if percent_axis { tick_pct(*v) } else { tick(*v) })
                .draw()?;
            for (g, (name, c)) in groups.iter().enumerate() {
                let c = *c;
                let in_group: Vec<(usize, &Bar)> = bars
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| b.group == g)
                    .collect();
                if in_group.is_empty() {
                    continue;
                }
                let series = chart.draw_series(in_group.iter().map(|(i, b)| {
                    let y = (n - 1 - i) as f64;
                    Rectangle::new(
                        [(0.0, y - 0.36), (super::clamp(b.value), y + 0.36)],
                        c.filled(),
                    )
                }))?;
                if groups.len() > 1 {
                    series.label(name.to_string()).legend(move |(x, y)| {
                        Rectangle::new([(x, y - 6), (x + 20, y + 6)], c.filled())
                    });
                }
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
            if groups.len() > 1 {
                draw_legend(&mut chart, SeriesLabelPosition::LowerRight)?;
            }
            Ok(())
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
            let mut label = shorten(&m.name, 36);
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
