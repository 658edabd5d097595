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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use poolcast::core::artifact::{Forecaster, ModelArtifact};
use poolcast_models::dataset::{FeatureDataset, RunRef, build_dataset};
use poolcast_models::train::train;
use poolcast_reports::{
    ForecastSection, Meta, ModelTiming, RunReport, ScenarioInfo, StepTiming, Timings,
};
use poolcast_sim::Summary;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::cache::{self, Key, sha256_file, write_atomic};
use crate::evaluate::{self, Cell};
use crate::manifest::{Manifest, PolicySpec};
use crate::overrides::Override;
use crate::policies::{self, Predictive};
use crate::simjob::{JobOutput, SimJob, read_json, to_json};
use crate::{ceiling, claims, forecast, poolfile, tune};

/// Options of `poolcast run`.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// The experiment manifest (see experiments/README.md).
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
pub fn data_jobs(m: &Manifest) -> Vec<SimJob> {
    let mut jobs = Vec::new();
    for (name, reps) in &m.data {
        let mut sc = m.scenario(name).clone();
        if let Some(p) = &m.body.data.policy {
            sc.pool.policy = Some(p.clone());
        }
        let policy = sc.pool.policy_config().build().name();
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
    jobs
}

fn eval_job(
    m: &Manifest,
    spec: PolicySpec,
    scenario: &str,
    rep: u32,
    sc: poolcast_sim::Scenario,
    extra_key: String,
) -> SimJob {
    let policy = spec.name();
    SimJob {
        phase: "eval",
        dir: PathBuf::from(format!(
            "telemetry/phase=eval/policy={policy}/scenario={scenario}/replication={rep}"
        )),
        policy,
        scenario: sc,
        seed: m.body.experiment.seed,
        replication: rep,
        telemetry: m.body.evaluation.telemetry,
        extra_key,
    }
}

/// The evaluation runs of the policies that need no model, in (policy,
/// scenario, replication) order, under the tuned pool and breaker
/// overrides `shared`.
pub fn model_free_eval_jobs(m: &Manifest, shared: &[Override]) -> Result<Vec<SimJob>> {
    let mut jobs = Vec::new();
    for &spec in m.policies.iter().filter(|p| !p.needs_model()) {
        for name in &m.eval_scenarios {
            let sc = policies::scenario_for(m, name, spec, shared, None, None)?;
            for i in 0..m.body.evaluation.replications {
                jobs.push(eval_job(
                    m,
                    spec,
                    name,
                    m.eval_rep0() + i,
                    sc.clone(),
                    String::new(),
                ));
            }
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
    /// This shard.
    pub index: u32,
    /// Shards in all.
    pub count: u32,
    /// The manifest hash every shard must share.
    pub manifest_hash: String,
    /// (directory, key) of every job of this shard.
    pub jobs: Vec<(String, String)>,
}

/// Every job that can run before the model exists, in a fixed order (the
/// shard plan): the data runs, and the model-free policies' evaluation
/// unless tuning searches pool or breaker settings they share.
pub fn shard_plan(m: &Manifest) -> Result<Vec<SimJob>> {
    let mut jobs = data_jobs(m);
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
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let info = write_run_files(&m, &root, &run_id)?;
    let mut ui = Ui {
        quiet: a.quiet,
        steps: Vec::new(),
    };
    ui.say(&format!(
        "run {} of {} → {}",
        run_id,
        m.body.experiment.name,
        root.display()
    ));
    if let Some((i, n)) = a.shard {
        let t0 = Instant::now();
        let plan = shard_plan(&m)?;
        let mine: Vec<SimJob> = plan
            .into_iter()
            .enumerate()
            .filter(|(k, _)| *k as u32 % n == i)
            .map(|(_, j)| j)
            .collect();
        run_jobs(&root, &mine, &ui, "shard")?;
        let rec = ShardRecord {
            index: i,
            count: n,
            manifest_hash: info.manifest_hash.clone(),
            jobs: mine
                .iter()
                .map(|j| (j.dir.display().to_string(), j.key()))
                .collect(),
        };
        write_atomic(
            &root.join("shards").join(format!("shard-{i}-of-{n}.json")),
            &to_json(&rec),
        )?;
        ui.step("shard", t0, false);
        ui.say(&format!(
            "shard {i}/{n}: {} simulations done. When every shard is done: \
             `poolcast merge <shard run dirs...> --out <dir>`, then `poolcast run {}` to finish.",
            mine.len(),
            a.manifest.display()
        ));
        return Ok(root);
    }
    let report = run_all(&m, &root, &info, &mut ui)?;
    if !a.quiet {
        print_summary(&m, &report, &root);
    }
    Ok(root)
}

fn print_plan(m: &Manifest, root: &Path) -> Result<()> {
    let data = data_jobs(m);
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
    println!("{}: valid; run directory {}", m.origin, root.display());
    println!(
        "  data:     {} simulations (~{:.2e} requests at base rate or replayed)",
        data.len(),
        requests(&data)
    );
    println!(
        "  train:    horizons {:?}, export horizon {}, families {:?}",
        if m.body.train.horizons.is_empty() {
            &m.body.dataset.horizons
        } else {
            &m.body.train.horizons
        },
        m.export_horizon,
        m.body.train.families
    );
    println!(
        "  tune:     {} candidates, {} simulations",
        cands.len(),
        tune_runs
    );
    println!(
        "  evaluate: {} policies × {} scenarios × {} replications = {} simulations ({} need the model; model-free ones ~{:.2e} requests)",
        m.policies.len(),
        m.eval_scenarios.len(),
        m.body.evaluation.replications,
        free.len() + model_runs,
        model_runs,
        requests(&free)
    );
    println!(
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

/// What the training step keeps for reuse.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrainOutputs {
    forecast: ForecastSection,
}

fn run_all(m: &Manifest, root: &Path, info: &RunInfo, ui: &mut Ui) -> Result<RunReport> {
    let mut sim_wall = 0.0;
    let mut sim_events: u64 = 0;
    let mut note_sim = |outs: &[JobOutput]| {
        for o in outs {
            sim_wall += o.wall_s;
            sim_events += o.events;
        }
    };

    // ---- 1. data ----
    let t0 = Instant::now();
    let djobs = data_jobs(m);
    let douts = run_jobs(root, &djobs, ui, "data")?;
    note_sim(&douts);
    ui.step("data", t0, douts.iter().all(|o| o.reused));

    // ---- 2. features ----
    let t0 = Instant::now();
    let fkey = Key::new("features")
        .with(&djobs.iter().map(SimJob::key).collect::<Vec<_>>())
        .with(&m.body.dataset)
        .finish();
    let fpath = root.join("features.parquet");
    let reused = cache::is_done(root, "features", &fkey);
    let ds = if reused {
        FeatureDataset::read(&fpath)?
    } else {
        let runs: Vec<RunRef> = djobs
            .iter()
            .map(|j| RunRef {
                scenario: j.scenario.name.clone(),
                replication: j.replication,
                path: root.join(&j.dir).join("snapshots.parquet"),
            })
            .collect();
        let ds = build_dataset(&runs, &m.body.dataset)?;
        ds.write(&fpath)?;
        cache::mark_done(root, "features", &fkey, &["features.parquet"])?;
        ds
    };
    ui.step("features", t0, reused);

    // ---- 3. train ----
    let t0 = Instant::now();
    let fingerprint = sha256_file(&fpath)?;
    let trained_h: Vec<u32> = if m.body.train.horizons.is_empty() {
        m.body.dataset.horizons.clone()
    } else {
        m.body.train.horizons.clone()
    };
    let tkey = Key::new("train")
        .with(&fkey)
        .with(&fingerprint)
        .with(&m.body.train)
        .with(&m.export_horizon)
        .with(&m.body.outputs.importance_rows)
        .with(&m.body.experiment.seed)
        // the forecast section gained the simulator's rate references
        .with(&"rate-references")
        .finish();
    let tdir = root.join("train");
    let art_rel = |h: u32| format!("artifacts/h{h}.json");
    let reused = cache::is_done(&tdir, "train", &tkey);
    let (fsection, model_timings, reused) = if reused {
        let t: TrainOutputs = read_json(&tdir.join("forecast.json"))?;
        let mt: Vec<ModelTiming> = read_json(&tdir.join("timings.json")).unwrap_or_default();
        (t.forecast, mt, true)
    } else {
        ui.say(&format!(
            "     train: {} rows × {} features, horizons {:?}",
            ds.table.rows(),
            ds.n_features(),
            trained_h
        ));
        let rep = train(&ds, &fingerprint, &m.body.train)?;
        let mut files = Vec::new();
        for h in &rep.horizons {
            let hh = h.target.horizon;
            let mut art = rep.artifact(&ds, hh, Some(info.manifest_hash.clone()))?;
            write_atomic(&tdir.join(art_rel(hh)), art.to_json().as_bytes())?;
            files.push(art_rel(hh));
        }
        let (mut fs, mt) = forecast::section(
            &ds,
            &rep,
            m.export_horizon,
            m.body.outputs.importance_rows,
            m.body.experiment.seed,
        );
        ceiling::add_references(&mut fs, &ds, &rep, m);
        write_atomic(
            &tdir.join("forecast.json"),
            &to_json(&TrainOutputs {
                forecast: fs.clone(),
            }),
        )?;
        // Machine-dependent; not part of the stamp.
        write_atomic(&tdir.join("timings.json"), &to_json(&mt))?;
        files.push("forecast.json".into());
        let refs: Vec<&str> = files.iter().map(String::as_str).collect();
        cache::mark_done(&tdir, "train", &tkey, &refs)?;
        (fs, mt, false)
    };
    ui.step("train", t0, reused);
    let model_path = tdir.join(art_rel(m.export_horizon));
    let model_sha = sha256_file(&model_path)?;
    let model_abs = std::path::absolute(&model_path).unwrap_or(model_path.clone());

    // ---- 4. tune ----
    let t0 = Instant::now();
    let base = m.predictive_base();
    let cands = tune::candidates(m);
    let mut tune_outcome: Option<tune::Outcome> = None;
    let mut tune_reused = true;
    if !cands.is_empty() {
        let tuning = m.body.tuning.as_ref().expect("candidates imply tuning");
        let mut with_model = base.clone();
        with_model.artifact = Some(model_abs.clone());
        let mut jobs = Vec::new();
        let mut owner = Vec::new();
        for (k, ovs) in cands.iter().enumerate() {
            let p = Predictive {
                config: &with_model,
                overrides: ovs,
            };
            for name in &m.tuning_scenarios {
                let mut sc =
                    policies::scenario_for(m, name, PolicySpec::Predictive, &[], Some(&p), None)?;
                sc.duration_s = tuning.duration_s.unwrap_or(m.scenario(name).duration_s);
                for i in 0..tuning.replications {
                    let r = m.tuning_rep0() + i;
                    jobs.push(SimJob {
                        phase: "tuning",
                        policy: "predictive".into(),
                        scenario: sc.clone(),
                        seed: m.body.experiment.seed,
                        replication: r,
                        dir: PathBuf::from(format!(
                            "tuning/candidate={k}/scenario={name}/replication={r}"
                        )),
                        telemetry: false,
                        extra_key: model_sha.clone(),
                    });
                    owner.push(k);
                }
            }
        }
        let outs = run_jobs(root, &jobs, ui, "tune")?;
        note_sim(&outs);
        tune_reused = outs.iter().all(|o| o.reused);
        let mut by_cand: Vec<Vec<Summary>> = vec![Vec::new(); cands.len()];
        for (k, o) in owner.iter().zip(outs) {
            by_cand[*k].push(o.summary);
        }
        let outcome = tune::select(m, &cands, &by_cand)
            .ok_or_else(|| anyhow::anyhow!("tuning produced no candidate"))?;
        write_atomic(&root.join("tuning").join("result.json"), &to_json(&outcome))?;
        tune_outcome = Some(outcome);
    }
    if !cands.is_empty() {
        ui.step("tune", t0, tune_reused);
    }
    let chosen: Vec<Override> = tune_outcome
        .as_ref()
        .map(|o| cands[o.chosen].clone())
        .unwrap_or_default();

    // ---- 5. export: artifact.json with the tuned thresholds, pool.toml ----
    let t0 = Instant::now();
    let (mut art, _) = ModelArtifact::load(&model_path)?;
    art.thresholds = chosen
        .iter()
        .filter_map(|o| {
            o.value
                .as_float()
                .or(o.value.as_integer().map(|i| i as f64))
                .map(|v| (o.path.clone(), v))
        })
        .collect();
    if let Some(o) = &tune_outcome {
        art.provenance.metrics.insert(
            format!(
                "tuning.{}",
                m.body.tuning.as_ref().map_or("", |t| t.minimize.name())
            ),
            o.objective,
        );
    }
    write_atomic(&root.join("artifact.json"), art.to_json().as_bytes())?;
    let tuned_sc = m.scenario(m.tuning_scenarios.first().unwrap_or(&m.eval_scenarios[0]));
    let mut prov = BTreeMap::new();
    prov.insert("experiment".into(), m.body.experiment.name.clone());
    prov.insert("run_id".into(), info.run_id.clone());
    prov.insert("manifest_hash".into(), info.manifest_hash.clone());
    prov.insert(
        "artifact_sha256".into(),
        sha256_file(&root.join("artifact.json"))?,
    );
    prov.insert("pool_settings_from_scenario".into(), tuned_sc.name.clone());
    if let Some(o) = &tune_outcome {
        let s = &o.section;
        prov.insert("objective".into(), s.objective.clone());
        prov.insert("objective_value".into(), format!("{}", o.objective));
        prov.insert("constraints".into(), s.constraints.join("; "));
        let fmt = |k: usize| {
            s.candidates[k]
                .params
                .iter()
                .map(|(p, v)| {
                    if v.is_empty() {
                        p.clone()
                    } else {
                        format!("{p} = {v}")
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        prov.insert("chosen".into(), fmt(o.chosen));
        if let Some(r) = s.runner_up {
            prov.insert("runner_up".into(), fmt(r));
            prov.insert(
                "runner_up_objective_value".into(),
                format!("{}", s.candidates[r].objective),
            );
        }
        prov.insert("note".into(), s.note.clone());
    }
    let pool_toml = poolfile::build(tuned_sc, m.interval_s(), &base, &chosen, prov)?;
    write_atomic(&root.join("pool.toml"), pool_toml.as_bytes())?;
    ui.step("export", t0, false);

    // ---- 6. evaluate ----
    let t0 = Instant::now();
    let art_path = root.join("artifact.json");
    let art_abs = std::path::absolute(&art_path).unwrap_or(art_path.clone());
    let art_sha = sha256_file(&art_path)?;
    let mut with_art = base.clone();
    with_art.artifact = Some(art_abs);
    let pred = Predictive {
        config: &with_art,
        overrides: &chosen,
    };
    let reps = m.body.evaluation.replications;
    let shared: Vec<Override> = chosen.iter().filter(|o| o.is_shared()).cloned().collect();
    let mut jobs = model_free_eval_jobs(m, &shared)?;
    let mut pred_jobs = Vec::new();
    if m.policies.contains(&PolicySpec::Predictive) {
        for name in &m.eval_scenarios {
            let sc =
                policies::scenario_for(m, name, PolicySpec::Predictive, &[], Some(&pred), None)?;
            for i in 0..reps {
                pred_jobs.push(eval_job(
                    m,
                    PolicySpec::Predictive,
                    name,
                    m.eval_rep0() + i,
                    sc.clone(),
                    art_sha.clone(),
                ));
            }
        }
    }
    let n_free = jobs.len();
    jobs.extend(pred_jobs);
    let mut outs = run_jobs(root, &jobs, ui, "evaluate")?;
    note_sim(&outs);
    let mut eval_reused = outs.iter().all(|o| o.reused);
    if m.policies.contains(&PolicySpec::StaticMatched) {
        let mut matched = Vec::new();
        for (j, o) in jobs[n_free..].iter().zip(&outs[n_free..]) {
            let sc = policies::scenario_for(
                m,
                &j.scenario.name,
                PolicySpec::StaticMatched,
                &shared,
                None,
                Some(o.summary.mean_size),
            )?;
            matched.push(eval_job(
                m,
                PolicySpec::StaticMatched,
                &j.scenario.name,
                j.replication,
                sc,
                String::new(),
            ));
        }
        let mo = run_jobs(root, &matched, ui, "matched")?;
        note_sim(&mo);
        eval_reused &= mo.iter().all(|o| o.reused);
        jobs.extend(matched);
        outs.extend(mo);
    }
    // Cells in manifest policy order, then scenario order.
    let mut cells = Vec::new();
    for &spec in &m.policies {
        let name = spec.name();
        for scen in &m.eval_scenarios {
            let mut runs = Vec::new();
            let mut series = None;
            for (j, o) in jobs.iter().zip(&outs) {
                if j.policy == name && &j.scenario.name == scen {
                    if series.is_none() {
                        series = Some(o.series.clone());
                    }
                    runs.push(o.summary.clone());
                }
            }
            cells.push(Cell {
                policy: name.clone(),
                scenario: scen.clone(),
                runs,
                series: series.unwrap_or_default(),
            });
        }
    }
    let psection = evaluate::section(m, &cells);
    write_atomic(&root.join("evaluation.json"), &to_json(&psection))?;
    ui.step("evaluate", t0, eval_reused);

    // ---- 7. report ----
    let t0 = Instant::now();
    let claims = claims::claims(m, &cells, Some(&fsection));
    let mut notes = Vec::new();
    if sim_events > 0 && sim_wall > 0.0 {
        notes.push(format!(
            "simulation: {sim_events} events in {sim_wall:.1} s of simulation threads ({:.2}M events/s per thread)",
            sim_events as f64 / sim_wall / 1e6
        ));
    }
    let latency = prediction_latency(root, &djobs, &art_path);
    let mut machine_claims = Vec::new();
    if let Some(us) = latency {
        notes.push(format!(
            "prediction latency: {us:.1} µs per interval (feature extraction + inference, one thread)"
        ));
        machine_claims.push(poolcast_reports::Claim {
            name: "Prediction latency".into(),
            seed_claim: "under 10 ms per load prediction".into(),
            measured: format!("{us:.1} µs"),
            verdict: if us < 10_000.0 {
                poolcast_reports::Verdict::Holds
            } else {
                poolcast_reports::Verdict::DoesNotHold
            },
            procedure: "mean wall time of one Forecaster::push (all features of one snapshot \
                        plus the exported model) over the first data run's snapshots, one \
                        thread, this machine"
                .into(),
        });
    }
    let train_s: f64 = model_timings.iter().map(|t| t.train_seconds).sum();
    if !model_timings.is_empty() {
        machine_claims.push(poolcast_reports::Claim {
            name: "Model training time".into(),
            seed_claim: "under 5 minutes for incremental updates".into(),
            measured: format!(
                "{train_s:.1} s to train every family and horizon from scratch{}",
                if reused {
                    " (measured when the step last ran)"
                } else {
                    ""
                }
            ),
            verdict: if train_s < 300.0 {
                poolcast_reports::Verdict::Holds
            } else {
                poolcast_reports::Verdict::DoesNotHold
            },
            procedure: "sum of the chosen configurations' training times over every family and \
                        horizon, this machine (grids searched cost more)"
                .into(),
        });
    }
    let report = RunReport {
        meta: meta(m, info),
        forecast: Some(fsection),
        policies: Some(psection),
        tuning: tune_outcome.map(|o| o.section),
        claims,
        timings: Timings {
            steps: Vec::new(),
            models: model_timings,
            notes,
            claims: machine_claims,
        },
    };
    write_atomic(
        &root.join("metrics.json"),
        &to_json(&MetricsView::of(&report)),
    )?;
    let mut report = report;
    ui.step("report", t0, false);
    report.timings.steps = ui.steps.clone();
    write_atomic(&root.join("timings.json"), &to_json(&report.timings))?;
    if m.body.outputs.report {
        let r = poolcast_reports::render(&report)?;
        for c in &r.charts {
            write_atomic(&root.join("charts").join(&c.file_name), c.svg.as_bytes())?;
        }
        write_atomic(&root.join("report.md"), r.markdown.as_bytes())?;
        write_atomic(&root.join("report.html"), r.html.as_bytes())?;
    }
    Ok(report)
}

/// `metrics.json`: the report's numbers without the machine-measured part.
#[derive(Serialize)]
struct MetricsView<'a> {
    meta: &'a Meta,
    forecast: &'a Option<ForecastSection>,
    policies: &'a Option<poolcast_reports::PolicySection>,
    tuning: &'a Option<poolcast_reports::TuningSection>,
    claims: &'a [poolcast_reports::Claim],
}

impl<'a> MetricsView<'a> {
    fn of(r: &'a RunReport) -> Self {
        MetricsView {
            meta: &r.meta,
            forecast: &r.forecast,
            policies: &r.policies,
            tuning: &r.tuning,
            claims: &r.claims,
        }
    }
}

/// Mean µs of one forecast (features + model) over the first data run.
fn prediction_latency(root: &Path, djobs: &[SimJob], artifact: &Path) -> Option<f64> {
    let j = djobs.first()?;
    let snaps =
        poolcast_datasets::read_snapshots(root.join(&j.dir).join("snapshots.parquet")).ok()?;
    let (art, spec) = ModelArtifact::load(artifact).ok()?;
    let mut f = Forecaster::new(art, &spec, 0);
    let n = snaps.len().min(20_000);
    if n == 0 {
        return None;
    }
    let t0 = Instant::now();
    let mut acc = 0.0;
    for s in &snaps[..n] {
        let fc = f.push(s);
        if fc.value.is_finite() {
            acc += fc.value;
        }
    }
    std::hint::black_box(acc);
    Some(t0.elapsed().as_secs_f64() * 1e6 / n as f64)
}

fn meta(m: &Manifest, info: &RunInfo) -> Meta {
    let seed = m.body.experiment.seed;
    let mut scenarios = Vec::new();
    for (name, reps) in &m.data {
        scenarios.push(ScenarioInfo {
            name: name.clone(),
            role: "data".into(),
            replications: (0..*reps).collect(),
            seen_in_training: true,
            description: describe(m.scenario(name)),
        });
    }
    if let Some(t) = &m.body.tuning {
        for name in &m.tuning_scenarios {
            scenarios.push(ScenarioInfo {
                name: name.clone(),
                role: "tuning".into(),
                replications: (m.tuning_rep0()..m.tuning_rep0() + t.replications).collect(),
                seen_in_training: m.is_data_scenario(name),
                description: describe(m.scenario(name)),
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
            description: describe(m.scenario(name)),
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
            m.interval_s()
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
    Meta {
        experiment: m.body.experiment.name.clone(),
        description: m.body.experiment.description.clone(),
        run_id: info.run_id.clone(),
        manifest_hash: info.manifest_hash.clone(),
        git_revision: info.git_revision.clone(),
        versions: info.versions.clone(),
        seed,
        procedure,
        scenarios,
    }
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
            "replay of {} ({} requests{}{})",
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
        sc.pool.min_size,
        sc.pool.max_size,
        if sc.failures == Default::default() {
            "no failures injected".to_string()
        } else {
            "failures injected".to_string()
        }
    )
}

fn print_summary(m: &Manifest, r: &RunReport, root: &Path) {
    println!();
    if let Some(f) = &r.forecast
        && let Some(h) = f.horizons.iter().find(|h| h.horizon == f.export_horizon)
    {
        println!(
            "forecast, horizon {} × {} s (test accuracy = 1 − WAPE):",
            h.horizon, f.interval_s
        );
        for x in &h.models {
            println!(
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
            println!(
                "\n{} ({}; {} replications, 95% intervals):",
                s.scenario,
                if s.seen_in_training {
                    "held-out replications"
                } else {
                    "workload never trained on"
                },
                p.replications
            );
            println!(
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
                println!(
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
        }
    }
    if let Some(t) = &r.tuning
        && let Some(c) = t.chosen
    {
        println!(
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
    println!("\nseed claims: {holds} of {measured} measured hold");
    for c in &r.claims {
        println!(
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
    println!(
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
