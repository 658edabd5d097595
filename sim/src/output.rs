//! Writes a scenario file's runs to disk.
//!
//! ```text
//! <out>/telemetry/scenario=<name>/replication=<r>/snapshots.parquet
//! <out>/telemetry/scenario=<name>/replication=<r>/requests.parquet   (record_requests)
//! <out>/telemetry/scenario=<name>/replication=<r>/summary.json
//! <out>/summary.json                                                  (all runs)
//! ```
//!
//! The layout is hive-partitioned, so polars, pandas (pyarrow) and DuckDB
//! open `<out>/telemetry` as one table with `scenario` and `replication`
//! columns. Every file is written to a temporary sibling and renamed when
//! complete: an interrupted run never leaves a half-written file under a
//! final name.

use std::path::{Path, PathBuf};

use poolcast::core::{RequestRecord, Snapshot};
use poolcast_datasets::{DatasetError, RecordWriter, SnapshotWriter, WriteOptions};
use rayon::prelude::*;

use crate::engine::{Engine, TelemetrySink};
use crate::scenario::ScenarioFile;
use crate::summary::Summary;
use crate::valid_scenario::ValidScenario;

/// What can go wrong while writing a run.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// A Parquet file could not be written.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// Another file could not be written.
    #[error("{}: could not {action}: {source}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The cause.
        source: std::io::Error,
    },
    /// A replayed trace could not be read again during the run.
    #[error("scenario {scenario}: its replayed trace: {message}")]
    Replay {
        /// The scenario.
        scenario: String,
        /// What went wrong.
        message: String,
    },
}

/// Writes snapshots (and request records) of one run to Parquet.
pub struct ParquetSink {
    snapshots: SnapshotWriter,
    requests: Option<RecordWriter>,
}

impl TelemetrySink for ParquetSink {
    type Error = DatasetError;
    fn snapshot(&mut self, snap: &Snapshot) -> Result<(), DatasetError> {
        self.snapshots.push(snap)
    }
    fn request(&mut self, rec: &RequestRecord) -> Result<(), DatasetError> {
        match &mut self.requests {
            Some(w) => w.push(rec),
            None => Ok(()),
        }
    }
}

/// The directory of one run.
pub fn run_dir(out: &Path, scenario: &str, replication: u32) -> PathBuf {
    out.join("telemetry")
        .join(format!("scenario={scenario}"))
        .join(format!("replication={replication}"))
}

/// Writes `bytes` to `path` through a temporary sibling
/// ([`poolcast_datasets::write_atomic`]).
///
/// # Errors
/// Names the file when writing or renaming fails.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    poolcast_datasets::write_atomic(path, bytes).map_err(|e| OutputError::Io {
        path: e.path,
        action: e.action,
        source: e.source,
    })
}

/// Runs replication `replication` of `sc` and writes it under `out`.
///
/// # Errors
/// The first file that could not be written.
pub fn run_one(
    sc: &ValidScenario,
    seed: u64,
    replication: u32,
    out: &Path,
) -> Result<Summary, OutputError> {
    let dir = run_dir(out, &sc.name, replication);
    std::fs::create_dir_all(&dir).map_err(|source| OutputError::Io {
        path: dir.clone(),
        action: "create directory",
        source,
    })?;
    let opts = WriteOptions::default()
        .with_metadata("poolcast.scenario", sc.name.clone())
        .with_metadata("poolcast.replication", replication.to_string())
        .with_metadata("poolcast.seed", seed.to_string())
        .with_metadata("poolcast.interval_ns", sc.interval_ns().to_string());
    let snapshots = SnapshotWriter::create(dir.join("snapshots.parquet"), opts.clone())?;
    let requests = if sc.record_requests {
        Some(RecordWriter::create(dir.join("requests.parquet"), opts)?)
    } else {
        None
    };
    let mut sink = ParquetSink {
        snapshots,
        requests,
    };
    let summary = Engine::new(sc, seed, replication, &mut sink).run()?;
    // A streamed trace that could not be read to its end replayed only
    // part of it: the run's files are not written (the writers, dropped
    // unfinished, delete them).
    if let Some(message) = sc.replay_error() {
        return Err(OutputError::Replay {
            scenario: sc.name.clone(),
            message,
        });
    }
    let ParquetSink {
        snapshots,
        requests,
    } = sink;
    snapshots.finish()?;
    if let Some(r) = requests {
        r.finish()?;
    }
    let json = serde_json::to_vec_pretty(&summary).expect("a summary always serializes");
    write_atomic(&dir.join("summary.json"), &json)?;
    Ok(summary)
}

/// Runs every scenario × replication of `file` (in parallel on the current
/// rayon pool) and writes `<out>/summary.json`. Outputs do not depend on the
/// thread count: every run has its own streams and files, and summaries are
/// listed in file order.
///
/// # Errors
/// The first run that failed to write, in file order.
pub fn run_file(file: &ScenarioFile, out: &Path) -> Result<Vec<Summary>, OutputError> {
    let jobs: Vec<(&ValidScenario, u32)> = file
        .scenarios
        .iter()
        .flat_map(|sc| (0..sc.replications).map(move |r| (sc, r)))
        .collect();
    let results: Vec<Result<Summary, OutputError>> = jobs
        .par_iter()
        .map(|(sc, r)| run_one(sc, file.seed, *r, out))
        .collect();
    let summaries = results.into_iter().collect::<Result<Vec<_>, _>>()?;
    let json = serde_json::to_vec_pretty(&summaries).expect("summaries always serialize");
    write_atomic(&out.join("summary.json"), &json)?;
    Ok(summaries)
}
