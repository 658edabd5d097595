//! Conservation under chaos: every failure category, an outage, a
//! degradation, spikes, acquire timeouts, breakers and a reactive policy.
//! Arrivals = completions + errors + rejections + in flight, and the
//! snapshots, the summary and the request records all tell the same story.

mod common;

use std::collections::BTreeMap;

use poolcast::core::{ErrorCategory, NANOS_PER_MS, NANOS_PER_SEC, Outcome, QueryClass, Snapshot};
use poolcast_sim::{MemorySink, Summary};

const OUTAGE_START_S: u64 = 100;
const OUTAGE_END_S: u64 = 130;
const ACQUIRE_TIMEOUT_MS: u64 = 100;
const STATEMENT_TIMEOUT_MS: u64 = 250;
const DURATION_S: u64 = 600;

/// Shared by both scenarios; `{name}`, `{policy}` and `{extra}` vary.
fn chaos_toml(name: &str, policy: &str, record: bool, extra: &str) -> String {
    format!(
        r#"
seed = 7

[[scenario]]
name = "{name}"
duration_s = {DURATION_S}
interval_s = 1.0
record_requests = {record}
classes = [
  {{ class = "read", share = 0.6, service = {{ kind = "exponential", mean_ms = 20.0 }} }},
  {{ class = "write", share = 0.25, service = {{ kind = "exponential", mean_ms = 30.0 }} }},
  {{ class = "transaction", share = 0.15, statements = 3, think_ms = {{ kind = "exponential", mean_ms = 5.0 }}, service = {{ kind = "exponential", mean_ms = 10.0 }} }},
]

[scenario.load]
base_rate = 150.0
patterns = [
  {{ kind = "spike", start_s = 250, duration_s = 60, multiplier = 3.0, rise_s = 5, fall_s = 5 }},
  {{ kind = "spike", start_s = 340, duration_s = 15, multiplier = 4.0 }},
]

[scenario.pool]
min_size = 2
max_size = 8
initial_size = 4
acquire_timeout_ms = {ACQUIRE_TIMEOUT_MS}
idle_timeout_s = 5
max_lifetime_s = 45
create_time = {{ kind = "deterministic", ms = 5.0 }}
policy = {policy}
health_check = "never"

[scenario.failures]
connection_rate = 0.05
security_rate = 0.05
query_rate = 0.02
timeout_rate = 0.01
statement_timeout_ms = {STATEMENT_TIMEOUT_MS}
transaction_rate = 0.05
outages = [{{ start_s = {OUTAGE_START_S}, duration_s = {} }}]
degradations = [{{ start_s = 180, duration_s = 40, latency_multiplier = 3.0 }}]
# The security burst outlasts max_lifetime_s, so the pool has to reopen
# connections inside it and every attempt fails authentication.
bursts = [{{ start_s = 380, duration_s = 60, category = "security", rate = 1.0 }}{extra}]

# Background error rates of a few percent are normal here: the timeout and
# transaction breakers trip on a failure rate, not on a handful of errors;
# the connection breaker lets a few more dead connections show.
[scenario.breaker]
connection = {{ failure_count = 20 }}
timeout = {{ failure_rate = 0.2, min_calls = 50, failure_count = 1000000 }}
transaction = {{ failure_rate = 0.2, min_calls = 50, failure_count = 1000000 }}
"#,
        OUTAGE_END_S - OUTAGE_START_S
    )
}

fn run_chaos(record: bool) -> (Summary, MemorySink) {
    common::run_toml(&chaos_toml("chaos", r#"{ kind = "reactive" }"#, record, ""))
}

fn sum_by<F: Fn(&Snapshot) -> u64>(snaps: &[Snapshot], f: F) -> u64 {
    snaps.iter().map(f).sum()
}

/// The per-interval counters add up to the whole-run summary.
fn check_snapshots_match_summary(s: &Summary, snaps: &[Snapshot]) {
    assert!(s.conserves(), "summary does not conserve: {s:?}");
    assert_eq!(
        s.requests,
        s.completed + s.failed() + s.rejected + s.in_flight_at_end
    );
    // Time: contiguous intervals covering the horizon.
    let mut t = 0;
    for snap in snaps {
        assert_eq!(snap.t_ns, t + snap.interval_ns, "intervals are contiguous");
        t = snap.t_ns;
    }
    assert_eq!(t, DURATION_S * NANOS_PER_SEC);

    assert_eq!(
        sum_by(snaps, |x| u64::from(x.arrivals_total())),
        s.requests,
        "Σ snapshot arrivals"
    );
    assert_eq!(
        sum_by(snaps, |x| x.completions.iter().map(|&c| u64::from(c)).sum()),
        s.completed,
        "Σ snapshot completions"
    );
    for cat in ErrorCategory::ALL {
        assert_eq!(
            sum_by(snaps, |x| u64::from(x.errors[cat.index()])),
            s.failed_by_category[cat.name()],
            "Σ snapshot errors of {}",
            cat.name()
        );
    }
    assert_eq!(sum_by(snaps, |x| u64::from(x.rejected)), s.rejected);
    assert_eq!(sum_by(snaps, |x| u64::from(x.timeouts)), s.timeouts);
    assert_eq!(sum_by(snaps, |x| u64::from(x.acquires)), s.grants);
    assert_eq!(
        sum_by(snaps, |x| u64::from(x.created)),
        s.connections_created
    );
    assert_eq!(sum_by(snaps, |x| u64::from(x.closed)), s.connections_closed);
    assert_eq!(
        sum_by(snaps, |x| u64::from(x.create_failures)),
        s.create_failures
    );
    // The pool's gauges are consistent at every interval end.
    for snap in snaps {
        assert_eq!(snap.size, snap.idle + snap.busy, "at {} ns", snap.t_ns);
        assert!(snap.size + snap.pending_creates <= 8, "max_size is a cap");
    }
    let last = snaps.last().expect("snapshots");
    assert_eq!(
        u64::from(last.busy + last.waiting),
        s.in_flight_at_end,
        "in flight at the end = busy + waiting"
    );
    // Time-weighted means agree with the whole-run integrals.
    let n = snaps.len() as f64;
    let size_mean = snaps.iter().map(|x| x.size_mean).sum::<f64>() / n;
    assert!((size_mean - s.mean_size).abs() < 1e-9 * s.mean_size.max(1.0));
    let busy_mean = snaps.iter().map(|x| x.busy_mean).sum::<f64>() / n;
    assert!((busy_mean - s.mean_busy).abs() < 1e-9 * s.mean_busy.max(1.0));
    assert!((s.arrival_rate * s.duration_s - s.requests as f64).abs() < 1e-6);
}

fn at_s(snap: &Snapshot) -> u64 {
    snap.t_ns / NANOS_PER_SEC
}

#[test]
fn chaos_run_conserves_and_every_failure_shows_up() {
    let (s, sink) = run_chaos(false);
    let snaps = &sink.snapshots;
    eprintln!("{s:#?}");
    check_snapshots_match_summary(&s, snaps);

    // Every failure category happened.
    for cat in ["connection", "timeout", "query", "transaction"] {
        assert!(
            s.failed_by_category[cat] > 0,
            "no {cat} failure: {:?}",
            s.failed_by_category
        );
    }
    // Security failures are failed creations: they trip the security breaker.
    assert!(s.create_failures > 0);
    assert!(
        s.rejected_by_breaker["security"] > 0,
        "the security breaker never refused a request: {:?}",
        s.rejected_by_breaker
    );
    assert!(
        snaps
            .iter()
            .any(|x| x.breaker[ErrorCategory::Security.index()] == 2),
        "the security breaker was never open at an interval end"
    );
    assert!(s.timeouts > 0, "no acquire timeout");
    assert!(
        s.timeouts < s.failed_by_category["timeout"],
        "statement timeouts too"
    );
    assert!(s.rejected > 0);
    assert_eq!(
        s.rejected_by_breaker.values().sum::<u64>(),
        s.rejected,
        "rejections by breaker add up"
    );
    assert!(s.in_flight_at_end <= 8 + 1000);

    // The reactive policy moved the target.
    let targets: std::collections::BTreeSet<u32> = snaps.iter().map(|x| x.target).collect();
    assert!(
        targets.len() > 1,
        "reactive target never changed: {targets:?}"
    );

    // During the outage nothing succeeds once the requests granted before it
    // have finished (holds are capped by the 250 ms statement timeout).
    for snap in snaps
        .iter()
        .filter(|x| at_s(x) > OUTAGE_START_S + 1 && at_s(x) <= OUTAGE_END_S)
    {
        assert_eq!(
            snap.completions.iter().sum::<u32>(),
            0,
            "a request succeeded during the outage, interval ending at {} s",
            at_s(snap)
        );
    }
    let during: u32 = snaps
        .iter()
        .filter(|x| at_s(x) > OUTAGE_START_S && at_s(x) <= OUTAGE_END_S)
        .map(|x| x.errors[ErrorCategory::Connection.index()] + x.rejected + x.create_failures)
        .sum();
    assert!(during > 0, "the outage left no trace");

    // After the outage the pool recovers: connections reopen and requests
    // complete again, well before the next disturbance (degradation at 180 s).
    let recovered = snaps
        .iter()
        .filter(|x| at_s(x) > OUTAGE_END_S && at_s(x) <= 175)
        .find(|x| x.size > 0 && x.completions.iter().sum::<u32>() > 0)
        .map(at_s);
    assert!(recovered.is_some(), "no recovery after the outage");
    eprintln!("recovered by {} s", recovered.unwrap_or_default());
    // The quiet tail (after every disturbance) runs normally: an open pool
    // and completions in every interval, no connection errors.
    for snap in snaps.iter().filter(|x| at_s(x) > 500) {
        assert!(snap.size > 0, "empty pool at {} s", at_s(snap));
        assert!(
            snap.completions.iter().sum::<u32>() > 0,
            "no completion at {} s",
            at_s(snap)
        );
    }
}

#[test]
fn request_records_match_the_summary() {
    let toml = chaos_toml(
        "chaos-records",
        r#"{ kind = "adaptive", strategy = "moderate" }"#,
        true,
        r#", { start_s = 490, duration_s = 25, category = "query", rate = 0.5 }"#,
    );
    let (s, sink) = common::run_toml(&toml);
    check_snapshots_match_summary(&s, &sink.snapshots);
    let recs = &sink.requests;
    assert_eq!(recs.len() as u64, s.requests - s.in_flight_at_end);

    let mut ok = 0u64;
    let mut failed: BTreeMap<&str, u64> = BTreeMap::new();
    let mut acquire_timeouts = 0u64;
    let mut rejected: BTreeMap<&str, u64> = BTreeMap::new();
    let mut held = 0u64;
    let mut hold_sum = 0u128;
    let mut tis_sum = 0u128;
    let horizon = DURATION_S * NANOS_PER_SEC;
    for r in recs {
        let end = r.arrival_ns + r.acquire_wait_ns + r.hold_ns;
        assert!(end <= horizon, "{r:?} ends after the horizon");
        tis_sum += u128::from(r.acquire_wait_ns + r.hold_ns);
        match r.outcome {
            Outcome::Ok => {
                ok += 1;
                assert!(r.hold_ns <= STATEMENT_TIMEOUT_MS * NANOS_PER_MS, "{r:?}");
            }
            Outcome::Error(c) => {
                *failed.entry(c.name()).or_default() += 1;
                match c {
                    ErrorCategory::Timeout => {
                        assert_eq!(r.hold_ns, STATEMENT_TIMEOUT_MS * NANOS_PER_MS, "{r:?}")
                    }
                    // A statement on a dead connection fails after 1 ms.
                    ErrorCategory::Connection => assert_eq!(r.hold_ns, NANOS_PER_MS, "{r:?}"),
                    ErrorCategory::Transaction => {
                        assert_eq!(r.class, QueryClass::Transaction, "{r:?}")
                    }
                    ErrorCategory::Query => {}
                    ErrorCategory::Security => panic!("a request failed authentication: {r:?}"),
                }
            }
            Outcome::AcquireTimeout => {
                acquire_timeouts += 1;
                *failed.entry("timeout").or_default() += 1;
                assert_eq!(
                    r.acquire_wait_ns,
                    ACQUIRE_TIMEOUT_MS * NANOS_PER_MS,
                    "{r:?}"
                );
                assert_eq!(r.hold_ns, 0);
            }
            Outcome::Rejected(c) => {
                *rejected
                    .entry(c.map_or("global", ErrorCategory::name))
                    .or_default() += 1;
                assert_eq!((r.acquire_wait_ns, r.hold_ns), (0, 0), "{r:?}");
            }
        }
        if matches!(r.outcome, Outcome::Ok | Outcome::Error(_)) {
            held += 1;
            hold_sum += u128::from(r.hold_ns);
        }
    }
    assert_eq!(ok, s.completed);
    assert_eq!(acquire_timeouts, s.timeouts);
    for (cat, &n) in &s.failed_by_category {
        assert_eq!(failed.get(cat.as_str()).copied().unwrap_or(0), n, "{cat}");
    }
    for (cat, &n) in &s.rejected_by_breaker {
        assert_eq!(
            rejected.get(cat.as_str()).copied().unwrap_or(0),
            n,
            "rejected by {cat}"
        );
    }
    assert_eq!(rejected.values().sum::<u64>(), s.rejected);
    assert!(s.grants >= held && s.grants - held <= s.in_flight_at_end);
    let hold_ms = hold_sum as f64 / held as f64 / 1e6;
    common::assert_rel("mean hold from records", hold_ms, s.mean_hold_ms, 1e-9);
    let tis_ms = tis_sum as f64 / recs.len() as f64 / 1e6;
    common::assert_rel(
        "mean time in system from records",
        tis_ms,
        s.mean_time_in_system_ms,
        1e-9,
    );
    // Every class of the mix appears, with its arrivals in the snapshots.
    for class in [QueryClass::Read, QueryClass::Write, QueryClass::Transaction] {
        let n = recs.iter().filter(|r| r.class == class).count() as u64;
        let arrived: u64 = sink
            .snapshots
            .iter()
            .map(|x| u64::from(x.arrivals[class.index()]))
            .sum();
        assert!(
            n > 0 && n <= arrived,
            "{class:?}: {n} records, {arrived} arrivals"
        );
    }
    // The query burst shows: errors in its window far above the base rate.
    let in_burst = recs
        .iter()
        .filter(|r| r.outcome == Outcome::Error(ErrorCategory::Query))
        .filter(|r| {
            (490 * NANOS_PER_SEC..515 * NANOS_PER_SEC).contains(&(r.arrival_ns + r.acquire_wait_ns))
        })
        .count();
    assert!(
        in_burst as u64 > s.failed_by_category["query"] / 2,
        "{in_burst}"
    );
    for cat in ["connection", "timeout", "query", "transaction"] {
        assert!(s.failed_by_category[cat] > 0, "no {cat} failure");
    }
    assert!(s.timeouts > 0 && s.rejected > 0);
}
