//! OpenTelemetry exports in OTLP/JSON: database client spans as requests
//! ([`spans`], read through [`crate::read_logs`]) and the connection-pool
//! metrics (`db.client.connection.*`) as snapshots ([`metrics`]).

pub mod metrics;
pub(crate) mod model;
pub(crate) mod spans;

/// What an OTLP/JSON line holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpKind {
    /// `{"resourceSpans": ...}`.
    Traces,
    /// `{"resourceMetrics": ...}`.
    Metrics,
    /// `{"resourceLogs": ...}`.
    Logs,
}

/// The kind of OTLP/JSON export `line` (a file's first line) is, if it is
/// one: its first key.
pub fn otlp_kind(line: &str) -> Option<OtlpKind> {
    let rest = line.trim_start().strip_prefix('{')?.trim_start();
    [
        ("\"resourceSpans\"", OtlpKind::Traces),
        ("\"resourceMetrics\"", OtlpKind::Metrics),
        ("\"resourceLogs\"", OtlpKind::Logs),
    ]
    .into_iter()
    .find(|(k, _)| rest.starts_with(k))
    .map(|(_, kind)| kind)
}

/// `message` with its quoted parts left out: serde's messages quote the
/// value they could not read, which may be statement text.
pub(crate) fn redact(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        if c == '"' {
            if !quoted {
                out.push_str("\"…\"");
            }
            quoted = !quoted;
        } else if !quoted {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_redaction() {
        assert_eq!(otlp_kind(r#"{"resourceSpans":[]}"#), Some(OtlpKind::Traces));
        assert_eq!(
            otlp_kind(r#" { "resourceMetrics": []}"#),
            Some(OtlpKind::Metrics)
        );
        assert_eq!(otlp_kind(r#"{"timestamp":"x"}"#), None);
        assert_eq!(
            redact(r#"invalid type: string "SELECT secret", expected u64 at line 1"#),
            "invalid type: string \"…\", expected u64 at line 1"
        );
    }
}
