//! One simulated run of the workbench: a scenario with its policy set, one
//! replication, its outputs in a directory of its own with a stamp. Data,
//! tuning and evaluation runs are all of this shape; they differ in the
//! policy, the replication numbers and what they keep.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use poolcast::core::policy::PolicyConfig;
use poolcast::core::{NANOS_PER_SEC, RequestRecord, Snapshot};
use poolcast_datasets::{RecordWriter, SnapshotWriter, WriteOptions};
use poolcast_sim::{Engine, Scenario, Summary, TelemetrySink, ValidScenario};
use serde::{Deserialize, Serialize};

use crate::cache::{self, Key};

/// The largest number of points kept of a run's size and demand over time.
const SERIES_POINTS: usize = 480;

/// A run's pool size and demand over time, averaged into at most
/// [`SERIES_POINTS`] buckets (for the report's chart).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Bucket end, seconds of simulated time.
    pub t_s: Vec<f64>,
    /// Mean open connections.
    pub size: Vec<f64>,
    /// Mean demand (busy + waiting).
    pub demand: Vec<f64>,
}

impl Series {
    fn from_points(pts: &[(f64, f64, f64)]) -> Series {
        let per = pts.len().div_ceil(SERIES_POINTS).max(1);
        let mut s = Series::default();
        for chunk in pts.chunks(per) {
            let n = chunk.len() as f64;
            s.t_s.push(chunk[chunk.len() - 1].0);
            s.size.push(chunk.iter().map(|p| p.1).sum::<f64>() / n);
            s.demand.push(chunk.iter().map(|p| p.2).sum::<f64>() / n);
        }
        s
    }
}

/// What one job is.
#[derive(Debug, Clone)]
pub struct SimJob {
    /// `data`, `tuning` or `eval`.
    pub phase: &'static str,
    /// The policy's report name.
    pub policy: String,
    /// The scenario, policy and overrides applied, validated.
    pub scenario: ValidScenario,
    /// The experiment seed.
    pub seed: u64,
    /// The replication (its random streams).
    pub replication: u32,
    /// Output directory relative to the run directory.
    pub dir: PathBuf,
    /// Write `snapshots.parquet` (and `requests.parquet` when the scenario
    /// records requests).
    pub telemetry: bool,
    /// Extra inputs of the key (the artifact's hash for a predictive run).
    pub extra_key: String,
}

/// What one job produced.
#[derive(Debug, Clone)]
pub struct JobOutput {
    /// The run's summary (wall-clock fields zeroed: they live in
    /// `timings.json`).
    pub summary: Summary,
    /// Size and demand over time.
    pub series: Series,
    /// Wall seconds of the simulation (0 when reused).
    pub wall_s: f64,
    /// Events simulated (0 when reused).
    pub events: u64,
    /// Whether the outputs were reused from an earlier run.
    pub reused: bool,
}

struct Sink {
    snapshots: Option<SnapshotWriter>,
    requests: Option<RecordWriter>,
    points: Vec<(f64, f64, f64)>,
}

impl TelemetrySink for Sink {
    type Error = poolcast_datasets::DatasetError;
    fn snapshot(&mut self, snap: &Snapshot) -> Result<(), Self::Error> {
        self.points.push((
            snap.t_ns as f64 / NANOS_PER_SEC as f64,
            snap.size_mean,
            snap.demand_mean(),
        ));
        match &mut self.snapshots {
            Some(w) => w.push(snap),
            None => Ok(()),
        }
    }
    fn request(&mut self, rec: &RequestRecord) -> Result<(), Self::Error> {
        match &mut self.requests {
            Some(w) => w.push(rec),
            None => Ok(()),
        }
    }
}

/// `sc`, set up for `policy` (and any overrides), validated to run as a
/// job. The manifest's checks make a failure here unlikely, but a
/// combination they did not foresee is an error that names the scenario,
/// not a panic in the engine.
///
/// # Errors
/// The first bad field, under the scenario's name and policy.
pub fn validated(sc: Scenario, policy: &str) -> Result<ValidScenario> {
    let name = sc.name.clone();
    sc.into_valid("")
        .map_err(|e| anyhow::anyhow!("scenario {name:?} set up for policy {policy}: {e}"))
}

impl SimJob {
    /// The job's key: everything that decides its outputs.
    pub fn key(&self) -> String {
        // The artifact enters the key by its hash (`extra_key`), not by
        // where the run directory happens to be.
        let mut sc = self.scenario.without_trace_path();
        if let Some(PolicyConfig::Predictive(p)) = &mut sc.pool.policy {
            p.artifact = p
                .artifact
                .as_ref()
                .and_then(|a| a.file_name())
                .map(Into::into);
        }
        Key::new("sim")
            .with(self.phase)
            .with(&self.policy)
            .with(&sc)
            .with(&self.seed)
            .with(&self.replication)
            .with(&self.telemetry)
            .with(&self.extra_key)
            .finish()
    }

    /// Runs the job (or reuses its finished outputs) under `root`.
    ///
    /// # Errors
    /// A file cannot be written or read back.
    pub fn run(&self, root: &Path) -> Result<JobOutput> {
        let dir = root.join(&self.dir);
        let key = self.key();
        if cache::is_done(&dir, "sim", &key) {
            let summary: Summary = read_json(&dir.join("summary.json"))?;
            let series: Series = read_json(&dir.join("series.json"))?;
            return Ok(JobOutput {
                summary,
                series,
                wall_s: 0.0,
                events: 0,
                reused: true,
            });
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let sc = &self.scenario;
        let opts = WriteOptions::default()
            .with_metadata("poolcast.scenario", sc.name.clone())
            .with_metadata("poolcast.replication", self.replication.to_string())
            .with_metadata("poolcast.seed", self.seed.to_string())
            .with_metadata("poolcast.interval_ns", sc.interval_ns().to_string())
            .with_metadata("poolcast.phase", self.phase)
            .with_metadata("poolcast.policy", self.policy.clone());
        let mut files = vec!["summary.json", "series.json"];
        let snapshots = if self.telemetry {
            files.push("snapshots.parquet");
            Some(SnapshotWriter::create(
                dir.join("snapshots.parquet"),
                opts.clone(),
            )?)
        } else {
            None
        };
        let requests = if self.telemetry && sc.record_requests {
            files.push("requests.parquet");
            Some(RecordWriter::create(dir.join("requests.parquet"), opts)?)
        } else {
            None
        };
        let mut sink = Sink {
            snapshots,
            requests,
            points: Vec::new(),
        };
        let t0 = Instant::now();
        let mut summary = Engine::new(sc, self.seed, self.replication, &mut sink)
            .run()
            .with_context(|| format!("simulating {}", self.dir.display()))?;
        if let Some(e) = sc.replay_error() {
            anyhow::bail!(
                "simulating {}: scenario {}: its replayed trace: {e}",
                self.dir.display(),
                sc.name
            );
        }
        let wall_s = t0.elapsed().as_secs_f64();
        if let Some(w) = sink.snapshots.take() {
            w.finish()?;
        }
        if let Some(w) = sink.requests.take() {
            w.finish()?;
        }
        let events = summary.events;
        // Machine-dependent: kept out of the run directory's deterministic
        // files (timings.json has the totals).
        summary.wall_seconds = 0.0;
        summary.events_per_sec = 0.0;
        let series = Series::from_points(&sink.points);
        cache::write_atomic(&dir.join("summary.json"), &to_json(&summary))?;
        cache::write_atomic(&dir.join("series.json"), &to_json(&series))?;
        cache::mark_done(&dir, "sim", &key, &files)?;
        Ok(JobOutput {
            summary,
            series,
            wall_s,
            events,
            reused: false,
        })
    }
}

/// Pretty JSON bytes of a value that always serializes.
pub fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(v).expect("outputs always serialize");
    b.push(b'\n');
    b
}

/// Reads a JSON file, naming it on failure.
///
/// # Errors
/// The file is missing or not the expected JSON.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replay_key_follows_the_trace_content_not_its_path() {
        let header = poolcast::core::telemetry::REQUEST_CSV_HEADER;
        let key_of = |dir: &Path, hold: u64| {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(
                dir.join("requests-000001.csv"),
                format!("{header}\n0,read,1,0,{hold},ok,,3\n1000000000,read,1,0,{hold},ok,,3\n"),
            )
            .unwrap();
            let text = format!(
                "seed = 1\n[[scenario]]\nname = \"r\"\nduration_s = 1\nreplay = {{ trace = \"{}\" }}\n",
                dir.display()
            );
            let f = poolcast_sim::ScenarioFile::parse(&text, "r.toml").unwrap();
            SimJob {
                phase: "data",
                policy: "static".into(),
                scenario: f.scenarios[0].clone(),
                seed: 1,
                replication: 0,
                dir: PathBuf::from("x"),
                telemetry: true,
                extra_key: String::new(),
            }
            .key()
        };
        let tmp = tempfile::tempdir().unwrap();
        let a = key_of(&tmp.path().join("a"), 5_000);
        assert_eq!(a, key_of(&tmp.path().join("b"), 5_000), "moved: same key");
        assert_ne!(a, key_of(&tmp.path().join("c"), 6_000), "changed: new key");
    }

    #[test]
    fn series_buckets_average_and_keep_the_last_time() {
        let pts: Vec<(f64, f64, f64)> = (0..1000)
            .map(|i| (f64::from(i + 1), f64::from(i), 2.0))
            .collect();
        let s = Series::from_points(&pts);
        assert!(s.t_s.len() <= SERIES_POINTS);
        assert_eq!(*s.t_s.last().unwrap(), 1000.0);
        assert!(s.demand.iter().all(|&d| d == 2.0));
        assert_eq!(s.size[0], 1.0, "mean of 0, 1 and 2");
    }
}
