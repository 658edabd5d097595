//! `poolcast status`: where a run directory stands, for a user watching a
//! Job array fill it (issue 26): every step, how many of its simulations
//! are finished, how far each shard of the shard plan is, and what is
//! left. It reads the directory and writes nothing.
//!
//! A plan job (a data run, a model-free evaluation run) is finished when
//! its stamp matches the key this manifest gives it; the steps after
//! training depend on the model, so their simulations are counted by
//! their intact stamps.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;

use crate::cache;
use crate::manifest::Manifest;
use crate::run::{ShardRecord, data_jobs, run_root, shard_plan, steps};
use crate::simjob::{SimJob, read_json};
use crate::tune;

/// `poolcast status` arguments.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// A run directory, or the manifest given to `poolcast run` (with
    /// `--out` and `--run-id` as given there).
    pub run: PathBuf,
    /// Parent of the experiment directories, with a manifest.
    #[arg(long, short, default_value = "runs")]
    pub out: PathBuf,
    /// The run directory's name, with a manifest, when `poolcast run` was
    /// given one.
    #[arg(long)]
    pub run_id: Option<String>,
    /// How many shards the plan is split into (default: as the shard
    /// records in the run directory say).
    #[arg(long)]
    pub shards: Option<u32>,
}

/// Where one step stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum State {
    /// Finished (all its simulations, or its stamp or outputs present).
    Done,
    /// Some of its simulations finished: done of all.
    Partly(usize, usize),
    /// Nothing of it yet.
    NotStarted,
}

/// One line of the status: a step and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StepStatus {
    pub name: &'static str,
    pub state: State,
    /// What the state means, e.g. `8 of 10 simulations`.
    pub detail: String,
}

/// How far one shard of the plan is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShardStatus {
    pub index: u32,
    pub count: u32,
    pub done: usize,
    pub jobs: usize,
    /// Whether its record (`shards/shard-i-of-n.json`) is written: the
    /// shard ran to its end.
    pub recorded: bool,
}

/// The whole status of a run directory.
#[derive(Debug, Clone)]
pub(crate) struct Status {
    pub root: PathBuf,
    pub steps: Vec<StepStatus>,
    pub shards: Vec<ShardStatus>,
    /// The later waves' records: (wave, index, count), in order.
    pub later: Vec<(u32, u32, u32)>,
}

/// `poolcast status`.
///
/// # Errors
/// The manifest cannot be read, or the run directory does not exist.
pub fn status_cmd(a: &StatusArgs) -> Result<()> {
    let (m, root) = load(a)?;
    if !root.is_dir() {
        bail!(
            "{}: no such run directory (nothing of this run has started)",
            root.display()
        );
    }
    let s = status(&m, &root, a.shards)?;
    out!("{}", render(&m, &s));
    Ok(())
}

/// The manifest and the run directory `a` names.
fn load(a: &StatusArgs) -> Result<(Manifest, PathBuf)> {
    if a.run.is_dir() {
        let path = a.run.join("manifest.toml");
        if !path.is_file() {
            bail!(
                "{}: not a run directory of `poolcast run` (no manifest.toml)",
                a.run.display()
            );
        }
        let m = Manifest::load(&path).map_err(|e| {
            anyhow::anyhow!(
                "{e}\n(the run's copy of its manifest names files relative to where the \
                 manifest was written: pass that manifest instead, \
                 `poolcast status <manifest.toml> --out <dir>`)"
            )
        })?;
        return Ok((m, a.run.clone()));
    }
    let m = Manifest::load(&a.run)?;
    let (root, _) = run_root(&m, &a.out, a.run_id.as_deref());
    Ok((m, root))
}

/// Where the run in `root` of manifest `m` stands; `shards` splits the
/// plan (default: the shard records' count).
pub(crate) fn status(m: &Manifest, root: &Path, shards: Option<u32>) -> Result<Status> {
    let djobs = data_jobs(m)?;
    let data_done = djobs.iter().filter(|j| finished(root, j)).count();
    let mut steps_out = vec![sims("data", data_done, djobs.len())];
    let models = m.body.tuning.is_some() || m.policies.iter().any(|p| p.needs_model());
    if models {
        let fkey = steps::features_key(m, &djobs);
        steps_out.push(stamped_step(
            "features",
            cache::is_done(root, "features", &fkey),
            cache::is_stamped(root, "features"),
        ));
        steps_out.push(stamped_step(
            "train",
            steps::train_done(m, root, &fkey),
            cache::is_stamped(&root.join("train"), "train"),
        ));
        let reps = m.body.tuning.as_ref().map_or(0, |t| t.replications);
        let tuning = progress(
            root,
            (0..tune::candidates(m).len()).flat_map(|k| {
                m.tuning_scenarios.iter().flat_map(move |s| {
                    (0..reps).map(move |i| {
                        format!(
                            "tuning/candidate={k}/scenario={s}/replication={}",
                            m.tuning_rep0() + i
                        )
                    })
                })
            }),
        );
        if tuning.1 > 0 {
            steps_out.push(gathered(
                "tune",
                tuning,
                &root.join("tuning/result.json"),
                "; the winner not chosen yet",
            ));
        }
        steps_out.push(files_step(
            "export",
            &["artifact.json", "artifact-naive.json", "pool.toml"],
            root,
        ));
    }
    let evaluation = progress(
        root,
        m.policies.iter().flat_map(|p| {
            let policy = p.name();
            m.eval_scenarios.iter().flat_map(move |s| {
                let policy = policy.clone();
                m.eval_reps().map(move |r| {
                    format!("telemetry/phase=eval/policy={policy}/scenario={s}/replication={r}")
                })
            })
        }),
    );
    steps_out.push(gathered(
        "evaluate",
        evaluation,
        &root.join("evaluation.json"),
        "; not gathered yet",
    ));
    steps_out.push(files_step(
        "report",
        &["metrics.json", "report.md", "report.html"],
        root,
    ));
    let mut later: Vec<(u32, u32, u32)> = read_records(root)
        .into_iter()
        .filter(|r| r.wave > 1)
        .map(|r| (r.wave, r.index, r.count))
        .collect();
    later.sort_unstable();
    Ok(Status {
        root: root.to_path_buf(),
        steps: steps_out,
        shards: shard_status(m, root, shards)?,
        later,
    })
}

/// (finished, all) of the simulations in `dirs`, counted by their intact
/// stamps.
fn progress(root: &Path, dirs: impl Iterator<Item = String>) -> (usize, usize) {
    dirs.fold((0, 0), |(done, all), d| {
        let stamped = cache::is_stamped(&root.join(d), "sim");
        (done + usize::from(stamped), all + 1)
    })
}

/// Whether a plan job's stamp matches its key.
fn finished(root: &Path, j: &SimJob) -> bool {
    cache::is_done(&root.join(&j.dir), "sim", &j.key())
}

fn sims(name: &'static str, done: usize, total: usize) -> StepStatus {
    let state = if total > 0 && done == total {
        State::Done
    } else if done == 0 {
        State::NotStarted
    } else {
        State::Partly(done, total)
    };
    StepStatus {
        name,
        state,
        detail: format!("{done} of {total} simulations"),
    }
}

/// A step of `total` simulations, `done` finished, whose outcome is
/// gathered into `file`: not done until `file` is written (`why` says
/// so).
fn gathered(
    name: &'static str,
    (done, total): (usize, usize),
    file: &Path,
    why: &str,
) -> StepStatus {
    let mut st = sims(name, done, total);
    if st.state == State::Done && !file.is_file() {
        st.state = State::Partly(done, total);
        st.detail.push_str(why);
    }
    st
}

/// A step stamped as a whole: done for this manifest, stamped for other
/// settings (a re-run redoes it), or not started.
fn stamped_step(name: &'static str, done: bool, stamped: bool) -> StepStatus {
    let (state, detail) = match (done, stamped) {
        (true, _) => (State::Done, "done"),
        (false, true) => (
            State::NotStarted,
            "stamped for other inputs: `poolcast run` redoes it",
        ),
        (false, false) => (State::NotStarted, "not started"),
    };
    StepStatus {
        name,
        state,
        detail: detail.into(),
    }
}

/// A step whose outputs are `files` under `root`.
fn files_step(name: &'static str, files: &[&str], root: &Path) -> StepStatus {
    let there = files.iter().filter(|f| root.join(f).is_file()).count();
    let (state, detail) = if there == files.len() {
        (State::Done, "written".to_string())
    } else if there == 0 {
        (State::NotStarted, "not started".to_string())
    } else {
        (
            State::Partly(there, files.len()),
            format!("{there} of {} files", files.len()),
        )
    };
    StepStatus {
        name,
        state,
        detail,
    }
}

/// Each shard's share of the shard plan (job `k` to shard `k mod n`) and
/// how much of it is finished.
fn shard_status(m: &Manifest, root: &Path, shards: Option<u32>) -> Result<Vec<ShardStatus>> {
    let records: Vec<ShardRecord> = read_records(root)
        .into_iter()
        .filter(|r| r.wave == 1)
        .collect();
    let Some(n) = shards.or_else(|| records.iter().map(|r| r.count).max()) else {
        return Ok(Vec::new());
    };
    if n == 0 {
        bail!("--shards 0: expected at least 1");
    }
    let plan = shard_plan(m)?;
    Ok((0..n)
        .map(|i| {
            let mine: Vec<&SimJob> = plan
                .iter()
                .enumerate()
                .filter(|(k, _)| *k as u32 % n == i)
                .map(|(_, j)| j)
                .collect();
            ShardStatus {
                index: i,
                count: n,
                done: mine.iter().filter(|j| finished(root, j)).count(),
                jobs: mine.len(),
                recorded: records.iter().any(|r| r.index == i && r.count == n),
            }
        })
        .collect())
}

/// The shard records in `root/shards/` that read.
fn read_records(root: &Path) -> Vec<ShardRecord> {
    std::fs::read_dir(root.join("shards"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .filter_map(|e| read_json::<ShardRecord>(&e.path()).ok())
        .collect()
}

/// The status as the terminal shows it.
pub(crate) fn render(m: &Manifest, s: &Status) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "run of {} in {}",
        m.body.experiment.name,
        s.root.display()
    );
    for st in &s.steps {
        let mark = match st.state {
            State::Done => "done",
            State::Partly(..) => "partly",
            State::NotStarted => "-",
        };
        let _ = writeln!(out, "  {:<10} {:<7} {}", st.name, mark, st.detail);
    }
    if !s.shards.is_empty() {
        let total: usize = s.shards.iter().map(|x| x.jobs).sum();
        let _ = writeln!(
            out,
            "shards: the plan's {total} simulations (data and model-free evaluation) in {}",
            s.shards[0].count
        );
        for x in &s.shards {
            let state = if x.recorded {
                "finished"
            } else if x.done == x.jobs {
                "its simulations done, not recorded (running, or stopped before its record)"
            } else if x.done == 0 {
                "not started"
            } else {
                "running or stopped"
            };
            let _ = writeln!(
                out,
                "  shard {}/{}  {} of {} simulations; {state}",
                x.index, x.count, x.done, x.jobs
            );
        }
    }
    for wave in [2, 3] {
        let of: Vec<String> = s
            .later
            .iter()
            .filter(|r| r.0 == wave)
            .map(|r| format!("{}/{}", r.1, r.2))
            .collect();
        if !of.is_empty() {
            let _ = writeln!(
                out,
                "wave {wave} ({}): shards {} finished",
                if wave == 2 {
                    "tuning"
                } else {
                    "model-driven evaluation"
                },
                of.join(", ")
            );
        }
    }
    let left: Vec<String> = s
        .steps
        .iter()
        .filter(|st| st.state != State::Done)
        .map(|st| match st.state {
            State::Partly(done, total) if st.detail.contains("simulations") && done < total => {
                let n = total - done;
                format!(
                    "{} ({n} simulation{} left)",
                    st.name,
                    if n == 1 { "" } else { "s" }
                )
            }
            _ => st.name.to_string(),
        })
        .collect();
    if left.is_empty() {
        let _ = writeln!(out, "left: nothing; the run is finished");
    } else {
        let _ = writeln!(
            out,
            "left: {}; `poolcast run` finishes it (shards: `poolcast run --shard i/n`, then `poolcast merge`)",
            left.join(", ")
        );
    }
    out
}
