//! Policy charts, one set per scenario: the acquire-wait CDF, pool size vs
//! demand over time, and cost vs mean acquire wait with confidence intervals.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{
    Area, DrawResult, Extent, Legend, MAX_POINTS, Mark, Points, clamp, color, cost_vs_latency_file,
    decimate, draw_svg, frame, house_mesh, label_font, runs, shorten, size_vs_demand_file, tick,
    tick_pct, time_unit, wait_cdf_file,
};
use crate::model::PolicyScenario;
use crate::{Chart, ReportError};

/// Colour index of a policy: its row position, so a policy keeps its colour
/// across the three charts of a scenario (and across scenarios, since rows
/// follow the manifest order).
fn policy_index(scenario: &PolicyScenario, policy: &str, fallback: usize) -> usize {
    scenario
        .rows
        .iter()
        .position(|r| r.policy == policy)
        .unwrap_or(scenario.rows.len() + fallback)
}

/// Smallest wait drawn, ms; smaller positive waits are drawn there too.
const MIN_WAIT_MS: f64 = 1e-6;

/// Title of a scenario's wait CDF.
pub(crate) fn wait_cdf_title(scenario: &str) -> String {
    format!("Acquire-wait CDF, scenario {scenario}")
}

/// Title of a scenario's size-vs-demand chart.
pub(crate) fn size_vs_demand_title(scenario: &str) -> String {
    format!("Pool size and demand over time, scenario {scenario} (replication 0)")
}

/// Title of a scenario's cost-vs-latency chart.
pub(crate) fn cost_vs_latency_title(scenario: &str) -> String {
    format!("Cost vs mean acquire wait, scenario {scenario} (mean, 95% CI)")
}

/// 6. Acquire-wait CDF per policy on a log axis; waits of 0 at the left edge.
pub(super) fn wait_cdf(
    scenario: &PolicyScenario,
    stem: &str,
) -> Result<Option<Chart>, ReportError> {
    let curves: Vec<(usize, String, Points)> = scenario
        .wait_cdf
        .iter()
        .enumerate()
        .map(|(k, c)| {
            let pts: Vec<(f64, f64)> = c
                .wait_ms
                .iter()
                .zip(&c.fraction)
                .filter(|(w, f)| w.is_finite() && **w >= 0.0 && f.is_finite())
                .map(|(w, f)| (clamp(*w), f.clamp(0.0, 1.0) * 100.0))
                .collect();
            (policy_index(scenario, &c.policy, k), c.policy.clone(), pts)
        })
        .filter(|c| !c.2.is_empty())
        .collect();
    if curves.is_empty() {
        return Ok(None);
    }
    let positive = Extent::of(
        curves
            .iter()
            .flat_map(|c| c.2.iter().map(|p| p.0))
            .filter(|w| *w > 0.0),
    );
    // Zero is drawn one decade below the decade of the smallest positive
    // wait, so it never coincides with a measured value.
    let (floor, top) = match positive {
        Some(e) => {
            let lo = e.lo.max(MIN_WAIT_MS);
            let floor = 10f64.powf(lo.log10().floor() - 1.0).max(MIN_WAIT_MS / 10.0);
            let top = 10f64.powf(e.hi.max(lo).log10().ceil());
            (floor, top.max(floor * 100.0))
        }
        None => (0.01, 1.0),
    };
    let title = wait_cdf_title(&scenario.scenario);
    let x_desc = format!(
        "acquire wait (ms, log scale; waits of 0 are drawn at the left edge, {} ms)",
        tick(floor)
    );
    let file = wait_cdf_file(stem);
    let mut legend = Legend::new();
    for (idx, name, _) in &curves {
        legend.add(name.clone(), Mark::Line(color(*idx).stroke_width(2)));
    }
    let gutter = legend.width();
    let chart = draw_svg(
        &file,
        &title,
        (960 + gutter, 480),
        |root: &Area<'_>| -> DrawResult {
            let mut chart = frame(root, &title, 14 + gutter, 70)
                .build_cartesian_2d((floor..top).log_scale(), 0.0..100.0)?;
            house_mesh(
                chart
                    .configure_mesh()
                    .x_desc(x_desc.as_str())
                    .y_desc("grants with wait ≤ x"),
            )
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick_pct(*v))
            .draw()?;
            // Name the left edge: it stands for a wait of 0.
            let (px, py) = chart.backend_coord(&(floor, 0.0));
            root.draw(&Text::new(
                "0",
                (px, py + 9),
                label_font().pos(Pos::new(HPos::Center, VPos::Top)),
            ))?;
            for (idx, _, pts) in &curves {
                let c = color(*idx);
                let mut path = Vec::with_capacity(pts.len() * 2 + 2);
                let mut prev = 0.0;
                for &(w, f) in pts {
                    let x = w.clamp(floor, top);
                    path.push((x, prev));
                    path.push((x, f));
                    prev = f;
                }
                path.push((top, prev));
                let path = decimate(&path, MAX_POINTS * 2);
                chart.draw_series(std::iter::once(PathElement::new(path, c.stroke_width(2))))?;
            }
            legend.draw(root, &chart, 0)
        },
    )?;
    Ok(Some(chart))
}

/// 7. Pool size per policy over time, with the demand.
pub(super) fn size_vs_demand(
    scenario: &PolicyScenario,
    stem: &str,
) -> Result<Option<Chart>, ReportError> {
    let line = |t: &[f64], v: &[f64]| -> Vec<Vec<(f64, f64)>> {
        let n = t.len().min(v.len());
        runs(n, |i| t[i].is_finite() && v[i].is_finite())
            .into_iter()
            .map(|r| r.map(|i| (clamp(t[i]), clamp(v[i]))).collect())
            .collect()
    };
    let sizes: Vec<(usize, String, Vec<Points>)> = scenario
        .size_series
        .iter()
        .enumerate()
        .map(|(k, s)| {
            (
                policy_index(scenario, &s.policy, k),
                s.policy.clone(),
                line(&s.t_s, &s.size),
            )
        })
        .filter(|s| !s.2.is_empty())
        .collect();
    // Offered traffic does not depend on the policy, but the queue a
    // starved pool builds does: one demand line, from the pool that starves
    // least (the oracle, else the predictive or reactive pool, else the
    // first series that has one).
    let pick = |name: &str| {
        scenario
            .size_series
            .iter()
            .find(|s| s.policy == name)
            .map(|s| (s.policy.clone(), line(&s.t_s, &s.demand)))
            .filter(|d| !d.1.is_empty())
    };
    let demand = pick("oracle")
        .or_else(|| pick("predictive"))
        .or_else(|| pick("reactive"))
        .or_else(|| {
            scenario
                .size_series
                .iter()
                .map(|s| (s.policy.clone(), line(&s.t_s, &s.demand)))
                .find(|d| !d.1.is_empty())
        });
    let all_points = || {
        sizes
            .iter()
            .flat_map(|s| s.2.iter().flatten())
            .chain(demand.iter().flat_map(|d| d.1.iter().flatten()))
    };
    let t_ext = Extent::of(all_points().map(|p| p.0));
    let y_ext = Extent::of(all_points().map(|p| p.1));
    let (Some(t_ext), Some(y_ext)) = (t_ext, y_ext) else {
        return Ok(None);
    };
    let (div, unit) = time_unit(t_ext.hi - t_ext.lo);
    let x_range = Extent {
        lo: t_ext.lo / div,
        hi: t_ext.hi / div,
    }
    .range(0.0);
    let y_ext = y_ext.with(0.0);
    let mut y_range = y_ext.range(0.06);
    if y_ext.lo >= 0.0 {
        y_range.start = 0.0;
    }
    let scale = |segs: &Vec<Vec<(f64, f64)>>| -> Vec<Vec<(f64, f64)>> {
        segs.iter()
            .map(|s| {
                decimate(
                    &s.iter().map(|&(t, v)| (t / div, v)).collect::<Vec<_>>(),
                    MAX_POINTS,
                )
            })
            .collect()
    };
    let title = size_vs_demand_title(&scenario.scenario);
    let file = size_vs_demand_file(stem);
    let demand_label = demand
        .as_ref()
        .map(|(policy, _)| format!("demand, busy + waiting (under {})", shorten(policy, 24)));
    let size_labels: Vec<String> = sizes
        .iter()
        .map(|(_, name, _)| format!("size, {name}"))
        .collect();
    let demand_style = RGBColor(0x70, 0x70, 0x70).mix(0.55).stroke_width(3);
    let mut legend = Legend::new();
    if let Some(label) = &demand_label {
        legend.add(label.clone(), Mark::Line(demand_style));
    }
    for ((idx, _, _), label) in sizes.iter().zip(&size_labels) {
        legend.add(label.clone(), Mark::Line(color(*idx).stroke_width(2)));
    }
    let gutter = legend.width();
    let chart = draw_svg(
        &file,
        &title,
        (960 + gutter, 480),
        |root: &Area<'_>| -> DrawResult {
            let mut chart = frame(root, &title, 14 + gutter, 70)
                .build_cartesian_2d(x_range.clone(), y_range.clone())?;
            house_mesh(
                chart
                    .configure_mesh()
                    .x_desc(format!("simulated time ({unit})"))
                    .y_desc("connections"),
            )
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .draw()?;
            if let Some((_, segs)) = &demand {
                chart.draw_series(
                    scale(segs)
                        .into_iter()
                        .map(|s| PathElement::new(s, demand_style)),
                )?;
            }
            for (idx, _, segs) in &sizes {
                let style = color(*idx).stroke_width(2);
                chart.draw_series(scale(segs).into_iter().map(|s| PathElement::new(s, style)))?;
            }
            legend.draw(root, &chart, 0)
        },
    )?;
    Ok(Some(chart))
}

/// A policy whose pool collapsed (most requests failed) is left out of the
/// cost/latency chart: its wait is the acquire timeout and would squash the
/// others into one point. The chart's title names it.
const COLLAPSED_ERROR_RATE: f64 = 0.5;

/// Chart 8: connection-seconds vs mean acquire wait per policy, with 95%
/// CI bars in both directions.
pub(super) fn cost_vs_latency(
    scenario: &PolicyScenario,
    stem: &str,
    baseline: &str,
    replications: u32,
) -> Result<Option<Chart>, ReportError> {
    struct Point {
        idx: usize,
        label: String,
        x: f64,
        y: f64,
        x_ci: Option<(f64, f64)>,
        y_ci: Option<(f64, f64)>,
    }
    let ci = |lo: f64, hi: f64| {
        (lo.is_finite() && hi.is_finite()).then(|| (clamp(lo.min(hi)), clamp(lo.max(hi))))
    };
    let collapsed: Vec<&str> = scenario
        .rows
        .iter()
        .filter(|r| r.error_rate.mean > COLLAPSED_ERROR_RATE)
        .map(|r| r.policy.as_str())
        .collect();
    let points: Vec<Point> = scenario
        .rows
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            r.connection_seconds.mean.is_finite()
                && r.wait_mean_ms.mean.is_finite()
                && r.error_rate.mean.partial_cmp(&COLLAPSED_ERROR_RATE)
                    != Some(std::cmp::Ordering::Greater)
        })
        .map(|(i, r)| Point {
            idx: i,
            label: if r.policy == baseline {
                format!("{} (baseline)", shorten(&r.policy, 28))
            } else {
                shorten(&r.policy, 28)
            },
            x: clamp(r.connection_seconds.mean),
            y: clamp(r.wait_mean_ms.mean),
            x_ci: ci(r.connection_seconds.lo, r.connection_seconds.hi),
            y_ci: ci(r.wait_mean_ms.lo, r.wait_mean_ms.hi),
        })
        .collect();
    if points.is_empty() {
        return Ok(None);
    }
    let xs = points
        .iter()
        .flat_map(|p| [Some(p.x), p.x_ci.map(|c| c.0), p.x_ci.map(|c| c.1)])
        .flatten();
    let ys = points
        .iter()
        .flat_map(|p| [Some(p.y), p.y_ci.map(|c| c.0), p.y_ci.map(|c| c.1)])
        .flatten();
    let (Some(x_ext), Some(y_ext)) = (Extent::of(xs), Extent::of(ys)) else {
        return Ok(None);
    };
    let x_range = x_ext.range(0.12);
    let y_range = y_ext.range(0.12);
    let title = if collapsed.is_empty() {
        cost_vs_latency_title(&scenario.scenario)
    } else {
        format!(
            "{} — not shown, over half the requests failed: {}",
            cost_vs_latency_title(&scenario.scenario),
            shorten(&collapsed.join(", "), 40)
        )
    };
    let y_desc = format!("mean acquire wait (ms), {replications} replications");
    let file = cost_vs_latency_file(stem);
    let mut legend = Legend::new();
    for p in &points {
        legend.add(p.label.clone(), Mark::Dot(color(p.idx).filled()));
    }
    let gutter = legend.width();
    let chart = draw_svg(
        &file,
        &title,
        (960 + gutter, 520),
        |root: &Area<'_>| -> DrawResult {
            let mut chart = frame(root, &title, 40 + gutter, 70)
                .build_cartesian_2d(x_range.clone(), y_range.clone())?;
            house_mesh(
                chart
                    .configure_mesh()
                    .x_desc("connection-seconds (cost), lower is cheaper")
                    .y_desc(y_desc.as_str()),
            )
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .draw()?;
            for p in &points {
                let c = color(p.idx);
                let style = c.stroke_width(2);
                if let Some((lo, hi)) = p.x_ci {
                    chart.draw_series(std::iter::once(PathElement::new(
                        vec![(lo, p.y), (hi, p.y)],
                        style,
                    )))?;
                    for x in [lo, hi] {
                        chart.draw_series(std::iter::once(
                            EmptyElement::at((x, p.y))
                                + PathElement::new(vec![(0, -5), (0, 5)], style),
                        ))?;
                    }
                }
                if let Some((lo, hi)) = p.y_ci {
                    chart.draw_series(std::iter::once(PathElement::new(
                        vec![(p.x, lo), (p.x, hi)],
                        style,
                    )))?;
                    for y in [lo, hi] {
                        chart.draw_series(std::iter::once(
                            EmptyElement::at((p.x, y))
                                + PathElement::new(vec![(-5, 0), (5, 0)], style),
                        ))?;
                    }
                }
                // Points of similar cost and wait overlap: names go to the
                // legend, matched by colour.
                chart.draw_series(std::iter::once(
                    EmptyElement::at((p.x, p.y))
                        + Circle::new((0, 0), 6, c.filled())
                        + Circle::new((0, 0), 6, WHITE.stroke_width(1)),
                ))?;
            }
            legend.draw(root, &chart, 26)
        },
    )?;
    Ok(Some(chart))
}
