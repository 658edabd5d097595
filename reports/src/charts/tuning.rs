//! The tuning chart: every candidate's objective against the first
//! constraint's metric, feasible and infeasible apart, the chosen and the
//! runner-up marked, the constraint's bound drawn.

use plotters::prelude::*;

use super::{
    Area, DrawResult, Extent, Legend, Mark, TUNING, clamp, draw_svg, frame, house_mesh, shorten,
    tick,
};
use crate::format::num_short;
use crate::model::{Candidate, TuningSection};
use crate::{Chart, ReportError};

const FEASIBLE: RGBColor = RGBColor(0x59, 0xa1, 0x4f);
const INFEASIBLE: RGBColor = RGBColor(0xe1, 0x57, 0x59);
const BOUND: RGBColor = RGBColor(0xb0, 0x3a, 0x2e);

/// A constraint read from its text, e.g. `wait_p95_ms ≤ 50`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Constraint {
    /// The metric name (left of the operator).
    pub(crate) metric: String,
    /// The operator as written.
    pub(crate) op: &'static str,
    /// The bound, when the right side starts with a number.
    pub(crate) bound: Option<f64>,
}

/// Reads `metric op bound` (`≤ <= < ≥ >= > = ==`); units after the number
/// are ignored. `None` when there is no operator or no metric name.
pub(crate) fn parse_constraint(text: &str) -> Option<Constraint> {
    const OPS: [&str; 8] = ["<=", ">=", "==", "≤", "≥", "<", ">", "="];
    let (at, op) = OPS
        .iter()
        .filter_map(|op| text.find(op).map(|i| (i, *op)))
        .min_by_key(|(i, op)| (*i, usize::MAX - op.len()))?;
    let metric = text[..at].trim();
    if metric.is_empty() {
        return None;
    }
    let rhs = text[at + op.len()..].trim();
    let number: String = rhs
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
        .collect();
    let bound = number.parse::<f64>().ok().filter(|b| b.is_finite());
    Some(Constraint {
        metric: metric.to_string(),
        op,
        bound,
    })
}

fn metric(c: &Candidate, name: &str) -> Option<f64> {
    c.metrics.iter().find(|(m, _)| m == name).map(|(_, v)| *v)
}

/// A candidate drawn: its index, x, objective, feasible.
type Point = (usize, f64, f64, bool);

/// 9. Objective vs the first constraint's metric for every candidate.
pub(super) fn tuning(t: &TuningSection) -> Result<Option<Chart>, ReportError> {
    let constraint = t.constraints.first().and_then(|c| parse_constraint(c));
    let by_metric = constraint.as_ref().filter(|c| {
        t.candidates
            .iter()
            .any(|cand| metric(cand, &c.metric).is_some())
    });
    // Without a usable constraint metric, candidates are spread by index.
    let x_of = |i: usize, c: &Candidate| -> f64 {
        match by_metric {
            Some(k) => metric(c, &k.metric).unwrap_or(f64::NAN),
            None => i as f64,
        }
    };
    let points: Vec<Point> = t
        .candidates
        .iter()
        .enumerate()
        .map(|(i, c)| (i, x_of(i, c), c.objective, c.feasible))
        .filter(|p| p.1.is_finite() && p.2.is_finite())
        .map(|(i, x, y, f)| (i, clamp(x), clamp(y), f))
        .collect();
    if points.is_empty() {
        return Ok(None);
    }
    let bound = by_metric.and_then(|c| c.bound.map(|b| (clamp(b), c)));
    let mut x_ext = Extent::of(points.iter().map(|p| p.1)).unwrap_or(Extent { lo: 0.0, hi: 1.0 });
    if let Some((b, _)) = bound {
        x_ext = x_ext.with(b);
    }
    let y_ext = Extent::of(points.iter().map(|p| p.2)).unwrap_or(Extent { lo: 0.0, hi: 1.0 });
    let x_range = x_ext.range(0.08);
    let y_range = y_ext.range(0.12);
    let x_desc = match by_metric {
        Some(c) => format!("{} (first constraint: {})", c.metric, t.constraints[0]),
        None => "candidate # (no constraint metric to plot against)".to_string(),
    };
    let y_desc = format!("objective: {}", shorten(&t.objective, 48));
    let title = format!(
        "Tuning of {}: {} candidates, {} replications",
        t.policy,
        t.candidates.len(),
        t.replications
    );
    let chosen = t
        .chosen
        .and_then(|i| points.iter().find(|p| p.0 == i).copied());
    let runner_up = t
        .runner_up
        .and_then(|i| points.iter().find(|p| p.0 == i).copied());
    // The chosen and the runner-up are often neighbours, so they are named
    // in the legend beside the plot rather than by text next to the points,
    // which would overlap.
    let bound_label = bound.map(|(b, c)| format!("bound: {} {} {}", c.metric, c.op, num_short(b)));
    let marks: Vec<(Point, String, ShapeStyle)> = [
        (chosen, "chosen", BLACK.stroke_width(3)),
        (
            runner_up,
            "runner-up",
            RGBColor(0x4e, 0x79, 0xa7).stroke_width(2),
        ),
    ]
    .into_iter()
    .filter_map(|(mark, name, ring)| mark.map(|p| (p, format!("{name} (#{})", p.0), ring)))
    .collect();
    let bound_style = BOUND.stroke_width(2);
    let cross_style = INFEASIBLE.stroke_width(2);
    let mut legend = Legend::new();
    if let Some(label) = &bound_label {
        legend.add(label.clone(), Mark::Line(bound_style));
    }
    if points.iter().any(|p| p.3) {
        legend.add("feasible", Mark::Dot(FEASIBLE.filled()));
    }
    if points.iter().any(|p| !p.3) {
        legend.add("infeasible", Mark::Cross(cross_style));
    }
    for (_, label, ring) in &marks {
        legend.add(label.clone(), Mark::Ring(*ring));
    }
    let gutter = legend.width();
    let chart = draw_svg(
        TUNING,
        &title,
        (960 + gutter, 520),
        |root: &Area<'_>| -> DrawResult {
            let mut chart = frame(root, &title, 40 + gutter, 80)
                .build_cartesian_2d(x_range.clone(), y_range.clone())?;
            house_mesh(
                chart
                    .configure_mesh()
                    .x_desc(shorten(&x_desc, 90))
                    .y_desc(y_desc.as_str()),
            )
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .draw()?;
            if let Some((b, _)) = &bound {
                chart.draw_series(DashedLineSeries::new(
                    vec![(*b, y_range.start), (*b, y_range.end)],
                    8,
                    5,
                    bound_style,
                ))?;
            }
            chart.draw_series(
                points
                    .iter()
                    .filter(|p| p.3)
                    .map(|p| Circle::new((p.1, p.2), 5, FEASIBLE.filled())),
            )?;
            chart.draw_series(points.iter().filter(|p| !p.3).map(|p| {
                EmptyElement::at((p.1, p.2))
                    + PathElement::new(vec![(-5, -5), (5, 5)], cross_style)
                    + PathElement::new(vec![(-5, 5), (5, -5)], cross_style)
            }))?;
            for (p, _, ring) in &marks {
                chart.draw_series(std::iter::once(Circle::new((p.1, p.2), 11, *ring)))?;
            }
            legend.draw(root, &chart, 26)
        },
    )?;
    Ok(Some(chart))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_parse() {
        assert_eq!(
            parse_constraint("wait_p95_ms ≤ 50"),
            Some(Constraint {
                metric: "wait_p95_ms".into(),
                op: "≤",
                bound: Some(50.0)
            })
        );
        let c = parse_constraint("error_rate <= 0.01 (fraction)");
        assert_eq!(c.map(|c| (c.op, c.bound)), Some(("<=", Some(0.01))));
        let c = parse_constraint("timeouts>=1e3");
        assert_eq!(
            c.map(|c| (c.metric, c.bound)),
            Some(("timeouts".into(), Some(1000.0)))
        );
        assert_eq!(parse_constraint("no operator here"), None);
        assert_eq!(parse_constraint("≤ 5"), None);
        assert_eq!(parse_constraint("x < soon").map(|c| c.bound), Some(None));
    }
}
