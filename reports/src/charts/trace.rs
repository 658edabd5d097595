//! The charts of a trace profile (`poolcast inspect`): arrivals over time,
//! and connections busy over time beside the pool Erlang C asks for.

use plotters::prelude::*;

use super::{
    Area, DrawResult, Extent, Legend, MAX_POINTS, Mark, Points, clamp, color, decimate, draw_svg,
    frame, house_mesh, runs, tick, time_unit,
};
use crate::trace::TraceProfile;
use crate::{Chart, ReportError};

/// File name of the arrival-rate chart.
pub(crate) const ARRIVALS: &str = "trace-arrivals.svg";
/// File name of the concurrency chart.
pub(crate) const CONCURRENCY: &str = "trace-concurrency.svg";

/// Both charts, those with data.
pub(crate) fn render(p: &TraceProfile) -> Result<Vec<Chart>, ReportError> {
    let s = &p.series;
    let arrivals = lines_chart(
        ARRIVALS,
        &format!("Arrivals per second ({} s bins)", tick(s.bin_s)),
        "requests per second",
        &s.t_s,
        &[("arrival rate", &s.arrivals_per_s)],
    )?;
    let concurrency = lines_chart(
        CONCURRENCY,
        &format!(
            "Connections busy if each request held one, and the pool Erlang C asks for ({} ms mean wait)",
            tick(p.sizing.wait_target_ms)
        ),
        "connections",
        &s.t_s,
        &[
            ("busy, mean over the bin", &s.busy_mean),
            ("busy, peak in the bin", &s.busy_peak),
            ("smallest pool meeting the wait target", &s.pool_needed),
        ],
    )?;
    Ok(arrivals.into_iter().chain(concurrency).collect())
}

/// A chart of some lines over the trace's time.
fn lines_chart(
    file: &str,
    title: &str,
    y_desc: &str,
    t_s: &[f64],
    lines: &[(&str, &Vec<f64>)],
) -> Result<Option<Chart>, ReportError> {
    let segs: Vec<(usize, &str, Vec<Points>)> = lines
        .iter()
        .enumerate()
        .map(|(k, (name, v))| {
            let n = t_s.len().min(v.len());
            let segs = runs(n, |i| t_s[i].is_finite() && v[i].is_finite())
                .into_iter()
                .map(|r| r.map(|i| (clamp(t_s[i]), clamp(v[i]))).collect())
                .collect();
            (k, *name, segs)
        })
        .collect();
    let all = || segs.iter().flat_map(|s| s.2.iter().flatten());
    let (Some(t_ext), Some(y_ext)) = (
        Extent::of(all().map(|p| p.0)),
        Extent::of(all().map(|p| p.1)),
    ) else {
        return Ok(None);
    };
    let (div, unit) = time_unit(t_ext.hi - t_ext.lo);
    let x_range = Extent {
        lo: t_ext.lo / div,
        hi: t_ext.hi / div,
    }
    .range(0.0);
    let mut y_range = y_ext.with(0.0).range(0.06);
    y_range.start = 0.0;
    let mut legend = Legend::new();
    for (k, name, _) in &segs {
        legend.add(*name, Mark::Line(color(*k).stroke_width(2)));
    }
    let gutter = legend.width();
    let chart = draw_svg(
        file,
        title,
        (960 + gutter, 420),
        |root: &Area<'_>| -> DrawResult {
            let mut chart = frame(root, title, 14 + gutter, 70)
                .build_cartesian_2d(x_range.clone(), y_range.clone())?;
            house_mesh(
                chart
                    .configure_mesh()
                    .x_desc(format!("time since the first arrival ({unit})"))
                    .y_desc(y_desc),
            )
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .draw()?;
            for (k, _, s) in &segs {
                let style = color(*k).stroke_width(2);
                let scaled = s.iter().map(|seg| {
                    decimate(
                        &seg.iter().map(|&(t, v)| (t / div, v)).collect::<Vec<_>>(),
                        MAX_POINTS,
                    )
                });
                chart.draw_series(scaled.map(|seg| PathElement::new(seg, style)))?;
            }
            legend.draw(root, &chart, 0)
        },
    )?;
    Ok(Some(chart))
}
