//! PostgreSQL's log in its three forms, read by one set of rules: the same
//! pgbench run logged as csvlog, jsonlog and stderr with the RDS prefix
//! (`tests/data/pg-three-ways`, README there) gives the same requests.

use std::collections::BTreeMap;
use std::path::PathBuf;

use poolcast::core::telemetry::{ErrorCategory, Outcome, QueryClass};
use poolcast_datasets::{LogFormat, ReadLog, read_logs};

fn sample(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/pg-three-ways")
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

fn errors(log: &ReadLog) -> Vec<(QueryClass, ErrorCategory)> {
    log.records
        .iter()
        .filter_map(|r| match r.outcome {
            Outcome::Error(c) => Some((r.class, c)),
            _ => None,
        })
        .collect()
}

fn clients(log: &ReadLog) -> usize {
    let mut c: Vec<u64> = log.records.iter().map(|r| r.client).collect();
    c.sort_unstable();
    c.dedup();
    c.len()
}

#[test]
fn one_run_logged_three_ways_gives_the_same_requests() {
    let csv = read("postgresql.csv");
    let json = read("postgresql.json");
    let err = read("postgresql-rds.log");
    assert_eq!(csv.format, "csvlog");
    assert_eq!(json.format, "jsonlog");
    assert_eq!(
        err.format,
        "stderr, log_line_prefix = \"%t:%r:%u@%d:[%p]:\""
    );

    // 30 + 20 pgbench transactions, each one request; the statements
    // around them; one failed SELECT, one failed transaction.
    let n = csv.records.len();
    assert_eq!(json.records.len(), n);
    assert_eq!(err.records.len(), n);
    assert_eq!(by_class(&json), by_class(&csv));
    assert_eq!(by_class(&err), by_class(&csv));
    assert_eq!(
        by_class(&csv).get("transaction"),
        Some(&51),
        "{:?}",
        by_class(&csv)
    );
    assert_eq!(clients(&json), clients(&csv));
    assert_eq!(clients(&err), clients(&csv));

    // The errors: a SELECT of a missing column (42703) and a transaction
    // whose INSERT failed (22P02). stderr without %e has no SQLSTATE, so
    // its errors count as query errors too.
    let e = errors(&csv);
    assert_eq!(
        e,
        vec![
            (QueryClass::Read, ErrorCategory::Query),
            (QueryClass::Transaction, ErrorCategory::Query)
        ]
    );
    assert_eq!(errors(&json), e);
    assert_eq!(errors(&err), e);

    // A statement's hold is its logged duration, the same in every form;
    // a transaction's spans its lines' times, which stderr's %t gives to
    // the second (as it does arrivals): those agree to that resolution.
    for (i, ((c, j), s)) in csv
        .records
        .iter()
        .zip(&json.records)
        .zip(&err.records)
        .enumerate()
    {
        assert_eq!(c.hold_ns, j.hold_ns, "request {i}");
        if c.class == QueryClass::Transaction {
            assert!(
                c.hold_ns.abs_diff(s.hold_ns) <= 1_000_000_000,
                "request {i}"
            );
        } else {
            assert_eq!(c.hold_ns, s.hold_ns, "request {i}");
        }
        assert_eq!(c.pattern_hash, s.pattern_hash, "request {i}");
        assert_eq!(c.arrival_ns, j.arrival_ns, "request {i}");
        assert!(
            c.arrival_ns.abs_diff(s.arrival_ns) <= 1_000_000_000,
            "request {i}: {} and {}",
            c.arrival_ns,
            s.arrival_ns
        );
    }
}

#[test]
fn a_multi_line_statement_reads_whole_in_every_form() {
    // `SELECT abalance\n  FROM pgbench_accounts\n WHERE aid = 3;` from psql.
    for name in ["postgresql.csv", "postgresql.json", "postgresql-rds.log"] {
        let log = read(name);
        let want = poolcast::core::affinity::pattern_hash(
            "SELECT abalance\n  FROM pgbench_accounts\n WHERE aid = 3;",
        );
        assert!(
            log.records.iter().any(|r| r.pattern_hash == want),
            "{name}: the multi-line SELECT is missing or cut"
        );
    }
}

#[test]
fn a_given_prefix_is_used_and_a_wrong_one_names_the_line() {
    let p = sample("postgresql-rds.log");
    let log = read_logs(
        std::slice::from_ref(&p),
        &LogFormat::Stderr(Some("%t:%r:%u@%d:[%p]:".into())),
    )
    .unwrap();
    assert_eq!(log.records.len(), read("postgresql.csv").records.len());
    let e = read_logs(&[p], &LogFormat::Stderr(Some("%m [%p] ".into())))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("postgresql-rds.log:1") && e.contains("log_line_prefix"),
        "{e}"
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    /// The first lines of a sample, as bytes.
    fn head(name: &str, lines: usize) -> Vec<u8> {
        let text = std::fs::read_to_string(sample(name)).unwrap();
        text.lines()
            .take(lines)
            .map(|l| format!("{l}\n"))
            .collect::<String>()
            .into_bytes()
    }

    /// Every reading of `bytes` gives `Ok` or an error naming the file;
    /// never a panic.
    fn any_reading(bytes: &[u8]) -> Result<(), TestCaseError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("server.log");
        std::fs::write(&p, bytes).unwrap();
        for f in [
            LogFormat::Auto,
            LogFormat::Csv,
            LogFormat::Json,
            LogFormat::Stderr(None),
            LogFormat::Stderr(Some("%t:%r:%u@%d:[%p]:".into())),
            LogFormat::Stderr(Some("%m [%p] %q%u@%d %e ".into())),
        ] {
            if let Err(e) = read_logs(std::slice::from_ref(&p), &f) {
                let e = e.to_string();
                prop_assert!(e.contains("server.log"), "{f:?}: {e}");
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..500)) {
            any_reading(&bytes)?;
        }

        /// Real lines of each form with a byte replaced, dropped or
        /// repeated, or cut short.
        #[test]
        fn mutated_real_lines(
            which in 0usize..3,
            at in any::<prop::sample::Index>(),
            byte in prop_oneof![
                Just(b'\t'), Just(b'\n'), Just(b':'), Just(b'"'), Just(b'{'), Just(b'9'), any::<u8>()
            ],
            how in 0u8..4,
        ) {
            let name = ["postgresql.csv", "postgresql.json", "postgresql-rds.log"][which];
            let mut b = head(name, 12);
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

#[test]
fn unknown_escapes_and_prefixes_without_a_time_are_refused() {
    use poolcast_datasets::pglog::stderr::Prefix;
    assert!(Prefix::new("%z ").unwrap_err().contains("%z"));
    assert!(Prefix::new("[%p] ").unwrap_err().contains("%t or %m"));
    assert!(Prefix::new("%m [%p] %q%u@%d ").is_ok());
}
