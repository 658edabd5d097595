//! Reads the runtime pool's trace recorder files
//! (`poolcast::runtime::TraceRecorder`): `requests-*.csv` into
//! [`RequestRecord`]s and `snapshots-*.jsonl` into [`Snapshot`]s, so that
//! production traces feed the same pipeline as simulated telemetry.
//!
//! The request CSV header is
//! `arrival_ns,class,pattern_hash,acquire_wait_ns,hold_ns,outcome,category`
//! with names as in the Parquet telemetry (`read`, `ok`, `connection`, ...).

use std::io::{BufRead, BufReader};
use std::path::Path;

use poolcast::core::telemetry::Outcome;
use poolcast::core::{RequestRecord, Snapshot};

use crate::error::{DatasetError, Result};
use crate::schema::{category_from_name, class_from_name, outcome_code_from_name};

/// The header line of a recorder request file.
pub use poolcast::core::telemetry::REQUEST_CSV_HEADER as RECORDER_HEADER;

fn open(path: &Path) -> Result<BufReader<std::fs::File>> {
    std::fs::File::open(path)
        .map(BufReader::new)
        .map_err(|source| DatasetError::Io {
            path: path.to_path_buf(),
            action: "open for reading",
            source,
        })
}

fn line_err(path: &Path, line: u64, message: impl Into<String>) -> DatasetError {
    DatasetError::Line {
        path: path.to_path_buf(),
        line,
        message: message.into(),
    }
}

/// Reads a recorder `requests-*.csv` file.
///
/// # Errors
/// [`DatasetError::Io`] when it cannot be read; [`DatasetError::Line`]
/// naming the line and field for a wrong header, a missing field, a number
/// that does not parse or an unknown class, outcome or category.
pub fn read_recorder_requests(path: impl AsRef<Path>) -> Result<Vec<RequestRecord>> {
    let path = path.as_ref();
    let mut out = Vec::new();
    for (i, line) in open(path)?.lines().enumerate() {
        let n = i as u64 + 1;
        let line = line.map_err(|source| DatasetError::Io {
            path: path.to_path_buf(),
            action: "read",
            source,
        })?;
        if n == 1 {
            if line.trim_end() != RECORDER_HEADER {
                return Err(line_err(
                    path,
                    n,
                    format!("expected the header `{RECORDER_HEADER}`"),
                ));
            }
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 7 {
            return Err(line_err(
                path,
                n,
                format!("expected 7 comma-separated fields, found {}", f.len()),
            ));
        }
        let num = |k: usize, name: &str| {
            f[k].parse::<u64>().map_err(|_| {
                line_err(
                    path,
                    n,
                    format!(
                        "field `{name}`: expected an unsigned integer, found {:?}",
                        f[k]
                    ),
                )
            })
        };
        let class = class_from_name(f[1]).ok_or_else(|| {
            line_err(
                path,
                n,
                format!("field `class`: unknown query class {:?}", f[1]),
            )
        })?;
        let code = outcome_code_from_name(f[5]).ok_or_else(|| {
            line_err(
                path,
                n,
                format!("field `outcome`: unknown outcome {:?}", f[5]),
            )
        })?;
        let category = if f[6].is_empty() {
            None
        } else {
            Some(category_from_name(f[6]).ok_or_else(|| {
                line_err(
                    path,
                    n,
                    format!("field `category`: unknown category {:?}", f[6]),
                )
            })?)
        };
        let outcome = Outcome::from_parts(code, category).ok_or_else(|| {
            line_err(
                path,
                n,
                format!(
                    "outcome {:?} with category {:?} is not a valid combination",
                    f[5], f[6]
                ),
            )
        })?;
        out.push(RequestRecord {
            arrival_ns: num(0, "arrival_ns")?,
            class,
            pattern_hash: num(2, "pattern_hash")?,
            acquire_wait_ns: num(3, "acquire_wait_ns")?,
            hold_ns: num(4, "hold_ns")?,
            outcome,
        });
    }
    Ok(out)
}

/// Reads a recorder `snapshots-*.jsonl` file (one JSON snapshot per line).
///
/// # Errors
/// [`DatasetError::Io`] when it cannot be read; [`DatasetError::Line`]
/// with the JSON error (which names the field) for a bad line.
pub fn read_recorder_snapshots(path: impl AsRef<Path>) -> Result<Vec<Snapshot>> {
    let path = path.as_ref();
    let mut out = Vec::new();
    for (i, line) in open(path)?.lines().enumerate() {
        let n = i as u64 + 1;
        let line = line.map_err(|source| DatasetError::Io {
            path: path.to_path_buf(),
            action: "read",
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let s: Snapshot = serde_json::from_str(&line)
            .map_err(|e| line_err(path, n, format!("expected a JSON snapshot: {e}")))?;
        out.push(s);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use poolcast::core::telemetry::{ErrorCategory, QueryClass};

    #[test]
    fn reads_requests_and_names_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("requests-000001.csv");
        std::fs::write(
            &p,
            format!("{RECORDER_HEADER}\n5,read,77,10,2000,ok,\n9,write,0,0,0,error,timeout\n\n"),
        )
        .unwrap();
        let r = read_recorder_requests(&p).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].class, QueryClass::Read);
        assert_eq!(r[0].pattern_hash, 77);
        assert_eq!(r[1].outcome, Outcome::Error(ErrorCategory::Timeout));

        std::fs::write(&p, format!("{RECORDER_HEADER}\n5,read,77,x,2000,ok,\n")).unwrap();
        let e = read_recorder_requests(&p).unwrap_err().to_string();
        assert!(
            e.contains("requests-000001.csv:2") && e.contains("acquire_wait_ns"),
            "{e}"
        );
        std::fs::write(&p, format!("{RECORDER_HEADER}\n5,reed,77,1,2000,ok,\n")).unwrap();
        let e = read_recorder_requests(&p).unwrap_err().to_string();
        assert!(e.contains(":2") && e.contains("class"), "{e}");
        std::fs::write(&p, "a,b\n").unwrap();
        assert!(
            read_recorder_requests(&p)
                .unwrap_err()
                .to_string()
                .contains(":1")
        );
    }

    #[test]
    fn reads_snapshots_and_names_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("snapshots-000001.jsonl");
        let s = Snapshot {
            t_ns: 5,
            size: 3,
            ..Snapshot::default()
        };
        let line = serde_json::to_string(&s).unwrap();
        std::fs::write(&p, format!("{line}\n{line}\n")).unwrap();
        assert_eq!(read_recorder_snapshots(&p).unwrap(), vec![s.clone(), s]);
        std::fs::write(&p, format!("{line}\n{{\"t_ns\": \"x\"}}\n")).unwrap();
        let e = read_recorder_snapshots(&p).unwrap_err().to_string();
        assert!(e.contains("snapshots-000001.jsonl:2"), "{e}");
    }
}
