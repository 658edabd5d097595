//! Reads PostgreSQL's own server log into [`RequestRecord`]s, so that a
//! service that does not run the runtime pool can still have its traffic
//! replayed and studied. The log may be in any of its three forms, found
//! from each file ([`LogFormat::Auto`]) or named:
//!
//! - csvlog (`log_destination = 'csvlog'`);
//! - jsonlog (PostgreSQL 15+);
//! - stderr with a `log_line_prefix`, given or recognised among the
//!   common ones ([`stderr::KNOWN_PREFIXES`]). With `%t` its times are
//!   whole seconds: arrivals, and the holds of transactions (which span
//!   lines), are good to the second only; statements' holds are their
//!   logged durations either way. Without `%e` errors carry no SQLSTATE
//!   and count as query errors.
//!
//! Every form goes through one set of rules (`Folder`), stated below for
//! all of them.
//!
//! The server must log every statement with its duration, in either of the
//! two usual ways:
//!
//! - `log_min_duration_statement = 0`: one line per statement,
//!   `duration: 0.210 ms  statement: SELECT ...` (simple protocol) or
//!   `duration: 0.050 ms  execute <unnamed>: SELECT ...` (extended protocol,
//!   whose `parse` and `bind` durations are added to the `execute`'s);
//! - `log_statement = 'all'` with `log_duration = on`: `statement: ...` when
//!   a statement starts, then `duration: 0.210 ms` when it ends.
//!
//! Each record is one request, as a pool would have seen it:
//!
//! - arrival: the line's `log_time` minus the duration (so times are good
//!   to the log's millisecond), relative to the first arrival of the log,
//!   rounded down to a whole second;
//! - hold: the statement's duration on the server. A pool's client holds
//!   its connection longer (round trips, client work between checkout and
//!   return), so these holds are lower bounds, and for short statements
//!   far below what a pool sees: on this project's machine the same 10 s
//!   of prepared `SELECT`s held 0.012 ms each in the server's log and
//!   0.31 ms checked out of the runtime pool, 25× longer (`docs/findings/
//!   2026-12-03-replay-fidelity.md`);
//! - `BEGIN` … `COMMIT`/`ROLLBACK` in one session is one `transaction`
//!   request that holds its connection from the start of `BEGIN` to the
//!   end of the last statement, with the pattern of its first statement;
//! - other statements by their first keyword: `SELECT`, `WITH`, `SHOW`,
//!   `VALUES`, `TABLE` are `read`; `INSERT`, `UPDATE`, `DELETE`, `MERGE`,
//!   `COPY` are `write`; everything else (`SET`, DDL, `CALL`, ...) is `api`.
//!   The log cannot tell an analytics query from a read;
//! - pattern: [`poolcast::core::affinity::pattern_hash`] of the statement,
//!   the same fingerprint the runtime pool's statement affinity uses;
//! - an `ERROR` line ends the session's current statement as an error of
//!   the category its SQLSTATE maps to
//!   ([`poolcast::core::sqlstate::classify_sqlstate`]), inside a
//!   transaction it marks the transaction failed;
//! - acquire wait: 0. The server does not know how long a client waited for
//!   a connection;
//! - client: a hash of the line's `session_id` (`6571d2a4.1f3c`; the pid
//!   for a stderr prefix without `%c`), nonzero, so each session is one
//!   client and a transaction has its session's.
//!
//! Lines of other kinds (connections, checkpoints, warnings, processes
//! other than client backends) are counted and skipped. `log_time` is read
//! as written and its time zone ignored: log in UTC (`log_timezone =
//! 'UTC'`) so a daylight-saving change does not move time by an hour
//! mid-log. Messages must be in English (`lc_messages = 'C'`): a
//! translated `duration:` is not recognised. Rotated files are read in the
//! order given (a directory's in name order, which is time order for the
//! default `postgresql-%Y-%m-%d_%H%M%S.csv`, not for `postgresql-%a.csv`);
//! a session's statement or transaction may span two files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use poolcast::core::affinity::pattern_hash;
use poolcast::core::sqlstate::classify_sqlstate;
use poolcast::core::telemetry::{ErrorCategory, Outcome, QueryClass};
use poolcast::core::{NANOS_PER_SEC, Nanos, RequestRecord};

use crate::error::{DatasetError, Result};

mod csvlog;
mod detect;
mod jsonlog;
mod prefix_scan;
pub mod stderr;

/// The longest statement duration read (a year, in ms): keeps every
/// time well inside i64 nanoseconds.
pub(crate) const MAX_DURATION_MS: f64 = 365.0 * 86_400e3;

/// 2200-01-01 in ns since 1970: the latest time a log may have (see
/// [`parse_time`]).
pub(crate) const MAX_EPOCH_NS: i64 = 7_258_118_400 * NANOS_PER_SEC as i64;

/// What a csvlog read gave.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadLog {
    /// One per statement (or transaction), arrival times from `origin`.
    pub records: Vec<RequestRecord>,
    /// The log time that is time 0 (the first arrival, rounded down to a
    /// whole second), as written in the log without its zone.
    pub origin: String,
    /// Lines that were not statements (connections, checkpoints, ...).
    pub skipped: u64,
    /// Statements or transactions still open when the log ends, dropped.
    pub unfinished: u64,
    /// The form the files were read in (with the stderr prefix used).
    pub format: String,
}

/// The statement a session is running: logged at its start
/// (`log_statement`), or the `parse`/`bind` phases of an `execute`.
#[derive(Debug, Default)]
struct Session {
    /// The session's client id ([`session_client`]).
    client: u64,
    /// Start and text of a statement logged when it started.
    started: Option<(i64, String)>,
    /// Summed durations (ns) of the `parse`/`bind` phases of the next
    /// `execute`.
    phases_ns: Option<i64>,
    /// An open transaction: start, first statement's pattern, failure.
    txn: Option<Txn>,
}

impl Session {
    /// Nothing is open: the entry can go and be made again.
    fn is_idle(&self) -> bool {
        self.started.is_none() && self.phases_ns.is_none() && self.txn.is_none()
    }
}

/// The client of csvlog session `session_id`.
fn session_client(session_id: &str) -> u64 {
    poolcast::core::telemetry::client_id(session_id)
}

#[derive(Debug)]
struct Txn {
    start: i64,
    pattern: u64,
    /// The statement that gave the pattern (empty until one did).
    text: String,
    error: Option<ErrorCategory>,
}

/// Which form of PostgreSQL's log a file is in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Found from each file's first lines.
    #[default]
    Auto,
    /// `log_destination = 'csvlog'`.
    Csv,
    /// `log_destination = 'jsonlog'` (PostgreSQL 15+).
    Json,
    /// `log_destination = 'stderr'`, with this `log_line_prefix` (`None`:
    /// found among the common ones, see [`stderr::KNOWN_PREFIXES`]).
    Stderr(Option<String>),
    /// Not a server log: OpenTelemetry database client spans in OTLP/JSON
    /// ([`crate::otlp`]).
    OtlpSpans,
}

/// Reads csvlog files as one log (rotated files of one server, in the order
/// given); arrival times share one origin.
///
/// # Errors
/// As [`read_logs`].
pub fn read_pg_csvlogs(paths: &[PathBuf]) -> Result<ReadLog> {
    read_logs(paths, &LogFormat::Csv)
}

/// Reads PostgreSQL log files of any form ([`LogFormat`]) as one log
/// (rotated files of one server, in the order given); arrival times share
/// one origin.
///
/// # Errors
/// [`DatasetError::Io`] when a file cannot be read; [`DatasetError::Line`]
/// naming the file and line for a malformed line (too few csvlog fields,
/// a time or duration that does not parse, a line no known stderr prefix
/// matches); a log with no statement in it.
pub fn read_logs(paths: &[PathBuf], format: &LogFormat) -> Result<ReadLog> {
    let mut raw = Vec::new();
    let summary = stream_logs(paths, format, &mut |r: Logged<'_>| {
        raw.push((r.start_ns, r.record));
    })?;
    into_log(raw, summary, paths)
}

/// One request as a streaming read gives it ([`stream_logs`]).
#[derive(Debug, Clone, Copy)]
pub struct Logged<'a> {
    /// When it arrived: ns from 1970-01-01 of the log's (ignored) zone.
    pub start_ns: i64,
    /// The request, its `arrival_ns` 0 (a streaming read knows no origin).
    pub record: RequestRecord,
    /// The statement that gave its pattern (a transaction's first
    /// statement that neither begins nor ends it; empty if none did).
    pub statement: &'a str,
}

/// What a streaming read of a log saw besides its requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSummary {
    /// Lines that were not statements (connections, checkpoints, ...).
    pub skipped: u64,
    /// Statements or transactions still open when the log ends, dropped.
    pub unfinished: u64,
    /// The form the files were read in (with the stderr prefix used).
    pub format: String,
}

/// Reads PostgreSQL log files as [`read_logs`] does, handing each
/// request to `sink` as it completes instead of keeping them: memory is
/// bounded by the sessions with a statement or transaction open, not by
/// the size of the log. Requests come in the order they end.
///
/// # Errors
/// As [`read_logs`], except that a log with no statement is not one.
pub fn stream_logs(
    paths: &[PathBuf],
    format: &LogFormat,
    sink: &mut dyn FnMut(Logged<'_>),
) -> Result<LogSummary> {
    let mut fold = Folder::new(sink);
    let mut formats = Vec::new();
    for path in paths {
        let f = match format {
            LogFormat::Auto => detect::format_of(path)?,
            other => other.clone(),
        };
        let described = match &f {
            LogFormat::Csv => {
                csvlog::read(path, &mut fold)?;
                "csvlog".to_string()
            }
            LogFormat::Json => {
                jsonlog::read(path, &mut fold)?;
                "jsonlog".to_string()
            }
            LogFormat::Stderr(prefix) => {
                let p = stderr::read(path, prefix.as_deref(), &mut fold)?;
                format!("stderr, log_line_prefix = {p:?}")
            }
            LogFormat::OtlpSpans => {
                let seen = crate::otlp::spans::read(path, &mut fold)?;
                format!("OTLP/JSON spans, {}", seen.describe())
            }
            LogFormat::Auto => unreachable!("format_of never answers Auto"),
        };
        if !formats.contains(&described) {
            formats.push(described);
        }
    }
    Ok(fold.finish(formats.join("; ")))
}

/// The log of `raw` requests (epoch ns starts): arrivals from the first
/// one, rounded down to a whole second.
fn into_log(
    raw: Vec<(i64, RequestRecord)>,
    summary: LogSummary,
    paths: &[PathBuf],
) -> Result<ReadLog> {
    let Some(first) = raw.iter().map(|(t, _)| *t).min() else {
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(DatasetError::line(
            &paths.first().cloned().unwrap_or_default(),
            1,
            format!(
                "no statement with a duration in {} (expected a log written with \
                 log_min_duration_statement = 0, or log_statement = 'all' and log_duration = on)",
                names.join(", ")
            ),
        ));
    };
    let origin = first.div_euclid(NANOS_PER_SEC as i64) * NANOS_PER_SEC as i64;
    let records = raw
        .into_iter()
        .map(|(t, r)| RequestRecord {
            // `t >= origin`; the difference of two times in 1900..2200
            // may exceed an i64 but not a u64.
            arrival_ns: t.abs_diff(origin),
            ..r
        })
        .collect();
    Ok(ReadLog {
        records,
        origin: format_epoch_ns(origin),
        skipped: summary.skipped,
        unfinished: summary.unfinished,
        format: summary.format,
    })
}

/// One log line (or entry) as every form of the log gives it, for
/// [`Folder::event`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Event<'a> {
    /// Where it starts in its file (1-based).
    pub(crate) line: u64,
    /// Its time, ns from 1970-01-01 of the log's (ignored) zone.
    pub(crate) time: i64,
    /// What tells its session from others (`session_id`, or the pid).
    pub(crate) session: &'a str,
    /// `LOG`, `ERROR`, ...
    pub(crate) severity: &'a str,
    /// The SQLSTATE, or empty when the log does not have it.
    pub(crate) sqlstate: &'a str,
    /// The message.
    pub(crate) message: &'a str,
    /// The statement of an `ERROR`, or empty.
    pub(crate) query: &'a str,
    /// Written by a client backend (what a pool's statements run in);
    /// `true` when the log does not say.
    pub(crate) client_backend: bool,
}

/// The rules that turn log lines into requests, one implementation for
/// every form of the log: sessions, statements and their durations,
/// transactions, errors. Sessions carry over from one file to the next (a
/// rotation can fall inside a transaction).
pub(crate) struct Folder<'s> {
    /// Sessions with something open (and, until the next sweep, some
    /// without).
    sessions: HashMap<String, Session>,
    /// Where finished requests go.
    sink: &'s mut dyn FnMut(Logged<'_>),
    skipped: u64,
    /// Events since idle sessions were last swept out.
    since_sweep: u32,
}

/// Events between two sweeps of idle sessions: often enough that a log of
/// millions of short sessions keeps only the open ones, rarely enough that
/// the sweep costs nothing per line.
const SWEEP_EVERY: u32 = 1 << 16;

impl<'s> Folder<'s> {
    fn new(sink: &'s mut dyn FnMut(Logged<'_>)) -> Self {
        Folder {
            sessions: HashMap::new(),
            sink,
            skipped: 0,
            since_sweep: 0,
        }
    }

    /// A line that is not a statement (a connection, a checkpoint, a
    /// detail line).
    pub(crate) fn skip(&mut self) {
        self.skipped += 1;
    }

    /// Folds one line of `path` in.
    ///
    /// # Errors
    /// A `duration:` that does not parse, naming the line.
    pub(crate) fn event(&mut self, path: &Path, ev: &Event<'_>) -> Result<()> {
        let (t, line, msg) = (ev.time, ev.line, ev.message);
        if !ev.client_backend {
            self.skipped += 1;
            return Ok(());
        }
        let out = &mut *self.sink;
        let session = session(&mut self.sessions, &mut self.since_sweep, ev.session, None);
        if ev.severity == "ERROR" {
            let class = classify_sqlstate(ev.sqlstate);
            let outcome = Outcome::Error(class.category);
            session.phases_ns = None;
            match session.started.take() {
                Some((start, sql)) => finish(session, start, t, &sql, outcome, out),
                // No statement is known to have failed (a cancelled
                // background task, an error logged without its query).
                None if ev.query.trim().is_empty() => self.skipped += 1,
                None => finish(session, t, t, ev.query, outcome, out),
            }
            return Ok(());
        }
        if ev.severity != "LOG" {
            self.skipped += 1;
            return Ok(());
        }
        if let Some(rest) = msg.strip_prefix("duration: ") {
            let (ms, after) = rest.split_once(" ms").ok_or_else(|| {
                DatasetError::line(
                    path,
                    line,
                    // Not the message itself: it may hold statement text.
                    "field `message`: expected `duration: <ms> ms` after `duration: `".to_string(),
                )
            })?;
            let ms: f64 = ms
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && (0.0..=MAX_DURATION_MS).contains(v))
                .ok_or_else(|| {
                    DatasetError::line(
                        path,
                        line,
                        format!(
                            "field `message`: expected a duration in ms, at most a year, found {:?}",
                            ms.chars().take(40).collect::<String>()
                        ),
                    )
                })?;
            // At most a year (checked above), from a time within 1900..2200:
            // no overflow, but saturate rather than trust that.
            let start = t.saturating_sub((ms * 1e6).round() as i64);
            let after = after.trim_start();
            if after.is_empty() {
                // log_duration: the statement was logged when it started.
                match session.started.take() {
                    Some((_, sql)) => finish(session, start, t, &sql, Outcome::Ok, out),
                    None => self.skipped += 1,
                }
            } else if let Some(sql) = after.strip_prefix("statement: ") {
                finish(session, start, t, sql, Outcome::Ok, out);
            } else if let Some((phase, sql)) = protocol_phase(after) {
                // The server's own time on the statement: its phases'
                // durations summed, not the span between their log lines,
                // whose times are only good to the millisecond. Summed
                // phases saturate: a crafted log of many year-long phases
                // must not overflow.
                let d = t.saturating_sub(start);
                if phase == "execute" {
                    // At most a year, as each duration: a statement's
                    // phases cannot take longer than the log is sane for.
                    let busy = session
                        .phases_ns
                        .take()
                        .unwrap_or(0)
                        .saturating_add(d)
                        .min((MAX_DURATION_MS * 1e6) as i64);
                    finish(session, t.saturating_sub(busy), t, sql, Outcome::Ok, out);
                } else {
                    session.phases_ns = Some(session.phases_ns.unwrap_or(0).saturating_add(d));
                }
            } else {
                self.skipped += 1;
            }
        } else if let Some(sql) = msg.strip_prefix("statement: ") {
            session.started = Some((t, sql.to_string()));
        } else if let Some(("execute", sql)) = protocol_phase(msg) {
            session.started = Some((t, sql.to_string()));
        } else {
            self.skipped += 1;
        }
        Ok(())
    }

    /// A statement known by its client-side span (OpenTelemetry): it ran
    /// from `start` to `end` (epoch ns) in `session`, whose requests are
    /// `client`'s. The same rules as a log line's: transactions, classes,
    /// patterns.
    pub(crate) fn statement(
        &mut self,
        key: &str,
        client: u64,
        (start, end): (i64, i64),
        sql: &str,
        outcome: Outcome,
    ) {
        let s = session(&mut self.sessions, &mut self.since_sweep, key, Some(client));
        finish(s, start, end, sql, outcome, &mut *self.sink);
    }

    /// What the read saw besides its requests.
    fn finish(self, format: String) -> LogSummary {
        let unfinished = self
            .sessions
            .values()
            .map(|s| u64::from(s.started.is_some()) + u64::from(s.txn.is_some()))
            .sum();
        LogSummary {
            skipped: self.skipped,
            unfinished,
            format,
        }
    }
}

/// The state of session `key` (made with `client`, or the hash of `key`,
/// when new); now and then sweeps out the idle sessions first.
fn session<'f>(
    sessions: &'f mut HashMap<String, Session>,
    since_sweep: &mut u32,
    key: &str,
    client: Option<u64>,
) -> &'f mut Session {
    *since_sweep += 1;
    if *since_sweep >= SWEEP_EVERY {
        *since_sweep = 0;
        sessions.retain(|_, s| !s.is_idle());
    }
    // Looked up before inserting: most lines are of a known session, and
    // the key need not be copied for them.
    if !sessions.contains_key(key) {
        sessions.insert(
            key.to_string(),
            Session {
                client: client.unwrap_or_else(|| session_client(key)),
                ..Session::default()
            },
        );
    }
    sessions.get_mut(key).expect("inserted above")
}

/// `parse <name>: sql`, `bind <name>: sql` or `execute <name>: sql`.
fn protocol_phase(s: &str) -> Option<(&str, &str)> {
    let (phase, rest) = s.split_once(' ')?;
    if !matches!(phase, "parse" | "bind" | "execute") {
        return None;
    }
    let (_, sql) = rest.split_once(": ")?;
    Some((phase, sql))
}

/// The first keyword of `sql`, upper-cased (after spaces, parentheses and
/// comments).
fn first_keyword(sql: &str) -> Keyword {
    let mut s = sql.trim_start();
    loop {
        if let Some(r) = s.strip_prefix("--") {
            s = r.split_once('\n').map_or("", |(_, r)| r).trim_start();
        } else if let Some(r) = s.strip_prefix("/*") {
            s = r.split_once("*/").map_or("", |(_, r)| r).trim_start();
        } else if let Some(r) = s.strip_prefix('(') {
            s = r.trim_start();
        } else {
            break;
        }
    }
    let word = s.bytes().take_while(u8::is_ascii_alphabetic);
    let mut k = Keyword([0; KEYWORD_BYTES], 0);
    for b in word {
        if usize::from(k.1) == KEYWORD_BYTES {
            // Longer than any keyword the rules name.
            return Keyword([0; KEYWORD_BYTES], 0);
        }
        k.0[usize::from(k.1)] = b.to_ascii_uppercase();
        k.1 += 1;
    }
    k
}

/// Bytes of the longest keyword kept ([`first_keyword`]).
const KEYWORD_BYTES: usize = 12;

/// A statement's first keyword, upper-cased, on the stack: it is read for
/// every statement of a log, and a `String` each time showed in profiles.
#[derive(Clone, Copy)]
struct Keyword([u8; KEYWORD_BYTES], u8);

impl std::ops::Deref for Keyword {
    type Target = str;
    fn deref(&self) -> &str {
        // ASCII letters only (first_keyword).
        std::str::from_utf8(&self.0[..usize::from(self.1)]).unwrap_or("")
    }
}

/// The class of a statement by its first keyword, upper-cased.
pub(crate) fn class_of_keyword(keyword: &str) -> QueryClass {
    match keyword {
        "SELECT" | "WITH" | "SHOW" | "VALUES" | "TABLE" => QueryClass::Read,
        "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "COPY" => QueryClass::Write,
        _ => QueryClass::Api,
    }
}

/// The statements of a simple query (`BEGIN; UPDATE ...; COMMIT` is
/// logged as one), split at semicolons; a semicolon inside a string
/// literal splits it too, which only matters when it hides a `COMMIT`.
fn statements(sql: &str) -> impl Iterator<Item = &str> + Clone {
    let parts = sql.split(';').map(str::trim).filter(|s| !s.is_empty());
    // A query of nothing but semicolons is itself.
    let only = parts.clone().next().is_none().then_some(sql);
    only.into_iter().chain(parts)
}

fn starts_txn(kw: &str) -> bool {
    matches!(kw, "BEGIN" | "START")
}

fn ends_txn(kw: &str, stmt: &str) -> bool {
    if !matches!(kw, "COMMIT" | "END" | "ABORT" | "ROLLBACK" | "PREPARE") {
        return false;
    }
    let up = stmt.to_ascii_uppercase();
    match kw {
        // COMMIT PREPARED ends a two-phase transaction, not this session's.
        "COMMIT" | "END" | "ABORT" => !up.contains("PREPARED"),
        // ROLLBACK TO SAVEPOINT keeps the transaction open.
        "ROLLBACK" => !up.contains(" TO ") && !up.contains("PREPARED"),
        // PREPARE TRANSACTION ends this session's part of it.
        "PREPARE" => up.contains("TRANSACTION"),
        _ => false,
    }
}

/// A statement of `session` ran from `start` to `end`: one request, or a
/// step of the session's transaction.
fn finish(
    session: &mut Session,
    start: i64,
    end: i64,
    sql: &str,
    outcome: Outcome,
    out: &mut dyn FnMut(Logged<'_>),
) {
    let parts = statements(sql);
    let first = first_keyword(parts.clone().next().unwrap_or(sql));
    let last = parts.clone().last().unwrap_or(sql);
    let ends = ends_txn(&first_keyword(last), last);
    let error = outcome.category();
    // The first statement that neither begins nor ends a transaction gives
    // the transaction its pattern.
    let body = parts.clone().find(|p| {
        let kw = first_keyword(p);
        !starts_txn(&kw) && !ends_txn(&kw, p)
    });
    let client = session.client;
    let transaction = |start: i64, pattern: u64, error: Option<ErrorCategory>| RequestRecord {
        arrival_ns: 0,
        class: QueryClass::Transaction,
        pattern_hash: pattern,
        acquire_wait_ns: 0,
        hold_ns: hold(start, end),
        outcome: error.map_or(Outcome::Ok, Outcome::Error),
        client,
    };
    if let Some(txn) = &mut session.txn {
        // A BEGIN inside a transaction is a no-op (PostgreSQL warns).
        if txn.pattern == 0
            && let Some(b) = body
        {
            txn.pattern = pattern_hash(b);
            txn.text = b.to_string();
        }
        if txn.error.is_none() {
            txn.error = error;
        }
        if ends {
            let txn = session.txn.take().expect("matched above");
            out(Logged {
                start_ns: txn.start,
                record: transaction(txn.start, txn.pattern, txn.error),
                statement: &txn.text,
            });
        }
        return;
    }
    if starts_txn(&first) {
        let pattern = body.map_or(0, pattern_hash);
        if ends || error.is_some() {
            // The whole transaction in one simple query, or a BEGIN that
            // failed: one request.
            out(Logged {
                start_ns: start,
                record: transaction(start, pattern, error),
                statement: body.unwrap_or(""),
            });
        } else {
            session.txn = Some(Txn {
                start,
                pattern,
                text: body.unwrap_or("").to_string(),
                error: None,
            });
        }
        return;
    }
    out(Logged {
        start_ns: start,
        record: RequestRecord {
            arrival_ns: 0,
            class: class_of_keyword(&first),
            pattern_hash: pattern_hash(sql),
            acquire_wait_ns: 0,
            hold_ns: hold(start, end),
            outcome,
            client,
        },
        statement: sql,
    });
}

/// `YYYY-MM-DD HH:MM:SS[.fff] ZONE` to ns from 1970-01-01 00:00:00 of the
/// same (ignored) zone.
pub(crate) fn parse_time(s: &str) -> Option<i64> {
    let mut parts = s.split(' ');
    let (date, time) = (parts.next()?, parts.next()?);
    let mut d = date.split('-');
    // Unsigned: a sign is not part of a log time, and a negative field
    // would only feed the arithmetic below something it must not see.
    let (y, m, day): (u32, u32, u32) = (digits(d.next()?)?, digits(d.next()?)?, digits(d.next()?)?);
    // 1900..=2200: any two such times, and a year-long duration before
    // one, are apart by less than an i64 of nanoseconds can hold
    // (292 years), so no difference below can overflow.
    if d.next().is_some()
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&day)
        || !(1900..=2200).contains(&y)
    {
        return None;
    }
    let y = i64::from(y);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut h = hms.split(':');
    let (hh, mm, ss) = (
        i64::from(digits(h.next()?)?),
        i64::from(digits(h.next()?)?),
        i64::from(digits(h.next()?)?),
    );
    if h.next().is_some() || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let mut frac_ns = 0i64;
    if !frac.is_empty() {
        if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        frac_ns = frac.parse::<i64>().ok()? * 10i64.pow(9 - frac.len() as u32);
    }
    let secs = days_from_civil(y, m, day) * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(secs * NANOS_PER_SEC as i64 + frac_ns)
}

/// A field of ASCII digits only (no sign, no spaces), at most 4 of them.
fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A hold from `start` to `end` (0 if they are out of order).
fn hold(start: i64, end: i64) -> Nanos {
    u64::try_from(end.saturating_sub(start)).unwrap_or(0)
}

/// The longest line a log may have: a record longer than this without a
/// newline is not a log (and must not be buffered whole).
pub(crate) const MAX_LINE_BYTES: usize = 64 << 20;

/// `path` opened for reading, buffered, its lines bounded to
/// [`MAX_LINE_BYTES`]: how every reader of the log opens a file.
pub(crate) fn open_bounded(path: &Path) -> Result<std::io::BufReader<LineBounded<std::fs::File>>> {
    let file =
        std::fs::File::open(path).map_err(|e| DatasetError::io(path, "open for reading", e))?;
    Ok(std::io::BufReader::new(LineBounded::new(
        file,
        MAX_LINE_BYTES,
    )))
}

/// Calls `f` with each non-blank line of `path` (1-based number, text
/// without its line end), through [`open_bounded`]: how the readers of
/// one-object-per-line files (jsonlog, OTLP/JSON) walk a file.
///
/// # Errors
/// The file cannot be read (naming the line), or `f`'s error.
pub(crate) fn for_each_line(path: &Path, mut f: impl FnMut(u64, &str) -> Result<()>) -> Result<()> {
    use std::io::BufRead;
    let mut reader = open_bounded(path)?;
    let mut buf = String::new();
    let mut n = 0u64;
    loop {
        buf.clear();
        let read = reader
            .read_line(&mut buf)
            .map_err(|e| DatasetError::line(path, n + 1, format!("cannot be read: {e}")))?;
        if read == 0 {
            return Ok(());
        }
        n += 1;
        let text = buf.trim();
        if !text.is_empty() {
            f(n, text)?;
        }
    }
}

/// The error for a time in `field` of line `line` that does not parse
/// (repeating at most 40 characters of it).
pub(crate) fn bad_time(path: &Path, line: u64, field: &str, text: &str) -> DatasetError {
    DatasetError::line(
        path,
        line,
        format!(
            "{field}: expected `YYYY-MM-DD HH:MM:SS[.fff] ZONE` (years 1900 to 2200), found {:?}",
            text.chars().take(40).collect::<String>()
        ),
    )
}

/// A reader that fails once more than `max` bytes pass without a
/// newline. Hand-written: the csv crate has no record-size limit, and
/// this is a dozen lines.
pub(crate) struct LineBounded<R> {
    inner: R,
    max: usize,
    since_newline: usize,
}

impl<R> LineBounded<R> {
    pub(crate) fn new(inner: R, max: usize) -> Self {
        LineBounded {
            inner,
            max,
            since_newline: 0,
        }
    }
}

impl<R: std::io::Read> std::io::Read for LineBounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            if b == b'\n' {
                self.since_newline = 0;
            } else {
                self.since_newline += 1;
            }
        }
        if self.since_newline > self.max {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("a line longer than {} MiB: not a log", self.max >> 20),
            ));
        }
        Ok(n)
    }
}

/// Days from 1970-01-01 to `y-m-d` (proleptic Gregorian; Howard
/// Hinnant's `days_from_civil`). Hand-written: eight lines, where a date
/// crate would be this crate's only use of one.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Whether a log read in `form` (a [`ReadLog::format`] or
/// [`LogSummary::format`]) has times in whole seconds: a stderr prefix
/// with `%t` and neither `%m` nor `%n`.
pub fn whole_second_times(form: &str) -> bool {
    form.starts_with("stderr")
        && form
            .split("log_line_prefix = ")
            .skip(1)
            .any(|p| p.contains("%t") && !p.contains("%m") && !p.contains("%n"))
}

/// The inverse of [`parse_time`] for whole seconds, for [`ReadLog::origin`]
/// (a [`Logged::start_ns`] written as the log writes times, zone left out).
pub fn format_epoch_ns(ns: i64) -> String {
    let secs = ns.div_euclid(NANOS_PER_SEC as i64);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // civil_from_days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A csvlog line of PostgreSQL 15 (26 fields).
    fn line(
        time: &str,
        session: &str,
        severity: &str,
        state: &str,
        msg: &str,
        query: &str,
    ) -> String {
        let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        format!(
            "{time},\"postgres\",\"test\",4242,\"127.0.0.1:5000\",{session},1,\"SELECT\",2026-12-03 10:00:00 UTC,3/1,0,{severity},{state},{},,,,,,{},,,\"app\",\"client backend\",,0\n",
            q(msg),
            if query.is_empty() {
                String::new()
            } else {
                q(query)
            }
        )
    }

    fn read(text: &str) -> Result<ReadLog> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("postgresql.csv");
        std::fs::write(&p, text).unwrap();
        read_pg_csvlogs(&[p])
    }

    #[test]
    fn statements_transactions_and_errors_become_requests() {
        let mut log = String::new();
        // A read over the simple protocol, 2 ms, ending at 10:00:01.005.
        log += &line(
            "2026-12-03 10:00:01.005 UTC",
            "s1",
            "LOG",
            "00000",
            "duration: 2.000 ms  statement: SELECT * FROM t WHERE id = 5",
            "",
        );
        // Not a statement.
        log += &line(
            "2026-12-03 10:00:01.100 UTC",
            "s9",
            "LOG",
            "00000",
            "connection received: host=127.0.0.1 port=5000",
            "",
        );
        // Extended protocol: parse and bind fold into the execute.
        log += &line(
            "2026-12-03 10:00:02.001 UTC",
            "s2",
            "LOG",
            "00000",
            "duration: 1.000 ms  parse <unnamed>: INSERT INTO t VALUES ($1)",
            "",
        );
        log += &line(
            "2026-12-03 10:00:02.002 UTC",
            "s2",
            "LOG",
            "00000",
            "duration: 0.500 ms  bind <unnamed>: INSERT INTO t VALUES ($1)",
            "",
        );
        log += &line(
            "2026-12-03 10:00:02.010 UTC",
            "s2",
            "LOG",
            "00000",
            "duration: 3.000 ms  execute <unnamed>: INSERT INTO t VALUES ($1)",
            "",
        );
        // A transaction over three statements, committed.
        log += &line(
            "2026-12-03 10:00:03.000 UTC",
            "s3",
            "LOG",
            "00000",
            "duration: 0.100 ms  statement: BEGIN",
            "",
        );
        log += &line(
            "2026-12-03 10:00:03.020 UTC",
            "s3",
            "LOG",
            "00000",
            "duration: 5.000 ms  statement: UPDATE t SET x = 1 WHERE id = 7",
            "",
        );
        log += &line(
            "2026-12-03 10:00:03.050 UTC",
            "s3",
            "LOG",
            "00000",
            "duration: 0.200 ms  statement: COMMIT",
            "",
        );
        // log_statement + log_duration, then a deadlock in a transaction.
        log += &line(
            "2026-12-03 10:00:04.000 UTC",
            "s4",
            "LOG",
            "00000",
            "statement: BEGIN",
            "",
        );
        log += &line(
            "2026-12-03 10:00:04.001 UTC",
            "s4",
            "LOG",
            "00000",
            "duration: 0.100 ms",
            "",
        );
        log += &line(
            "2026-12-03 10:00:04.010 UTC",
            "s4",
            "LOG",
            "00000",
            "statement: UPDATE t SET x = 2",
            "",
        );
        log += &line(
            "2026-12-03 10:00:04.900 UTC",
            "s4",
            "ERROR",
            "40P01",
            "deadlock detected",
            "UPDATE t SET x = 2",
        );
        log += &line(
            "2026-12-03 10:00:04.950 UTC",
            "s4",
            "LOG",
            "00000",
            "statement: ROLLBACK",
            "",
        );
        log += &line(
            "2026-12-03 10:00:04.951 UTC",
            "s4",
            "LOG",
            "00000",
            "duration: 0.300 ms",
            "",
        );
        // A syntax error outside a transaction, a multi-line statement.
        log += &line(
            "2026-12-03 10:00:05.000 UTC",
            "s5",
            "ERROR",
            "42601",
            "syntax error at or near \"SELEC\"",
            "SELEC 1",
        );
        log += &line(
            "2026-12-03 10:00:06.000 UTC",
            "s5",
            "LOG",
            "00000",
            "duration: 1.000 ms  statement: -- report\nSELECT count(*)\n  FROM t",
            "",
        );
        // Still running at the end of the log.
        log += &line(
            "2026-12-03 10:00:07.000 UTC",
            "s6",
            "LOG",
            "00000",
            "statement: SELECT pg_sleep(60)",
            "",
        );
        // A whole transaction in one simple query.
        log += &line(
            "2026-12-03 10:00:08.000 UTC",
            "s7",
            "LOG",
            "00000",
            "duration: 4.000 ms  statement: BEGIN; UPDATE t SET x = 3; COMMIT;",
            "",
        );
        // A BEGIN inside a transaction keeps the first start.
        log += &line(
            "2026-12-03 10:00:09.000 UTC",
            "s8",
            "LOG",
            "00000",
            "duration: 1.000 ms  statement: BEGIN",
            "",
        );
        log += &line(
            "2026-12-03 10:00:09.100 UTC",
            "s8",
            "LOG",
            "00000",
            "duration: 1.000 ms  statement: BEGIN",
            "",
        );
        log += &line(
            "2026-12-03 10:00:09.200 UTC",
            "s8",
            "LOG",
            "00000",
            "duration: 1.000 ms  statement: SELECT 1; COMMIT",
            "",
        );
        // An error of no client statement, and autovacuum's own line.
        log += &line(
            "2026-12-03 10:00:09.300 UTC",
            "s9",
            "ERROR",
            "57014",
            "canceling autovacuum task",
            "",
        );
        log += &line(
            "2026-12-03 10:00:09.400 UTC",
            "s9",
            "LOG",
            "00000",
            "duration: 1.000 ms  statement: VACUUM t",
            "",
        )
        .replace("client backend", "autovacuum worker");
        let g = read(&log).unwrap();
        assert_eq!(g.origin, "2026-12-03 10:00:01");
        assert_eq!((g.skipped, g.unfinished), (3, 1));
        let r = &g.records;
        assert_eq!(r.len(), 8, "{r:#?}");
        let ms = |ns: Nanos| ns as f64 / 1e6;
        assert_eq!(
            (r[6].class, ms(r[6].hold_ns)),
            (QueryClass::Transaction, 4.0)
        );
        assert_eq!(r[6].pattern_hash, pattern_hash("UPDATE t SET x = 1"));
        assert_eq!(r[7].class, QueryClass::Transaction);
        assert!(
            (ms(r[7].hold_ns) - 201.0).abs() < 1e-9,
            "{}",
            ms(r[7].hold_ns)
        );
        assert_eq!(
            (r[0].class, ms(r[0].arrival_ns), ms(r[0].hold_ns)),
            (QueryClass::Read, 3.0, 2.0)
        );
        assert_eq!(
            r[0].pattern_hash,
            pattern_hash("SELECT * FROM t WHERE id = 9")
        );
        // Parse, bind and execute: 1 + 0.5 + 3 ms of server time, ending at 02.010.
        assert_eq!(
            (r[1].class, ms(r[1].arrival_ns), ms(r[1].hold_ns)),
            (QueryClass::Write, 1005.5, 4.5)
        );
        assert_eq!(r[2].class, QueryClass::Transaction);
        assert!(
            (ms(r[2].hold_ns) - 50.1).abs() < 1e-9,
            "{}",
            ms(r[2].hold_ns)
        );
        assert_eq!(
            r[2].pattern_hash,
            pattern_hash("UPDATE t SET x = 3 WHERE id = 1")
        );
        assert_eq!(r[2].outcome, Outcome::Ok);
        assert_eq!(r[3].class, QueryClass::Transaction);
        assert_eq!(r[3].outcome, Outcome::Error(ErrorCategory::Transaction));
        // log_duration: BEGIN's start is its duration line's time minus 0.1 ms.
        assert!(
            (ms(r[3].arrival_ns) - 3000.9).abs() < 1e-9,
            "{}",
            ms(r[3].arrival_ns)
        );
        assert_eq!(r[4].outcome, Outcome::Error(ErrorCategory::Query));
        assert_eq!(r[4].hold_ns, 0);
        assert_eq!(
            r[5].class,
            QueryClass::Read,
            "comments and newlines before SELECT"
        );
    }

    /// The first 120 lines of a real PostgreSQL 15.20 csvlog
    /// (`log_min_duration_statement = 0`): the server starting, psql
    /// running statements, a transaction, a syntax error, a failed
    /// transaction and a multi-line query, then the runtime pool's
    /// `pg_service` example (prepared statements: bind + execute).
    #[test]
    fn reads_a_real_postgresql_15_csvlog() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/pg15-csvlog.csv");
        let g = read_pg_csvlogs(&[p]).unwrap();
        assert_eq!(g.origin, "2026-12-03 15:56:06");
        let r = &g.records;
        let count = |f: &dyn Fn(&RequestRecord) -> bool| r.iter().filter(|x| f(x)).count();
        let txns: Vec<_> = r
            .iter()
            .filter(|x| x.class == QueryClass::Transaction)
            .collect();
        assert_eq!(txns.len(), 2, "{r:#?}");
        assert_eq!(txns[0].outcome, Outcome::Ok);
        assert!(txns[0].hold_ns >= 50_000_000, "holds across pg_sleep(0.05)");
        // The duplicate key (23505) fails its transaction as a query error.
        assert_eq!(txns[1].outcome, Outcome::Error(ErrorCategory::Query));
        assert_eq!(
            count(&|x| x.outcome == Outcome::Error(ErrorCategory::Query)),
            2,
            "the syntax error and the failed transaction"
        );
        assert_eq!(count(&|x| x.class == QueryClass::Write), 1);
        let prepared = pattern_hash("SELECT $1::int + 1");
        let reads = count(&|x| x.class == QueryClass::Read && x.pattern_hash == prepared);
        assert!(reads > 30, "{reads} executes of the prepared statement");
        assert!(
            r.iter()
                .filter(|x| x.outcome == Outcome::Ok)
                .all(|x| x.hold_ns > 0)
        );
        assert!(g.skipped >= 6, "server start-up lines: {}", g.skipped);

        // Each session is one client. psql's session (6b119122.67c1) ran
        // the write and both transactions; pg_service's pooled sessions
        // (67c7 to 67ca) ran the prepared reads.
        assert!(r.iter().all(|x| x.client != 0));
        let psql = session_client("6b119122.67c1");
        let write = r.iter().find(|x| x.class == QueryClass::Write).unwrap();
        assert_eq!(write.client, psql);
        assert!(txns.iter().all(|t| t.client == psql), "{txns:?}");
        let mut pooled: Vec<u64> = r
            .iter()
            .filter(|x| x.pattern_hash == prepared)
            .map(|x| x.client)
            .collect();
        pooled.sort_unstable();
        pooled.dedup();
        assert!(pooled.len() >= 2, "{pooled:?}");
        assert!(!pooled.contains(&psql));
        for id in [
            "6b119122.67c7",
            "6b119122.67c8",
            "6b119122.67c9",
            "6b119122.67ca",
        ] {
            assert!(pooled.contains(&session_client(id)), "{id}");
        }
    }

    #[test]
    fn bad_lines_name_the_line_and_field() {
        let good = line(
            "2026-12-03 10:00:01.005 UTC",
            "s1",
            "LOG",
            "00000",
            "duration: 2.000 ms  statement: SELECT 1",
            "",
        );
        let e = read(&format!("{good}a,b,c\n")).unwrap_err().to_string();
        assert!(
            e.contains("postgresql.csv:2") && e.contains("at least 23"),
            "{e}"
        );
        let bad_time = good.replace("2026-12-03 10:00:01.005 UTC", "yesterday");
        let e = read(&format!("{good}{bad_time}")).unwrap_err().to_string();
        assert!(e.contains(":2") && e.contains("log_time"), "{e}");
        let bad_ms = good.replace("2.000 ms", "two ms");
        let e = read(&bad_ms).unwrap_err().to_string();
        assert!(e.contains(":1") && e.contains("duration"), "{e}");
        let far = good.replace("2.000 ms", "99999999999999.000 ms");
        let e = read(&far).unwrap_err().to_string();
        assert!(e.contains("at most a year"), "{e}");
        let future = good.replace("2026-12-03 10:00:01.005", "9999-12-03 10:00:01.005");
        assert!(read(&future).unwrap_err().to_string().contains("log_time"));
        let quiet = line(
            "2026-12-03 10:00:01.005 UTC",
            "s1",
            "LOG",
            "00000",
            "checkpoint starting: time",
            "",
        );
        let e = read(&quiet).unwrap_err().to_string();
        assert!(e.contains("log_min_duration_statement = 0"), "{e}");
    }

    #[test]
    fn times_convert_both_ways() {
        assert_eq!(parse_time("1970-01-01 00:00:00 UTC"), Some(0));
        assert_eq!(
            parse_time("2000-03-01 00:00:00.5 UTC"),
            Some(951_868_800_500_000_000)
        );
        assert_eq!(
            format_epoch_ns(951_868_800_500_000_000),
            "2000-03-01 00:00:00"
        );
        assert_eq!(
            format_epoch_ns(parse_time("2026-12-03 23:59:59 CET").unwrap()),
            "2026-12-03 23:59:59"
        );
        for bad in [
            "2026-13-01 00:00:00 UTC",
            "2026-12-03",
            "2026-12-03 24:00:00 UTC",
            "2026-12-03 10:00:00.1234567890 UTC",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn crafted_times_and_durations_do_not_overflow() {
        let sel = "duration: 1.000 ms statement: SELECT 1";
        // Years far apart: 300 years of arrivals fit the u64 offset.
        let log = read(&format!(
            "{}{}",
            line("1900-01-01 00:00:00.000 UTC", "a", "LOG", "00000", sel, ""),
            line("2200-12-31 23:59:59.999 UTC", "a", "LOG", "00000", sel, "")
        ))
        .unwrap();
        assert_eq!(log.records.len(), 2);
        assert!(log.records[1].arrival_ns > 9_000_000_000_000_000_000);
        // Signs, huge fields and years out of range are refused by name.
        for t in [
            "2026-12-03 -1:00:00 UTC",
            "2026-12-03 99999999999999999999:00:00 UTC",
            "1677-09-21 00:12:44 UTC",
            "0001-01-01 00:00:00 UTC",
            "2026-+1-03 10:00:00 UTC",
        ] {
            let e = read(&line(t, "a", "LOG", "00000", sel, ""))
                .unwrap_err()
                .to_string();
            assert!(e.contains("log_time") && e.contains(":1:"), "{t}: {e}");
        }
        // A year-long phase, many times over, then an execute: saturates.
        let mut text = String::new();
        for _ in 0..400 {
            text.push_str(&line(
                "1900-01-01 00:00:00.000 UTC",
                "b",
                "LOG",
                "00000",
                "duration: 31536000000 ms parse s1: SELECT 1",
                "",
            ));
        }
        text.push_str(&line(
            "1900-01-01 00:00:00.000 UTC",
            "b",
            "LOG",
            "00000",
            "duration: 31536000000 ms execute s1: SELECT 1",
            "",
        ));
        let log = read(&text).unwrap();
        assert_eq!(log.records.len(), 1);
    }

    #[test]
    fn errors_never_echo_statement_text() {
        let e = read(&line(
            "2026-12-03 10:00:00.000 UTC",
            "a",
            "LOG",
            "00000",
            "duration: lots statement: SELECT secret_column FROM secret_table",
            "",
        ))
        .unwrap_err()
        .to_string();
        assert!(!e.contains("secret"), "{e}");
        let e = read("2026-12-03 10:00:00 UTC,\"SELECT secret_column\n")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn a_line_without_end_is_refused_not_buffered() {
        let mut r = LineBounded::new(std::io::Cursor::new(vec![b'x'; 10_000]), 4096);
        let mut sink = Vec::new();
        let e = std::io::Read::read_to_end(&mut r, &mut sink).unwrap_err();
        assert!(e.to_string().contains("not a log"), "{e}");
        let mut ok = LineBounded::new(std::io::Cursor::new(b"ab\ncd\n".repeat(5000)), 16);
        assert!(std::io::Read::read_to_end(&mut ok, &mut sink).is_ok());
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn sample() -> String {
            [
                line(
                    "2026-12-03 10:00:00.100 UTC",
                    "s1",
                    "LOG",
                    "00000",
                    "statement: BEGIN",
                    "",
                ),
                line(
                    "2026-12-03 10:00:00.105 UTC",
                    "s1",
                    "LOG",
                    "00000",
                    "duration: 0.210 ms",
                    "",
                ),
                line(
                    "2026-12-03 10:00:00.110 UTC",
                    "s2",
                    "LOG",
                    "00000",
                    "duration: 1.500 ms statement: SELECT * FROM t WHERE id = 7",
                    "",
                ),
                line(
                    "2026-12-03 10:00:00.120 UTC",
                    "s3",
                    "LOG",
                    "00000",
                    "duration: 0.050 ms parse s: UPDATE t SET v = $1",
                    "",
                ),
                line(
                    "2026-12-03 10:00:00.121 UTC",
                    "s3",
                    "LOG",
                    "00000",
                    "duration: 0.900 ms execute s: UPDATE t SET v = $1",
                    "",
                ),
                line(
                    "2026-12-03 10:00:00.130 UTC",
                    "s4",
                    "ERROR",
                    "23505",
                    "duplicate key value violates unique constraint",
                    "INSERT INTO t VALUES (1)",
                ),
                line(
                    "2026-12-03 10:00:00.140 UTC",
                    "s1",
                    "LOG",
                    "00000",
                    "statement: COMMIT",
                    "",
                ),
            ]
            .concat()
        }

        /// `Ok`, or an error naming the file and a line; never a panic.
        fn reads_or_names_a_line(bytes: &[u8]) -> std::result::Result<(), TestCaseError> {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("postgresql.csv");
            std::fs::write(&p, bytes).unwrap();
            if let Err(e) = read_pg_csvlogs(std::slice::from_ref(&p)) {
                let e = e.to_string();
                prop_assert!(e.contains("postgresql.csv"), "{e}");
            }
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
                reads_or_names_a_line(&bytes)?;
            }

            /// The sample with one byte replaced, dropped or repeated, or
            /// cut short: the time fields, durations and quotes all get hit.
            #[test]
            fn mutated_and_truncated_real_lines(
                at in any::<prop::sample::Index>(),
                byte in prop_oneof![Just(b'-'), Just(b'9'), Just(b'"'), Just(b','), Just(b'\n'), any::<u8>()],
                how in 0u8..4,
            ) {
                let mut b = sample().into_bytes();
                let i = at.index(b.len());
                match how {
                    0 => b[i] = byte,
                    1 => { b.remove(i); }
                    2 => b.insert(i, byte),
                    _ => b.truncate(i),
                }
                reads_or_names_a_line(&b)?;
            }

            /// Numbers of any size where the log has times and durations.
            #[test]
            fn crafted_numbers(
                y in any::<u32>(), h in any::<i64>(), ms in any::<f64>(), n in 1usize..50,
            ) {
                let t = format!("{:04}-12-03 {h}:00:00.000 UTC", y % 10_000);
                let msg = format!("duration: {ms} ms parse p: SELECT 1");
                let mut text = line(&t, "s", "LOG", "00000", &msg, "").repeat(n);
                text.push_str(&line(
                    "2026-12-03 10:00:00.000 UTC", "s", "LOG", "00000",
                    "duration: 1 ms execute p: SELECT 1", "",
                ));
                reads_or_names_a_line(text.as_bytes())?;
            }
        }
    }
}
