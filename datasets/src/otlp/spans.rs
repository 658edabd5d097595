//! OpenTelemetry database client spans in OTLP/JSON, one
//! `ExportTraceServiceRequest` per line (the Collector's `file` exporter,
//! or an SDK's OTLP/HTTP JSON body written as received).
//!
//! A span is a query when it is a client span (`kind` 3) of PostgreSQL
//! (`db.system.name` or the older `db.system` = `postgresql`) that names
//! its statement (`db.query.text`, older `db.statement`) or at least its
//! operation (`db.query.summary`, `db.operation.name`, older
//! `db.operation`). Connection spans (`pg.connect`, a pool's `connect`)
//! name neither and are skipped, as are other spans.
//!
//! Each query is one statement seen from the client: arrival at the span's
//! start, hold from start to end (round trips included, which a server's
//! log leaves out). Statements go through the same rules as a server log's
//! lines (`crate::pglog`): `BEGIN` … `COMMIT` spans under one parent span
//! fold into one transaction; classes, patterns and SQLSTATE categories are
//! the log's. A span with error status is an error, of the category of the
//! SQLSTATE found in `db.response.status_code`, `error.type`, or the status
//! or exception message (`code: 22012`, `SQLSTATE 22012`); a query error
//! when none is.
//!
//! The client (the chain a closed-loop replay keeps) is the trace: a
//! request's queries run one after another. A span with no parent is its
//! own session.

use std::path::Path;

use poolcast::core::sqlstate::classify_sqlstate;
use poolcast::core::telemetry::{Outcome, client_id};

use super::model::{SPAN_KIND_CLIENT, STATUS_CODE_ERROR, Span, TracesData, attr_str};
use super::redact;
use crate::error::{DatasetError, Result};
use crate::pglog::{Folder, MAX_EPOCH_NS, for_each_line};

/// Which naming conventions a file's query spans used.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Conventions {
    /// Spans with `db.system.name` / `db.query.text` (current).
    pub(crate) current: u64,
    /// Spans with `db.system` / `db.statement` (before 1.26).
    pub(crate) older: u64,
}

impl Conventions {
    /// How a reader describes them.
    pub(crate) fn describe(&self) -> String {
        match (self.current > 0, self.older > 0) {
            (true, true) => "current and older database conventions".to_string(),
            (true, false) => {
                "current database conventions (db.system.name, db.query.text)".to_string()
            }
            (false, true) => "older database conventions (db.system, db.statement)".to_string(),
            (false, false) => "no PostgreSQL client span".to_string(),
        }
    }
}

/// Folds the query spans of `path` into `fold`.
pub(crate) fn read(path: &Path, fold: &mut Folder<'_>) -> Result<Conventions> {
    let mut seen = Conventions::default();
    for_each_line(path, |n, text| {
        let data: TracesData = serde_json::from_str(text).map_err(|e| {
            DatasetError::line(
                path,
                n,
                format!(
                    "expected an OTLP/JSON traces object (an ExportTraceServiceRequest per \
                     line): {}",
                    redact(&e.to_string())
                ),
            )
        })?;
        let mut queries = Vec::new();
        for rs in &data.resource_spans {
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    match query(span) {
                        Some(q) => queries.push(q),
                        None => fold.skip(),
                    }
                }
            }
        }
        // In the file's order, which is the order a process's spans ended
        // (exporters batch them as they end), as a log writes them; their
        // times cannot say it when an SDK rounds starts to the millisecond.
        for q in queries {
            let (start, end) = times(path, n, q.span)?;
            if q.current {
                seen.current += 1;
            } else {
                seen.older += 1;
            }
            let span = q.span;
            let session = if span.parent_span_id.is_empty() {
                &span.trace_id
            } else {
                &span.parent_span_id
            };
            fold.statement(
                session,
                client_id(&span.trace_id),
                (start, end),
                q.sql,
                outcome(span),
            );
        }
        Ok(())
    })?;
    Ok(seen)
}

/// A query span and its statement.
struct Query<'a> {
    span: &'a Span,
    sql: &'a str,
    /// Named with the current conventions.
    current: bool,
}

/// `span` as a query, or `None` when it is not one.
fn query(span: &Span) -> Option<Query<'_>> {
    if span.kind != SPAN_KIND_CLIENT {
        return None;
    }
    let a = &span.attributes;
    let current = match (
        attr_str(a, &["db.system.name"]),
        attr_str(a, &["db.system"]),
    ) {
        (Some(s), _) => s == "postgresql" || s == "postgres",
        (None, Some(s)) if s == "postgresql" || s == "postgres" => false,
        _ => return None,
    };
    let sql = attr_str(
        a,
        &[
            "db.query.text",
            "db.statement",
            "db.query.summary",
            "db.operation.name",
            "db.operation",
        ],
    )?;
    Some(Query {
        span,
        sql,
        current: current || attr_str(a, &["db.query.text"]).is_some(),
    })
}

/// The span's start and end (epoch ns), checked to be times a log can have.
fn times(path: &Path, line: u64, span: &Span) -> Result<(i64, i64)> {
    let check = |field: &str, v: u64| {
        i64::try_from(v)
            .ok()
            .filter(|v| *v <= MAX_EPOCH_NS)
            .ok_or_else(|| {
                DatasetError::line(
                    path,
                    line,
                    format!(
                        "field `{field}`: expected ns since 1970 before the year 2200, found {v}"
                    ),
                )
            })
    };
    Ok((
        check("startTimeUnixNano", span.start_time_unix_nano)?,
        check("endTimeUnixNano", span.end_time_unix_nano)?,
    ))
}

/// The outcome of a query span: an error when its status says so.
fn outcome(span: &Span) -> Outcome {
    if span.status.code != STATUS_CODE_ERROR {
        return Outcome::Ok;
    }
    let state = sqlstate(span).unwrap_or_default();
    Outcome::Error(classify_sqlstate(&state).category)
}

/// The SQLSTATE of a failed query span, wherever the instrumentation put it.
fn sqlstate(span: &Span) -> Option<String> {
    let a = &span.attributes;
    if let Some(s) =
        attr_str(a, &["db.response.status_code", "error.type"]).filter(|s| is_sqlstate(s))
    {
        return Some(s.to_string());
    }
    let messages = std::iter::once(span.status.message.as_str()).chain(
        span.events
            .iter()
            .filter(|e| e.name == "exception")
            .filter_map(|e| attr_str(&e.attributes, &["exception.message"])),
    );
    for m in messages {
        if let Some(s) = sqlstate_in(m) {
            return Some(s.to_string());
        }
    }
    None
}

/// Five digits or capitals: the form of a SQLSTATE.
fn is_sqlstate(s: &str) -> bool {
    s.len() == 5
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
}

/// The SQLSTATE a message quotes after `code` or `SQLSTATE` (`code:
/// 22012`, `SQLSTATE 22012`, `SQLSTATE[22012]`).
fn sqlstate_in(message: &str) -> Option<&str> {
    for key in ["SQLSTATE", "code"] {
        let mut rest = message;
        while let Some(i) = rest.find(key) {
            let after = &rest[i + key.len()..];
            let token = after.trim_start_matches([' ', ':', '=', '[', '(', '"', '\'']);
            if let Some(t) = token.get(..5)
                && is_sqlstate(t)
                && token[5..]
                    .chars()
                    .next()
                    .is_none_or(|c| !c.is_ascii_alphanumeric())
            {
                return Some(t);
            }
            rest = after;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_are_found_where_instrumentations_put_them() {
        assert_eq!(
            sqlstate_in("PostgreSQL error of type 'error' occurred (code: 22012)"),
            Some("22012")
        );
        assert_eq!(sqlstate_in("ERROR: bad (SQLSTATE 42703)"), Some("42703"));
        assert_eq!(
            sqlstate_in("SQLSTATE[23505]: Unique violation"),
            Some("23505")
        );
        assert_eq!(sqlstate_in("code: 123456"), None);
        assert_eq!(sqlstate_in("no code here"), None);
        assert_eq!(sqlstate_in("code"), None);
    }
}
