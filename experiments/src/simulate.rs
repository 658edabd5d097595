//! `poolcast simulate`.

use std::path::Path;

use anyhow::{Context, Result};
use poolcast_sim::erlang::{erlang_c, mmc_mean_wait};
use poolcast_sim::workload::ServiceDist;
use poolcast_sim::{Scenario, ScenarioFile, Summary};

/// Theory for a scenario that is an M/M/c queue: one exponential class,
/// a fixed pool, steady Poisson arrivals, no failures, no contention.
fn mmc_theory(sc: &Scenario) -> Option<(f64, f64)> {
    let [class] = sc.classes.as_slice() else {
        return None;
    };
    let ServiceDist::Exponential { mean_ms } = class.service else {
        return None;
    };
    if !sc.pool.is_fixed()
        || sc.replay.is_some()
        || !sc.load.patterns.is_empty()
        || class.statements > 1
        || class.think_ms.is_some()
        || sc.database.contention_knee != 0
        || sc.failures != Default::default()
    {
        return None;
    }
    let c = sc.pool.settings.max_size;
    let lambda = sc.load.base_rate;
    let s = mean_ms / 1000.0;
    Some((
        erlang_c(c, lambda * s)?,
        mmc_mean_wait(c, lambda, s)? * 1000.0,
    ))
}

pub fn simulate(path: &Path, out: &Path, quiet: bool) -> Result<()> {
    let file = ScenarioFile::load(path)?;
    for w in &file.warnings {
        eprintln!("warning: {}: {}", w.path, w.message);
    }
    std::fs::create_dir_all(out).with_context(|| format!("could not create {}", out.display()))?;
    let summaries = poolcast_sim::output::run_file(&file, out)?;
    if !quiet {
        print_table(&file, &summaries);
        outln!("\nwrote {}", out.display());
    }
    Ok(())
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.2}"))
}

fn print_table(file: &ScenarioFile, summaries: &[Summary]) {
    outln!(
        "{:<22} {:>3} {:<20} {:>10} {:>7} {:>9} {:>9} {:>9} {:>6} {:>8} {:>8} {:>12}",
        "scenario",
        "rep",
        "policy",
        "requests",
        "p_wait",
        "wait_ms",
        "p95_ms",
        "p99_ms",
        "util",
        "failed",
        "conn_s",
        "events/s"
    );
    let mut i = 0;
    let mut traced = std::collections::HashSet::new();
    for sc in &file.scenarios {
        for rep in 0..sc.replications {
            let s = &summaries[i];
            i += 1;
            outln!(
                "{:<22} {:>3} {:<20} {:>10} {:>7.4} {:>9} {:>9} {:>9} {:>6.3} {:>8} {:>8.0} {:>12.3e}",
                sc.name,
                rep,
                s.policy,
                s.requests,
                s.p_wait,
                fmt_opt(s.acquire_wait_mean_ms),
                fmt_opt(s.acquire_wait_p95_ms),
                fmt_opt(s.acquire_wait_p99_ms),
                s.utilization,
                s.failed(),
                s.connection_seconds,
                s.events_per_sec,
            );
            // A closed loop: how many requests followed their client's
            // previous one, so a reader sees how much of the trace moved.
            if let Some(c) = s.closed_loop {
                out!(
                    "  closed loop: {} after their client's previous request ended, {} beside it, \
                     {} at their recorded time",
                    c.after_end,
                    c.beside,
                    c.own_time
                );
                if c.dropped > 0 {
                    out!(", {} never sent (past their chain's end)", c.dropped);
                }
                outln!();
            }
        }
        // What the traced pool itself measured on these requests, once per
        // trace and length: to set beside a modeled pool like the traced one.
        if let Some(r) = &sc.replay
            && r.speed == 1.0
            && let Some(info) = &r.loaded
            && traced.insert((info.fingerprint.clone(), sc.horizon_ns()))
            && let Some(w) = r.trace().and_then(|t| t.recorded_waits(sc.horizon_ns()))
        {
            outln!(
                "{:<22} {:>3} {:<20} {:>10} {:>7.4} {:>9.2} {:>9.2} {:>9.2} {:>6} {:>8}",
                "  as traced (its pool)",
                "",
                "",
                w.granted + w.not_granted,
                w.p_wait,
                w.mean_ms,
                w.p95_ms,
                w.p99_ms,
                "",
                w.not_granted,
            );
        }
        if let Some((pw, w)) = mmc_theory(sc) {
            outln!(
                "{:<22} {:>3} {:<20} {:>10} {:>7.4} {:>9.2}",
                "  Erlang C theory",
                "",
                "",
                "",
                pw,
                w
            );
        }
    }
}
