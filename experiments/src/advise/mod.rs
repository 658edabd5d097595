//! `poolcast advise <trace>`: one command from a trace to the pool to
//! run, with the evidence.
//!
//! ```text
//! trace ─▶ profile (one streaming read) ─▶ plan: split in time, interval,
//!   horizon, static size and max size from the training part only
//!   ─▶ manifest.toml in the run directory ─▶ `poolcast run` on it (train
//!   on the first part, tune in closed loop, compare every policy on the
//!   held-out part) ─▶ evidence over held-out blocks ─▶ advice.md,
//!   advice.json, advice.pool.toml
//! ```
//!
//! The manifest is an ordinary one: `poolcast run <run dir>/manifest.toml`
//! finds the same run directory and reuses every step.

mod evidence;
mod plan;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use poolcast::core::settings::{ControllerSettings, PoolFile};
use poolcast_reports::{Estimate, RunReport, cost_is_material, wait_is_material};
use serde::Serialize;

use crate::cache::write_atomic;
use crate::manifest::{Manifest, PolicySpec};
use crate::policies;
use evidence::{Blocks, Difference, PolicyEvidence, block_count, choose};
use plan::{BLOCKS, Knobs, Plan};

/// Options of `poolcast advise`.
#[derive(clap::Args, Debug)]
pub struct AdviseArgs {
    /// A PostgreSQL log (csvlog, jsonlog, stderr), an OTLP/JSON span
    /// export, a directory of them, a trace recorder directory, or a
    /// requests.parquet.
    pub trace: PathBuf,
    /// Parent of the experiment directories.
    #[arg(long, short, default_value = "runs")]
    pub out: PathBuf,
    /// The mean acquire wait the pool must meet, in ms.
    #[arg(long, default_value_t = 5.0)]
    pub wait_target_ms: f64,
    /// The most connections the pool may open (default: twice the most
    /// Erlang C asks for in the training part, at least 4).
    #[arg(long)]
    pub max_size: Option<u32>,
    /// Mean time to open a connection at the target database, in ms
    /// (TCP, TLS and authentication; a local server takes ~3, a managed
    /// one over TLS tens to hundreds).
    #[arg(long, default_value_t = 50.0)]
    pub create_ms: f64,
    /// The share of the trace's time, at its end, held out for comparing
    /// the policies.
    #[arg(long, default_value_t = 1.0 / 3.0)]
    pub held_out: f64,
    /// Milliseconds added to every replayed hold: what a client adds to a
    /// server log's statement durations (round trips, work between
    /// checkout and return).
    #[arg(long, default_value_t = 0.0)]
    pub hold_add_ms: f64,
    /// Replay open-loop even when the trace names its clients.
    #[arg(long)]
    pub open_loop: bool,
    /// The form of a log: csvlog, jsonlog, stderr or otlp (default: found
    /// from each file).
    #[arg(long)]
    pub format: Option<String>,
    /// The server's log_line_prefix, for a stderr log.
    #[arg(long)]
    pub log_line_prefix: Option<String>,
    /// Print nothing but the advice and errors.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `advice.json`: what advise found, for scripts.
#[derive(Debug, Serialize)]
struct Advice {
    trace: String,
    format: String,
    requests: u64,
    span_s: f64,
    train_s: f64,
    held_out_s: f64,
    blocks: usize,
    interval_s: f64,
    horizon: u32,
    closed_loop: bool,
    wait_target_ms: f64,
    create_ms: f64,
    max_size: u32,
    policies: Vec<PolicyEvidence>,
    recommended: String,
    best_without_forecast: String,
    forecasting_adds: Option<Difference>,
    model_adds: Option<Difference>,
    /// `predictive-ideal − predictive-naive`: what a perfect forecast adds
    /// in the same machinery.
    ideal_adds: Option<Difference>,
    foresight_bound: Option<Difference>,
    notes: Vec<String>,
}

/// `poolcast advise`.
///
/// # Errors
/// A trace that cannot be read or split, bad knobs, or a failed run.
pub fn advise_cmd(a: &AdviseArgs) -> Result<()> {
    let trace = std::path::absolute(&a.trace)
        .with_context(|| format!("{}: cannot resolve the path", a.trace.display()))?;
    let profiled = crate::inspect::profile(
        &trace,
        a.format.as_deref(),
        a.log_line_prefix.as_deref(),
        a.wait_target_ms,
        10,
    )?;
    let p = &profiled.profile;
    let knobs = Knobs {
        wait_target_ms: a.wait_target_ms,
        max_size: a.max_size,
        create_ms: a.create_ms,
        held_out: a.held_out,
        hold_add_ms: a.hold_add_ms,
        open_loop: a.open_loop,
        format: a.format.clone(),
        log_line_prefix: a.log_line_prefix.clone(),
    };
    let plan = Plan::new(&trace, p, profiled.origin_s, knobs).map_err(|e| anyhow!(e))?;
    if !a.quiet {
        eprintln!(
            "advise: {} ({}), {} requests over {} s; training on the first {} s, \
             comparing on the last {} s",
            a.trace.display(),
            p.format,
            p.requests,
            secs(plan.span_s),
            secs(plan.split_s),
            secs(plan.held_out_s())
        );
    }
    let text = plan.manifest();
    let mut m = Manifest::parse_in(&text, "advise manifest", Path::new("."))
        .context("the manifest advise wrote does not validate (a bug: please report it)")?;
    let (root, _) = crate::run::run_root(&m, &a.out, None);
    m.origin = root.join("manifest.toml").display().to_string();
    let (root, report) = crate::run::run_manifest(&m, &a.out, a.quiet)?;
    let advice = advise(&m, &plan, p, &root, &report)?;
    let pool_toml = recommended_pool(&m, &root, &advice)?;
    write_atomic(&root.join("advice.pool.toml"), pool_toml.as_bytes())?;
    let text = render(&advice, &plan, &report, &pool_toml, &root);
    write_atomic(&root.join("advice.md"), text.as_bytes())?;
    write_atomic(
        &root.join("advice.json"),
        serde_json::to_string_pretty(&advice)?.as_bytes(),
    )?;
    out!("{text}");
    Ok(())
}

/// Reads the evaluation's held-out telemetry and weighs the policies.
fn advise(
    m: &Manifest,
    plan: &Plan,
    p: &poolcast_reports::trace::TraceProfile,
    root: &Path,
    report: &RunReport,
) -> Result<Advice> {
    let target = plan.knobs.wait_target_ms;
    let intervals = (plan.held_out_s() / plan.interval_s).round() as usize;
    let n = block_count(intervals, BLOCKS);
    let mut policies = Vec::new();
    for spec in &m.policies {
        let name = spec.name();
        let mut runs = Vec::new();
        for rep in m.eval_reps() {
            let f = root.join(format!(
                "telemetry/phase=eval/policy={name}/scenario=held-out/replication={rep}/snapshots.parquet"
            ));
            runs.push(
                poolcast_datasets::read_snapshots(&f)
                    .with_context(|| format!("reading {}", f.display()))?,
            );
        }
        policies.push(PolicyEvidence::new(
            &name,
            Blocks::from_runs(&runs, n),
            target,
        ));
    }
    let recommended = choose(&policies, true)
        .ok_or_else(|| anyhow!("no policy was evaluated"))?
        .policy
        .clone();
    let best = choose(&policies, false)
        .ok_or_else(|| anyhow!("no policy without a forecast was evaluated"))?;
    let find = |name: &str| policies.iter().find(|e| e.policy == name);
    let forecasting_adds = find("predictive").map(|pr| Difference::between(pr, best));
    let model_adds = find("predictive")
        .zip(find("predictive-naive"))
        .map(|(pr, nv)| Difference::between(pr, nv));
    let ideal_adds = find("predictive-ideal")
        .zip(find("predictive-naive"))
        .map(|(id, nv)| Difference::between(id, nv));
    let foresight_bound = find("oracle").map(|o| Difference::between(o, best));
    let mut notes = notes(plan, p, report);
    if !policies.iter().any(|e| e.meets_target) {
        notes.push(format!(
            "no policy met the {target} ms wait target within {} connections: the recommendation \
             is the one that waited least; give a larger --max-size if the database allows it",
            plan.max_size
        ));
    }
    Ok(Advice {
        trace: plan.trace.display().to_string(),
        format: p.format.clone(),
        requests: p.requests,
        span_s: plan.span_s,
        train_s: plan.split_s,
        held_out_s: plan.held_out_s(),
        blocks: n,
        interval_s: plan.interval_s,
        horizon: plan.horizon,
        closed_loop: plan.closed_loop,
        wait_target_ms: target,
        create_ms: plan.knobs.create_ms,
        max_size: plan.max_size,
        best_without_forecast: best.policy.clone(),
        recommended,
        forecasting_adds,
        model_adds,
        ideal_adds,
        foresight_bound,
        policies,
        notes,
    })
}

/// What the reader must know before acting on the advice.
fn notes(
    plan: &Plan,
    p: &poolcast_reports::trace::TraceProfile,
    report: &RunReport,
) -> Vec<String> {
    let mut v = Vec::new();
    if !plan.forecast {
        v.push(format!(
            "the training part holds {:.0} intervals of {} s, under the {} a forecaster is \
             trained on: only the policies that do not forecast were compared",
            plan.split_s / plan.interval_s,
            plan.interval_s,
            plan::MIN_TRAIN_ROWS
        ));
    }
    if plan.span_s < 600.0 {
        v.push(format!(
            "the trace spans {} s: advice from under ten minutes of traffic is a sketch; \
             a day of it sees the peaks a pool must meet",
            secs(plan.span_s)
        ));
    }
    if !plan.closed_loop {
        v.push(if plan.clients <= 1 {
            "the trace names no clients: replay is open-loop (arrivals keep their recorded \
             times however long the pool makes them wait), which overstates waits under a \
             pool too small"
                .to_string()
        } else {
            "open-loop replay (--open-loop)".to_string()
        });
    }
    v.push(
        "the recommendation is chosen on the held-out part it is scored on; the static size, \
         the model and its thresholds were fixed on the training part alone"
            .to_string(),
    );
    if plan.knobs.hold_add_ms == 0.0
        && (p.format.contains("csvlog")
            || p.format.contains("jsonlog")
            || p.format.contains("stderr"))
    {
        v.push(
            "a server log's durations are the server's: a pool holds a connection longer; \
             --hold-add-ms adds what your client adds"
                .to_string(),
        );
    }
    if let Some(f) = &report.forecast
        && let Some(h) = f.horizons.iter().find(|h| h.horizon == f.export_horizon)
        && h.leakage_alarm
    {
        v.push("the model trained on shuffled targets showed skill: distrust the forecast".into());
    }
    v.extend(p.caveats.iter().cloned());
    v
}

/// The `pool.toml` of the recommended policy: the run's own for the
/// predictive one (its artifact beside it), otherwise the held-out
/// scenario's pool under that policy.
fn recommended_pool(m: &Manifest, root: &Path, advice: &Advice) -> Result<String> {
    let header = format!(
        "# Recommended by `poolcast advise` for {}:\n\
         # {} (see advice.md beside this file for the evidence).\n\
         # Load it with poolcast::runtime::load_pool_file.\n\n",
        advice.trace, advice.recommended
    );
    if advice.recommended == "predictive" {
        let own = root.join("pool.toml");
        let body =
            std::fs::read_to_string(&own).with_context(|| format!("reading {}", own.display()))?;
        return Ok(format!("{header}{body}"));
    }
    let spec = PolicySpec::parse(&advice.recommended).map_err(|e| anyhow!(e))?;
    let sc = policies::scenario_for(m, "held-out", spec, &[], None, None)?;
    let file = PoolFile {
        pool: sc.pool.settings.clone(),
        controller: ControllerSettings {
            interval_s: m.interval_s,
            affinity: sc.pool.affinity.enabled,
            ..ControllerSettings::default()
        },
        policy: sc.pool.policy.clone(),
        breaker: sc.breaker.clone(),
        provenance: [
            ("advised_by".to_string(), "poolcast advise".to_string()),
            ("trace".to_string(), advice.trace.clone()),
            ("policy".to_string(), advice.recommended.clone()),
        ]
        .into_iter()
        .collect(),
    };
    file.validate()
        .map_err(|e| anyhow!("the recommended pool.toml would be refused: {e}"))?;
    let body = toml::to_string_pretty(&file).map_err(|e| anyhow!("writing pool.toml: {e}"))?;
    Ok(format!("{header}{body}"))
}

/// Seconds to three significant digits or whole.
fn secs(s: f64) -> String {
    if s >= 100.0 {
        format!("{s:.0}")
    } else {
        format!("{s:.3}")
    }
}

/// `mean [lo, hi]` to three significant digits of the largest.
fn ci(e: &Estimate) -> String {
    let big = e.mean.abs().max(e.lo.abs()).max(e.hi.abs());
    let d = if big >= 100.0 {
        0
    } else if big >= 10.0 {
        1
    } else if big >= 1.0 {
        2
    } else {
        3
    };
    format!("{:.d$} [{:.d$}, {:.d$}]", e.mean, e.lo, e.hi)
}

/// Whether an interval excludes zero.
fn excludes_zero(e: &Estimate) -> bool {
    e.hi < 0.0 || e.lo > 0.0
}

/// Whether an interval excludes zero, in words.
fn verdict(e: &Estimate, less: &str, more: &str) -> String {
    if e.hi < 0.0 {
        less.to_string()
    } else if e.lo > 0.0 {
        more.to_string()
    } else {
        "no difference the held-out blocks can tell apart".to_string()
    }
}

/// The advice, as printed and as `advice.md`.
fn render(a: &Advice, plan: &Plan, report: &RunReport, pool_toml: &str, root: &Path) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "# Pool advice for {}\n", a.trace);
    let _ = writeln!(
        t,
        "{} requests over {} s ({}). Trained and tuned on the first {} s; every policy \
         replayed ({}) through the modeled pool on the last {} s, which neither saw. 95% \
         intervals over {} consecutive blocks of the held-out part. Interval {} s, forecast \
         horizon {} interval(s), connections open in ~{} ms (--create-ms), at most {} \
         connections{}.\n",
        a.requests,
        secs(a.span_s),
        a.format,
        secs(a.train_s),
        if a.closed_loop {
            "closed loop: each client waits for its previous request"
        } else {
            "open loop"
        },
        secs(a.held_out_s),
        a.blocks,
        a.interval_s,
        a.horizon,
        a.create_ms,
        a.max_size,
        if plan.max_size_given {
            " (--max-size)"
        } else {
            " (twice the training part's Erlang C need; --max-size sets it)"
        },
    );
    let _ = writeln!(
        t,
        "## Held-out part, wait target {} ms\n\n\
         | policy | mean wait ms | connection-s | timeouts | meets target |\n\
         |---|---|---|---|---|",
        a.wait_target_ms
    );
    for e in &a.policies {
        let _ = writeln!(
            t,
            "| {}{} | {} | {} | {:.3}% | {} |",
            e.policy,
            match e.policy.as_str() {
                "oracle" => " (foresight: a bound, not deployable)",
                "static-matched" => " (the predictive pool's mean size)",
                "predictive-naive" => " (predictive driven by the best baseline forecaster)",
                _ => "",
            },
            ci(&e.wait_mean_ms),
            ci(&e.conn_s),
            e.timeout_rate * 100.0,
            if e.meets_target { "yes" } else { "no" }
        );
    }
    let _ = writeln!(t);
    if let Some(f) = &report.forecast
        && let Some(h) = f.horizons.iter().find(|h| h.horizon == f.export_horizon)
    {
        let acc = |name: &str| {
            h.models
                .iter()
                .find(|m| m.name == name)
                .map_or(f64::NAN, |m| m.test.accuracy)
        };
        let persistence = h
            .models
            .iter()
            .find(|m| m.name.starts_with("persistence"))
            .map_or(f64::NAN, |m| m.test.accuracy);
        let _ = writeln!(
            t,
            "Forecast of demand {} interval(s) ahead, on the training part's last rows: {} \
             (selected on validation) scores {:.3} (1 − WAPE), persistence {:.3}.\n",
            h.horizon,
            h.winner,
            acc(&h.winner),
            persistence
        );
    }
    let _ = writeln!(t, "## What forecasting adds\n");
    match &a.forecasting_adds {
        Some(d) => {
            let _ = writeln!(
                t,
                "predictive − {} (the best policy that does not forecast), block by block: \
                 connection-s {}, mean wait {} ms. Cost: {}. Waits: {}.",
                d.b,
                ci(&d.conn_s),
                ci(&d.wait_mean_ms),
                verdict(
                    &d.conn_s,
                    "forecasting saves connections",
                    "forecasting costs more connections"
                ),
                verdict(
                    &d.wait_mean_ms,
                    "forecasting waits less",
                    "forecasting waits more"
                ),
            );
        }
        None => {
            let _ = writeln!(
                t,
                "Not measured: the trace is too short to train a forecaster on (see below)."
            );
        }
    }
    let base = |name: &str| a.policies.iter().find(|e| e.policy == name);
    let material = |d: &Difference| {
        let b = base(&d.b);
        (
            cost_is_material(&d.conn_s, b.map(|e| e.conn_s.mean)),
            wait_is_material(&d.wait_mean_ms, b.map(|e| e.wait_mean_ms.mean)),
        )
    };
    if let Some(d) = &a.model_adds {
        let _ = writeln!(
            t,
            "\nThe model itself: predictive − predictive-naive (the same policy and thresholds \
             driven by the best baseline forecaster): connection-s {}, mean wait {} ms. {}",
            ci(&d.conn_s),
            ci(&d.wait_mean_ms),
            if material(d) != (false, false) {
                "At least one interval excludes 0."
            } else if excludes_zero(&d.conn_s) || excludes_zero(&d.wait_mean_ms) {
                "An interval excludes 0, but the change is too small to act on (under 0.1% of \
                 the cost and 1% of the wait): the learned model and the baseline forecaster \
                 size this pool alike."
            } else {
                "Neither interval excludes 0: the learned model adds nothing measurable over the \
                 baseline forecaster here."
            }
        );
    }
    if let Some(d) = &a.ideal_adds {
        let captured = a
            .model_adds
            .as_ref()
            .filter(|_| material(d).0)
            .map(|m| m.conn_s.mean / d.conn_s.mean + 0.0);
        let _ = writeln!(
            t,
            "\nA perfect forecast: predictive-ideal − predictive-naive (the same machinery sized \
             from the trace's known future demand): connection-s {}, mean wait {} ms. {}",
            ci(&d.conn_s),
            ci(&d.wait_mean_ms),
            match captured {
                Some(c) => format!(
                    "The model captures {:.0}% of that change in connection-seconds.",
                    c * 100.0
                ),
                None => "Its change in connection-seconds is not measurable (or under 0.1% of the \
                         cost), so there is no gain \
                         for a better model to capture."
                    .into(),
            }
        );
    }
    if let Some(d) = &a.foresight_bound {
        let _ = writeln!(
            t,
            "\nPerfect foresight (oracle) − {}: connection-s {}, mean wait {} ms: the most any \
             forecast could change.",
            d.b,
            ci(&d.conn_s),
            ci(&d.wait_mean_ms)
        );
    }
    // The pool, controller and policy; the breakers are the defaults,
    // in the file.
    let shown = pool_toml
        .find("\n[breaker")
        .map_or(pool_toml, |i| &pool_toml[..=i]);
    let _ = writeln!(
        t,
        "\n## Recommended: {}\n\n{}\n\n```toml\n{}# [breaker.*]: the defaults, in advice.pool.toml\n```\n",
        a.recommended,
        if a.policies
            .iter()
            .any(|e| e.policy == a.recommended && e.meets_target)
        {
            "The deployable policy with the fewest connection-seconds that met the wait target."
        } else {
            "No policy met the wait target: the one that waited least."
        },
        shown
    );
    let _ = writeln!(t, "## Before acting on it\n");
    for n in &a.notes {
        let _ = writeln!(t, "- {n}");
    }
    let _ = writeln!(
        t,
        "\nWrote {r}/advice.md, advice.json, advice.pool.toml; the run's report is \
         {r}/report.html; `poolcast run {r}/manifest.toml` runs it again.",
        r = root.display()
    );
    t
}
