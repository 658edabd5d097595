//! Telemetry contracts shared by the simulator, the runtime pool and the
//! offline pipeline: [`Snapshot`] (one row per pool per interval) and
//! [`RequestRecord`] (one row per request).
//!
//! These structs are the same whichever driver produced them, so a model
//! trained on simulated telemetry reads runtime telemetry unchanged.

use serde::{Deserialize, Serialize};

use super::Nanos;

/// The query classes a workload is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryClass {
    /// Short point reads.
    Read,
    /// Inserts and updates.
    Write,
    /// Long scans and aggregations.
    Analytics,
    /// Mixed short statements issued by an API tier.
    Api,
    /// Multi-statement transactions that hold one connection across
    /// statements.
    Transaction,
}

impl QueryClass {
    /// Every class, in column order.
    pub const ALL: [QueryClass; 5] = [
        QueryClass::Read,
        QueryClass::Write,
        QueryClass::Analytics,
        QueryClass::Api,
        QueryClass::Transaction,
    ];
    /// Number of classes.
    pub const COUNT: usize = 5;

    /// Stable lower-case name, used in column and feature names.
    pub fn name(self) -> &'static str {
        match self {
            QueryClass::Read => "read",
            QueryClass::Write => "write",
            QueryClass::Analytics => "analytics",
            QueryClass::Api => "api",
            QueryClass::Transaction => "transaction",
        }
    }

    /// Position in [`QueryClass::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The class at position `i` of [`QueryClass::ALL`], if any.
    pub fn from_index(i: usize) -> Option<QueryClass> {
        QueryClass::ALL.get(i).copied()
    }
}

/// The failure categories every error is classified into. Each has its own
/// circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCategory {
    /// The connection could not be made or broke (SQLSTATE class 08).
    Connection,
    /// A statement or an acquire ran out of time (57014, client timeouts).
    Timeout,
    /// The statement failed (syntax, constraint, data errors).
    Query,
    /// The transaction was aborted (40001 serialization, 40P01 deadlock).
    Transaction,
    /// Authentication or authorization failed (SQLSTATE class 28).
    Security,
}

impl ErrorCategory {
    /// Every category, in column order.
    pub const ALL: [ErrorCategory; 5] = [
        ErrorCategory::Connection,
        ErrorCategory::Timeout,
        ErrorCategory::Query,
        ErrorCategory::Transaction,
        ErrorCategory::Security,
    ];
    /// Number of categories.
    pub const COUNT: usize = 5;

    /// Stable lower-case name, used in column and feature names.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCategory::Connection => "connection",
            ErrorCategory::Timeout => "timeout",
            ErrorCategory::Query => "query",
            ErrorCategory::Transaction => "transaction",
            ErrorCategory::Security => "security",
        }
    }

    /// Position in [`ErrorCategory::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The category at position `i` of [`ErrorCategory::ALL`], if any.
    pub fn from_index(i: usize) -> Option<ErrorCategory> {
        ErrorCategory::ALL.get(i).copied()
    }
}

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "category")]
pub enum Outcome {
    /// The request got a connection and its statements succeeded.
    Ok,
    /// The request got a connection and failed with an error of this
    /// category.
    Error(ErrorCategory),
    /// The request waited for a connection longer than the acquire timeout.
    /// Counted under [`ErrorCategory::Timeout`].
    AcquireTimeout,
    /// The request was refused at once because a breaker was open: the
    /// breaker of this category, or the global one (`None`).
    Rejected(Option<ErrorCategory>),
}

/// The header of the request CSV written by the runtime's trace recorder
/// and read by `poolcast-datasets`.
pub const REQUEST_CSV_HEADER: &str =
    "arrival_ns,class,pattern_hash,acquire_wait_ns,hold_ns,outcome,category,client";

/// The files the runtime's trace recorder writes: `requests-000001.csv`
/// (header [`REQUEST_CSV_HEADER`]) and `snapshots-000001.jsonl` (one JSON
/// [`Snapshot`] per line), numbered from 1 in the order they are written.
/// The one statement of that naming scheme: the recorder writes by it, and
/// the readers (replay, `poolcast train`) find the files by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecorderFile {
    /// `requests-<seq>.csv`: one [`RequestRecord`] per line.
    Requests,
    /// `snapshots-<seq>.jsonl`: one [`Snapshot`] per line.
    Snapshots,
}

impl RecorderFile {
    /// The name before the number: `requests`, `snapshots`.
    pub const fn stem(self) -> &'static str {
        match self {
            RecorderFile::Requests => "requests",
            RecorderFile::Snapshots => "snapshots",
        }
    }

    /// The extension: `csv`, `jsonl`.
    pub const fn extension(self) -> &'static str {
        match self {
            RecorderFile::Requests => "csv",
            RecorderFile::Snapshots => "jsonl",
        }
    }

    /// The name of file number `seq`: `requests-000001.csv` for 1.
    pub fn name(self, seq: u64) -> String {
        format!("{}-{seq:06}.{}", self.stem(), self.extension())
    }

    /// Whether `name` is a file of this kind (`<stem>-*.<extension>`).
    pub fn matches(self, name: &str) -> bool {
        name.strip_prefix(self.stem())
            .and_then(|r| r.strip_prefix('-'))
            .and_then(|r| r.strip_suffix(self.extension()))
            .is_some_and(|r| r.ends_with('.'))
    }

    /// The number of file `name`, when it is a file of this kind with one
    /// (`<stem>-<digits>.*`).
    pub fn seq(self, name: &str) -> Option<u64> {
        let rest = name.strip_prefix(self.stem())?.strip_prefix('-')?;
        rest.split('.').next()?.parse().ok()
    }
}

/// The id of a client known by `key` (a tokio task id, a csvlog session):
/// its hash with a fixed-key hasher, so the same on every run, forced
/// nonzero, since [`RequestRecord::client`] 0 means "unknown".
pub fn client_id<T: std::hash::Hash + ?Sized>(key: &T) -> u64 {
    use std::hash::Hasher;
    let mut h = std::hash::DefaultHasher::new();
    key.hash(&mut h);
    h.finish() | 1
}

/// The header of recorder request files written before the `client`
/// column existed; `poolcast-datasets` still reads them (with client 0).
pub const REQUEST_CSV_HEADER_V1: &str =
    "arrival_ns,class,pattern_hash,acquire_wait_ns,hold_ns,outcome,category";

impl Outcome {
    /// The name stored in telemetry and traces: `ok`, `error`,
    /// `acquire_timeout`, `rejected`.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error(_) => "error",
            Outcome::AcquireTimeout => "acquire_timeout",
            Outcome::Rejected(_) => "rejected",
        }
    }

    /// Numeric code stored in telemetry: 0 ok, 1 error, 2 acquire timeout,
    /// 3 rejected.
    pub fn code(self) -> u8 {
        match self {
            Outcome::Ok => 0,
            Outcome::Error(_) => 1,
            Outcome::AcquireTimeout => 2,
            Outcome::Rejected(_) => 3,
        }
    }

    /// The failure category, if the request failed (`None` for a
    /// rejection by the global breaker).
    pub fn category(self) -> Option<ErrorCategory> {
        match self {
            Outcome::Ok => None,
            Outcome::Error(c) => Some(c),
            Outcome::Rejected(c) => c,
            Outcome::AcquireTimeout => Some(ErrorCategory::Timeout),
        }
    }

    /// Rebuilds an outcome from [`Outcome::code`] and the category column.
    pub fn from_parts(code: u8, category: Option<ErrorCategory>) -> Option<Outcome> {
        match (code, category) {
            (0, None) => Some(Outcome::Ok),
            (1, Some(c)) => Some(Outcome::Error(c)),
            (2, _) => Some(Outcome::AcquireTimeout),
            (3, c) => Some(Outcome::Rejected(c)),
            _ => None,
        }
    }
}

/// Breaker state as stored in telemetry: 0 closed, 1 half-open, 2 open.
pub type BreakerCode = u8;

/// One row per pool per interval: the contract between the drivers (the
/// simulator, the runtime pool) and the offline pipeline.
///
/// Point-in-time fields (`size`, `idle`, ...) are read at the end of the
/// interval; `*_mean` fields are time-weighted averages over the interval;
/// counters count events inside the interval. Quantiles are `None` when the
/// interval had no sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Snapshot {
    // ---- time ----
    /// End of the interval.
    pub t_ns: Nanos,
    /// Length of the interval.
    pub interval_ns: Nanos,

    // ---- pool ----
    /// Open connections (idle + busy) at the end of the interval.
    pub size: u32,
    /// Idle connections at the end of the interval.
    pub idle: u32,
    /// Busy (checked-out) connections at the end of the interval.
    pub busy: u32,
    /// Requests queued for a connection at the end of the interval.
    pub waiting: u32,
    /// Connection creations in flight at the end of the interval.
    pub pending_creates: u32,
    /// The scaling policy's target size at the end of the interval.
    pub target: u32,
    /// Time-weighted mean of open connections over the interval.
    pub size_mean: f64,
    /// Time-weighted mean of busy connections over the interval.
    pub busy_mean: f64,
    /// Time-weighted mean of queued requests over the interval.
    pub waiting_mean: f64,
    /// Peak of busy + waiting over the interval.
    pub demand_max: u32,
    /// Connections created in the interval.
    pub created: u32,
    /// Connections closed in the interval (any reason).
    pub closed: u32,
    /// Connection creations that failed in the interval.
    pub create_failures: u32,
    /// Connections granted to requests in the interval.
    pub acquires: u32,
    /// Requests whose acquire timed out in the interval.
    pub timeouts: u32,
    /// Mean acquire wait of the grants in the interval, in milliseconds.
    pub acquire_wait_mean_ms: Option<f64>,
    /// Median acquire wait, in milliseconds.
    pub acquire_wait_p50_ms: Option<f64>,
    /// 95th percentile acquire wait, in milliseconds.
    pub acquire_wait_p95_ms: Option<f64>,
    /// 99th percentile acquire wait, in milliseconds.
    pub acquire_wait_p99_ms: Option<f64>,
    /// Longest acquire wait, in milliseconds.
    pub acquire_wait_max_ms: Option<f64>,

    // ---- traffic, indexed by QueryClass::index ----
    /// Requests that arrived, per class.
    pub arrivals: [u32; QueryClass::COUNT],
    /// Requests that completed successfully, per class.
    pub completions: [u32; QueryClass::COUNT],

    // ---- query performance, indexed by QueryClass::index ----
    /// Median connection hold (service) time per class, in milliseconds.
    pub service_p50_ms: [Option<f64>; QueryClass::COUNT],
    /// 95th percentile hold time per class, in milliseconds.
    pub service_p95_ms: [Option<f64>; QueryClass::COUNT],

    // ---- errors, indexed by ErrorCategory::index ----
    /// Failed requests per category (acquire timeouts count as timeout;
    /// breaker rejections are not failures, see `rejected`).
    pub errors: [u32; ErrorCategory::COUNT],
    /// Requests refused by an open breaker in the interval.
    pub rejected: u32,
    /// Breaker state per category at the end of the interval
    /// (0 closed, 1 half-open, 2 open).
    pub breaker: [BreakerCode; ErrorCategory::COUNT],
    /// State of the global breaker (0 closed, 1 half-open, 2 open).
    pub breaker_global: BreakerCode,

    // ---- system ----
    /// Database CPU utilization in \[0, 1\]: modeled in the simulator, probed
    /// or `None` at runtime.
    pub db_cpu: Option<f64>,
    /// Database memory utilization in \[0, 1\]: modeled in the simulator,
    /// probed or `None` at runtime.
    pub db_mem: Option<f64>,
}

impl Snapshot {
    /// Time-weighted mean demand (busy + waiting) over the interval: the
    /// quantity the forecasters predict.
    pub fn demand_mean(&self) -> f64 {
        self.busy_mean + self.waiting_mean
    }

    /// Total arrivals over all classes.
    pub fn arrivals_total(&self) -> u32 {
        self.arrivals.iter().sum()
    }
}

/// One row per request: produced by the simulator, the runtime trace
/// recorder and trace ingestion alike.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// When the request asked for a connection.
    pub arrival_ns: Nanos,
    /// Its query class.
    pub class: QueryClass,
    /// Hash of the normalized statement (literals removed); 0 when unknown.
    pub pattern_hash: u64,
    /// Time from arrival to grant (or to timeout or rejection).
    pub acquire_wait_ns: Nanos,
    /// Time the connection was held; 0 if none was granted.
    pub hold_ns: Nanos,
    /// How it ended.
    pub outcome: Outcome,
    /// The client that made the request: in the runtime, a hash of the
    /// tokio task that called `get` (nonzero); in a PostgreSQL csvlog, the
    /// session; 0 when unknown (synthetic traffic, or a trace recorded
    /// before this column existed). A client's requests, in arrival order,
    /// are one chain for closed-loop replay.
    #[serde(default)]
    pub client: u64,
}
