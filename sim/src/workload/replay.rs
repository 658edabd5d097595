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
//! recorded request of the same class that did hold one (from a uniform
//! sample of at most 65,536), picked by a fixed hash of its position, so a
//! replay is the same in every run and every replication.
//!
//! A trace whose requests fit `memory_mb` is held in memory; a longer one
//! is read again from its files for every pass
//! (`trace_stream`), with the same requests in the same order.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use poolcast::core::telemetry::RecorderFile;
use poolcast::core::{Nanos, RequestRecord};
use poolcast_datasets::LogFormat;
use serde::{Deserialize, Serialize};

use super::trace_stream::{Plan, Sorter, Source, Survey, Timing};
pub use super::trace_stream::{REQUEST_BYTES, ReplayRequest};
use super::{ms_to_ns, secs_to_ns};
use crate::config_error::check::{at_most, non_negative, positive};
use crate::config_error::{ConfigError, join};

fn one() -> f64 {
    1.0
}

fn default_memory_mb() -> u64 {
    DEFAULT_MEMORY_MB
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_zero_f64(v: &f64) -> bool {
    *v == 0.0
}

fn default_chain_gap_ms() -> f64 {
    DEFAULT_CHAIN_GAP_MS
}

fn is_default_chain_gap(ms: &f64) -> bool {
    *ms == DEFAULT_CHAIN_GAP_MS
}

/// How a closed-loop replay's chain ends when the replay makes its client
/// late ([`ReplayConfig::chain_end`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChainEnd {
    /// Every recorded request is sent, however late.
    #[default]
    Work,
    /// No request is sent later than the chain's last recorded one.
    Deadline,
}

impl ChainEnd {
    fn is_work(&self) -> bool {
        *self == ChainEnd::Work
    }
}

/// `chain_gap_ms` when a replay does not set it: one second.
pub const DEFAULT_CHAIN_GAP_MS: f64 = 1000.0;

/// `memory_mb` when a replay does not set it: 2 GiB, about 38 million
/// requests.
pub const DEFAULT_MEMORY_MB: u64 = 2048;

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
    /// Milliseconds added to every replayed hold (>= 0, default 0): for a
    /// PostgreSQL csvlog, whose durations are the server's, what a
    /// client's checkout adds to them (round trips, the client's own
    /// work), measured once by a short recorder run beside the log.
    #[serde(default)]
    pub hold_add_ms: f64,
    /// The most memory, in MiB, the replayed requests may take (56 bytes
    /// each); a longer trace is read again from its files on every pass
    /// instead (every replication, and the oracle's look-ahead), in memory
    /// that does not grow with its length. 0 always streams. The results
    /// are the same either way, so it is not part of a run's identity.
    #[serde(default = "default_memory_mb", skip_serializing)]
    pub memory_mb: u64,
    /// The trace's form when it is a log: a PostgreSQL server log's
    /// `csvlog`, `jsonlog` or `stderr`, or `otlp` for OpenTelemetry database
    /// client spans in OTLP/JSON (default: found from each file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// A stderr log's `log_line_prefix`, as the server's setting (default:
    /// found among the common ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_line_prefix: Option<String>,
    /// Closed loop (default false): a recorded client's next request
    /// waits for its previous one to end in the replay, then its recorded
    /// think time ([`super::closed_loop`]). Needs a trace that knows its
    /// clients (a recorder trace with the `client` column, or a csvlog,
    /// by session). The oracle's look-ahead still sees recorded times.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub closed_loop: bool,
    /// Closed loop: a think time longer than this, ms, means the client
    /// was idle, and its next request keeps its recorded time (> 0,
    /// default 1000).
    #[serde(
        default = "default_chain_gap_ms",
        skip_serializing_if = "is_default_chain_gap"
    )]
    pub chain_gap_ms: f64,
    /// Closed loop: the tick, ms, of the clients' timers (default 0: none).
    /// A client that sleeps between requests wakes on its timer's tick
    /// (tokio's is 1 ms), so its requests arrive together with the other
    /// clients' on the same ticks. With a tick, a request that follows its
    /// previous one's end moves from its recorded time by whole ticks (the
    /// change in that end, rounded to the nearest tick) instead of keeping
    /// its think time to the nanosecond, so arrivals stay on the ticks
    /// they were recorded on.
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub think_tick_ms: f64,
    /// Closed loop: how a client's chain ends when the replay makes it
    /// late. `work` (default): it sends every recorded request, later, as
    /// a worker with a fixed amount of work. `deadline`: it sends none
    /// later than its last recorded request, as a worker looping until a
    /// deadline (or a client that gives up), so a slower pool sends fewer.
    #[serde(default, skip_serializing_if = "ChainEnd::is_work")]
    pub chain_end: ChainEnd,
    /// What the loaded trace holds, for the run's records and step keys:
    /// set by [`ReplayConfig::load`], never read from a file.
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub loaded: Option<TraceInfo>,
    #[serde(skip)]
    trace_data: Option<Arc<ReplayTrace>>,
    /// Requests arriving within the scenario's duration, set with
    /// `trace_data`.
    #[serde(skip)]
    offered: u64,
}

/// What a log's whole-second times (a stderr prefix's `%t`) do to a
/// replay's arrivals: the load summary says it for every such trace.
pub const WHOLE_SECONDS: &str = "the log's %t times are whole seconds: each request arrives at \
    the second its statement was logged minus its logged duration, so arrivals are good to a \
    second, not to the millisecond (several in one second keep the log's order, not their \
    spacing); rates over intervals under a second, think times and closed-loop chains within \
    a second are the reader's placement, not the trace's. A prefix with %m gives milliseconds";

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
    /// FNV-1a (64-bit, hex) of the replayed records' times, classes,
    /// patterns and holds, in the order the trace has them, and of
    /// `start_s` and `speed`: equal traces, equal fingerprints.
    pub fingerprint: String,
    /// Of the requests, those that name their client (omitted when none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub with_client: u64,
    /// The trace is a PostgreSQL stderr log whose prefix times are whole
    /// seconds (`%t`): its arrivals are good to a second (omitted when
    /// not).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub whole_seconds: bool,
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

/// A loaded trace: its requests in arrival order, held in memory when
/// they fit the replay's `memory_mb`, else read again from the trace's
/// files on every pass ([`ReplayTrace::stream`]), in memory bounded by how
/// far the files are out of arrival order, not by their length.
pub struct ReplayTrace {
    plan: Arc<Plan>,
    memory: Option<Vec<ReplayRequest>>,
    /// Whether the trace measured acquire waits (a pool's recorder or the
    /// simulator did; a server log did not).
    waits_known: bool,
    /// The first error of a pass that read the files again.
    error: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for ReplayTrace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayTrace")
            .field("source", &self.plan.source)
            .field("requests", &self.plan.survey.count)
            .field("in_memory", &self.memory.is_some())
            .finish_non_exhaustive()
    }
}

impl PartialEq for ReplayTrace {
    fn eq(&self, o: &Self) -> bool {
        self.plan.source == o.plan.source
            && self.plan.timing == o.plan.timing
            && self.plan.survey == o.plan.survey
    }
}

impl ReplayTrace {
    /// Reads `source` once to survey it, and again into memory when its
    /// requests take at most `memory_bytes`.
    fn open(
        source: Source,
        timing: Timing,
        horizon_ns: Nanos,
        memory_bytes: u64,
    ) -> Result<(ReplayTrace, TraceInfo), String> {
        let (survey, kept) = Survey::take(&source, &timing, horizon_ns, memory_bytes)?;
        let memory = kept.map(|k| survey.sorted_in_memory(&timing, k));
        let info = TraceInfo {
            requests: survey.count,
            holds_filled: survey.filled,
            last_arrival_ns: survey.last_at,
            fingerprint: format!("{:016x}", survey.fingerprint),
            with_client: survey.with_client,
            whole_seconds: survey.whole_seconds,
        };
        let trace = ReplayTrace {
            plan: Arc::new(Plan {
                source,
                timing,
                survey,
            }),
            memory,
            waits_known: true,
            error: Arc::default(),
        };
        Ok((trace, info))
    }

    /// Builds the replay of `records` (in the order they were written),
    /// in memory: keeps those arriving at or after `start_ns`, shifts them
    /// to start at 0, divides their times by `speed` and fills the holds of
    /// requests that held no connection.
    ///
    /// # Errors
    /// A message when a time is beyond a trace's, no record is left, or
    /// none held a connection.
    pub fn from_records(
        records: Vec<RequestRecord>,
        start_ns: Nanos,
        speed: f64,
    ) -> Result<(Arc<ReplayTrace>, TraceInfo), String> {
        Self::from_records_within(records, start_ns, speed, u64::MAX)
    }

    /// [`ReplayTrace::from_records`], in memory only if the requests take
    /// at most `memory_bytes` (else each pass reads `records` again, as a
    /// streamed trace reads its files).
    ///
    /// # Errors
    /// As [`ReplayTrace::from_records`].
    pub fn from_records_within(
        records: Vec<RequestRecord>,
        start_ns: Nanos,
        speed: f64,
        memory_bytes: u64,
    ) -> Result<(Arc<ReplayTrace>, TraceInfo), String> {
        let timing = Timing {
            start_ns,
            speed,
            hold_add_ns: 0,
        };
        let (t, info) = Self::open(
            Source::Records(Arc::new(records)),
            timing,
            Nanos::MAX,
            memory_bytes,
        )?;
        Ok((Arc::new(t), info))
    }

    /// Requests replayed.
    pub fn len(&self) -> u64 {
        self.plan.survey.count
    }

    /// Whether no request is replayed (never, for a loaded trace).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the requests are held in memory (else every pass reads the
    /// trace's files again).
    pub fn in_memory(&self) -> bool {
        self.memory.is_some()
    }

    /// The requests in arrival order (ties in the trace's order).
    pub fn stream(self: &Arc<Self>) -> ReplayStream {
        ReplayStream(match &self.memory {
            Some(_) => Inner::Memory {
                trace: Arc::clone(self),
                pos: 0,
            },
            None => Inner::Files(Box::new(Sorter::new(
                Arc::clone(&self.plan),
                Arc::clone(&self.error),
            ))),
        })
    }

    /// Why a pass that read the trace's files again ended early (a file
    /// could not be read, or it changed since the trace was loaded); a
    /// run that drew from such a pass replayed only part of the trace.
    pub fn stream_error(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Requests arriving by `until_ns` (replay time).
    pub fn count_until(self: &Arc<Self>, until_ns: Nanos) -> u64 {
        match &self.memory {
            Some(m) => m.partition_point(|r| r.at <= until_ns) as u64,
            None => self.stream().take_while(|r| r.at <= until_ns).count() as u64,
        }
    }

    /// The waits the trace recorded for the requests replayed up to
    /// `until_ns` (replay time), or `None` when none was granted or the
    /// trace does not know waits (a server log). Quantiles are nearest
    /// rank to within 0.8% (a log-linear histogram, so that a trace of any
    /// length is summed in fixed memory).
    pub fn recorded_waits(self: &Arc<Self>, until_ns: Nanos) -> Option<RecordedWaits> {
        if !self.waits_known {
            return None;
        }
        let mut waits = poolcast::core::histogram::Histogram::new();
        let (mut not_granted, mut waited) = (0u64, 0u64);
        for r in self.stream().take_while(|r| r.at <= until_ns) {
            if r.granted {
                waits.record(r.recorded_wait_ns);
                waited += u64::from(r.recorded_wait_ns > 0);
            } else {
                not_granted += 1;
            }
        }
        let len = waits.count();
        if len == 0 {
            return None;
        }
        let ms = |q: f64| waits.quantile(q).unwrap_or(0.0) / 1e6;
        Some(RecordedWaits {
            granted: len,
            not_granted,
            p_wait: waited as f64 / len as f64,
            mean_ms: waits.mean().unwrap_or(0.0) / 1e6,
            p95_ms: ms(0.95),
            p99_ms: ms(0.99),
        })
    }
}

/// The requests of a [`ReplayTrace`] in arrival order.
pub struct ReplayStream(Inner);

impl ReplayStream {
    /// The most requests this stream has held at once to put them in
    /// arrival order (0 for a trace in memory): what a streamed replay
    /// costs in memory, at [`REQUEST_BYTES`] and a little more each.
    pub fn peak_held(&self) -> usize {
        match &self.0 {
            Inner::Memory { .. } => 0,
            Inner::Files(s) => s.peak,
        }
    }
}

enum Inner {
    Memory { trace: Arc<ReplayTrace>, pos: usize },
    Files(Box<Sorter>),
}

impl Iterator for ReplayStream {
    type Item = ReplayRequest;

    #[inline]
    fn next(&mut self) -> Option<ReplayRequest> {
        match &mut self.0 {
            Inner::Memory { trace, pos } => {
                let r = *trace.memory.as_ref()?.get(*pos)?;
                *pos += 1;
                Some(r)
            }
            Inner::Files(s) => s.next(),
        }
    }
}

impl ReplayConfig {
    /// A replay of `trace` at speed 1 from its start.
    pub fn new(trace: impl Into<PathBuf>) -> Self {
        ReplayConfig {
            trace: trace.into(),
            speed: 1.0,
            start_s: 0.0,
            hold_add_ms: 0.0,
            memory_mb: DEFAULT_MEMORY_MB,
            format: None,
            log_line_prefix: None,
            closed_loop: false,
            chain_gap_ms: DEFAULT_CHAIN_GAP_MS,
            think_tick_ms: 0.0,
            chain_end: ChainEnd::Work,
            loaded: None,
            trace_data: None,
            offered: 0,
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
        non_negative(path, "hold_add_ms", self.hold_add_ms)?;
        at_most(
            path,
            "hold_add_ms",
            self.hold_add_ms,
            60_000.0,
            "ms (a minute added to every hold)",
        )?;
        positive(path, "chain_gap_ms", self.chain_gap_ms)?;
        non_negative(path, "think_tick_ms", self.think_tick_ms)?;
        at_most(
            path,
            "think_tick_ms",
            self.think_tick_ms,
            1_000.0,
            "ms (a timer's tick: tokio's is 1)",
        )?;
        if self.trace.as_os_str().is_empty() {
            return Err(ConfigError::new(
                join(path, "trace"),
                "expected the path of a recorder directory or requests-*.csv file, a PostgreSQL csvlog \
                 or a directory of them, or a requests.parquet",
            ));
        }
        self.pg_format(path)?;
        Ok(())
    }

    /// The form of a PostgreSQL server log the trace is read as.
    ///
    /// # Errors
    /// `format` is not a form, `log_line_prefix` does not compile, or is
    /// given for a form that has none.
    fn pg_format(&self, path: &str) -> Result<LogFormat, ConfigError> {
        let prefix = match &self.log_line_prefix {
            Some(p) => {
                poolcast_datasets::pglog::stderr::Prefix::new(p)
                    .map_err(|m| ConfigError::new(join(path, "log_line_prefix"), m))?;
                Some(p.clone())
            }
            None => None,
        };
        let format = match (self.format.as_deref(), prefix) {
            (None, None) => LogFormat::Auto,
            (None | Some("stderr"), p) => LogFormat::Stderr(p),
            (Some("csvlog"), None) => LogFormat::Csv,
            (Some("jsonlog"), None) => LogFormat::Json,
            (Some("otlp"), None) => LogFormat::OtlpSpans,
            (Some(f @ ("csvlog" | "jsonlog" | "otlp")), Some(_)) => {
                return Err(ConfigError::new(
                    join(path, "log_line_prefix"),
                    format!("a {f} has no log_line_prefix: give it only for format = \"stderr\""),
                ));
            }
            (Some(other), _) => {
                return Err(ConfigError::new(
                    join(path, "format"),
                    format!(
                        "expected \"csvlog\", \"jsonlog\", \"stderr\" or \"otlp\", found {:?}",
                        other.chars().take(40).collect::<String>()
                    ),
                ));
            }
        };
        Ok(format)
    }

    /// Requests arriving within the scenario's duration (0 before
    /// [`ReplayConfig::load`]).
    pub fn offered(&self) -> u64 {
        self.offered
    }

    /// Takes `other`'s loaded trace when `other` replays the same file from
    /// the same `start_s`, `speed` and `hold_add_ms`, so scenarios that replay one
    /// trace share one copy; returns whether it did. A streamed trace is
    /// shared only by scenarios of the same duration (`horizon_ns`), which
    /// need no pass of their own to count the requests they are offered.
    pub fn share_from(&mut self, other: &ReplayConfig, horizon_ns: Nanos) -> bool {
        let Some(t) = &other.trace_data else {
            return false;
        };
        let same = self.trace_data.is_none()
            && self.trace == other.trace
            && self.start_s.to_bits() == other.start_s.to_bits()
            && self.speed.to_bits() == other.speed.to_bits()
            && self.hold_add_ms.to_bits() == other.hold_add_ms.to_bits()
            && (t.in_memory() || t.plan.survey.horizon_ns == horizon_ns);
        if same {
            self.loaded.clone_from(&other.loaded);
            self.offered = if t.plan.survey.horizon_ns == horizon_ns {
                t.plan.survey.within_horizon
            } else {
                t.count_until(horizon_ns)
            };
            self.trace_data = Some(Arc::clone(t));
        }
        same
    }

    /// Reads the trace (once; later calls keep the first read);
    /// `horizon_ns` is the scenario's duration.
    ///
    /// # Errors
    /// `path.trace` with what could not be read (the file and line for a
    /// bad record), or why the trace has nothing to replay.
    pub fn load(&mut self, path: &str, horizon_ns: Nanos) -> Result<(), ConfigError> {
        if self.trace_data.is_some() {
            return Ok(());
        }
        self.validate(path)?;
        let at = join(path, "trace");
        let format = self.pg_format(path)?;
        let (source, waits_known) =
            trace_source(&self.trace, format).map_err(|m| ConfigError::new(&at, m))?;
        let timing = Timing {
            start_ns: secs_to_ns(self.start_s),
            speed: self.speed,
            hold_add_ns: ms_to_ns(self.hold_add_ms),
        };
        let (mut trace, info) = ReplayTrace::open(
            source,
            timing,
            horizon_ns,
            self.memory_mb.saturating_mul(1 << 20),
        )
        .map_err(|m| ConfigError::new(&at, format!("{}: {m}", self.trace.display())))?;
        trace.waits_known = waits_known;
        if self.closed_loop && trace.plan.survey.with_client == 0 {
            return Err(ConfigError::new(
                join(path, "closed_loop"),
                format!(
                    "{}: no request of this trace names its client (a recorder trace written \
                     before the `client` column, or a simulator requests.parquet of synthetic \
                     traffic), so a closed loop has nothing to chain: every request would keep \
                     its recorded time; record the trace again, or leave closed_loop out",
                    self.trace.display()
                ),
            ));
        }
        self.offered = trace.plan.survey.within_horizon;
        self.loaded = Some(info);
        self.trace_data = Some(Arc::new(trace));
        Ok(())
    }
}

/// Whether `p` starts with a recorder request header, current or from
/// before the `client` column (else a `.csv` is taken for a PostgreSQL
/// csvlog).
fn is_recorder_csv(p: &Path) -> Result<bool, String> {
    use std::io::BufRead;
    let f = std::fs::File::open(p).map_err(|e| format!("{}: {e}", p.display()))?;
    let mut first = String::new();
    std::io::BufReader::new(f)
        .read_line(&mut first)
        .map_err(|e| format!("{}: {e}", p.display()))?;
    Ok(poolcast_datasets::trace::recorder_header_columns(&first).is_some())
}

/// Where the requests of a trace are: a recorder directory's
/// `requests-*.csv` in name order, a directory of PostgreSQL server logs
/// (its `*.csv`, else its `*.json`, else its `*.log`, else its `*.jsonl`
/// OTLP span exports, read as one log: a
/// logging collector writing several forms writes each statement once in
/// each), or the one file given (recorder CSV, simulator Parquet, or a
/// server log in any form), and whether it measured acquire waits (a
/// server log does not).
fn trace_source(trace: &Path, format: LogFormat) -> Result<(Source, bool), String> {
    let meta = std::fs::metadata(trace).map_err(|e| format!("{}: {e}", trace.display()))?;
    if !meta.is_dir() {
        return Ok(if trace.extension().is_some_and(|e| e == "parquet") {
            (Source::Parquet(trace.to_path_buf()), true)
        } else if is_recorder_csv(trace)? {
            (Source::Recorder(vec![trace.to_path_buf()]), true)
        } else {
            (Source::Log(vec![trace.to_path_buf()], format), false)
        });
    }
    let files = recorder_files(trace, RecorderFile::Requests)?;
    if files.is_empty() {
        for ext in [".csv", ".json", ".log", ".jsonl"] {
            let logs = files_named(trace, |n| n.ends_with(ext))?;
            if !logs.is_empty() {
                return Ok((Source::Log(logs, format), false));
            }
        }
        return Err(format!(
            "{}: no requests-*.csv, *.csv, *.json, *.log or *.jsonl in this directory (expected \
             a trace recorder's directory, a directory of PostgreSQL logs or of OTLP/JSON span \
             exports, one such file, or a requests.parquet)",
            trace.display()
        ));
    }
    check_one_run(trace)?;
    Ok((Source::Recorder(files), true))
}

/// The recorder files of `kind` in `dir`, in name order (the recorder's
/// numbering, so the order they were written).
fn recorder_files(dir: &Path, kind: RecorderFile) -> Result<Vec<PathBuf>, String> {
    files_named(dir, |n| kind.matches(n))
}

/// The files of `dir` whose names `want`, in name order.
fn files_named(dir: &Path, want: impl Fn(&str) -> bool) -> Result<Vec<PathBuf>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(&want))
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
    for f in &recorder_files(dir, RecorderFile::Snapshots)? {
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
    use crate::rng::splitmix64;
    use poolcast::core::telemetry::{ErrorCategory, Outcome, QueryClass};

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
            client: 0,
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
        let r: Vec<_> = t.stream().collect();
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
        // Nearest rank: the 95th of 100 sorted waits (90 zeros, then 1..=10
        // ms), to the histogram's 1/128.
        for (got, want) in [(w.p95_ms, 5.0), (w.p99_ms, 9.0)] {
            assert!((got - want).abs() <= want / 128.0, "{got} vs {want}");
        }
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
                format!("{header}\n1000,read,1,0,5,ok,,5\n"),
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
        c.load("r", Nanos::MAX).unwrap();
        // The service ran again into the same directory.
        std::fs::write(
            dir.path().join("snapshots-000002.jsonl"),
            format!("{}\n", snap(1_000)),
        )
        .unwrap();
        let mut c = ReplayConfig::new(dir.path());
        let e = c.load("r", Nanos::MAX).unwrap_err();
        assert!(
            e.message.contains("snapshots-000002.jsonl") && e.message.contains("more than one run"),
            "{e}"
        );
    }

    #[test]
    fn a_directory_without_request_files_names_what_it_expected() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = ReplayConfig::new(dir.path());
        let e = c.load("scenario[0].replay", Nanos::MAX).unwrap_err();
        assert_eq!(e.path, "scenario[0].replay.trace");
        assert!(e.message.contains("no requests-*.csv"), "{e}");
        let mut c = ReplayConfig::new(dir.path().join("missing.csv"));
        let e = c.load("r", Nanos::MAX).unwrap_err();
        assert!(e.message.contains("missing.csv"), "{e}");
    }

    /// Requests of a recorder: arrivals at about `rate` per ms, holds up
    /// to `max_hold`, some timed out, written in order of completion.
    fn completion_ordered(n: u64, max_hold: Nanos, seed: u64) -> Vec<RequestRecord> {
        let mut at = 0;
        let mut v: Vec<RequestRecord> = (0..n)
            .map(|i| {
                let h = splitmix64(seed ^ i);
                at += h % 2_000_000;
                let class = QueryClass::ALL[(h >> 20) as usize % QueryClass::COUNT];
                let (hold, outcome) = if h.is_multiple_of(13) {
                    (0, Outcome::AcquireTimeout)
                } else {
                    (1 + (h >> 8) % max_hold, Outcome::Ok)
                };
                RequestRecord {
                    arrival_ns: at,
                    class,
                    pattern_hash: h >> 40,
                    acquire_wait_ns: (h >> 16) % 1_000,
                    hold_ns: hold,
                    outcome,
                    client: h >> 60,
                }
            })
            .collect();
        v.sort_by_key(|r| r.arrival_ns + r.acquire_wait_ns + r.hold_ns);
        v
    }

    #[test]
    fn a_streamed_trace_replays_what_the_one_in_memory_does() {
        // At 3e6× speed, requests a millisecond apart share a replay
        // nanosecond: ties keep the order the files have them in.
        for (seed, speed) in [(0, 1.0), (1, 1.5), (2, 3e6), (3, 0.5)] {
            let records = completion_ordered(20_000, 50_000_000, seed);
            let start = records.iter().map(|r| r.arrival_ns).min().unwrap() + 1_000_000_000;
            let (mem, a) = ReplayTrace::from_records(records.clone(), start, speed).unwrap();
            let (streamed, b) =
                ReplayTrace::from_records_within(records.clone(), start, speed, 0).unwrap();
            assert!(mem.in_memory() && !streamed.in_memory());
            assert_eq!(a, b);
            let want: Vec<_> = mem.stream().collect();
            let mut s = streamed.stream();
            let got: Vec<_> = s.by_ref().collect();
            assert_eq!(got.len() as u64, a.requests);
            assert!(got.windows(2).all(|w| w[0].at <= w[1].at));
            if speed > 1e6 {
                assert!(got.windows(2).any(|w| w[0].at == w[1].at));
            }
            assert_eq!(got, want);
            assert!(streamed.stream_error().is_none());
            // Out of order by at most a 50-ms hold, at ~1 request per ms:
            // the stream holds tens of requests, not the trace.
            assert!(
                s.peak_held() > 0 && s.peak_held() < 200,
                "held {}",
                s.peak_held()
            );
            let until = want[want.len() / 2].at;
            assert_eq!(mem.count_until(until), streamed.count_until(until));
            assert_eq!(mem.recorded_waits(until), streamed.recorded_waits(until));
        }
    }

    #[test]
    fn a_trace_that_changes_under_a_streamed_replay_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let header = poolcast::core::telemetry::REQUEST_CSV_HEADER;
        let f = dir.path().join("requests-000001.csv");
        std::fs::write(
            &f,
            format!("{header}\n1000,read,1,0,5,ok,,5\n2000,read,1,0,5,ok,,5\n"),
        )
        .unwrap();
        let mut c = ReplayConfig::new(dir.path());
        c.memory_mb = 0;
        c.load("r", Nanos::MAX).unwrap();
        let t = Arc::clone(c.trace().unwrap());
        assert!(!t.in_memory());
        assert_eq!(t.stream().count(), 2);
        assert!(t.stream_error().is_none());
        std::fs::write(
            &f,
            format!("{header}\n1000,read,1,0,5,ok,,5\n2000,read,1,0,6,ok,,5\n"),
        )
        .unwrap();
        let _ = t.stream().count();
        let e = t.stream_error().expect("the change is seen");
        assert!(e.contains("changed while it was replayed"), "{e}");
        // A change that would send the replay back in time stops it there.
        let mut c = ReplayConfig::new(dir.path());
        c.memory_mb = 0;
        c.load("r", Nanos::MAX).unwrap();
        let t = Arc::clone(c.trace().unwrap());
        std::fs::write(
            &f,
            format!("{header}\n9000,read,1,0,5,ok,,5\n1000,read,1,0,5,ok,,5\n"),
        )
        .unwrap();
        let got: Vec<Nanos> = t.stream().map(|r| r.at).collect();
        assert!(got.windows(2).all(|w| w[0] <= w[1]), "{got:?}");
        let e = t.stream_error().expect("the change is seen");
        assert!(e.contains("after a later one"), "{e}");
        std::fs::remove_file(&f).unwrap();
        let t2 = Arc::clone(c.trace().unwrap());
        assert_eq!(t2.stream().count(), 0);
    }

    #[test]
    fn hold_add_ms_lengthens_every_hold_and_is_part_of_the_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let header = poolcast::core::telemetry::REQUEST_CSV_HEADER;
        std::fs::write(
            dir.path().join("requests-000001.csv"),
            format!(
                "{header}\n1000,read,1,0,5000,ok,,5\n2000,write,2,0,0,acquire_timeout,timeout,6\n\
                 3000,write,2,0,7000,ok,,5\n"
            ),
        )
        .unwrap();
        let load = |add: f64| {
            let mut c = ReplayConfig::new(dir.path());
            c.hold_add_ms = add;
            c.load("r", Nanos::MAX).unwrap();
            let holds: Vec<Nanos> = c.trace().unwrap().stream().map(|r| r.hold_ns).collect();
            (holds, c.loaded.unwrap().fingerprint)
        };
        let (plain, f0) = load(0.0);
        let (added, f1) = load(0.25);
        assert_eq!(plain, [5_000, 7_000, 7_000]);
        assert_eq!(added, [255_000, 257_000, 257_000], "filled holds too");
        assert_ne!(f0, f1);
        let mut c = ReplayConfig::new(dir.path());
        c.hold_add_ms = -1.0;
        let e = c.load("s.replay", Nanos::MAX).unwrap_err();
        assert_eq!(e.path, "s.replay.hold_add_ms");
        c.hold_add_ms = 1e9;
        let e = c.load("s.replay", Nanos::MAX).unwrap_err();
        assert!(e.message.contains("at most 60000"), "{e}");
    }
}
