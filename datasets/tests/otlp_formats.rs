//! OpenTelemetry exports written by a real SDK (the JavaScript SDK with
//! instrumentation-pg against PostgreSQL 15; `tests/data/otlp/README.md`):
//! database client spans read as requests, with both naming conventions,
//! and the connection-pool metrics read as snapshots.

use std::collections::BTreeMap;
use std::path::PathBuf;

use poolcast::core::telemetry::{ErrorCategory, Outcome, QueryClass};
use poolcast_datasets::otlp::metrics::read_otlp_metrics;
use poolcast_datasets::{LogFormat, ReadLog, read_logs};

fn sample(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/otlp")
        .join(name)
}

fn read(name: &str) -> ReadLog {
    read_logs(&[sample(name)], &LogFormat::Auto).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn by_class(log: &ReadLog) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for r in &log.records {
        *m.entry(r.class.name()).or_insert(0) += 1;
    }
    m
}

fn errors(log: &ReadLog) -> BTreeMap<(&'static str, &'static str), usize> {
    let mut m = BTreeMap::new();
    for r in &log.records {
        if let Outcome::Error(c) = r.outcome {
            *m.entry((r.class.name(), c.name())).or_insert(0) += 1;
        }
    }
    m
}

fn clients(log: &ReadLog) -> usize {
    let mut c: Vec<u64> = log.records.iter().map(|r| r.client).collect();
    c.sort_unstable();
    c.dedup();
    c.len()
}

#[test]
fn client_spans_of_both_conventions_give_the_same_requests() {
    let old = read("spans-old-semconv.jsonl");
    let new = read("spans-new-semconv.jsonl");
    assert_eq!(
        old.format,
        "OTLP/JSON spans, older database conventions (db.system, db.statement)"
    );
    assert_eq!(
        new.format,
        "OTLP/JSON spans, current database conventions (db.system.name, db.query.text)"
    );
    for log in [&old, &new] {
        // 259 query spans: 121 SELECTs and 30 UPDATEs on their own, and 27
        // BEGIN, UPDATE, INSERT, COMMIT transactions, each one request.
        assert_eq!(
            by_class(log),
            BTreeMap::from([("read", 121), ("transaction", 27), ("write", 30)])
        );
        // 7 divisions by zero (22012) and 3 bad columns (42703), caught by
        // the workload: client errors of the query category.
        assert_eq!(errors(log), BTreeMap::from([(("read", "query"), 10)]));
        // 100 handle-request spans, 178 pool checkouts and 12 new
        // connections are not queries.
        assert_eq!(log.skipped, 290);
        assert_eq!(log.unfinished, 0);
        // Each handle-request trace is one client.
        assert_eq!(clients(log), 100);
        // The SDK starts spans on whole milliseconds.
        assert!(log.records.iter().all(|r| r.arrival_ns % 1_000_000 == 0));
        // A transaction holds its connection from BEGIN to COMMIT, longer
        // than any of its statements alone.
        let txn_mean = mean_hold(log, QueryClass::Transaction);
        assert!(txn_mean > mean_hold(log, QueryClass::Write), "{txn_mean}");
    }
}

fn mean_hold(log: &ReadLog, class: QueryClass) -> f64 {
    let h: Vec<f64> = log
        .records
        .iter()
        .filter(|r| r.class == class)
        .map(|r| r.hold_ns as f64)
        .collect();
    h.iter().sum::<f64>() / h.len() as f64
}

#[test]
fn pinned_requests_keep_the_clients_view() {
    let old = read("spans-old-semconv.jsonl");
    assert_eq!(old.origin, "2026-12-07 13:17:56");
    // The first query: a SELECT by id whose span started at
    // 13:17:56.839 and lasted 3.594798 ms on the client.
    let r = &old.records[0];
    assert_eq!(
        (r.class, r.arrival_ns, r.hold_ns),
        (QueryClass::Read, 839_000_000, 3_594_798)
    );
    // The sixth to end, an UPDATE in the same trace as the fourth.
    let (r4, r6) = (&old.records[3], &old.records[5]);
    assert_eq!(
        (r6.class, r6.arrival_ns, r6.hold_ns),
        (QueryClass::Write, 851_000_000, 9_669_016)
    );
    assert_eq!(r4.client, r6.client);
    assert_ne!(r4.pattern_hash, r6.pattern_hash);
    let new = read("spans-new-semconv.jsonl");
    assert_eq!(new.origin, "2026-12-07 13:17:58");
    let r = &new.records[0];
    assert_eq!(
        (r.class, r.arrival_ns, r.hold_ns),
        (QueryClass::Read, 352_000_000, 7_326_987)
    );
}

#[test]
fn pool_metrics_become_snapshots() {
    let pools = read_otlp_metrics(&sample("metrics.jsonl")).unwrap();
    assert_eq!(pools.len(), 1);
    let p = &pools[0];
    assert_eq!(p.pool, "127.0.0.1:55433/poolcast");
    assert_eq!(
        p.metrics,
        [
            "db.client.connection.count",
            "db.client.connection.max",
            "db.client.connection.pending_requests"
        ]
    );
    // One snapshot per one-second export.
    assert_eq!(p.snapshots.len(), 82);
    assert!(p.snapshots.iter().all(|s| s.interval_ns == 1_000_000_000));
    assert!(p.snapshots.windows(2).all(|w| w[0].t_ns < w[1].t_ns));
    // README: used 0..=4, idle 0..=3, pending 0..=8 (nonzero in 12
    // exports), max 4.
    let busy = p.snapshots.iter().map(|s| s.busy).max();
    let waiting = p.snapshots.iter().map(|s| s.waiting).max();
    assert_eq!((busy, waiting), (Some(4), Some(8)));
    assert_eq!(p.snapshots.iter().filter(|s| s.waiting > 0).count(), 12);
    assert!(
        p.snapshots
            .iter()
            .all(|s| s.size == s.busy + s.idle && s.size <= 4)
    );
    // Arrivals come from db.client.operation.duration's cumulative counts,
    // as deltas: never a cumulative total twice.
    let total: u64 = p
        .snapshots
        .iter()
        .map(|s| s.arrivals.iter().map(|a| u64::from(*a)).sum::<u64>())
        .sum();
    assert!(total > 0);
    let errs: u32 = p
        .snapshots
        .iter()
        .map(|s| s.errors[ErrorCategory::Query.index()])
        .sum();
    assert!(errs > 0 && u64::from(errs) < total);
}

#[test]
fn a_metrics_file_is_not_a_trace() {
    let e = read_logs(&[sample("metrics.jsonl")], &LogFormat::Auto).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("metrics.jsonl") && msg.contains("poolcast train"),
        "{msg}"
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    /// The first line of a sample, as bytes.
    fn first_line(name: &str) -> Vec<u8> {
        let text = std::fs::read_to_string(sample(name)).unwrap();
        format!("{}\n", text.lines().next().unwrap()).into_bytes()
    }

    /// Reading `bytes` as spans (found or named) and as metrics gives `Ok`
    /// or an error naming the file; never a panic.
    fn any_reading(bytes: &[u8]) -> Result<(), TestCaseError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("export.jsonl");
        std::fs::write(&p, bytes).unwrap();
        for f in [LogFormat::Auto, LogFormat::OtlpSpans] {
            if let Err(e) = read_logs(std::slice::from_ref(&p), &f) {
                let e = e.to_string();
                prop_assert!(e.contains("export.jsonl"), "{f:?}: {e}");
            }
        }
        if let Err(e) = read_otlp_metrics(&p) {
            let e = e.to_string();
            prop_assert!(e.contains("export.jsonl"), "metrics: {e}");
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..500)) {
            any_reading(&bytes)?;
        }

        /// A real export line with a byte replaced, dropped or repeated, or
        /// cut short; digits matter most (times, counts).
        #[test]
        fn mutated_real_lines(
            which in 0usize..3,
            at in any::<prop::sample::Index>(),
            byte in prop_oneof![
                Just(b'9'), Just(b'-'), Just(b'"'), Just(b'{'), Just(b'e'), Just(b'\n'), any::<u8>()
            ],
            how in 0u8..4,
        ) {
            let name = ["spans-old-semconv.jsonl", "spans-new-semconv.jsonl", "metrics.jsonl"][which];
            let mut b = first_line(name);
            let i = at.index(b.len());
            match how {
                0 => b[i] = byte,
                1 => { b.remove(i); }
                2 => b.insert(i, byte),
                _ => b.truncate(i),
            }
            any_reading(&b)?;
        }
    }
}

/// Crafted values that a careless reader would overflow on: times past
/// 2262, counts past i64, huge sums.
#[test]
fn crafted_numbers_are_refused_or_read_without_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let spans = dir.path().join("spans.jsonl");
    let span = |start: &str, end: &str| {
        format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"aa","spanId":"bb","kind":3,"startTimeUnixNano":"{start}","endTimeUnixNano":"{end}","attributes":[{{"key":"db.system.name","value":{{"stringValue":"postgresql"}}}},{{"key":"db.query.text","value":{{"stringValue":"SELECT 1"}}}}],"status":{{"code":"STATUS_CODE_ERROR","message":"boom"}}}}]}}]}}]}}"#
        )
    };
    std::fs::write(&spans, span("18446744073709551615", "1")).unwrap();
    let e = read_logs(std::slice::from_ref(&spans), &LogFormat::Auto).unwrap_err();
    assert!(
        e.to_string().contains("spans.jsonl:1") && e.to_string().contains("startTimeUnixNano"),
        "{e}"
    );
    // End before start: a hold of 0, an error of the query category.
    std::fs::write(&spans, span("1796649476929000000", "1")).unwrap();
    let log = read_logs(std::slice::from_ref(&spans), &LogFormat::Auto).unwrap();
    assert_eq!(log.records[0].hold_ns, 0);
    assert_eq!(log.records[0].outcome, Outcome::Error(ErrorCategory::Query));

    let metrics = dir.path().join("metrics.jsonl");
    let line = |t: &str, count: &str| {
        format!(
            r#"{{"resourceMetrics":[{{"scopeMetrics":[{{"metrics":[{{"name":"db.client.connections.usage","sum":{{"aggregationTemporality":2,"dataPoints":[{{"attributes":[{{"key":"state","value":{{"stringValue":"used"}}}},{{"key":"pool.name","value":{{"stringValue":"HikariPool-1"}}}}],"timeUnixNano":"{t}","asInt":"{count}"}}]}}}},{{"name":"db.client.connections.wait_time","unit":"ms","histogram":{{"aggregationTemporality":2,"dataPoints":[{{"attributes":[{{"key":"pool.name","value":{{"stringValue":"HikariPool-1"}}}}],"timeUnixNano":"{t}","count":"{count}","sum":1e308}}]}}}}]}}]}}]}}"#
        )
    };
    std::fs::write(
        &metrics,
        format!(
            "{}\n{}\n",
            line("1000000000", "9223372036854775807"),
            line("2000000000", "5")
        ),
    )
    .unwrap();
    let pools = read_otlp_metrics(&metrics).unwrap();
    assert_eq!(pools[0].pool, "HikariPool-1");
    let s = &pools[0].snapshots;
    assert_eq!(s.len(), 2);
    // Levels and counts saturate at u32; the count going down is a restart.
    assert_eq!((s[0].busy, s[0].acquires), (u32::MAX, u32::MAX));
    assert_eq!((s[1].busy, s[1].acquires), (5, 5));
    assert!(
        s.iter()
            .all(|s| s.acquire_wait_mean_ms.is_none_or(f64::is_finite))
    );
}
