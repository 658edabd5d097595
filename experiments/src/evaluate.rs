//! The closed-loop comparison's tables: per scenario and policy, every
//! metric as a mean with its 95% interval over replications, the pooled
//! acquire-wait distribution and the size-versus-demand series.

use poolcast_reports::{
    Contribution, PolicyRow, PolicyScenario, PolicySection, SizeSeries, WaitCdf,
};
use poolcast_sim::Summary;
use poolcast_sim::summary::WAIT_QUANTILE_LEVELS;

use crate::manifest::Manifest;
use crate::simjob::Series;
use crate::stats::estimate;

/// The runs of one (policy, scenario): summaries by replication, and the
/// first replication's series.
#[derive(Debug, Clone)]
pub struct Cell {
    /// Policy name.
    pub policy: String,
    /// Scenario name.
    pub scenario: String,
    /// One summary per replication, in replication order.
    pub runs: Vec<Summary>,
    /// Size and demand over time of the first replication.
    pub series: Series,
}

fn est(runs: &[Summary], f: impl Fn(&Summary) -> f64) -> poolcast_reports::Estimate {
    estimate(&runs.iter().map(f).collect::<Vec<_>>())
}

/// The report row of one cell.
pub fn row(c: &Cell) -> PolicyRow {
    let r = &c.runs;
    let opt = |v: Option<f64>| v.unwrap_or(f64::NAN);
    let req = |s: &Summary| s.requests.max(1) as f64;
    let categories: Vec<String> = r
        .first()
        .map(|s| s.failed_by_category.keys().cloned().collect())
        .unwrap_or_default();
    PolicyRow {
        policy: c.policy.clone(),
        replications: r.len() as u32,
        wait_mean_ms: est(r, |s| opt(s.acquire_wait_mean_ms)),
        wait_p50_ms: est(r, |s| opt(s.acquire_wait_p50_ms)),
        wait_p95_ms: est(r, |s| opt(s.acquire_wait_p95_ms)),
        wait_p99_ms: est(r, |s| opt(s.acquire_wait_p99_ms)),
        latency_mean_ms: est(r, |s| s.mean_time_in_system_ms),
        throughput_rps: est(r, |s| s.throughput_rps),
        timeouts: est(r, |s| s.timeouts as f64),
        errors: est(r, |s| s.failed() as f64),
        rejected: est(r, |s| s.rejected as f64),
        error_rate: est(r, |s| (s.failed() + s.rejected) as f64 / req(s)),
        errors_by_category: categories
            .iter()
            .map(|cat| {
                (
                    cat.clone(),
                    est(r, |s| {
                        s.failed_by_category.get(cat).copied().unwrap_or(0) as f64
                    }),
                )
            })
            .collect(),
        connection_seconds: est(r, |s| s.connection_seconds),
        mean_size: est(r, |s| s.mean_size),
        scale_events: est(r, |s| s.scale_events as f64),
        cache_hit_rate: r
            .iter()
            .any(|s| s.cache_hit_rate.is_some())
            .then(|| est(r, |s| opt(s.cache_hit_rate))),
    }
}

/// The acquire-wait distribution of a cell: at each quantile level, the
/// mean over replications of that quantile (quantile averaging, so every
/// replication weighs the same).
pub fn wait_cdf(c: &Cell) -> WaitCdf {
    let with: Vec<&Vec<f64>> = c
        .runs
        .iter()
        .map(|s| &s.acquire_wait_quantiles_ms)
        .filter(|q| q.len() == WAIT_QUANTILE_LEVELS.len())
        .collect();
    if with.is_empty() {
        return WaitCdf {
            policy: c.policy.clone(),
            wait_ms: Vec::new(),
            fraction: Vec::new(),
        };
    }
    let n = with.len() as f64;
    let wait_ms: Vec<f64> = (0..WAIT_QUANTILE_LEVELS.len())
        .map(|i| with.iter().map(|q| q[i]).sum::<f64>() / n)
        .collect();
    WaitCdf {
        policy: c.policy.clone(),
        wait_ms,
        fraction: WAIT_QUANTILE_LEVELS.to_vec(),
    }
}

/// `a − b` of two policies' cells, paired by replication (the same
/// requests), when both are among `cells`.
pub fn contribution(cells: &[&Cell], a: &str, b: &str) -> Option<Contribution> {
    let find = |p: &str| cells.iter().find(|c| c.policy == p);
    let (ca, cb) = (find(a)?, find(b)?);
    let diff = |f: &dyn Fn(&Summary) -> f64| {
        estimate(
            &ca.runs
                .iter()
                .zip(&cb.runs)
                .map(|(x, y)| f(x) - f(y))
                .collect::<Vec<_>>(),
        )
    };
    Some(Contribution {
        a: a.into(),
        b: b.into(),
        connection_seconds: diff(&|s| s.connection_seconds),
        wait_mean_ms: diff(&|s| s.acquire_wait_mean_ms.unwrap_or(f64::NAN)),
    })
}

/// The policy section of the report from every evaluated cell (in policy
/// order within each scenario).
pub fn section(m: &Manifest, cells: &[Cell]) -> PolicySection {
    let scenarios = m
        .eval_scenarios
        .iter()
        .map(|name| {
            let mine: Vec<&Cell> = cells.iter().filter(|c| &c.scenario == name).collect();
            PolicyScenario {
                scenario: name.clone(),
                seen_in_training: m.is_data_scenario(name),
                rows: mine.iter().map(|c| row(c)).collect(),
                wait_cdf: mine.iter().map(|c| wait_cdf(c)).collect(),
                size_series: mine
                    .iter()
                    .map(|c| SizeSeries {
                        policy: c.policy.clone(),
                        t_s: c.series.t_s.clone(),
                        size: c.series.size.clone(),
                        demand: c.series.demand.clone(),
                    })
                    .collect(),
                model_contribution: contribution(&mine, "predictive", "predictive-naive"),
                ideal_contribution: contribution(&mine, "predictive-ideal", "predictive-naive"),
            }
        })
        .collect();
    PolicySection {
        replications: m.body.evaluation.replications,
        baseline: m.body.claims.baseline.clone(),
        scenarios,
    }
}
