//! The steps of `poolcast run`, one function each, in order: data,
//! features, train, tune, export, evaluate, report. Each takes what the
//! steps before it produced and returns what the steps after it need.
//!
//! A step whose outputs are files of its own (features, train) is cached
//! through [`cached`]: its key is everything it depends on (the inputs, the
//! settings, the executable's hash) plus a version named in [`key_version`],
//! and its stamp lists the SHA-256 of each output. Simulated runs are
//! cached one by one ([`SimJob`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Result, anyhow};
use poolcast::core::artifact::{Forecaster, ModelArtifact};
use poolcast::core::policy::PredictiveConfig;
use poolcast_models::dataset::{FeatureDataset, RunRef, build_dataset};
use poolcast_models::train::train;
use poolcast_reports::{ForecastSection, Meta, ModelTiming, PolicySection, RunReport, Timings};
use poolcast_sim::Summary;
use serde::{Deserialize, Serialize};

use super::{RunInfo, Ui, Until, data_jobs, eval_jobs, meta, model_free_eval_jobs, run_jobs};
use crate::cache::{self, Key, sha256_file, write_atomic};
use crate::evaluate::{self, Cell};
use crate::manifest::{Manifest, PolicySpec};
use crate::overrides::Override;
use crate::policies::{self, Predictive};
use crate::simjob::{self, JobOutput, SimJob, read_json, to_json};
use crate::{ceiling, claims, forecast, poolfile, tune};

/// Versions mixed into the cache keys of the cached steps: change one when
/// a step's outputs change meaning for the same inputs, so that run
/// directories made by older builds redo that step.
pub mod key_version {
    /// The features step (2: the scale-free features).
    pub const FEATURES: &str = "features-2";
    /// The train step: it writes the best baseline's artifact too (the
    /// `predictive-naive` policy's forecaster), selects on rolling-origin
    /// folds, shrinks towards persistence, and holds out the inputs that
    /// tell time on the training rows.
    pub const TRAIN: &str = "folds-blend-gate";
}

/// Reuses a step's outputs in `dir` when its stamp matches `key`
/// (`reuse`), or computes them (`compute`, which returns the value and the
/// files it wrote, relative to `dir`) and stamps them. Returns the value
/// and whether it was reused.
fn cached<T>(
    dir: &Path,
    step: &str,
    key: &str,
    reuse: impl FnOnce() -> Result<T>,
    compute: impl FnOnce() -> Result<(T, Vec<String>)>,
) -> Result<(T, bool)> {
    if cache::is_done(dir, step, key) {
        return Ok((reuse()?, true));
    }
    let (value, files) = compute()?;
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    cache::mark_done(dir, step, key, &files)?;
    Ok((value, false))
}

/// Simulation threads' wall time and events, for the report's notes.
#[derive(Default)]
pub(super) struct SimTally {
    wall_s: f64,
    events: u64,
}

impl SimTally {
    fn add(&mut self, outs: &[JobOutput]) {
        for o in outs {
            self.wall_s += o.wall_s;
            self.events += o.events;
        }
    }
}

/// What the training step keeps for reuse.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrainOutputs {
    forecast: ForecastSection,
}

/// The features step's outputs.
pub(super) struct Features {
    ds: FeatureDataset,
    path: PathBuf,
    key: String,
}

/// The train step's outputs.
pub(super) struct Trained {
    forecast: ForecastSection,
    timings: Vec<ModelTiming>,
    reused: bool,
    /// The candidate artifact at the export horizon, and its SHA-256.
    model: PathBuf,
    model_sha: String,
    /// The best baseline's artifact at the export horizon.
    naive: PathBuf,
}

/// The tune step's outputs.
pub(super) struct Tuned {
    /// The predictive settings before tuning.
    base: PredictiveConfig,
    outcome: Option<tune::Outcome>,
    /// The winning overrides (none without tuning).
    chosen: Vec<Override>,
}

/// The evaluate step's outputs.
struct Evaluated {
    cells: Vec<Cell>,
    section: PolicySection,
}

/// Runs every step of `m` in `root`, or the steps up to and including
/// `until`; the report when it got that far.
pub(super) fn run_all(
    m: &Manifest,
    root: &Path,
    info: &RunInfo,
    ui: &mut Ui,
    until: Option<Until>,
) -> Result<Option<RunReport>> {
    let stop = |step: Until| until.is_some_and(|u| u <= step);
    let mut sims = SimTally::default();
    let djobs = data(m, root, ui, &mut sims)?;
    if stop(Until::Data) {
        return Ok(None);
    }
    if m.body.tuning.is_none() && !m.policies.iter().any(|p| p.needs_model()) {
        // Nothing forecasts: a comparison of the policies that need no
        // model, on the same runs, with no training.
        let tuned = Tuned {
            base: m.body.predictive.clone(),
            outcome: None,
            chosen: Vec::new(),
        };
        let evaluated = evaluate_policies(m, root, ui, &tuned, None, &mut sims)?;
        if stop(Until::Evaluate) {
            return Ok(None);
        }
        return report(
            m, root, info, ui, &djobs, None, None, tuned, evaluated, &sims,
        )
        .map(Some);
    }
    let features = features(m, root, ui, &djobs)?;
    if stop(Until::Features) {
        return Ok(None);
    }
    let trained = train_models(m, root, info, ui, &features)?;
    if stop(Until::Train) {
        return Ok(None);
    }
    let tuned = tune_thresholds(m, root, ui, &trained, &mut sims)?;
    if stop(Until::Tune) {
        return Ok(None);
    }
    let (artifact, naive) = export(m, root, info, ui, &trained, &tuned)?;
    if stop(Until::Export) {
        return Ok(None);
    }
    let evaluated = evaluate_policies(m, root, ui, &tuned, Some((&artifact, &naive)), &mut sims)?;
    if stop(Until::Evaluate) {
        return Ok(None);
    }
    report(
        m,
        root,
        info,
        ui,
        &djobs,
        Some(&artifact),
        Some(trained),
        tuned,
        evaluated,
        &sims,
    )
    .map(Some)
}

/// Step 1: the data runs.
fn data(m: &Manifest, root: &Path, ui: &mut Ui, sims: &mut SimTally) -> Result<Vec<SimJob>> {
    let t0 = Instant::now();
    let djobs = data_jobs(m)?;
    let outs = run_jobs(root, &djobs, ui, "data")?;
    sims.add(&outs);
    ui.step("data", t0, outs.iter().all(|o| o.reused));
    Ok(djobs)
}

/// Step 2: the features of every data run, in `features.parquet`.
pub(super) fn features(
    m: &Manifest,
    root: &Path,
    ui: &mut Ui,
    djobs: &[SimJob],
) -> Result<Features> {
    let t0 = Instant::now();
    let key = features_key(m, djobs);
    let path = root.join("features.parquet");
    let (ds, reused) = cached(
        root,
        "features",
        &key,
        || Ok(FeatureDataset::read(&path)?),
        || {
            let runs: Vec<RunRef> = djobs
                .iter()
                .map(|j| RunRef {
                    scenario: j.scenario.name.clone(),
                    replication: j.replication,
                    path: root.join(&j.dir).join("snapshots.parquet"),
                })
                .collect();
            let ds = build_dataset(&runs, &m.body.dataset)?;
            ds.write(&path)?;
            Ok((ds, vec!["features.parquet".into()]))
        },
    )?;
    ui.step("features", t0, reused);
    Ok(Features { ds, path, key })
}

/// The features step's key: the data runs' keys and the dataset settings.
pub(crate) fn features_key(m: &Manifest, djobs: &[SimJob]) -> String {
    Key::new("features")
        .with(&djobs.iter().map(SimJob::key).collect::<Vec<_>>())
        .with(&m.body.dataset)
        .with(&key_version::FEATURES)
        .finish()
}

/// The train step's key: the features' key and the SHA-256 of
/// `features.parquet` (`fingerprint`), and the training settings.
pub(crate) fn train_key(m: &Manifest, features_key: &str, fingerprint: &str) -> String {
    Key::new("train")
        .with(&features_key)
        .with(&fingerprint)
        .with(&m.body.train)
        .with(&m.export_horizon)
        .with(&m.body.outputs.importance_rows)
        .with(&m.body.experiment.seed)
        .with(&key_version::TRAIN)
        .finish()
}

/// Whether the train step of `m` is done in `root` on the features of key
/// `features_key` as they are on disk (`poolcast status`, and a shard
/// deciding its wave, ask without training).
pub(crate) fn train_done(m: &Manifest, root: &Path, features_key: &str) -> bool {
    sha256_file(&root.join("features.parquet"))
        .ok()
        .is_some_and(|fp| {
            cache::is_done(
                &root.join("train"),
                "train",
                &train_key(m, features_key, &fp),
            )
        })
}

/// The candidate artifact of horizon `h`, relative to `train/`.
fn artifact_rel(h: u32) -> String {
    format!("artifacts/h{h}.json")
}

/// The best baseline's artifact at horizon `h`, relative to `train/`.
fn naive_rel(h: u32) -> String {
    format!("artifacts/h{h}-naive.json")
}

/// Step 3: every model family beside the baselines: candidate artifacts and the
/// forecast section in `train/`.
pub(super) fn train_models(
    m: &Manifest,
    root: &Path,
    info: &RunInfo,
    ui: &mut Ui,
    f: &Features,
) -> Result<Trained> {
    let t0 = Instant::now();
    let fingerprint = sha256_file(&f.path)?;
    let trained_h: &[u32] = if m.body.train.horizons.is_empty() {
        &m.body.dataset.horizons
    } else {
        &m.body.train.horizons
    };
    let key = train_key(m, &f.key, &fingerprint);
    let dir = root.join("train");
    let ((forecast, timings), reused) = cached(
        &dir,
        "train",
        &key,
        || {
            let t: TrainOutputs = read_json(&dir.join("forecast.json"))?;
            let mt: Vec<ModelTiming> = read_json(&dir.join("timings.json")).unwrap_or_default();
            Ok((t.forecast, mt))
        },
        || {
            ui.say(&format!(
                "     train: {} rows × {} features, horizons {:?}",
                f.ds.table.rows(),
                f.ds.n_features(),
                trained_h
            ));
            let rep = train(&f.ds, &fingerprint, &m.body.train)?;
            let mut files = Vec::new();
            for h in &rep.horizons {
                let hh = h.target.horizon;
                let mut art = rep.artifact(&f.ds, hh, Some(info.manifest_hash.clone()))?;
                write_atomic(&dir.join(artifact_rel(hh)), art.to_json().as_bytes())?;
                files.push(artifact_rel(hh));
            }
            let he = m.export_horizon;
            let mut naive = rep.baseline_artifact(&f.ds, he, Some(info.manifest_hash.clone()))?;
            write_atomic(&dir.join(naive_rel(he)), naive.to_json().as_bytes())?;
            files.push(naive_rel(he));
            let (mut fs, mt) = forecast::section(
                &f.ds,
                &rep,
                m.export_horizon,
                m.body.outputs.importance_rows,
                m.body.experiment.seed,
            );
            ceiling::add_references(&mut fs, &f.ds, &rep, m);
            write_atomic(
                &dir.join("forecast.json"),
                &to_json(&TrainOutputs {
                    forecast: fs.clone(),
                }),
            )?;
            // Machine-dependent; not part of the stamp.
            write_atomic(&dir.join("timings.json"), &to_json(&mt))?;
            files.push("forecast.json".into());
            Ok(((fs, mt), files))
        },
    )?;
    ui.step("train", t0, reused);
    let model = dir.join(artifact_rel(m.export_horizon));
    let model_sha = sha256_file(&model)?;
    Ok(Trained {
        forecast,
        timings,
        reused,
        model,
        model_sha,
        naive: dir.join(naive_rel(m.export_horizon)),
    })
}

/// Step 4: the thresholds searched in closed loop, the model in the loop.
pub(super) fn tune_thresholds(
    m: &Manifest,
    root: &Path,
    ui: &mut Ui,
    trained: &Trained,
    sims: &mut SimTally,
) -> Result<Tuned> {
    let base = m.predictive_base();
    let cands = tune::candidates(m);
    if m.body.tuning.is_none() || cands.is_empty() {
        return Ok(Tuned {
            base,
            outcome: None,
            chosen: Vec::new(),
        });
    }
    let t0 = Instant::now();
    let (jobs, owner) = tuning_jobs(m, trained)?;
    let outs = run_jobs(root, &jobs, ui, "tune")?;
    sims.add(&outs);
    let reused = outs.iter().all(|o| o.reused);
    let mut by_cand: Vec<Vec<Summary>> = vec![Vec::new(); cands.len()];
    for (k, o) in owner.iter().zip(outs) {
        by_cand[*k].push(o.summary);
    }
    let outcome =
        tune::select(m, &cands, &by_cand).ok_or_else(|| anyhow!("tuning produced no candidate"))?;
    write_atomic(&root.join("tuning").join("result.json"), &to_json(&outcome))?;
    ui.step("tune", t0, reused);
    let chosen = cands[outcome.chosen].clone();
    Ok(Tuned {
        base,
        outcome: Some(outcome),
        chosen,
    })
}

/// The tuning runs (every candidate × tuning scenario × tuning
/// replication, the trained model driving the pool) and the candidate each
/// belongs to; none without tuning.
///
/// # Errors
/// A candidate's scenario that does not validate.
pub(super) fn tuning_jobs(m: &Manifest, trained: &Trained) -> Result<(Vec<SimJob>, Vec<usize>)> {
    let cands = tune::candidates(m);
    let Some(tuning) = m.body.tuning.as_ref() else {
        return Ok((Vec::new(), Vec::new()));
    };
    let mut with_model = m.predictive_base();
    with_model.artifact =
        Some(std::path::absolute(&trained.model).unwrap_or(trained.model.clone()));
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
            if let Some(d) = tuning.duration_s {
                sc.duration_s = d;
            }
            let sc = simjob::validated(sc, "predictive")?;
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
                    extra_key: trained.model_sha.clone(),
                });
                owner.push(k);
            }
        }
    }
    Ok((jobs, owner))
}

/// Step 5: `artifact.json` (the export horizon's winner with the tuned
/// thresholds), `artifact-naive.json` (the best baseline with the same
/// thresholds, for `predictive-naive`) and `pool.toml`. Returns the two
/// artifacts' paths.
pub(super) fn export(
    m: &Manifest,
    root: &Path,
    info: &RunInfo,
    ui: &mut Ui,
    trained: &Trained,
    tuned: &Tuned,
) -> Result<(PathBuf, PathBuf)> {
    let t0 = Instant::now();
    let (mut art, _) = ModelArtifact::load(&trained.model)?;
    art.thresholds = tuned
        .chosen
        .iter()
        .filter_map(|o| {
            o.value
                .as_float()
                .or(o.value.as_integer().map(|i| i as f64))
                .map(|v| (o.path.clone(), v))
        })
        .collect();
    if let Some(o) = &tuned.outcome {
        art.provenance.metrics.insert(
            format!(
                "tuning.{}",
                m.body.tuning.as_ref().map_or("", |t| t.minimize.name())
            ),
            o.objective,
        );
    }
    let art_path = root.join("artifact.json");
    write_atomic(&art_path, art.to_json().as_bytes())?;
    let (mut naive, _) = ModelArtifact::load(&trained.naive)?;
    naive.thresholds = art.thresholds.clone();
    let naive_path = root.join("artifact-naive.json");
    write_atomic(&naive_path, naive.to_json().as_bytes())?;
    let tuned_name = m
        .tuning_scenarios
        .first()
        .or(m.eval_scenarios.first())
        .ok_or_else(|| anyhow!("no tuning or evaluation scenario to take the pool from"))?;
    let tuned_sc = m.scenario(tuned_name)?;
    let prov = provenance(m, info, &art_path, tuned_name, tuned.outcome.as_ref())?;
    let pool_toml = poolfile::build(tuned_sc, m.interval_s, &tuned.base, &tuned.chosen, prov)?;
    write_atomic(&root.join("pool.toml"), pool_toml.as_bytes())?;
    ui.step("export", t0, false);
    Ok((art_path, naive_path))
}

/// `pool.toml`'s `[provenance]`: the run, the artifact, and what tuning
/// chose and why.
fn provenance(
    m: &Manifest,
    info: &RunInfo,
    art_path: &Path,
    tuned_scenario: &str,
    outcome: Option<&tune::Outcome>,
) -> Result<BTreeMap<String, String>> {
    let mut prov = BTreeMap::new();
    prov.insert("experiment".into(), m.body.experiment.name.clone());
    prov.insert("run_id".into(), info.run_id.clone());
    prov.insert("manifest_hash".into(), info.manifest_hash.clone());
    prov.insert("artifact_sha256".into(), sha256_file(art_path)?);
    prov.insert("pool_settings_from_scenario".into(), tuned_scenario.into());
    let Some(o) = outcome else {
        return Ok(prov);
    };
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
    Ok(prov)
}

/// Step 6: every policy on the held-out replications of every evaluation
/// scenario; static-matched after predictive, sized from it.
fn evaluate_policies(
    m: &Manifest,
    root: &Path,
    ui: &mut Ui,
    tuned: &Tuned,
    artifacts: Option<(&Path, &Path)>,
    sims: &mut SimTally,
) -> Result<Evaluated> {
    let t0 = Instant::now();
    let plan = eval_plan(m, tuned, artifacts)?;
    let EvalPlan {
        mut jobs,
        n_free,
        n_predictive,
        shared,
    } = plan;
    let mut outs = run_jobs(root, &jobs, ui, "evaluate")?;
    sims.add(&outs);
    let mut reused = outs.iter().all(|o| o.reused);
    if m.policies.contains(&PolicySpec::StaticMatched) {
        let matched = matched_jobs(
            m,
            &shared,
            &jobs[n_free..n_predictive],
            &outs[n_free..n_predictive],
        )?;
        let mo = run_jobs(root, &matched, ui, "matched")?;
        sims.add(&mo);
        reused &= mo.iter().all(|o| o.reused);
        jobs.extend(matched);
        outs.extend(mo);
    }
    let cells = cells(m, &jobs, &outs);
    let section = evaluate::section(m, &cells);
    write_atomic(&root.join("evaluation.json"), &to_json(&section))?;
    ui.step("evaluate", t0, reused);
    Ok(Evaluated { cells, section })
}

/// The evaluation runs before `static-matched` (which is sized from the
/// predictive runs' outcomes): the model-free policies' first, then the
/// model-driven ones'.
pub(super) struct EvalPlan {
    pub(super) jobs: Vec<SimJob>,
    /// `jobs[..n_free]` are the model-free policies' runs.
    pub(super) n_free: usize,
    /// `jobs[n_free..n_predictive]` are `predictive`'s runs.
    pub(super) n_predictive: usize,
    /// The tuned pool and breaker overrides every policy shares.
    pub(super) shared: Vec<Override>,
}

/// Every evaluation run but `static-matched`'s, under the tuned settings,
/// the model-driven ones on `artifacts` (the exported model and the naive
/// one).
///
/// # Errors
/// A scenario that does not validate, or an artifact that cannot be read.
pub(super) fn eval_plan(
    m: &Manifest,
    tuned: &Tuned,
    artifacts: Option<(&Path, &Path)>,
) -> Result<EvalPlan> {
    let mut with_art = tuned.base.clone();
    let mut with_naive = tuned.base.clone();
    let (art_sha, naive_sha) = match artifacts {
        Some((a, n)) => {
            with_art.artifact = Some(std::path::absolute(a).unwrap_or(a.to_path_buf()));
            with_naive.artifact = Some(std::path::absolute(n).unwrap_or(n.to_path_buf()));
            (sha256_file(a)?, sha256_file(n)?)
        }
        None => (String::new(), String::new()),
    };
    let pred = Predictive {
        config: &with_art,
        overrides: &tuned.chosen,
    };
    let shared: Vec<Override> = tuned
        .chosen
        .iter()
        .filter(|o| o.is_shared())
        .cloned()
        .collect();
    let naive = Predictive {
        config: &with_naive,
        overrides: &tuned.chosen,
    };
    let mut jobs = model_free_eval_jobs(m, &shared)?;
    let n_free = jobs.len();
    let model_driven = [
        (PolicySpec::Predictive, &pred, &art_sha),
        (PolicySpec::PredictiveNaive, &naive, &naive_sha),
        (PolicySpec::PredictiveIdeal, &pred, &art_sha),
    ];
    let mut n_predictive = n_free;
    for (spec, with, sha) in model_driven {
        if !m.policies.contains(&spec) {
            continue;
        }
        for name in &m.eval_scenarios {
            let sc = policies::scenario_for(m, name, spec, &[], Some(with), None)?;
            jobs.extend(eval_jobs(m, spec, name, m.eval_reps(), sc, sha)?);
        }
        if spec == PolicySpec::Predictive {
            n_predictive = jobs.len();
        }
    }
    Ok(EvalPlan {
        jobs,
        n_free,
        n_predictive,
        shared,
    })
}

/// `static-matched`'s runs: one beside each `predictive` run in `pred`
/// (with its outcome in `outs`), a fixed pool of that run's mean size.
///
/// # Errors
/// A scenario that does not validate.
pub(super) fn matched_jobs(
    m: &Manifest,
    shared: &[Override],
    pred: &[SimJob],
    outs: &[JobOutput],
) -> Result<Vec<SimJob>> {
    let mut matched = Vec::new();
    for (j, o) in pred.iter().zip(outs) {
        let sc = policies::scenario_for(
            m,
            &j.scenario.name,
            PolicySpec::StaticMatched,
            shared,
            None,
            Some(o.summary.mean_size),
        )?;
        matched.extend(eval_jobs(
            m,
            PolicySpec::StaticMatched,
            &j.scenario.name,
            j.replication..j.replication + 1,
            sc,
            "",
        )?);
    }
    Ok(matched)
}

/// The evaluation runs grouped by (policy, scenario), in manifest policy
/// order, then scenario order.
fn cells(m: &Manifest, jobs: &[SimJob], outs: &[JobOutput]) -> Vec<Cell> {
    let mut cells = Vec::new();
    for &spec in &m.policies {
        let name = spec.name();
        for scen in &m.eval_scenarios {
            let mut runs = Vec::new();
            let mut series = None;
            for (j, o) in jobs.iter().zip(outs) {
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
    cells
}

/// Step 7: the claims, `metrics.json`, `timings.json` and the reports.
#[allow(clippy::too_many_arguments)]
fn report(
    m: &Manifest,
    root: &Path,
    info: &RunInfo,
    ui: &mut Ui,
    djobs: &[SimJob],
    artifact: Option<&Path>,
    trained: Option<Trained>,
    tuned: Tuned,
    evaluated: Evaluated,
    sims: &SimTally,
) -> Result<RunReport> {
    let t0 = Instant::now();
    let claims = claims::claims(m, &evaluated.cells, trained.as_ref().map(|t| &t.forecast));
    let mut notes = Vec::new();
    if sims.events > 0 && sims.wall_s > 0.0 {
        notes.push(format!(
            "simulation: {} events in {:.1} s of simulation threads ({:.2}M events/s per thread)",
            sims.events,
            sims.wall_s,
            sims.events as f64 / sims.wall_s / 1e6
        ));
    }
    let mut machine_claims = Vec::new();
    if let Some(artifact) = artifact
        && let Some(us) = prediction_latency(root, djobs, artifact)
    {
        notes.push(format!(
            "prediction latency: {us:.1} µs per interval (feature extraction + inference, one thread)"
        ));
        machine_claims.push(latency_claim(us));
    }
    if let Some(t) = &trained
        && !t.timings.is_empty()
    {
        machine_claims.push(training_claim(&t.timings, t.reused));
    }
    let (forecast, models) = trained.map_or((None, Vec::new()), |t| (Some(t.forecast), t.timings));
    let report = RunReport {
        meta: meta(m, info)?,
        forecast,
        policies: Some(evaluated.section),
        tuning: tuned.outcome.map(|o| o.section),
        claims,
        timings: Timings {
            steps: Vec::new(),
            models,
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

/// The seed's "under 10 ms per load prediction", measured.
fn latency_claim(us: f64) -> poolcast_reports::Claim {
    poolcast_reports::Claim {
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
    }
}

/// The seed's "under 5 minutes for incremental updates", measured as a
/// training from scratch.
fn training_claim(timings: &[ModelTiming], reused: bool) -> poolcast_reports::Claim {
    let train_s: f64 = timings.iter().map(|t| t.train_seconds).sum();
    poolcast_reports::Claim {
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
    }
}

/// `metrics.json`: the report's numbers without the machine-measured part.
#[derive(Serialize)]
struct MetricsView<'a> {
    meta: &'a Meta,
    forecast: &'a Option<ForecastSection>,
    policies: &'a Option<PolicySection>,
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
