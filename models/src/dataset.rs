//! The offline feature pipeline: telemetry Parquet from many runs in, one
//! features Parquet out, computed by the very extractor the runtime uses.
//!
//! For each run (one `snapshots.parquet`, i.e. one scenario × replication,
//! or one directory of the runtime pool's recorder files: a service's own
//! telemetry, see [`read_run`]) a fresh [`FeatureExtractor`](poolcast::core::features::FeatureExtractor)
//! walks the snapshots in time order, so no window crosses a run. Targets
//! look forward inside the run only; a row whose horizon reaches past the
//! run's end gets a missing target and is never trained or scored on.
//!
//! Columns: the features (in [`FeatureSpec`] order), then per horizon `h`
//! `target_mean_h{h}` (mean `demand_mean` over the next `h` intervals) and
//! `target_peak_h{h}` (max `demand_max` over them), then the seasonal-naive
//! baselines `seasonal_mean_h{h}` / `seasonal_peak_h{h}` (the same
//! aggregate over the same `h` intervals one season earlier). Persistence
//! and moving-average baselines are feature columns already.

use std::path::{Path, PathBuf};

use poolcast::core::artifact::{Aggregate, Target};
use poolcast::core::features::{FeatureConfig, FeatureSpec};
use poolcast::core::policy::INTERVAL_TOLERANCE;
use poolcast::core::{NANOS_PER_SEC, Nanos, Snapshot};
use poolcast_datasets::{
    FeatureTable, FeatureTableWriter, WriteOptions, read_feature_table, read_recorder_snapshots,
    read_snapshots,
};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ModelError;

/// How the dataset is built.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatasetConfig {
    /// The feature definition's tunable part.
    pub features: FeatureConfig,
    /// Forecast horizons, in intervals (default 5, 15, 30, 60).
    pub horizons: Vec<u32>,
    /// Season of the seasonal-naive baseline, in seconds (default 1 day).
    pub season_s: u64,
}

impl Default for DatasetConfig {
    fn default() -> Self {
        DatasetConfig {
            features: FeatureConfig::default(),
            horizons: vec![5, 15, 30, 60],
            season_s: 86_400,
        }
    }
}

/// One run's telemetry file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RunRef {
    /// Scenario name (from `scenario=<name>` in the path, else the path).
    pub scenario: String,
    /// Replication (from `replication=<n>`, else 0).
    pub replication: u32,
    /// The telemetry: a `snapshots.parquet` file (the simulator's), a
    /// recorder `snapshots-*.jsonl` file, or a directory of them (the
    /// runtime pool's `TraceRecorder`); see [`read_run`].
    pub path: PathBuf,
}

/// Whether `name` is a runtime-pool recorder snapshot file
/// (`snapshots-000001.jsonl`, ...).
fn is_recorder_snapshots(name: &str) -> bool {
    poolcast::core::telemetry::RecorderFile::Snapshots.matches(name)
}

/// Finds every run under `input` (or `input` itself if it is a file),
/// sorted by scenario and replication: each `snapshots.parquet`, and each
/// directory that holds recorder `snapshots-*.jsonl` files (one run per
/// directory: one pool's rotated files).
///
/// # Errors
/// The input does not exist or holds no snapshot file.
pub fn discover_runs(input: &Path) -> Result<Vec<RunRef>, ModelError> {
    let mut files = Vec::new();
    if input.is_file() {
        files.push(input.to_path_buf());
    } else if input.is_dir() {
        walk(input, &mut files).map_err(|e| ModelError::io(input, e))?;
    } else {
        return Err(ModelError::Input(format!(
            "{}: no such file or directory (expected a run directory, a snapshots.parquet or a recorder directory of snapshots-*.jsonl)",
            input.display()
        )));
    }
    let mut runs: Vec<RunRef> = files
        .into_iter()
        .map(|path| {
            let mut scenario = None;
            let mut replication = 0;
            for c in path.components() {
                let c = c.as_os_str().to_string_lossy();
                if let Some(s) = c.strip_prefix("scenario=") {
                    scenario = Some(s.to_string());
                } else if let Some(r) = c.strip_prefix("replication=") {
                    replication = r.parse().unwrap_or(0);
                }
            }
            RunRef {
                scenario: scenario.unwrap_or_else(|| path.display().to_string()),
                replication,
                path,
            }
        })
        .collect();
    runs.sort();
    if runs.is_empty() {
        return Err(ModelError::Input(format!(
            "{}: no snapshots.parquet and no recorder snapshots-*.jsonl found (run `poolcast simulate` first, or point at a TraceRecorder directory)",
            input.display()
        )));
    }
    Ok(runs)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    let mut recorder = false;
    for e in entries {
        let p = e.path();
        let name = e.file_name();
        let name = name.to_string_lossy();
        if p.is_dir() {
            walk(&p, out)?;
        } else if name == "snapshots.parquet" {
            out.push(p);
        } else if is_recorder_snapshots(&name) {
            recorder = true;
        }
    }
    if recorder {
        out.push(dir.to_path_buf());
    }
    Ok(())
}

/// Reads one run's snapshots: a `snapshots.parquet` file, one recorder
/// `snapshots-*.jsonl` file, or a recorder directory, whose
/// `snapshots-*.jsonl` files are read in name order (the recorder numbers
/// them in rotation order, zero-padded) and joined.
///
/// # Errors
/// A file cannot be read or parsed (the message names the file and, for
/// JSONL, the line), or a directory holds no `snapshots-*.jsonl`.
pub fn read_run(path: &Path) -> Result<Vec<Snapshot>, ModelError> {
    let input = |e: poolcast_datasets::DatasetError| ModelError::Input(e.to_string());
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| ModelError::io(path, e))?
            .filter_map(|e| e.ok())
            .filter(|e| is_recorder_snapshots(&e.file_name().to_string_lossy()))
            .map(|e| e.path())
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(ModelError::Input(format!(
                "{}: no recorder snapshots-*.jsonl in this directory",
                path.display()
            )));
        }
        let mut out = Vec::new();
        for f in &files {
            out.extend(read_recorder_snapshots(f).map_err(input)?);
        }
        Ok(out)
    } else if path.extension().is_some_and(|e| e == "jsonl") {
        if is_otlp_metrics(path) {
            return read_otlp_pool(path);
        }
        read_recorder_snapshots(path).map_err(input)
    } else {
        read_snapshots(path).map_err(input)
    }
}

/// Whether `path` starts with an OTLP/JSON metrics export.
fn is_otlp_metrics(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 64];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    poolcast_datasets::otlp::otlp_kind(&String::from_utf8_lossy(&head[..n]))
        == Some(poolcast_datasets::otlp::OtlpKind::Metrics)
}

/// The snapshots of the one pool an OTLP/JSON metrics file exports.
///
/// # Errors
/// As [`poolcast_datasets::otlp::metrics::read_otlp_metrics`]; a file of
/// more than one pool, naming them.
fn read_otlp_pool(path: &Path) -> Result<Vec<Snapshot>, ModelError> {
    let mut pools = poolcast_datasets::otlp::metrics::read_otlp_metrics(path)
        .map_err(|e| ModelError::Input(e.to_string()))?;
    if pools.len() > 1 {
        let names: Vec<String> = pools.iter().map(|p| format!("{:?}", p.pool)).collect();
        return Err(ModelError::Input(format!(
            "{}: exports {} pools ({}): a forecaster learns one pool's demand; keep one pool's \
             data points (db.client.connection.pool.name) per file",
            path.display(),
            pools.len(),
            names.join(", ")
        )));
    }
    Ok(pools.pop().map(|p| p.snapshots).unwrap_or_default())
}

/// A features table with its definition.
#[derive(Debug, Clone)]
pub struct FeatureDataset {
    /// The feature definition (resolved for `interval_ns`).
    pub spec: FeatureSpec,
    /// How it was built.
    pub config: DatasetConfig,
    /// The telemetry interval.
    pub interval_ns: Nanos,
    /// Keys, features, targets and seasonal baselines.
    pub table: FeatureTable,
}

const META_HASH: &str = "poolcast.features.hash";
const META_CONFIG: &str = "poolcast.dataset.config";
const META_INTERVAL: &str = "poolcast.interval_ns";

/// The seasonal-naive column for a target.
pub fn seasonal_column(t: Target) -> String {
    format!("seasonal_{}_h{}", t.aggregate.name(), t.horizon)
}

fn target_columns(horizons: &[u32]) -> Vec<String> {
    let mut v = Vec::new();
    for &h in horizons {
        for a in [Aggregate::Mean, Aggregate::Peak] {
            v.push(
                Target {
                    aggregate: a,
                    horizon: h,
                }
                .column(),
            );
        }
    }
    for &h in horizons {
        for a in [Aggregate::Mean, Aggregate::Peak] {
            v.push(seasonal_column(Target {
                aggregate: a,
                horizon: h,
            }));
        }
    }
    v
}

/// Forward aggregates of `v` over `(i, i + h]`, `NaN` past the end.
fn forward(v: &[f64], h: usize, peak: bool) -> Vec<f64> {
    let n = v.len();
    let mut out = vec![f64::NAN; n];
    for (i, o) in out.iter_mut().enumerate() {
        if i + h < n {
            let w = &v[i + 1..=i + h];
            *o = if peak {
                w.iter().copied().fold(f64::NEG_INFINITY, f64::max)
            } else {
                w.iter().sum::<f64>() / h as f64
            };
        }
    }
    out
}

/// A run's interval. The simulator's snapshots all span exactly the
/// configured interval. The runtime pool's span the time its controller
/// took (1 s give or take a few hundred µs); their median, rounded to the
/// millisecond, is the configured one (`controller.interval_s` is set in
/// seconds).
fn nominal_interval(snaps: &[Snapshot]) -> Option<Nanos> {
    let first = snaps.first()?.interval_ns;
    if snaps.iter().all(|s| s.interval_ns == first) {
        return Some(first);
    }
    const MS: Nanos = 1_000_000;
    let mut spans: Vec<Nanos> = snaps.iter().map(|s| s.interval_ns).collect();
    spans.sort_unstable();
    let median = spans[spans.len() / 2];
    Some(((median + MS / 2) / MS * MS).max(MS))
}

/// Builds the dataset from `runs` (one extractor per run, in parallel; the
/// row order is the run order, then time).
///
/// # Errors
/// A run cannot be read, its interval differs from the first run's, a
/// snapshot spans more than [`INTERVAL_TOLERANCE`] off its run's interval,
/// or the feature config does not fit the interval.
pub fn build_dataset(
    runs: &[RunRef],
    config: &DatasetConfig,
) -> Result<FeatureDataset, ModelError> {
    if config.horizons.is_empty() || config.horizons.contains(&0) {
        return Err(ModelError::Input(
            "horizons: expected at least one horizon ≥ 1".into(),
        ));
    }
    let loaded: Vec<(usize, Vec<Snapshot>)> = runs
        .par_iter()
        .enumerate()
        .map(|(i, r)| read_run(&r.path).map(|s| (i, s)))
        .collect::<Result<_, _>>()?;
    let nominal: Vec<Option<Nanos>> = loaded.iter().map(|(_, s)| nominal_interval(s)).collect();
    let (first_run, interval_ns) = nominal
        .iter()
        .zip(runs)
        .find_map(|(n, r)| n.map(|n| (r, n)))
        .ok_or_else(|| ModelError::Input("every run is empty (no snapshots)".into()))?;
    let slack = INTERVAL_TOLERANCE * interval_ns as f64;
    for (((i, snaps), run), n) in loaded.iter().zip(runs).zip(&nominal) {
        if let Some(n) = *n
            && n != interval_ns
        {
            return Err(ModelError::Input(format!(
                "{}: interval {n} ns, run {} has {interval_ns} ns; train one interval at a time",
                run.path.display(),
                first_run.path.display()
            )));
        }
        if let Some((k, s)) = snaps
            .iter()
            .enumerate()
            .find(|(_, s)| (s.interval_ns as f64 - interval_ns as f64).abs() > slack)
        {
            return Err(ModelError::Input(format!(
                "{}: row {k} spans {} ns, expected the run's interval of {interval_ns} ns within {:.0}% (a stalled controller or a changed controller.interval_s)",
                run.path.display(),
                s.interval_ns,
                INTERVAL_TOLERANCE * 100.0
            )));
        }
        if snaps.windows(2).any(|w| w[1].t_ns <= w[0].t_ns) {
            // A recorder directory restarted by its service starts its
            // clock again: say so rather than only "out of order".
            let hint = if run.path.is_dir() {
                "; a recorder directory must hold one pool's run (a restarted service starts its clock again: give each run its own directory)"
            } else {
                ""
            };
            return Err(ModelError::Input(format!(
                "{}: snapshots are not in increasing time order (run {i}){hint}",
                run.path.display()
            )));
        }
    }
    let spec = FeatureSpec::new(config.features.clone(), interval_ns)
        .map_err(|e| ModelError::Input(e.to_string()))?;
    let season = (u128::from(config.season_s) * u128::from(NANOS_PER_SEC) / u128::from(interval_ns))
        as usize;
    if config.season_s == 0 || season == 0 {
        return Err(ModelError::Input(
            "season_s: expected at least one interval".into(),
        ));
    }
    let extra = target_columns(&config.horizons);
    let n_feat = spec.len();
    // One column-major block per run, built in parallel.
    let blocks: Vec<Vec<Vec<f64>>> = loaded
        .par_iter()
        .map(|(_, snaps)| {
            let n = snaps.len();
            let mut cols = vec![Vec::with_capacity(n); n_feat + extra.len()];
            let mut fx = spec.extractor(0);
            let mut row = vec![0.0; n_feat];
            for s in snaps {
                fx.push(s, &mut row);
                for (c, &v) in cols.iter_mut().zip(&row) {
                    c.push(v);
                }
            }
            let mean: Vec<f64> = snaps.iter().map(Snapshot::demand_mean).collect();
            let peak: Vec<f64> = snaps.iter().map(|s| f64::from(s.demand_max)).collect();
            let mut k = n_feat;
            for &h in &config.horizons {
                cols[k] = forward(&mean, h as usize, false);
                cols[k + 1] = forward(&peak, h as usize, true);
                k += 2;
            }
            for &h in &config.horizons {
                for (series, is_peak) in [(&mean, false), (&peak, true)] {
                    let fw = forward(series, h as usize, is_peak);
                    cols[k] = (0..n)
                        .map(|i| {
                            if i >= season {
                                fw[i - season]
                            } else {
                                f64::NAN
                            }
                        })
                        .collect();
                    k += 1;
                }
            }
            cols
        })
        .collect();
    let mut table = FeatureTable {
        names: spec
            .names()
            .iter()
            .map(|s| s.to_string())
            .chain(extra)
            .collect(),
        ..FeatureTable::default()
    };
    table.columns = vec![Vec::new(); table.names.len()];
    for (((_, snaps), run), block) in loaded.iter().zip(runs).zip(blocks) {
        for s in snaps {
            table.scenario.push(run.scenario.clone());
            table.replication.push(run.replication);
            table.t_ns.push(s.t_ns);
        }
        for (c, b) in table.columns.iter_mut().zip(block) {
            c.extend(b);
        }
    }
    table.metadata = vec![
        (META_HASH.into(), spec.hash().to_string()),
        (
            META_CONFIG.into(),
            serde_json::to_string(config).unwrap_or_default(),
        ),
        (META_INTERVAL.into(), interval_ns.to_string()),
    ];
    Ok(FeatureDataset {
        spec,
        config: config.clone(),
        interval_ns,
        table,
    })
}

impl FeatureDataset {
    /// Number of feature columns (they come first).
    pub fn n_features(&self) -> usize {
        self.spec.len()
    }

    /// Writes the table to Parquet with its definition in the metadata.
    ///
    /// # Errors
    /// I/O or encoding, naming the file.
    pub fn write(&self, path: &Path) -> Result<(), ModelError> {
        let mut opts = WriteOptions::default();
        for (k, v) in &self.table.metadata {
            opts = opts.with_metadata(k.clone(), v.clone());
        }
        let mut w = FeatureTableWriter::create(path, opts, &self.table.names)
            .map_err(|e| ModelError::Input(e.to_string()))?;
        let mut row = vec![0.0; self.table.names.len()];
        for i in 0..self.table.rows() {
            for (r, c) in row.iter_mut().zip(&self.table.columns) {
                *r = c[i];
            }
            w.push(
                &self.table.scenario[i],
                self.table.replication[i],
                self.table.t_ns[i],
                &row,
            )
            .map_err(|e| ModelError::Input(e.to_string()))?;
        }
        w.finish().map_err(|e| ModelError::Input(e.to_string()))?;
        Ok(())
    }

    /// Reads a features Parquet written by [`FeatureDataset::write`] and
    /// checks its definition against this build's.
    ///
    /// # Errors
    /// The file is not a features file, or its feature hash or columns
    /// differ from what this build computes.
    pub fn read(path: &Path) -> Result<Self, ModelError> {
        let table = read_feature_table(path).map_err(|e| ModelError::Input(e.to_string()))?;
        let bad = |m: String| ModelError::Input(format!("{}: {m}", path.display()));
        let config: DatasetConfig = table
            .meta(META_CONFIG)
            .ok_or_else(|| bad(format!("no `{META_CONFIG}` metadata; not a features file (build it with `poolcast train <run dir>`)")))
            .and_then(|s| serde_json::from_str(s).map_err(|e| bad(format!("bad `{META_CONFIG}`: {e}"))))?;
        let interval_ns: Nanos = table
            .meta(META_INTERVAL)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(format!("missing or bad `{META_INTERVAL}` metadata")))?;
        let spec = FeatureSpec::new(config.features.clone(), interval_ns)
            .map_err(|e| bad(e.to_string()))?;
        if table.meta(META_HASH) != Some(spec.hash()) {
            return Err(bad(format!(
                "feature hash {:?} differs from this build's {}; rebuild the features from telemetry",
                table.meta(META_HASH),
                spec.hash()
            )));
        }
        let want: Vec<String> = spec
            .names()
            .iter()
            .map(|s| s.to_string())
            .chain(target_columns(&config.horizons))
            .collect();
        if table.names != want {
            return Err(bad(
                "columns differ from the feature definition and horizons it names".into(),
            ));
        }
        Ok(FeatureDataset {
            spec,
            config,
            interval_ns,
            table,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_aggregates_stop_at_the_run_end() {
        let v = [1.0, 2.0, 3.0, 4.0];
        let m = forward(&v, 2, false);
        assert_eq!(m[0], 2.5);
        assert_eq!(m[1], 3.5);
        assert!(m[2].is_nan() && m[3].is_nan());
        let p = forward(&v, 1, true);
        assert_eq!(p[..3], [2.0, 3.0, 4.0]);
    }

    /// Snapshots as the runtime pool records them: each spans the time its
    /// controller took, not exactly the configured second.
    fn recorded(spans: &[Nanos]) -> Vec<Snapshot> {
        let mut t = 0;
        spans
            .iter()
            .map(|&d| {
                t += d;
                Snapshot {
                    t_ns: t,
                    interval_ns: d,
                    ..Snapshot::default()
                }
            })
            .collect()
    }

    fn write_jsonl(path: &Path, snaps: &[Snapshot]) {
        let lines: Vec<String> = snaps
            .iter()
            .map(|s| serde_json::to_string(s).unwrap())
            .collect();
        std::fs::write(path, lines.join("\n")).unwrap();
    }

    #[test]
    fn a_recorded_run_trains_at_its_configured_interval() {
        let spans: Vec<Nanos> = (0..40)
            .map(|i| 1_000_000_000 + [582_066, 0, 434_005, 1_175_782][i % 4] - 600_000)
            .collect();
        assert_eq!(nominal_interval(&recorded(&spans)), Some(NANOS_PER_SEC));
        let exact = recorded(&[60 * NANOS_PER_SEC; 3]);
        assert_eq!(nominal_interval(&exact), Some(60 * NANOS_PER_SEC));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snapshots-000001.jsonl");
        write_jsonl(&path, &recorded(&spans));
        let runs = discover_runs(dir.path()).unwrap();
        let cfg = DatasetConfig {
            horizons: vec![1, 5],
            ..DatasetConfig::default()
        };
        let ds = build_dataset(&runs, &cfg).unwrap();
        assert_eq!(ds.interval_ns, NANOS_PER_SEC);
        assert_eq!(ds.table.rows(), spans.len());

        // A stall (a span 20% long) is refused, naming the row.
        let mut stalled = spans.clone();
        stalled[17] = 1_200_000_000;
        write_jsonl(&path, &recorded(&stalled));
        let e = build_dataset(&runs, &cfg).unwrap_err().to_string();
        assert!(e.contains("row 17 spans 1200000000 ns"), "{e}");
        assert!(e.contains("1000000000 ns within 5%"), "{e}");
    }
}
