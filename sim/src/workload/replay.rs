//! Trace replay: a recorded trace as a scenario's workload, so the
//! production traffic a pool served can be run again through the modeled
//! pool under other settings and scaling policies.
//!
//! ```toml
//! [[scenario]]
//! name = "prod-replay"
//! duration_s = 500
//! replay = { trace = "traces/svc", speed = 1.0, start_s = 0.0 }
//! pool = { min_size = 2, max_size = 16 }
//! ```
//!
//! The trace is a runtime-pool recorder directory (its `requests-*.csv`
//! files, in name order, which is the order they were written), one such
//! file, a PostgreSQL csvlog or a directory of them (read as one log by
//! `poolcast_datasets::pglog`, which says how the server must log), or a
//! simulator `requests.parquet` (`record_requests = true`).
//! Each recorded request arrives at its recorded time (minus `start_s`,
//! divided by `speed`) with its recorded class and statement pattern, and
//! holds its connection for its recorded hold. What the modeled pool and
//! database do from there (waits, breakers, contention, injected failures,
//! statement-cache misses) is the simulation's, not the trace's.
//!
//! A request that held no connection in the trace (it timed out waiting,
//! or a breaker refused it) was still demand. It gets the hold of a
//! recorded request of the same class that did hold one, picked by a fixed
//! hash of its position, so a replay is the same in every run and every
//! replication.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use poolcast::core::telemetry::{Outcome, QueryClass};
use poolcast::core::{Nanos, RequestRecord};
use serde::{Deserialize, Serialize};

use super::secs_to_ns;
use crate::config_error::check::{non_negative, positive};
use crate::config_error::{ConfigError, join};
use crate::rng::{Fnv64, splitmix64};

fn one() -> f64 {
    1.0
}

/// Where a scenario's requests come from when it replays a trace
/// (`replay` in a scenario). It replaces `load` and `classes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayConfig {
    /// A recorder directory or one of its `requests-*.csv` files, a
    /// PostgreSQL csvlog or a directory of them, or a simulator
    /// `requests.parquet`; relative to the scenario file.
    pub trace: PathBuf,
    /// Time compression: 2 replays the trace's arrivals at twice their rate
    /// over half the time, holds unchanged (> 0, default 1).
    #[serde(default = "one")]
    pub speed: f64,
    /// Seconds of the trace skipped at its start (>= 0, default 0).
    #[serde(default)]
    pub start_s: f64,
    /// What the loaded trace holds, for the run's records and step keys:
    /// set by [`ReplayConfig::load`], never read from a file.
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub loaded: Option<TraceInfo>,
    #[serde(skip)]
    trace_data: Option<Arc<ReplayTrace>>,
}

/// What a loaded trace holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceInfo {
    /// Requests replayed (after `start_s`).
    pub requests: u64,
    /// Of those, requests that held no connection in the trace and were
    /// given a recorded hold of their class.
    pub holds_filled: u64,
    /// The last replayed arrival, ns after replay time 0.
    pub last_arrival_ns: Nanos,
    /// FNV-1a (64-bit, hex) of the replayed requests' times, classes,
    /// patterns and holds: equal traces, equal fingerprints.
    pub fingerprint: String,
}

/// One replayed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayRequest {
    /// Arrival, ns after replay time 0.
    pub at: Nanos,
    /// Query class.
    pub class: QueryClass,
    /// Statement pattern hash (0: unknown).
    pub pattern: u64,
    /// Connection hold, ns.
    pub hold_ns: Nanos,
    /// The acquire wait the trace recorded, ns.
    pub recorded_wait_ns: Nanos,
    /// Whether the trace's pool granted it a connection (else it timed
    /// out or was refused, and `hold_ns` was filled in).
    pub granted: bool,
}

/// The acquire waits a trace recorded, to set beside a replay's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedWaits {
    /// Requests that were granted a connection.
    pub granted: u64,
    /// Requests that timed out waiting or were refused.
    pub not_granted: u64,
    /// Fraction of granted requests that waited at all.
    pub p_wait: f64,
    /// Mean wait of granted requests, ms.
    pub mean_ms: f64,
    /// 95th percentile (nearest rank), ms.
    pub p95_ms: f64,
    /// 99th percentile (nearest rank), ms.
    pub p99_ms: f64,
}

/// A loaded trace, in arrival order.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayTrace {
    requests: Vec<ReplayRequest>,
    /// Whether the trace measured acquire waits (a pool's recorder or the
    /// simulator did; a server log did not).
    waits_known: bool,
}

impl ReplayTrace {
    /// The requests, in arrival order (ties in the trace's order).
    pub fn requests(&self) -> &[ReplayRequest] {
        &self.requests
    }

    /// The waits the trace recorded for the requests replayed up to
    /// `until_ns` (replay time), or `None` when none was granted or the
    /// trace does not know waits (a server log).
    pub fn recorded_waits(&self, until_ns: Nanos) -> Option<RecordedWaits> {
        if !self.waits_known {
            return None;
        }
        let n = self.requests.partition_point(|r| r.at <= until_ns);
        let mut waits: Vec<Nanos> = self.requests[..n]
            .iter()
            .filter(|r| r.granted)
            .map(|r| r.recorded_wait_ns)
            .collect();
        if waits.is_empty() {
            return None;
        }
        waits.sort_unstable();
        let len = waits.len();
        let ms = |ns: Nanos| ns as f64 / 1e6;
        let rank = |p: f64| waits[((p * len as f64).ceil() as usize).clamp(1, len) - 1];
        Some(RecordedWaits {
            granted: len as u64,
            not_granted: (n - len) as u64,
            p_wait: waits.iter().filter(|&&w| w > 0).count() as f64 / len as f64,
            mean_ms: waits.iter().map(|&w| w as f64).sum::<f64>() / len as f64 / 1e6,
            p95_ms: ms(rank(0.95)),
            p99_ms: ms(rank(0.99)),
        })
    }

    /// Builds the replay of `records` (any order): keeps those arriving at
    /// or after `start_ns`, shifts them to start at 0, divides their times
    /// by `speed` and fills the holds of requests that held no connection.
    ///
    /// # Errors
    /// A message when no record is left, or none held a connection.
    pub fn from_records(
        mut records: Vec<RequestRecord>,
        start_ns: Nanos,
        speed: f64,
    ) -> Result<(ReplayTrace, TraceInfo), String> {
        // A year: beyond it a time is not a trace's, and sums of times
        // could overflow the engine's clock.
        const YEAR_NS: Nanos = 365 * 86_400 * 1_000_000_000;
        if let Some(r) = records
            .iter()
            .find(|r| r.arrival_ns > 100 * YEAR_NS || r.hold_ns > YEAR_NS)
        {
            return Err(format!(
                "a request arriving at {} ns holds for {} ns: expected arrivals within \
                 100 years and holds within a year of the trace's start",
                r.arrival_ns, r.hold_ns
            ));
        }
        records.retain(|r| r.arrival_ns >= start_ns);
        // Stable: requests arriving together keep the trace's order.
        records.sort_by_key(|r| r.arrival_ns);
        if records.is_empty() {
            return Err("no request arrives after start_s".into());
        }
        let mut holds: [Vec<Nanos>; QueryClass::COUNT] = Default::default();
        for r in &records {
            if held(r) {
                holds[r.class.index()].push(r.hold_ns);
            }
        }
        let any: Vec<Nanos> = holds.iter().flatten().copied().collect();
        if any.is_empty() {
            return Err(
                "no request in the trace held a connection, so there is no hold time to replay"
                    .into(),
            );
        }
        let mut filled = 0u64;
        let mut hash = Fnv64::new();
        let requests: Vec<ReplayRequest> = records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let granted = held(r);
                let hold_ns = if granted {
                    r.hold_ns
                } else {
                    filled += 1;
                    let pool = &holds[r.class.index()];
                    let pool = if pool.is_empty() { &any } else { pool };
                    pool[(splitmix64(i as u64) % pool.len() as u64) as usize]
                };
                let at = ((r.arrival_ns - start_ns) as f64 / speed).round() as Nanos;
                let req = ReplayRequest {
                    at,
                    class: r.class,
                    pattern: r.pattern_hash,
                    hold_ns,
                    recorded_wait_ns: r.acquire_wait_ns,
                    granted,
                };
                hash.write_u64(req.at);
                hash.write_u64(req.class.index() as u64);
                hash.write_u64(req.pattern);
                hash.write_u64(req.hold_ns);
                req
            })
            .collect();
        let info = TraceInfo {
            requests: requests.len() as u64,
            holds_filled: filled,
            last_arrival_ns: requests.last().map_or(0, |r| r.at),
            fingerprint: format!("{:016x}", hash.finish()),
        };
        let trace = ReplayTrace {
            requests,
            waits_known: true,
        };
        Ok((trace, info))
    }
}

impl ReplayConfig {
    /// A replay of `trace` at speed 1 from its start.
    pub fn new(trace: impl Into<PathBuf>) -> Self {
        ReplayConfig {
            trace: trace.into(),
            speed: 1.0,
            start_s: 0.0,
            loaded: None,
            trace_data: None,
        }
    }

    /// Makes a relative `trace` relative to `base` (the scenario file's
    /// directory).
    pub fn resolve_paths(&mut self, base: &Path) {
        if self.trace.is_relative() {
            self.trace = base.join(&self.trace);
        }
    }

    /// The loaded trace, once [`ReplayConfig::load`] has run.
    pub fn trace(&self) -> Option<&Arc<ReplayTrace>> {
        self.trace_data.as_ref()
    }

    /// Checks `speed` and `start_s`; `path` is this table's path.
    ///
    /// # Errors
    /// The bad field's path and what was expected.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        positive(path, "speed", self.speed)?;
        non_negative(path, "start_s", self.start_s)?;
        if self.trace.as_os_str().is_empty() {
            return Err(ConfigError::new(
                join(path, "trace"),
                "expected the path of a recorder directory or requests-*.csv file, a PostgreSQL csvlog \
                 or a directory of them, or a requests.parquet",
            ));
        }
        Ok(())
    }

    /// Takes `other`'s loaded trace when `other` replays the same file from
    /// the same `start_s` at the same `speed`, so scenarios that replay one
    /// trace share one copy; returns whether it did.
    pub fn share_from(&mut self, other: &ReplayConfig) -> bool {
        let same = other.trace_data.is_some()
            && self.trace_data.is_none()
            && self.trace == other.trace
            && self.start_s.to_bits() == other.start_s.to_bits()
            && self.speed.to_bits() == other.speed.to_bits();
        if same {
            self.loaded.clone_from(&other.loaded);
            self.trace_data.clone_from(&other.trace_data);
        }
        same
    }

    /// Reads the trace (once; later calls keep the first read).
    ///
    /// # Errors
    /// `path.trace` with what could not be read (the file and line for a
    /// bad record), or why the trace has nothing to replay.
    pub fn load(&mut self, path: &str) -> Result<(), ConfigError> {
        if self.trace_data.is_some() {
            return Ok(());
        }
        self.validate(path)?;
        let at = join(path, "trace");
        let (records, waits_known) =
            read_trace(&self.trace).map_err(|m| ConfigError::new(&at, m))?;
        let (mut trace, info) =
            ReplayTrace::from_records(records, secs_to_ns(self.start_s), self.speed)
                .map_err(|m| ConfigError::new(&at, format!("{}: {m}", self.trace.display())))?;
        trace.waits_known = waits_known;
        self.loaded = Some(info);
        self.trace_data = Some(Arc::new(trace));
        Ok(())
    }
}

/// Whether `r` held a connection in the trace: it was granted one (not
/// timed out or refused) and its hold was measured.
fn held(r: &RequestRecord) -> bool {
    r.hold_ns > 0 && !matches!(r.outcome, Outcome::AcquireTimeout | Outcome::Rejected(_))
}

/// Whether `p` starts with the recorder's request header (else a `.csv`
/// is taken for a PostgreSQL csvlog).
fn is_recorder_csv(p: &Path) -> Result<bool, String> {
    use std::io::BufRead;
    let f = std::fs::File::open(p).map_err(|e| format!("{}: {e}", p.display()))?;
    let mut first = String::new();
    std::io::BufReader::new(f)
        .read_line(&mut first)
        .map_err(|e| format!("{}: {e}", p.display()))?;
    Ok(first.trim_end() == poolcast_datasets::trace::RECORDER_HEADER)
}

/// The requests of a trace: a recorder directory's `requests-*.csv` in
/// name order, a directory of PostgreSQL csvlogs (`*.csv`, read as one
/// log), or the one file given (recorder CSV, csvlog or simulator
/// Parquet), and whether it measured acquire waits (a server log does
/// not).
fn read_trace(trace: &Path) -> Result<(Vec<RequestRecord>, bool), String> {
    let csvlog = |files: &[PathBuf]| {
        poolcast_datasets::read_pg_csvlogs(files)
            .map(|log| (log.records, false))
            .map_err(|e| e.to_string())
    };
    let meta = std::fs::metadata(trace).map_err(|e| format!("{}: {e}", trace.display()))?;
    if !meta.is_dir() {
        let r = if trace.extension().is_some_and(|e| e == "parquet") {
            poolcast_datasets::read_records(trace)
        } else if is_recorder_csv(trace)? {
            poolcast_datasets::read_recorder_requests(trace)
        } else {
            return csvlog(&[trace.to_path_buf()]);
        };
        return r.map(|r| (r, true)).map_err(|e| e.to_string());
    }
    let files = recorder_files(trace, "requests-", ".csv")?;
    if files.is_empty() {
        let logs = recorder_files(trace, "", ".csv")?;
        if !logs.is_empty() {
            return csvlog(&logs);
        }
        return Err(format!(
            "{}: no requests-*.csv or *.csv in this directory (expected a trace recorder's \
             directory, a directory of PostgreSQL csvlogs, one such file, or a requests.parquet)",
            trace.display()
        ));
    }
    check_one_run(trace)?;
    let mut out = Vec::new();
    for f in &files {
        out.extend(poolcast_datasets::read_recorder_requests(f).map_err(|e| e.to_string())?);
    }
    Ok((out, true))
}

/// The files of `dir` named `<prefix>…<suffix>`, in name order (the
/// recorder's numbering, so the order they were written).
fn recorder_files(dir: &Path, prefix: &str, suffix: &str) -> Result<Vec<PathBuf>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(suffix))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// A recorder directory must hold one pool's run: a restarted service
/// starts its clock again in new files beside the old ones, and their
/// requests would overlap in time. The snapshots, written in interval
/// order, show a restart as time going back.
fn check_one_run(dir: &Path) -> Result<(), String> {
    let mut last: Option<Nanos> = None;
    for f in &recorder_files(dir, "snapshots-", ".jsonl")? {
        let snaps = poolcast_datasets::read_recorder_snapshots(f).map_err(|e| e.to_string())?;
        for s in snaps {
            if last.is_some_and(|l| s.t_ns <= l) {
                return Err(format!(
                    "{}: the pool's clock goes back here (snapshot at {} ns after one at {} ns): \
                     the directory holds more than one run of the pool (a restarted service \
                     starts its clock again); give each run its own directory",
                    f.display(),
                    s.t_ns,
                    last.unwrap_or(0)
                ));
            }
            last = Some(s.t_ns);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use poolcast::core::telemetry::ErrorCategory;

    fn rec(
        arrival_ns: Nanos,
        class: QueryClass,
        hold_ns: Nanos,
        outcome: Outcome,
    ) -> RequestRecord {
        RequestRecord {
            arrival_ns,
            class,
            pattern_hash: arrival_ns.wrapping_mul(7),
            acquire_wait_ns: 0,
            hold_ns,
            outcome,
        }
    }

    #[test]
    fn sorts_shifts_speeds_up_and_fills_missing_holds() {
        let records = vec![
            rec(5_000, QueryClass::Read, 300, Outcome::Ok),
            rec(1_000, QueryClass::Read, 100, Outcome::Ok),
            rec(3_000, QueryClass::Write, 0, Outcome::AcquireTimeout),
            rec(
                2_000,
                QueryClass::Write,
                200,
                Outcome::Error(ErrorCategory::Query),
            ),
            rec(4_000, QueryClass::Api, 0, Outcome::Rejected(None)),
        ];
        let (t, info) = ReplayTrace::from_records(records, 2_000, 2.0).unwrap();
        let r = t.requests();
        assert_eq!(
            r.iter().map(|q| q.at).collect::<Vec<_>>(),
            [0, 500, 1_000, 1_500]
        );
        assert_eq!(
            r[0].hold_ns, 200,
            "an error that held a connection keeps its hold"
        );
        assert_eq!(r[1].hold_ns, 200, "a timed-out write takes a write's hold");
        assert_eq!(r[2].class, QueryClass::Api);
        assert!(
            [200, 300].contains(&r[2].hold_ns),
            "no api held one: any class's"
        );
        assert_eq!(r[3].hold_ns, 300);
        assert_eq!(r[3].pattern, 35_000);
        assert_eq!(info.requests, 4);
        assert_eq!(info.holds_filled, 2);
        assert_eq!(info.last_arrival_ns, 1_500);
    }

    #[test]
    fn recorded_waits_cover_the_granted_requests_replayed() {
        let mut records: Vec<_> = (0..100u64)
            .map(|i| RequestRecord {
                acquire_wait_ns: if i < 90 { 0 } else { (i - 89) * 1_000_000 },
                ..rec(i * 10, QueryClass::Read, 5, Outcome::Ok)
            })
            .collect();
        records.push(rec(2_000, QueryClass::Read, 0, Outcome::AcquireTimeout));
        let (t, _) = ReplayTrace::from_records(records, 0, 1.0).unwrap();
        let w = t.recorded_waits(10_000).unwrap();
        assert_eq!((w.granted, w.not_granted), (100, 1));
        assert!((w.p_wait - 0.10).abs() < 1e-12);
        assert!((w.mean_ms - 0.55).abs() < 1e-12, "{}", w.mean_ms);
        // Nearest rank: the 95th of 100 sorted waits (90 zeros, then 1..=10 ms).
        assert_eq!((w.p95_ms, w.p99_ms), (5.0, 9.0));
        let w = t.recorded_waits(899).unwrap();
        assert_eq!((w.granted, w.p_wait), (90, 0.0));
    }

    #[test]
    fn absurd_times_are_refused_not_overflowed() {
        let e = ReplayTrace::from_records(
            vec![rec(1, QueryClass::Read, u64::MAX, Outcome::Ok)],
            0,
            1.0,
        )
        .unwrap_err();
        assert!(e.contains("within a year"), "{e}");
        let e = ReplayTrace::from_records(
            vec![rec(u64::MAX, QueryClass::Read, 5, Outcome::Ok)],
            0,
            1.0,
        )
        .unwrap_err();
        assert!(e.contains("100 years"), "{e}");
    }

    #[test]
    fn a_trace_with_nothing_to_replay_is_refused_with_why() {
        let e = ReplayTrace::from_records(vec![rec(1, QueryClass::Read, 5, Outcome::Ok)], 10, 1.0)
            .unwrap_err();
        assert!(e.contains("start_s"), "{e}");
        let e = ReplayTrace::from_records(
            vec![rec(1, QueryClass::Read, 0, Outcome::AcquireTimeout)],
            0,
            1.0,
        )
        .unwrap_err();
        assert!(e.contains("held a connection"), "{e}");
    }

    #[test]
    fn the_fingerprint_follows_the_trace() {
        let a = vec![rec(1, QueryClass::Read, 5, Outcome::Ok)];
        let b = vec![rec(1, QueryClass::Read, 6, Outcome::Ok)];
        let fa = ReplayTrace::from_records(a.clone(), 0, 1.0).unwrap().1;
        let fa2 = ReplayTrace::from_records(a, 0, 1.0).unwrap().1;
        let fb = ReplayTrace::from_records(b, 0, 1.0).unwrap().1;
        assert_eq!(fa.fingerprint, fa2.fingerprint);
        assert_ne!(fa.fingerprint, fb.fingerprint);
    }

    #[test]
    fn a_directory_holding_two_runs_of_a_pool_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let header = poolcast::core::telemetry::REQUEST_CSV_HEADER;
        for k in 1..=2 {
            std::fs::write(
                dir.path().join(format!("requests-00000{k}.csv")),
                format!("{header}\n1000,read,1,0,5,ok,\n"),
            )
            .unwrap();
        }
        let snap = |t_ns| {
            serde_json::to_string(&poolcast::core::Snapshot {
                t_ns,
                ..Default::default()
            })
            .unwrap()
        };
        std::fs::write(
            dir.path().join("snapshots-000001.jsonl"),
            format!("{}\n{}\n", snap(1_000), snap(2_000)),
        )
        .unwrap();
        let mut c = ReplayConfig::new(dir.path());
        c.load("r").unwrap();
        // The service ran again into the same directory.
        std::fs::write(
            dir.path().join("snapshots-000002.jsonl"),
            format!("{}\n", snap(1_000)),
        )
        .unwrap();
        let mut c = ReplayConfig::new(dir.path());
        let e = c.load("r").unwrap_err();
        assert!(
            e.message.contains("snapshots-000002.jsonl") && e.message.contains("more than one run"),
            "{e}"
        );
    }

    #[test]
    fn a_directory_without_request_files_names_what_it_expected() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = ReplayConfig::new(dir.path());
        let e = c.load("scenario[0].replay").unwrap_err();
        assert_eq!(e.path, "scenario[0].replay.trace");
        assert!(e.message.contains("no requests-*.csv"), "{e}");
        let mut c = ReplayConfig::new(dir.path().join("missing.csv"));
        let e = c.load("r").unwrap_err();
        assert!(e.message.contains("missing.csv"), "{e}");
    }
}
