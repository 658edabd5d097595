//! `log_destination = 'csvlog'`: one CSV record per entry, with the
//! session, severity, SQLSTATE, message and failed statement in fields of
//! their own.

use std::path::Path;

use super::{Event, Folder, bad_time, open_bounded, parse_time};
use crate::error::{DatasetError, Result};

/// Columns of a csvlog line that the reader uses (0-based). Their
/// positions are the same from PostgreSQL 9.0 to 17; 13 and later append
/// `backend_type`, 14 and later `leader_pid` and `query_id`.
const LOG_TIME: usize = 0;
const SESSION_ID: usize = 5;
const SEVERITY: usize = 11;
const SQLSTATE: usize = 12;
const MESSAGE: usize = 13;
const QUERY: usize = 19;
/// `backend_type`, from PostgreSQL 13 on.
const BACKEND_TYPE: usize = 23;
/// Fields of a csvlog line in PostgreSQL 12 and earlier; later versions
/// have more.
pub(super) const MIN_FIELDS: usize = 23;

/// Folds the csvlog `path` into `fold`.
pub(super) fn read(path: &Path, fold: &mut Folder<'_>) -> Result<()> {
    // A file with no newline (not a log at all) must not be read into one
    // record of unbounded size.
    let file = open_bounded(path)?;
    // A library rather than splitting lines: csvlog quotes fields that
    // hold commas, quotes and newlines (a multi-line statement is one
    // record over several lines).
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(file);
    let mut rec = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                // The csv error may quote the record: say what is wrong,
                // not what the line held (it may hold statement text).
                let what = match e.kind() {
                    csv::ErrorKind::Io(io) => io.to_string(),
                    csv::ErrorKind::Utf8 { .. } => "a field is not UTF-8".to_string(),
                    _ => "a malformed CSV record".to_string(),
                };
                return Err(DatasetError::line(
                    path,
                    line,
                    format!("not a csvlog line: {what}"),
                ));
            }
        }
        // Where the record starts: a multi-line statement spans lines.
        let line = rec.position().map_or(0, csv::Position::line);
        if rec.len() < MIN_FIELDS {
            return Err(DatasetError::line(
                path,
                line,
                format!(
                    "expected at least {MIN_FIELDS} comma-separated csvlog fields \
                     (log_destination = 'csvlog'), found {}",
                    rec.len()
                ),
            ));
        }
        let time = parse_time(&rec[LOG_TIME])
            .ok_or_else(|| bad_time(path, line, "field `log_time`", &rec[LOG_TIME]))?;
        fold.event(
            path,
            &Event {
                line,
                time,
                session: &rec[SESSION_ID],
                severity: &rec[SEVERITY],
                sqlstate: &rec[SQLSTATE],
                message: &rec[MESSAGE],
                query: &rec[QUERY],
                // PostgreSQL 13+ names the process: only client backends
                // run a pool's statements (not autovacuum, walwriter, ...).
                client_backend: rec
                    .get(BACKEND_TYPE)
                    .is_none_or(|b| b.is_empty() || b == "client backend"),
            },
        )?;
    }
}
