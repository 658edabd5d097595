//! Which form of PostgreSQL's log a file is in, from its first lines.

use std::io::BufRead;
use std::path::Path;

use super::{LogFormat, open_bounded, parse_time};
use crate::error::{DatasetError, Result};

/// Up to `n` first lines of `path` (each at most 64 KiB read).
pub(super) fn first_lines(path: &Path, n: usize) -> Result<Vec<String>> {
    let mut reader = open_bounded(path)?;
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while out.len() < n {
        buf.clear();
        let read = std::io::Read::take(&mut reader, 64 << 10)
            .read_until(b'\n', &mut buf)
            .map_err(|e| DatasetError::line(path, out.len() as u64 + 1, e.to_string()))?;
        if read == 0 {
            break;
        }
        out.push(
            String::from_utf8_lossy(&buf)
                .trim_end_matches(['\n', '\r'])
                .to_string(),
        );
    }
    Ok(out)
}

/// The form of `path`: OTLP spans when its first line is an OTLP/JSON
/// traces export, jsonlog when it is another JSON object, csvlog
/// when it is a CSV record of at least 23 fields starting with a time,
/// stderr otherwise (its prefix found when it is read).
pub(super) fn format_of(path: &Path) -> Result<LogFormat> {
    let lines = first_lines(path, 1)?;
    let Some(first) = lines.first() else {
        return Ok(LogFormat::Csv);
    };
    match crate::otlp::otlp_kind(first) {
        Some(crate::otlp::OtlpKind::Traces) => return Ok(LogFormat::OtlpSpans),
        Some(kind) => {
            return Err(DatasetError::line(
                path,
                1,
                format!(
                    "an OTLP/JSON {} export, which holds no requests: give a traces export \
                     (`resourceSpans`) here{}",
                    if kind == crate::otlp::OtlpKind::Metrics {
                        "metrics"
                    } else {
                        "logs"
                    },
                    if kind == crate::otlp::OtlpKind::Metrics {
                        ", and the metrics to `poolcast train`"
                    } else {
                        ""
                    }
                ),
            ));
        }
        None => {}
    }
    if first.trim_start().starts_with('{') {
        return Ok(LogFormat::Json);
    }
    // The first record, not the first line: a csvlog record with a
    // multi-line statement spans lines.
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(std::io::Read::take(open_bounded(path)?, 1 << 20));
    let mut rec = csv::StringRecord::new();
    if r.read_record(&mut rec).unwrap_or(false)
        && rec.len() >= super::csvlog::MIN_FIELDS
        && parse_time(&rec[0]).is_some()
    {
        return Ok(LogFormat::Csv);
    }
    Ok(LogFormat::Stderr(None))
}
