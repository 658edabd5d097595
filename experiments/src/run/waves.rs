//! The waves of a sharded run (`poolcast run --shard i/n`). Each wave is a
//! list of simulations in a fixed order, job `k` going to shard `k mod n`,
//! and needs what the one-machine steps before it wrote:
//!
//! 1. the shard plan: the data runs and the model-free policies'
//!    evaluation runs (needs nothing);
//! 2. the tuning runs (needs the trained model: `poolcast run --until
//!    train` on one machine after wave 1);
//! 3. the evaluation runs of the model-driven policies, each
//!    `static-matched` run beside the `predictive` run it is sized from,
//!    and the model-free ones when tuning chose settings they share (needs
//!    every tuning run; each shard then chooses the winner and exports it
//!    itself, the same bytes on every shard).
//!
//! A shard runs the first wave that is not finished and whose inputs are;
//! so the same Job array started again after each one-machine step does
//! the next wave. The finishing `poolcast run` reuses everything.

use std::path::Path;

use anyhow::Result;

use super::steps::{self, SimTally};
use super::{RunInfo, Ui, data_jobs, run_jobs, shard_plan};
use crate::cache;
use crate::manifest::{Manifest, PolicySpec};
use crate::simjob::SimJob;

/// The simulations of shard `i` of `n` in the next wave, and the wave's
/// number.
pub(super) struct Slice {
    pub(super) wave: u32,
    pub(super) jobs: Vec<SimJob>,
}

/// What a shard did.
pub(super) enum Outcome {
    /// It ran its part of a wave.
    Ran(Slice),
    /// It found nothing to run; why, and the command that comes next.
    Idle(String),
}

/// Jobs `k` of `all` with `k mod n == i`.
fn mine(all: Vec<SimJob>, i: u32, n: u32) -> Vec<SimJob> {
    all.into_iter()
        .enumerate()
        .filter(|(k, _)| *k as u32 % n == i)
        .map(|(_, j)| j)
        .collect()
}

/// Whether a job's stamp matches its key.
fn finished(root: &Path, j: &SimJob) -> bool {
    cache::is_done(&root.join(&j.dir), "sim", &j.key())
}

/// Runs shard `i` of `n` of the next wave of `m` in `root`: its slice,
/// and in wave 3 the `static-matched` runs beside its `predictive` ones.
/// Returns what it ran, or why it had nothing to run (the next wave's
/// inputs are not there yet, naming the command that makes them, or
/// nothing is left to shard).
///
/// # Errors
/// A simulation, training or export fails.
pub(super) fn run_shard(
    m: &Manifest,
    root: &Path,
    info: &RunInfo,
    ui: &mut Ui,
    (i, n): (u32, u32),
    manifest: &Path,
) -> Result<Outcome> {
    let plan = shard_plan(m)?;
    if !plan.iter().all(|j| finished(root, j)) {
        let jobs = mine(plan, i, n);
        run_jobs(root, &jobs, ui, "shard")?;
        return Ok(Outcome::Ran(Slice { wave: 1, jobs }));
    }
    let models = m.body.tuning.is_some() || m.policies.iter().any(|p| p.needs_model());
    if !models {
        return Ok(Outcome::Idle(format!(
            "every simulation a shard can run is finished (nothing in this manifest needs a \
             model): finish with `poolcast run {}`",
            manifest.display()
        )));
    }
    let djobs = data_jobs(m)?;
    let fkey = steps::features_key(m, &djobs);
    if !cache::is_done(root, "features", &fkey) || !steps::train_done(m, root, &fkey) {
        return Ok(Outcome::Idle(format!(
            "the first wave is finished, and the next one needs the trained model: train on one \
             machine with `poolcast run {} --until train` (and `poolcast merge` first when the \
             shards wrote to separate directories), then start the shards again",
            manifest.display()
        )));
    }
    let features = steps::features(m, root, ui, &djobs)?;
    let trained = steps::train_models(m, root, info, ui, &features)?;
    let (tuning, _) = steps::tuning_jobs(m, &trained)?;
    if !tuning.iter().all(|j| finished(root, j)) {
        let jobs = mine(tuning, i, n);
        run_jobs(root, &jobs, ui, "shard")?;
        return Ok(Outcome::Ran(Slice { wave: 2, jobs }));
    }
    // Every tuning run is there: choosing the winner and exporting it are
    // quick and give the same bytes on every shard.
    let mut sims = SimTally::default();
    let tuned = steps::tune_thresholds(m, root, ui, &trained, &mut sims)?;
    let (artifact, naive) = steps::export(m, root, info, ui, &trained, &tuned)?;
    let plan = steps::eval_plan(m, &tuned, Some((&artifact, &naive)))?;
    let matched_too = m.policies.contains(&PolicySpec::StaticMatched);
    let left = !plan.jobs.iter().all(|j| finished(root, j))
        || (matched_too && !all_matched_finished(m, root, &plan)?);
    if !left {
        return Ok(Outcome::Idle(format!(
            "every simulation is finished: `poolcast run {}` writes the report",
            manifest.display()
        )));
    }
    let pred = plan.n_free..plan.n_predictive;
    let owned: Vec<usize> = (0..plan.jobs.len())
        .filter(|k| *k as u32 % n == i)
        .collect();
    let mut jobs: Vec<SimJob> = owned.iter().map(|&k| plan.jobs[k].clone()).collect();
    let outs = run_jobs(root, &jobs, ui, "shard")?;
    if matched_too {
        let (pj, po): (Vec<SimJob>, Vec<_>) = owned
            .iter()
            .zip(outs)
            .filter(|(k, _)| pred.contains(k))
            .map(|(&k, o)| (plan.jobs[k].clone(), o))
            .unzip();
        let matched = steps::matched_jobs(m, &plan.shared, &pj, &po)?;
        run_jobs(root, &matched, ui, "shard")?;
        jobs.extend(matched);
    }
    Ok(Outcome::Ran(Slice { wave: 3, jobs }))
}

/// Whether every `static-matched` run beside a finished `predictive` run
/// is finished too (false while a `predictive` run is not).
fn all_matched_finished(m: &Manifest, root: &Path, plan: &steps::EvalPlan) -> Result<bool> {
    let pred = &plan.jobs[plan.n_free..plan.n_predictive];
    if !pred.iter().all(|j| finished(root, j)) {
        return Ok(false);
    }
    let outs: Vec<_> = pred
        .iter()
        .map(|j| j.run(root))
        .collect::<Result<Vec<_>>>()?;
    let matched = steps::matched_jobs(m, &plan.shared, pred, &outs)?;
    Ok(matched.iter().all(|j| finished(root, j)))
}
