//! `poolcast run <manifest.toml>`: the workbench's main job, end to end.
//!
//! ```text
//! manifest ─▶ data runs (scenario × replication, rayon) ─▶ features.parquet
//!   ─▶ train every family beside the baselines ─▶ winner at the export horizon
//!   ─▶ tune thresholds in closed loop (candidate × scenario × replication)
//!   ─▶ artifact.json + pool.toml
//!   ─▶ evaluate every policy on held-out replications (policy × scenario × replication)
//!   ─▶ metrics.json, report.md, report.html, charts/, timings.json
//! ```
//!
//! Everything lands in `<out>/<experiment>/<run-id>/`; the run id is the
//! start of the resolved manifest's hash, so the same manifest finds its
//! own directory again and reuses every finished step (see [`crate::cache`]).
//! Every file is a deterministic function of the manifest and the program
//! except `timings.json` (wall-clock measurements) and the
//! machine-measured block of the two reports.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use poolcast_reports::{Meta, RunReport, ScenarioInfo, StepTiming};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::cache::write_atomic;
use crate::manifest::{Manifest, PolicySpec};
use crate::overrides::Override;
use crate::policies::{self};
use crate::simjob::{self, JobOutput, SimJob, read_json, to_json};
use crate::tune;

pub(crate) mod steps;
mod waves;

/// Options of `poolcast run`.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// The experiment manifest (see docs/reference/manifest.md).
    pub manifest: PathBuf,
    /// Parent of the experiment directories.
    #[arg(long, short, default_value = "runs")]
    pub out: PathBuf,
    /// Name of the run directory (default: the first 12 hex digits of the
    /// resolved manifest's hash). A run directory reuses every step whose
    /// inputs did not change.
    #[arg(long)]
    pub run_id: Option<String>,
    /// Run only slice `i` of `n` of the simulations that need no model
    /// (data runs and the model-free policies' evaluation runs), for a
    /// Kubernetes Indexed Job or a Slurm array; `poolcast merge` combines
    /// the shards, then `poolcast run` finishes.
    #[arg(long, value_parser = parse_shard)]
    pub shard: Option<(u32, u32)>,
    /// Print nothing but errors and warnings.
    #[arg(long, short)]
    pub quiet: bool,
    /// Check the manifest and print the plan (run directory, simulations
    /// per step) without running anything.
    #[arg(long)]
    pub check: bool,
    /// Run the steps up to and including this one, then stop (no report):
    /// `--until train` between the first and second waves of a sharded
    /// run.
    #[arg(long, value_enum)]
    pub until: Option<Until>,
}

fn parse_shard(s: &str) -> Result<(u32, u32), String> {
    let (i, n) = s
        .split_once('/')
        .ok_or_else(|| format!("`{s}`: expected i/n, e.g. 0/4"))?;
    let i: u32 = i.parse().map_err(|_| format!("`{s}`: i is not a number"))?;
    let n: u32 = n.parse().map_err(|_| format!("`{s}`: n is not a number"))?;
    if n == 0 || i >= n {
        return Err(format!("`{s}`: expected 0 ≤ i < n"));
    }
    Ok((i, n))
}

/// The last step `poolcast run --until` runs, in step order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Until {
    /// The data runs.
    Data,
    /// The feature table.
    Features,
    /// Training (the one-machine step between shard waves 1 and 2).
    Train,
    /// The tuning runs and the winner.
    Tune,
    /// `artifact.json` and `pool.toml`.
    Export,
    /// Every evaluation run (all but the report).
    Evaluate,
}

/// `run.json`: what produced the run directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunInfo {
    /// The experiment name.
    pub experiment: String,
    /// The run directory's name.
    pub run_id: String,
    /// SHA-256 of the resolved manifest.
    pub manifest_hash: String,
    /// `git describe`-like revision of the working tree the program ran in
    /// (`unknown` outside a git checkout; `-dirty` with local changes).
    pub git_revision: String,
    /// Versions of the workspace's crates.
    pub versions: Vec<(String, String)>,
}

/// The crates of this build and their versions. Every crate of the
/// workspace takes `workspace.package.version`, so this crate's version is
/// theirs too.
pub fn versions() -> Vec<(String, String)> {
    [
        "poolcast",
        "poolcast-sim",
        "poolcast-datasets",
        "poolcast-models",
        "poolcast-reports",
        "poolcast-lab",
    ]
    .iter()
    .map(|c| (c.to_string(), env!("CARGO_PKG_VERSION").to_string()))
    .collect()
}

/// The git revision of the checkout holding `dir` (the manifest's
/// directory).
pub fn git_revision(dir: &Path) -> String {
    let out = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match out(&["rev-parse", "HEAD"]) {
        None => "unknown".into(),
        Some(rev) => {
            let dirty = out(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty { format!("{rev}-dirty") } else { rev }
        }
    }
}

/// Progress and step timing on the terminal.
struct Ui {
    quiet: bool,
    steps: Vec<StepTiming>,
}

impl Ui {
    fn bar(&self, len: usize, what: &str) -> ProgressBar {
        if self.quiet {
            return ProgressBar::hidden();
        }
        let pb = ProgressBar::new(len as u64);
        pb.set_style(
            ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        pb.set_prefix(what.to_string());
        pb
    }

    fn say(&self, s: &str) {
        if !self.quiet {
            eprintln!("{s}");
        }
    }

    fn step(&mut self, name: &str, t0: Instant, reused: bool) {
        let seconds = t0.elapsed().as_secs_f64();
        self.say(&format!(
            "{name:>10}: {} in {seconds:.1} s",
            if reused { "reused" } else { "done" }
        ));
        self.steps.push(StepTiming {
            name: name.into(),
            seconds,
            reused,
        });
    }
}

/// Runs the simulations `jobs` (in parallel on the current rayon pool),
/// returning their outputs in job order.
fn run_jobs(root: &Path, jobs: &[SimJob], ui: &Ui, what: &str) -> Result<Vec<JobOutput>> {
    let pb = ui.bar(jobs.len(), what);
    let out: Vec<Result<JobOutput>> = jobs
        .par_iter()
        .map(|j| {
            let r = j.run(root);
            pb.inc(1);
            r
        })
        .collect();
    pb.finish_and_clear();
    out.into_iter().collect()
}

/// The data runs of `m`.
///
/// # Errors
/// A data scenario under `data.policy` that does not validate.
pub fn data_jobs(m: &Manifest) -> Result<Vec<SimJob>> {
    let mut jobs = Vec::new();
    for (name, reps) in &m.data {
        let mut sc = m.scenario(name)?.clone().into_inner();
        if let Some(p) = &m.body.data.policy {
            sc.pool.policy = Some(p.clone());
        }
        let policy = sc.pool.policy_config().build().name();
        let sc = simjob::validated(sc, &policy)?;
        for r in 0..*reps {
            jobs.push(SimJob {
                phase: "data",
                policy: policy.clone(),
                scenario: sc.clone(),
                seed: m.body.experiment.seed,
                replication: r,
                dir: PathBuf::from(format!(
                    "telemetry/phase=data/scenario={name}/replication={r}"
                )),
                telemetry: true,
                extra_key: String::new(),
            });
        }
    }
    Ok(jobs)
}

/// The evaluation jobs of `spec` on `scenario`, `sc` set up for it: one
/// per replication, from `rep0`.
///
/// # Errors
/// `sc` does not validate.
pub(crate) fn eval_jobs(
    m: &Manifest,
    spec: PolicySpec,
    scenario: &str,
    reps: std::ops::Range<u32>,
    sc: poolcast_sim::Scenario,
    extra_key: &str,
) -> Result<Vec<SimJob>> {
    let policy = spec.name();
    let sc = simjob::validated(sc, &policy)?;
    Ok(reps
        .map(|rep| SimJob {
            phase: "eval",
            dir: PathBuf::from(format!(
                "telemetry/phase=eval/policy={policy}/scenario={scenario}/replication={rep}"
            )),
            policy: policy.clone(),
            scenario: sc.clone(),
            seed: m.body.experiment.seed,
            replication: rep,
            telemetry: m.body.evaluation.telemetry,
            extra_key: extra_key.to_string(),
        })
        .collect())
}

/// The evaluation runs of the policies that need no model, in (policy,
/// scenario, replication) order, under the tuned pool and breaker
/// overrides `shared`.
pub fn model_free_eval_jobs(m: &Manifest, shared: &[Override]) -> Result<Vec<SimJob>> {
    let mut jobs = Vec::new();
    for &spec in m.policies.iter().filter(|p| !p.needs_model()) {
        for name in &m.eval_scenarios {
            let sc = policies::scenario_for(m, name, spec, shared, None, None)?;
            jobs.extend(eval_jobs(m, spec, name, m.eval_reps(), sc, "")?);
        }
    }
    Ok(jobs)
}

/// The run directory of `m` under `out`.
pub fn run_root(m: &Manifest, out: &Path, run_id: Option<&str>) -> (PathBuf, String) {
    let id = run_id.map_or_else(|| m.hash()[..12].to_string(), str::to_string);
    (out.join(&m.body.experiment.name).join(&id), id)
}

fn write_run_files(m: &Manifest, root: &Path, run_id: &str) -> Result<RunInfo> {
    write_atomic(&root.join("manifest.toml"), m.text.as_bytes())?;
    write_atomic(
        &root.join("manifest.resolved.json"),
        &to_json(&m.resolved()),
    )?;
    let info = RunInfo {
        experiment: m.body.experiment.name.clone(),
        run_id: run_id.into(),
        manifest_hash: m.hash(),
        git_revision: git_revision(
            Path::new(&m.origin)
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new(".")),
        ),
        versions: versions(),
    };
    write_atomic(&root.join("run.json"), &to_json(&info))?;
    Ok(info)
}

/// The shard bookkeeping file: which jobs a shard finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardRecord {
    /// The wave it ran (1: data and model-free evaluation, 2: tuning,
    /// 3: model-driven evaluation); records from before waves are wave 1.
    #[serde(default = "first_wave")]
    pub wave: u32,
    /// This shard.
    pub index: u32,
    /// Shards in all.
    pub count: u32,
    /// The manifest hash every shard must share.
    pub manifest_hash: String,
    /// (directory, key) of every job of this shard.
    pub jobs: Vec<(String, String)>,
}

fn first_wave() -> u32 {
    1
}

/// The file name of a shard's record: `shard-<i>-of-<n>.json` for the
/// first wave, `shard-<i>-of-<n>.wave-<w>.json` for the later ones.
pub fn record_name(wave: u32, i: u32, n: u32) -> String {
    if wave == 1 {
        format!("shard-{i}-of-{n}.json")
    } else {
        format!("shard-{i}-of-{n}.wave-{wave}.json")
    }
}

/// Every job that can run before the model exists, in a fixed order (the
/// shard plan): the data runs, and the model-free policies' evaluation
/// unless tuning searches pool or breaker settings they share.
pub fn shard_plan(m: &Manifest) -> Result<Vec<SimJob>> {
    let mut jobs = data_jobs(m)?;
    if !m.tunes_shared() {
        jobs.extend(model_free_eval_jobs(m, &[])?);
    }
    Ok(jobs)
}

/// `poolcast run`.
///
/// # Errors
/// A bad manifest, a failed simulation, training or write; each names what
/// failed.
pub fn run_cmd(a: &RunArgs) -> Result<PathBuf> {
    let m = Manifest::load(&a.manifest)?;
    for w in &m.warnings {
        eprintln!("warning: {w}");
    }
    let (root, run_id) = run_root(&m, &a.out, a.run_id.as_deref());
    if a.check {
        print_plan(&m, &root)?;
        return Ok(root);
    }
    let (info, mut ui) = open_run(&m, &root, &run_id, a.quiet)?;
    if let Some((i, n)) = a.shard {
        let t0 = Instant::now();
        let slice = match waves::run_shard(&m, &root, &info, &mut ui, (i, n), &a.manifest)? {
            waves::Outcome::Ran(slice) => slice,
            waves::Outcome::Idle(why) => {
                // on stderr even with --quiet: the shard did nothing, and
                // the log of a scheduled task must say why
                eprintln!("shard {i}/{n}: nothing to run: {why}");
                return Ok(root);
            }
        };
        let rec = ShardRecord {
            wave: slice.wave,
            index: i,
            count: n,
            manifest_hash: info.manifest_hash.clone(),
            jobs: slice
                .jobs
                .iter()
                .map(|j| (j.dir.display().to_string(), j.key()))
                .collect(),
        };
        write_atomic(
            &root.join("shards").join(record_name(slice.wave, i, n)),
            &to_json(&rec),
        )?;
        ui.step("shard", t0, false);
        let next = match slice.wave {
            1 => format!(
                "`poolcast merge <shard run dirs...> --out <dir>`, then `poolcast run {} --until \
                 train` for the next wave or `poolcast run {}` to finish",
                a.manifest.display(),
                a.manifest.display()
            ),
            2 => "start the shards again for the evaluation wave".to_string(),
            _ => format!("`poolcast run {}` to finish", a.manifest.display()),
        };
        ui.say(&format!(
            "shard {i}/{n}, wave {}: {} simulations done. When every shard is done: {next}.",
            slice.wave,
            slice.jobs.len(),
        ));
        return Ok(root);
    }
    let report = steps::run_all(&m, &root, &info, &mut ui, a.until)?;
    match report {
        Some(report) if !a.quiet => print_summary(&m, &report, &root),
        Some(_) => {}
        None => ui.say(&format!(
            "stopped after {:?} (--until); `poolcast run {}` goes on from there",
            a.until.unwrap_or(Until::Evaluate),
            a.manifest.display()
        )),
    }
    Ok(root)
}

/// Runs a manifest already loaded (one `poolcast advise` wrote) end to
/// end in its run directory under `out`, printing progress unless
/// `quiet` but no summary: the caller says what the run means.
///
/// # Errors
/// As [`run_cmd`].
pub(crate) fn run_manifest(m: &Manifest, out: &Path, quiet: bool) -> Result<(PathBuf, RunReport)> {
    let (root, run_id) = run_root(m, out, None);
    let (info, mut ui) = open_run(m, &root, &run_id, quiet)?;
    let report = steps::run_all(m, &root, &info, &mut ui, None)?
        .ok_or_else(|| anyhow::anyhow!("the run stopped before its report"))?;
    Ok((root, report))
}

/// Creates the run directory `root` of `m`, writes its manifest copies
/// and `run.json`, and says where the run goes.
fn open_run(m: &Manifest, root: &Path, run_id: &str, quiet: bool) -> Result<(RunInfo, Ui)> {
    std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    let info = write_run_files(m, root, run_id)?;
    let ui = Ui {
        quiet,
        steps: Vec::new(),
    };
    ui.say(&format!(
        "run {} of {} → {}",
        run_id,
        m.body.experiment.name,
        root.display()
    ));
    Ok((info, ui))
}

fn print_plan(m: &Manifest, root: &Path) -> Result<()> {
    let data = data_jobs(m)?;
    let free = model_free_eval_jobs(m, &[])?;
    let cands = tune::candidates(m);
    let tune_runs = cands.len()
        * m.tuning_scenarios.len()
        * m.body
            .tuning
            .as_ref()
            .map_or(0, |t| t.replications as usize);
    let model_runs: usize = m.policies.iter().filter(|p| p.needs_model()).count()
        * m.eval_scenarios.len()
        * m.body.evaluation.replications as usize;
    let requests =
        |jobs: &[SimJob]| -> f64 { jobs.iter().map(|j| j.scenario.offered_requests()).sum() };
    outln!("{}: valid; run directory {}", m.origin, root.display());
    outln!(
        "  data:     {} simulations (~{:.2e} requests at base rate or replayed)",
        data.len(),
        requests(&data)
    );
    outln!(
        "  train:    horizons {:?}, export horizon {}, families {:?}",
        if m.body.train.horizons.is_empty() {
            &m.body.dataset.horizons
        } else {
            &m.body.train.horizons
        },
        m.export_horizon,
        m.body.train.families
    );
    outln!(
        "  tune:     {} candidates, {} simulations",
        cands.len(),
        tune_runs
    );
    outln!(
        "  evaluate: {} policies × {} scenarios × {} replications = {} simulations ({} need the model; model-free ones ~{:.2e} requests)",
        m.policies.len(),
        m.eval_scenarios.len(),
        m.body.evaluation.replications,
        free.len() + model_runs,
        model_runs,
        requests(&free)
    );
    outln!(
        "  shardable: {} simulations ({})",
        shard_plan(m)?.len(),
        if m.tunes_shared() {
            "the data runs: tuning searches pool or breaker settings every policy shares"
        } else {
            "data and model-free evaluation runs"
        }
    );
    Ok(())
}

/// The report's `meta` section: the run, its scenarios and its procedure.
fn meta(m: &Manifest, info: &RunInfo) -> Result<Meta> {
    let seed = m.body.experiment.seed;
    let mut scenarios = Vec::new();
    for (name, reps) in &m.data {
        scenarios.push(ScenarioInfo {
            name: name.clone(),
            role: "data".into(),
            replications: (0..*reps).collect(),
            seen_in_training: true,
            description: describe(m.scenario(name)?),
        });
    }
    if let Some(t) = &m.body.tuning {
        for name in &m.tuning_scenarios {
            scenarios.push(ScenarioInfo {
                name: name.clone(),
                role: "tuning".into(),
                replications: (m.tuning_rep0()..m.tuning_rep0() + t.replications).collect(),
                seen_in_training: m.is_data_scenario(name),
                description: describe(m.scenario(name)?),
            });
        }
    }
    let e0 = m.eval_rep0();
    for name in &m.eval_scenarios {
        scenarios.push(ScenarioInfo {
            name: name.clone(),
            role: "evaluation".into(),
            replications: (e0..e0 + m.body.evaluation.replications).collect(),
            seen_in_training: m.is_data_scenario(name),
            description: describe(m.scenario(name)?),
        });
    }
    let split = &m.body.train.split;
    let mut procedure = vec![
        format!(
            "Every random stream is keyed by (seed {seed}, scenario, replication, stream); data, tuning \
             and evaluation use disjoint replication numbers, so no evaluated run shares a random \
             draw with a run the model was trained or tuned on."
        ),
        format!(
            "Training data: {} under each scenario's data-collection policy{}, telemetry every {} s.",
            m.data
                .iter()
                .map(|(n, r)| format!("{n} × {r}"))
                .collect::<Vec<_>>()
                .join(", "),
            m.body
                .data
                .policy
                .as_ref()
                .map_or(String::new(), |p| format!(
                    " (overridden: {})",
                    p.build().name()
                )),
            m.interval_s
        ),
        format!(
            "Features: the pool core's one definition, computed per run so no window crosses runs; \
             targets look forward only inside a run. Split per run in time: {:.0}% train, {:.0}% \
             validation, the rest test, with a gap of the horizon between them{}.",
            split.train * 100.0,
            split.valid * 100.0,
            if split.holdout_scenarios.is_empty() {
                String::new()
            } else {
                format!(
                    "; scenarios held out as test only: {}",
                    split.holdout_scenarios.join(", ")
                )
            }
        ),
        "Model selection: each family's grid is chosen on validation MAE; the exportable model \
         with the lowest validation MAE wins; the test rows are scored once, after selection, \
         beside persistence, a moving average and seasonal naive. A model trained on shuffled \
         targets is the leakage alarm."
            .into(),
    ];
    if let Some(t) = &m.body.tuning {
        procedure.push(format!(
            "Tuning: {} candidate(s) (the configuration as written, then {} of the space {}) × {} \
             scenario(s) × {} replication(s), closed loop with the trained model driving the pool; \
             minimize mean {}{}.",
            tune::candidates(m).len(),
            match t.method {
                crate::manifest::SearchMethod::Grid => "every combination".to_string(),
                crate::manifest::SearchMethod::Random =>
                    format!("{} random combinations", t.samples),
            },
            m.tuning_params
                .iter()
                .map(|(k, v)| format!(
                    "{k} ∈ {{{}}}",
                    v.iter()
                        .map(|o| o.value_text())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .collect::<Vec<_>>()
                .join("; "),
            m.tuning_scenarios.len(),
            t.replications,
            t.minimize.name(),
            if t.constraints.is_empty() {
                String::new()
            } else {
                format!(
                    " subject to {}",
                    t.constraints
                        .iter()
                        .map(|(k, v)| format!("mean {k} ≤ {v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        ));
    }
    procedure.push(format!(
        "Evaluation: {} × {} scenario(s) × {} replication(s) on held-out replications. Every policy \
         serves the same requests (each request draws its class, hold and failure dice at arrival \
         from its own streams), so comparisons are paired. Static pools are fixed (min = max = \
         size); static-matched is fixed at the predictive pool's mean size in the same run \
         (rounded up): a static pool of equal cost. Tuned pool and breaker settings apply to \
         every policy; tuned policy.* settings to the predictive one. Intervals are 95% \
         Student t over replications.",
        m.policies.iter().map(|p| p.name()).collect::<Vec<_>>().join(", "),
        m.eval_scenarios.len(),
        m.body.evaluation.replications
    ));
    Ok(Meta {
        experiment: m.body.experiment.name.clone(),
        description: m.body.experiment.description.clone(),
        run_id: info.run_id.clone(),
        manifest_hash: info.manifest_hash.clone(),
        git_revision: info.git_revision.clone(),
        versions: info.versions.clone(),
        seed,
        procedure,
        scenarios,
    })
}

/// One line about a scenario's workload and pool.
fn describe(sc: &poolcast_sim::Scenario) -> String {
    let pats: Vec<String> = sc
        .load
        .patterns
        .iter()
        .map(|p| {
            serde_json::to_value(p)
                .ok()
                .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_string))
                .unwrap_or_else(|| "pattern".into())
        })
        .collect();
    let workload = match &sc.replay {
        Some(r) => format!(
            "replay of {} ({} requests{}{}{})",
            r.trace.display(),
            sc.offered_requests(),
            if r.speed == 1.0 {
                String::new()
            } else {
                format!(", at {}× speed", r.speed)
            },
            if r.start_s == 0.0 {
                String::new()
            } else {
                format!(", from {} s", r.start_s)
            },
            if r.loaded.as_ref().is_some_and(|l| l.whole_seconds) {
                ", arrivals good to a second: the log's %t times are whole seconds"
            } else {
                ""
            }
        ),
        None => format!(
            "base {} req/s{}; {} class(es)",
            sc.load.base_rate,
            if pats.is_empty() {
                String::new()
            } else {
                format!(" × {}", pats.join(" × "))
            },
            sc.classes.len()
        ),
    };
    format!(
        "{} s, {workload}; pool {}..{}; {}",
        sc.duration_s,
        sc.pool.settings.min_size,
        sc.pool.settings.max_size,
        if sc.failures == Default::default() {
            "no failures injected".to_string()
        } else {
            "failures injected".to_string()
        }
    )
}

fn print_summary(m: &Manifest, r: &RunReport, root: &Path) {
    outln!();
    if let Some(f) = &r.forecast
        && let Some(h) = f.horizons.iter().find(|h| h.horizon == f.export_horizon)
    {
        outln!(
            "forecast, horizon {} × {} s (test accuracy = 1 − WAPE):",
            h.horizon,
            f.interval_s
        );
        for x in &h.models {
            outln!(
                "  {:<58} {:.4}{}",
                x.name,
                x.test.accuracy,
                if x.name == h.winner {
                    "  ← exported"
                } else {
                    ""
                }
            );
        }
    }
    if let Some(p) = &r.policies {
        for s in &p.scenarios {
            outln!(
                "\n{} ({}; {} replications, 95% intervals):",
                s.scenario,
                if s.seen_in_training {
                    "held-out replications"
                } else {
                    "workload never trained on"
                },
                p.replications
            );
            outln!(
                "  {:<22} {:>20} {:>20} {:>20} {:>9} {:>16} {:>7}",
                "policy",
                "mean wait ms",
                "p99 wait ms",
                "mean latency ms",
                "errors %",
                "connection-s",
                "scale"
            );
            for row in &s.rows {
                let ci = |e: &poolcast_reports::Estimate, d: usize| {
                    format!("{:.d$} [{:.d$}, {:.d$}]", e.mean, e.lo, e.hi)
                };
                outln!(
                    "  {:<22} {:>20} {:>20} {:>20} {:>9.3} {:>16.0} {:>7.0}",
                    row.policy,
                    ci(&row.wait_mean_ms, 2),
                    ci(&row.wait_p99_ms, 1),
                    ci(&row.latency_mean_ms, 1),
                    row.error_rate.mean * 100.0,
                    row.connection_seconds.mean,
                    row.scale_events.mean
                );
            }
            if let Some(c) = &s.model_contribution {
                let ci = |e: &poolcast_reports::Estimate, d: usize| {
                    format!("{:.d$} [{:.d$}, {:.d$}]", e.mean, e.lo, e.hi)
                };
                outln!(
                    "  the model itself ({} − {}): connection-s {}, mean wait {} ms{}",
                    c.a,
                    c.b,
                    ci(&c.connection_seconds, 0),
                    ci(&c.wait_mean_ms, 3),
                    match s.effect(c) {
                        poolcast_reports::Effect::Material => "",
                        poolcast_reports::Effect::Negligible => {
                            ": negligible (under 0.1% of the cost and 1% of the wait)"
                        }
                        poolcast_reports::Effect::NotMeasurable => {
                            ": not measurable (both intervals span 0)"
                        }
                    }
                );
            }
            if let Some(c) = &s.ideal_contribution {
                outln!(
                    "  a perfect forecast ({} − {}): connection-s {:.0} [{:.0}, {:.0}]{}",
                    c.a,
                    c.b,
                    c.connection_seconds.mean,
                    c.connection_seconds.lo,
                    c.connection_seconds.hi,
                    match s.captured() {
                        Some(x) => format!("; the model captures {:.0}% of it", x * 100.0),
                        None => ": not measurable, nothing to capture".into(),
                    }
                );
            }
        }
    }
    if let Some(t) = &r.tuning
        && let Some(c) = t.chosen
    {
        outln!(
            "\ntuning: chose {} ({})",
            t.candidates[c]
                .params
                .iter()
                .map(|(p, v)| if v.is_empty() {
                    p.clone()
                } else {
                    format!("{p} = {v}")
                })
                .collect::<Vec<_>>()
                .join(", "),
            t.note
        );
    }
    let holds = r
        .claims
        .iter()
        .filter(|c| matches!(c.verdict, poolcast_reports::Verdict::Holds))
        .count();
    let measured = r
        .claims
        .iter()
        .filter(|c| !matches!(c.verdict, poolcast_reports::Verdict::NotMeasured))
        .count();
    outln!("\nseed claims: {holds} of {measured} measured hold");
    for c in &r.claims {
        outln!(
            "  {:<36} {:<14} {}",
            c.name,
            match c.verdict {
                poolcast_reports::Verdict::Holds => "holds",
                poolcast_reports::Verdict::DoesNotHold => "does not hold",
                poolcast_reports::Verdict::NotMeasured => "not measured",
            },
            c.measured
        );
    }
    let _ = m;
    outln!(
        "\nwrote {}/{{report.html, report.md, metrics.json, artifact.json, pool.toml, ...}}",
        root.display()
    );
}

/// Fails when a directory is not a run directory of this program.
///
/// # Errors
/// `run.json` is missing or unreadable.
pub fn read_run_info(dir: &Path) -> Result<RunInfo> {
    let p = dir.join("run.json");
    if !p.exists() {
        bail!(
            "{}: not a run directory (no run.json); pass the directory `poolcast run` printed",
            dir.display()
        );
    }
    read_json(&p)
}
