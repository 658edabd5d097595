//! `log_destination = 'jsonlog'` (PostgreSQL 15+): one JSON object per
//! line, keys as in PostgreSQL's `elog.c` (`timestamp`, `session_id`,
//! `error_severity`, `state_code`, `message`, `statement`,
//! `backend_type`, ...). A multi-line statement is escaped inside its line.

use std::path::Path;

use serde::Deserialize;

use super::{Event, Folder, bad_time, for_each_line, parse_time};
use crate::error::{DatasetError, Result};

/// The keys the reader uses; the others are ignored.
#[derive(Deserialize)]
struct Line {
    timestamp: String,
    #[serde(default)]
    session_id: String,
    #[serde(default)]
    pid: Option<u64>,
    error_severity: String,
    #[serde(default)]
    state_code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    statement: String,
    #[serde(default)]
    backend_type: String,
}

/// Folds the jsonlog `path` into `fold`.
pub(super) fn read(path: &Path, fold: &mut Folder<'_>) -> Result<()> {
    for_each_line(path, |n, text| {
        // serde_json's message names the position, never the text.
        let l: Line = serde_json::from_str(text).map_err(|e| {
            DatasetError::line(
                path,
                n,
                format!("expected a jsonlog object (log_destination = 'jsonlog'): {e}"),
            )
        })?;
        let time = parse_time(&l.timestamp)
            .ok_or_else(|| bad_time(path, n, "field `timestamp`", &l.timestamp))?;
        let pid;
        let session = if l.session_id.is_empty() {
            pid = l.pid.map_or(String::new(), |p| p.to_string());
            pid.as_str()
        } else {
            l.session_id.as_str()
        };
        fold.event(
            path,
            &Event {
                line: n,
                time,
                session,
                severity: &l.error_severity,
                sqlstate: &l.state_code,
                message: &l.message,
                query: &l.statement,
                client_backend: l.backend_type.is_empty() || l.backend_type == "client backend",
            },
        )
    })
}
