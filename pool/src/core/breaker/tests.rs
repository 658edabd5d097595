//! Tests of the breakers.

use proptest::prelude::*;

use super::*;
use crate::core::telemetry::ErrorCategory;
use crate::core::{NANOS_PER_MS, NANOS_PER_SEC, Nanos};

const MS: Nanos = NANOS_PER_MS;
const SEC: Nanos = NANOS_PER_SEC;

fn count_cfg(size: u32) -> BreakerConfig {
    BreakerConfig {
        enabled: true,
        window: Window::Count { size },
        min_calls: 0,
        failure_rate: None,
        failure_count: None,
        open_ms: 1_000.0,
        open_backoff: 2.0,
        max_open_ms: 3_000.0,
        half_open_probes: 1,
    }
}

fn tripped_breaker(cfg: BreakerConfig, at: Nanos) -> CircuitBreaker {
    let mut b = CircuitBreaker::new(cfg);
    for _ in 0..1_000 {
        if b.state(at) != BreakerState::Closed {
            break;
        }
        b.record(at, CallKind::Normal, true);
    }
    assert!(matches!(b.state(at), BreakerState::Open { .. }));
    b
}

#[test]
fn state_codes() {
    assert_eq!(BreakerState::Closed.code(), 0);
    assert_eq!(BreakerState::HalfOpen.code(), 1);
    assert_eq!(BreakerState::Open { until: 5 }.code(), 2);
}

#[test]
fn count_window_trips_by_rate_after_min_calls() {
    let cfg = BreakerConfig {
        min_calls: 10,
        failure_rate: Some(0.5),
        ..count_cfg(10)
    };
    cfg.validate("b").unwrap();
    let mut b = CircuitBreaker::new(cfg);
    // 100% failures, but fewer than min_calls: no trip.
    for i in 0..4 {
        b.record(i, CallKind::Normal, true);
    }
    assert_eq!(b.state(4), BreakerState::Closed);
    for i in 4..9 {
        b.record(i, CallKind::Normal, false);
    }
    assert_eq!(b.counts(9), (9, 4));
    assert_eq!(b.state(9), BreakerState::Closed);
    // 10th call, 5th failure: rate 0.5 with 10 calls.
    b.record(9, CallKind::Normal, true);
    assert_eq!(b.state(9), BreakerState::Open { until: 9 + SEC });
    assert_eq!(b.trips(), 1);
}

#[test]
fn count_window_slides() {
    let cfg = BreakerConfig {
        failure_count: Some(3),
        ..count_cfg(4)
    };
    let mut b = CircuitBreaker::new(cfg);
    // f s s f s f: the first failure has slid out when the third arrives.
    for (i, failed) in [true, false, false, true, false, true]
        .into_iter()
        .enumerate()
    {
        b.record(i as Nanos, CallKind::Normal, failed);
    }
    assert_eq!(b.counts(6), (4, 2));
    assert_eq!(b.state(6), BreakerState::Closed);
    b.record(7, CallKind::Normal, true);
    assert_eq!(b.state(7), BreakerState::Open { until: 7 + SEC });
}

#[test]
fn absolute_count_trips() {
    let cfg = BreakerConfig {
        failure_count: Some(3),
        ..count_cfg(100)
    };
    let mut b = CircuitBreaker::new(cfg);
    for t in 0..50 {
        b.record(t, CallKind::Normal, false);
    }
    b.record(50, CallKind::Normal, true);
    b.record(51, CallKind::Normal, false);
    b.record(52, CallKind::Normal, true);
    assert_eq!(b.state(52), BreakerState::Closed);
    b.record(53, CallKind::Normal, true);
    assert_eq!(b.state(53), BreakerState::Open { until: 53 + SEC });
    assert_eq!(b.try_call(54), Err(53 + SEC));
}

#[test]
fn successes_never_trip() {
    let cfg = BreakerConfig {
        failure_rate: Some(0.01),
        failure_count: Some(1),
        ..count_cfg(10)
    };
    let mut b = CircuitBreaker::new(cfg);
    for t in 0..100 {
        b.record(t, CallKind::Normal, false);
    }
    assert_eq!(b.state(100), BreakerState::Closed);
}

#[test]
fn time_window_evicts_old_failures() {
    let cfg = BreakerConfig {
        window: Window::time_ms(10_000, 10),
        failure_count: Some(3),
        ..count_cfg(1)
    };
    cfg.validate("b").unwrap();
    let mut b = CircuitBreaker::new(cfg);
    b.record(0, CallKind::Normal, true);
    b.record(SEC, CallKind::Normal, true);
    assert_eq!(b.counts(SEC), (2, 2));
    // The first failure is 10 s old at 10 s: evicted.
    assert_eq!(b.counts(10 * SEC), (1, 1));
    // Both are out of the window by 11.5 s.
    b.record(11 * SEC + 500 * MS, CallKind::Normal, true);
    assert_eq!(b.counts(11 * SEC + 500 * MS), (1, 1));
    assert_eq!(b.state(11 * SEC + 500 * MS), BreakerState::Closed);
    b.record(12 * SEC, CallKind::Normal, true);
    assert_eq!(b.state(12 * SEC), BreakerState::Closed);
    b.record(13 * SEC, CallKind::Normal, true);
    assert_eq!(
        b.state(13 * SEC),
        BreakerState::Open {
            until: 13 * SEC + SEC
        }
    );
}

#[test]
fn time_window_long_gap_clears_everything() {
    let cfg = BreakerConfig {
        window: Window::time_ms(1_000, 4),
        failure_count: Some(2),
        ..count_cfg(1)
    };
    let mut b = CircuitBreaker::new(cfg);
    b.record(100 * MS, CallKind::Normal, true);
    b.record(200 * MS, CallKind::Normal, false);
    assert_eq!(b.counts(300 * MS), (2, 1));
    assert_eq!(b.counts(3_600 * SEC), (0, 0));
    b.record(3_600 * SEC, CallKind::Normal, true);
    assert_eq!(b.state(3_600 * SEC), BreakerState::Closed);
}

#[test]
fn time_going_backwards_does_not_panic() {
    let cfg = BreakerConfig {
        window: Window::time_ms(1_000, 10),
        failure_count: Some(3),
        ..count_cfg(1)
    };
    let mut b = CircuitBreaker::new(cfg);
    b.record(5 * SEC, CallKind::Normal, true);
    b.record(SEC, CallKind::Normal, true);
    assert_eq!(b.counts(SEC), (2, 2));
    b.record(0, CallKind::Normal, true);
    assert!(matches!(b.state(0), BreakerState::Open { .. }));
}

#[test]
fn open_then_half_open() {
    let cfg = BreakerConfig {
        failure_count: Some(1),
        ..count_cfg(5)
    };
    let mut b = CircuitBreaker::new(cfg);
    b.record(10, CallKind::Normal, true);
    let until = 10 + SEC;
    assert_eq!(b.next_transition(), Some(until));
    assert_eq!(b.state(until - 1), BreakerState::Open { until });
    assert_eq!(b.try_call(until - 1), Err(until));
    assert_eq!(b.state(until), BreakerState::HalfOpen);
    assert_eq!(b.next_transition(), None);
    assert_eq!(b.try_call(until), Ok(CallKind::Probe));
}

#[test]
fn stragglers_are_ignored() {
    let cfg = BreakerConfig {
        failure_count: Some(1),
        ..count_cfg(5)
    };
    let mut b = CircuitBreaker::new(cfg);
    assert_eq!(b.try_call(0), Ok(CallKind::Normal));
    b.record(0, CallKind::Normal, true);
    // While open: successes and failures change nothing.
    b.record(MS, CallKind::Normal, false);
    b.record(2 * MS, CallKind::Normal, true);
    assert_eq!(b.state(2 * MS), BreakerState::Open { until: SEC });
    // Half-open: Normal outcomes neither close nor reopen it.
    assert_eq!(b.state(SEC), BreakerState::HalfOpen);
    b.record(SEC, CallKind::Normal, false);
    assert_eq!(b.state(SEC), BreakerState::HalfOpen);
    b.record(SEC, CallKind::Normal, true);
    assert_eq!(b.state(SEC), BreakerState::HalfOpen);
    assert_eq!(b.trips(), 1);
}

#[test]
fn probe_limit_is_enforced() {
    let cfg = BreakerConfig {
        failure_count: Some(1),
        half_open_probes: 2,
        ..count_cfg(5)
    };
    let mut b = tripped_breaker(cfg, 0);
    let t = SEC;
    assert_eq!(b.try_call(t), Ok(CallKind::Probe));
    assert_eq!(b.try_call(t), Ok(CallKind::Probe));
    assert_eq!(b.try_call(t), Err(t));
    assert_eq!(b.try_call(t + 5), Err(t + 5));
    assert_eq!(b.probes_outstanding(), 2);
    b.record(t + 10, CallKind::Probe, false);
    assert_eq!(b.state(t + 10), BreakerState::HalfOpen);
    assert_eq!(b.try_call(t + 10), Ok(CallKind::Probe));
    assert_eq!(b.try_call(t + 10), Err(t + 10));
    // Cancelling frees a slot without counting an outcome.
    b.cancel(CallKind::Probe);
    assert_eq!(b.probes_outstanding(), 1);
    assert_eq!(b.try_call(t + 11), Ok(CallKind::Probe));
}

#[test]
fn closes_after_n_successful_probes() {
    let cfg = BreakerConfig {
        failure_count: Some(2),
        half_open_probes: 3,
        ..count_cfg(5)
    };
    let mut b = tripped_breaker(cfg, 0);
    let t = SEC;
    for i in 0..3 {
        assert_eq!(b.try_call(t + i), Ok(CallKind::Probe));
    }
    b.record(t + 10, CallKind::Probe, false);
    b.record(t + 11, CallKind::Probe, false);
    assert_eq!(b.state(t + 11), BreakerState::HalfOpen);
    b.record(t + 12, CallKind::Probe, false);
    assert_eq!(b.state(t + 12), BreakerState::Closed);
    assert_eq!(b.probes_outstanding(), 0);
    // The window was cleared: one failure is not enough.
    assert_eq!(b.counts(t + 12), (0, 0));
    b.record(t + 13, CallKind::Normal, true);
    assert_eq!(b.state(t + 13), BreakerState::Closed);
    b.record(t + 14, CallKind::Normal, true);
    assert_eq!(
        b.state(t + 14),
        BreakerState::Open {
            until: t + 14 + SEC
        }
    );
}

#[test]
fn reopens_with_backoff_and_cap() {
    let cfg = BreakerConfig {
        failure_count: Some(1),
        ..count_cfg(5)
    };
    // open 1 s, backoff 2, cap 3 s.
    let mut b = CircuitBreaker::new(cfg);
    b.record(0, CallKind::Normal, true);
    let mut t = SEC;
    assert_eq!(b.state(t - 1), BreakerState::Open { until: t });
    for expected in [2 * SEC, 3 * SEC, 3 * SEC] {
        assert_eq!(b.try_call(t), Ok(CallKind::Probe));
        b.record(t, CallKind::Probe, true);
        assert_eq!(
            b.state(t),
            BreakerState::Open {
                until: t + expected
            }
        );
        t += expected;
    }
    assert_eq!(b.try_call(t), Ok(CallKind::Probe));
    b.record(t, CallKind::Probe, false);
    assert_eq!(b.state(t), BreakerState::Closed);
    // The backoff resets once closed.
    b.record(t + 1, CallKind::Normal, true);
    assert_eq!(b.state(t + 1), BreakerState::Open { until: t + 1 + SEC });
    assert_eq!(b.trips(), 5);
}

#[test]
fn disabled_breaker_permits_and_never_trips() {
    let cfg = BreakerConfig {
        enabled: false,
        failure_count: Some(1),
        ..count_cfg(5)
    };
    let mut b = CircuitBreaker::new(cfg);
    for t in 0..100 {
        assert_eq!(b.try_call(t), Ok(CallKind::Normal));
        b.record(t, CallKind::Normal, true);
    }
    assert_eq!(b.state(100), BreakerState::Closed);
    assert_eq!(b.next_transition(), None);
}

#[test]
fn reset_closes() {
    let cfg = BreakerConfig {
        failure_count: Some(1),
        ..count_cfg(5)
    };
    let mut b = tripped_breaker(cfg, 0);
    b.reset();
    assert_eq!(b.state(0), BreakerState::Closed);
    assert_eq!(b.counts(0), (0, 0));
    assert_eq!(b.try_call(0), Ok(CallKind::Normal));
}

#[test]
fn invalid_config_does_not_panic() {
    for window in [
        Window::Count { size: 0 },
        Window::Time {
            length_ns: 0,
            buckets: 0,
        },
        Window::Time {
            length_ns: 3,
            buckets: 10,
        },
        Window::Count { size: u32::MAX },
    ] {
        let cfg = BreakerConfig {
            window,
            min_calls: 7,
            failure_rate: Some(f64::NAN),
            failure_count: Some(0),
            open_ms: f64::NAN,
            open_backoff: f64::NAN,
            max_open_ms: -1.0,
            half_open_probes: 0,
            ..count_cfg(1)
        };
        assert!(cfg.validate("b").is_err());
        let mut b = CircuitBreaker::new(cfg);
        for t in 0..20 {
            if let Ok(kind) = b.try_call(t) {
                b.record(t, kind, t % 3 == 0);
            }
            assert!(b.state(t).code() <= 2);
        }
    }
}

fn failure(m: &mut MultiBreaker, now: Nanos, category: Option<ErrorCategory>) {
    let permit = m.try_acquire(now).expect("permitted");
    m.record(now, permit, category);
}

#[test]
fn categories_are_isolated() {
    let mut cfg = MultiBreakerConfig::default();
    cfg.timeout.failure_rate = None;
    cfg.timeout.failure_count = Some(8);
    let mut m = MultiBreaker::new(&cfg);
    for i in 0..7 {
        failure(&mut m, i * MS, Some(ErrorCategory::Timeout));
    }
    assert_eq!(m.states(7 * MS), ([0; 5], 0));
    failure(&mut m, 7 * MS, Some(ErrorCategory::Timeout));
    let (codes, global) = m.states(8 * MS);
    assert_eq!(codes[ErrorCategory::Timeout.index()], 2);
    assert_eq!(codes[ErrorCategory::Connection.index()], 0);
    assert_eq!(codes.iter().filter(|&&c| c != 0).count(), 1);
    // 8 calls are fewer than the global min_calls of 20.
    assert_eq!(global, 0);
    assert_eq!(
        m.try_acquire(8 * MS),
        Err(Tripped::Category(ErrorCategory::Timeout))
    );
    assert_eq!(
        m.state_of(8 * MS, Tripped::Category(ErrorCategory::Timeout)),
        BreakerState::Open {
            until: 7 * MS + 30 * SEC
        }
    );
    assert_eq!(m.next_transition(), Some(7 * MS + 30 * SEC));
    assert_eq!(
        m.breaker(Tripped::Category(ErrorCategory::Connection))
            .trips(),
        0
    );
}

#[test]
fn query_breaker_is_disabled_by_default() {
    let cfg = MultiBreakerConfig::default();
    assert!(!cfg.query.enabled);
    assert!(!cfg.counts_toward_global(ErrorCategory::Query));
    let mut m = MultiBreaker::new(&cfg);
    for i in 0..100 {
        failure(&mut m, i * MS, Some(ErrorCategory::Query));
    }
    // Query errors trip neither their breaker nor the global one.
    assert_eq!(m.states(100 * MS), ([0; 5], 0));
    assert!(m.try_acquire(100 * MS).is_ok());
}

#[test]
fn query_breaker_enabled_partially() {
    let mut cfg = MultiBreakerConfig::default();
    cfg.query.enabled = true;
    cfg.query.failure_rate = None;
    cfg.query.failure_count = Some(15);
    cfg.validate().unwrap();
    let mut m = MultiBreaker::new(&cfg);
    for i in 0..15 {
        failure(&mut m, i * MS, Some(ErrorCategory::Query));
    }
    assert_eq!(
        m.try_acquire(15 * MS),
        Err(Tripped::Category(ErrorCategory::Query))
    );
}

#[test]
fn global_trips_on_mixed_categories() {
    let mut cfg = MultiBreakerConfig::default();
    for c in ErrorCategory::ALL {
        cfg.category_mut(c).failure_count = Some(1_000);
    }
    cfg.validate().unwrap();
    let mut m = MultiBreaker::new(&cfg);
    let mixed = [
        ErrorCategory::Connection,
        ErrorCategory::Timeout,
        ErrorCategory::Transaction,
        ErrorCategory::Security,
    ];
    for i in 0..19u64 {
        let category = (i % 2 == 1).then(|| mixed[(i / 2) as usize % mixed.len()]);
        failure(&mut m, i * MS, category);
    }
    // 19 calls, 9 failures: below min_calls.
    assert_eq!(m.states(19 * MS), ([0; 5], 0));
    // 20 calls, 10 failures: rate 0.5.
    failure(&mut m, 19 * MS, Some(ErrorCategory::Security));
    assert_eq!(m.states(19 * MS), ([0; 5], 2));
    assert_eq!(m.try_acquire(20 * MS), Err(Tripped::Global));
    // Half-open after 30 s; a successful probe closes it.
    let t = 19 * MS + 30 * SEC;
    assert_eq!(m.state_of(t, Tripped::Global), BreakerState::HalfOpen);
    let probe = m.try_acquire(t).unwrap();
    assert!(probe.is_probe_for(Tripped::Global));
    assert!(!probe.is_probe_for(Tripped::Category(ErrorCategory::Connection)));
    assert_eq!(m.try_acquire(t), Err(Tripped::Global));
    m.record(t, probe, None);
    assert_eq!(m.states(t), ([0; 5], 0));
}

#[test]
fn query_failures_are_global_successes() {
    let mut cfg = MultiBreakerConfig::default();
    cfg.global.failure_rate = None;
    cfg.global.failure_count = Some(2);
    let mut m = MultiBreaker::new(&cfg);
    failure(&mut m, 0, Some(ErrorCategory::Connection));
    failure(&mut m, 1, Some(ErrorCategory::Query));
    assert_eq!(m.breaker(Tripped::Global).config().failure_count, Some(2));
    assert_eq!(m.states(2).1, 0);
    failure(&mut m, 2, Some(ErrorCategory::Timeout));
    assert_eq!(m.states(3).1, 2);
}

#[test]
fn try_acquire_does_not_leak_probe_slots() {
    let cfg = MultiBreakerConfig {
        global: BreakerConfig {
            failure_count: Some(1),
            ..count_cfg(10)
        },
        connection: BreakerConfig {
            failure_count: Some(1),
            open_ms: 10_000.0,
            max_open_ms: 10_000.0,
            ..count_cfg(10)
        },
        ..MultiBreakerConfig::default()
    };
    cfg.validate().unwrap();
    let mut m = MultiBreaker::new(&cfg);
    failure(&mut m, 0, Some(ErrorCategory::Connection));
    assert_eq!(m.try_acquire(1), Err(Tripped::Global));
    // At 2 s the global breaker is half-open, the connection one open.
    for i in 0..5 {
        let t = 2 * SEC + i;
        assert_eq!(
            m.try_acquire(t),
            Err(Tripped::Category(ErrorCategory::Connection))
        );
        assert_eq!(m.breaker(Tripped::Global).probes_outstanding(), 0);
    }
    assert_eq!(m.states(2 * SEC), ([2, 0, 0, 0, 0], 1));
    // At 10 s both are half-open: one call probes both.
    let t = 10 * SEC;
    let permit = m.try_acquire(t).unwrap();
    assert!(permit.is_probe_for(Tripped::Global));
    assert!(permit.is_probe_for(Tripped::Category(ErrorCategory::Connection)));
    assert_eq!(m.try_acquire(t), Err(Tripped::Global));
    m.record(t + MS, permit, None);
    assert_eq!(m.states(t + MS), ([0; 5], 0));
}

#[test]
fn category_rejection_returns_global_slot_when_category_slots_full() {
    let cfg = MultiBreakerConfig {
        global: BreakerConfig {
            failure_count: Some(1),
            half_open_probes: 2,
            ..count_cfg(10)
        },
        timeout: BreakerConfig {
            failure_count: Some(1),
            ..count_cfg(10)
        },
        ..MultiBreakerConfig::default()
    };
    let mut m = MultiBreaker::new(&cfg);
    failure(&mut m, 0, Some(ErrorCategory::Timeout));
    let t = SEC;
    let first = m.try_acquire(t).unwrap();
    assert!(first.is_probe_for(Tripped::Global));
    assert!(first.is_probe_for(Tripped::Category(ErrorCategory::Timeout)));
    // Global has a second slot, timeout does not: rejected, slot returned.
    assert_eq!(
        m.try_acquire(t),
        Err(Tripped::Category(ErrorCategory::Timeout))
    );
    assert_eq!(m.breaker(Tripped::Global).probes_outstanding(), 1);
    m.cancel(first);
    assert_eq!(m.breaker(Tripped::Global).probes_outstanding(), 0);
    assert_eq!(
        m.breaker(Tripped::Category(ErrorCategory::Timeout))
            .probes_outstanding(),
        0
    );
    // A failed probe reopens both with backoff.
    let probe = m.try_acquire(t).unwrap();
    m.record(t, probe, Some(ErrorCategory::Timeout));
    assert_eq!(
        m.state_of(t, Tripped::Global),
        BreakerState::Open { until: t + 2 * SEC }
    );
    m.reset();
    assert_eq!(m.states(t), ([0; 5], 0));
}

#[test]
fn defaults_are_valid_and_documented() {
    let cfg = MultiBreakerConfig::default();
    cfg.validate().unwrap();
    let counts: Vec<_> = ErrorCategory::ALL
        .iter()
        .map(|&c| cfg.category(c).failure_count)
        .collect();
    assert_eq!(counts, [None, None, None, None, Some(3)]);
    let rates: Vec<_> = ErrorCategory::ALL
        .iter()
        .map(|&c| cfg.category(c).failure_rate)
        .collect();
    assert_eq!(rates, [Some(0.25), Some(0.25), Some(0.5), Some(0.5), None]);
    assert_eq!(cfg.global.failure_rate, Some(0.5));
    assert_eq!(cfg.global.min_calls, 20);
    assert_eq!(cfg.global.window, Window::time_ms(30_000, 30));
    BreakerConfig::default().validate("").unwrap();
}

#[test]
fn validation_names_the_path() {
    let check = |cfg: MultiBreakerConfig, path: &str, needle: &str| {
        let err = cfg.validate().unwrap_err();
        assert_eq!(err.path, path, "{err}");
        assert!(err.message.contains(needle), "{err}");
        assert!(err.to_string().starts_with(&format!("{path}: ")));
    };
    let base = MultiBreakerConfig::default;

    let mut c = base();
    c.connection.failure_rate = Some(1.5);
    check(c, "breaker.connection.failure_rate", "(0, 1]");
    let mut c = base();
    c.timeout.failure_rate = Some(0.0);
    check(c, "breaker.timeout.failure_rate", "(0, 1]");
    let mut c = base();
    c.timeout.failure_rate = Some(f64::NAN);
    check(c, "breaker.timeout.failure_rate", "(0, 1]");
    let mut c = base();
    c.global.window = Window::Count { size: 0 };
    check(c, "breaker.global.window.size", "got 0");
    let mut c = base();
    c.global.window = Window::Count { size: 10 };
    check(c, "breaker.global.min_calls", "window.size");
    let mut c = base();
    c.security.window = Window::Count { size: 2 };
    check(c, "breaker.security.failure_count", "window.size");
    let mut c = base();
    c.transaction.window = Window::time_ms(1_000, 0);
    check(c, "breaker.transaction.window.buckets", "got 0");
    let mut c = base();
    c.transaction.window = Window::time_ms(0, 10);
    check(c, "breaker.transaction.window.length_ms", "positive");
    let mut c = base();
    c.query.half_open_probes = 0;
    check(c, "breaker.query.half_open_probes", "at least 1");
    let mut c = base();
    c.connection.open_ms = -1.0;
    check(c, "breaker.connection.open_ms", "finite duration");
    let mut c = base();
    c.connection.open_ms = f64::NAN;
    check(c, "breaker.connection.open_ms", "finite duration");
    let mut c = base();
    c.global.max_open_ms = f64::INFINITY;
    check(c, "breaker.global.max_open_ms", "finite duration");
    let mut c = base();
    c.global.max_open_ms = 10.0;
    check(c, "breaker.global.max_open_ms", "open_ms");
    let mut c = base();
    c.global.open_backoff = 0.5;
    check(c, "breaker.global.open_backoff", ">= 1");
    let mut c = base();
    c.timeout.failure_rate = None;
    c.timeout.failure_count = None;
    check(c, "breaker.timeout.failure_rate", "failure_count");
    let mut c = base();
    c.timeout.failure_count = Some(0);
    check(c, "breaker.timeout.failure_count", "at least 1");

    // A disabled breaker needs no threshold.
    let mut c = base();
    c.query.failure_rate = None;
    c.query.failure_count = None;
    c.validate().unwrap();
}

fn prop_cfg(probes: u32, window: Window) -> BreakerConfig {
    BreakerConfig {
        window,
        min_calls: 4,
        failure_rate: Some(0.5),
        failure_count: Some(3),
        half_open_probes: probes,
        ..count_cfg(8)
    }
}

proptest! {
    #[test]
    fn probes_never_exceed_limit(
        probes in 1u32..4,
        time_window in any::<bool>(),
        ops in proptest::collection::vec((0u64..1_500_000_000, 0u8..4, any::<bool>()), 1..300),
    ) {
        let window = if time_window {
            Window::time_ms(2_000, 4)
        } else {
            Window::Count { size: 8 }
        };
        let cfg = prop_cfg(probes, window);
        prop_assert!(cfg.validate("p").is_ok());
        let mut b = CircuitBreaker::new(cfg);
        let mut in_flight: Vec<CallKind> = Vec::new();
        let mut now: Nanos = 0;
        for (dt, op, failed) in ops {
            now += dt;
            match op {
                0 | 1 => {
                    if let Ok(kind) = b.try_call(now) {
                        in_flight.push(kind);
                    }
                }
                2 => {
                    if !in_flight.is_empty() {
                        let kind = in_flight.remove(0);
                        b.record(now, kind, failed);
                    }
                }
                _ => {
                    if let Some(kind) = in_flight.pop() {
                        b.record(now, kind, failed);
                    }
                }
            }
            let out = in_flight.iter().filter(|&&k| k == CallKind::Probe).count();
            prop_assert!(out <= probes as usize);
            prop_assert_eq!(out, b.probes_outstanding() as usize);
            let state = b.state(now);
            prop_assert!(state.code() <= 2);
            if let BreakerState::Open { until } = state {
                prop_assert!(until > now);
                prop_assert!(until - now <= 3 * SEC);
            }
        }
    }

    /// Batching successes is invisible: a `MultiBreaker` that batches
    /// them agrees at every step with one that records every call
    /// breaker by breaker, on mixed windows and disabled breakers.
    #[test]
    fn batched_successes_match_recording_each_call(
        windows in proptest::collection::vec((0u8..3, 1u32..6), 6),
        ops in proptest::collection::vec((0u64..400_000_000, 0u8..10, 0u8..6), 1..400),
    ) {
        let mut cfg = MultiBreakerConfig::default();
        let make = |(kind, n): (u8, u32)| match kind {
            0 => BreakerConfig {
                enabled: false,
                ..count_cfg(n)
            },
            1 => prop_cfg(1 + n % 2, Window::Count { size: 3 + n }),
            // Bucket widths of 15 to 90 ms.
            _ => prop_cfg(1 + n % 2, Window::time_ms(30 * u64::from(n), 1 + n % 3)),
        };
        for (i, c) in ErrorCategory::ALL.into_iter().enumerate() {
            *cfg.category_mut(c) = make(windows[i]);
        }
        cfg.global = make(windows[5]);
        prop_assert!(cfg.validate().is_ok());
        let mut batched = MultiBreaker::new(&cfg);
        let mut each = MultiBreaker::new(&cfg);
        let mut in_flight: Vec<Permit> = Vec::new();
        let mut now: Nanos = 0;
        let whiches = ErrorCategory::ALL
            .map(Tripped::Category)
            .into_iter()
            .chain([Tripped::Global]);
        for (dt, op, cat) in ops {
            // Mostly calls close together (long batches, often right on
            // a bucket edge: whole milliseconds), sometimes a jump.
            now += if op == 9 { dt } else { (dt % 3) * MS };
            match op {
                0..=2 => {
                    let a = batched.try_acquire(now);
                    prop_assert_eq!(a, each.try_acquire(now));
                    if let Ok(p) = a {
                        in_flight.push(p);
                    }
                }
                3..=7 if !in_flight.is_empty() => {
                    let p = in_flight.remove(0);
                    // Failures are rare, so batches grow.
                    let failure = if op == 7 {
                        ErrorCategory::from_index(usize::from(cat))
                    } else {
                        None
                    };
                    batched.record(now, p, failure);
                    each.record_each(now, p, failure);
                }
                8 if cat == 0 => {
                    batched.reset();
                    each.reset();
                }
                _ => {}
            }
            prop_assert_eq!(batched.states(now), each.states(now));
            prop_assert_eq!(batched.next_transition(), each.next_transition());
            // The try_acquire shortcut holds exactly when every breaker
            // is closed or disabled.
            let closed = batched
                .categories
                .iter()
                .chain(std::iter::once(&batched.global))
                .all(CircuitBreaker::is_closed);
            prop_assert_eq!(batched.all_closed, closed);
            // Read the counts of a copy, so the batch itself keeps growing.
            let mut copy = batched.clone();
            for which in whiches.clone() {
                prop_assert_eq!(copy.counts(now, which), each.counts(now, which));
                prop_assert_eq!(batched.breaker(which).trips(), each.breaker(which).trips());
            }
        }
    }

    #[test]
    fn multi_breaker_states_stay_valid(
        ops in proptest::collection::vec((0u64..800_000_000, 0u8..7, any::<bool>()), 1..300),
    ) {
        let mut cfg = MultiBreakerConfig::default();
        for c in ErrorCategory::ALL {
            *cfg.category_mut(c) = BreakerConfig {
                failure_rate: None,
                failure_count: Some(2),
                half_open_probes: 2,
                ..count_cfg(8)
            };
        }
        cfg.global = prop_cfg(1, Window::time_ms(2_000, 8));
        prop_assert!(cfg.validate().is_ok());
        let mut m = MultiBreaker::new(&cfg);
        let mut in_flight: Vec<Permit> = Vec::new();
        let mut now: Nanos = 0;
        for (dt, op, flag) in ops {
            now += dt;
            if op < 2 || in_flight.is_empty() {
                if let Ok(permit) = m.try_acquire(now) {
                    in_flight.push(permit);
                }
            } else {
                let permit = in_flight.remove(0);
                let failure = if flag {
                    ErrorCategory::from_index(usize::from(op - 2))
                } else {
                    None
                };
                m.record(now, permit, failure);
            }
            let (codes, global) = m.states(now);
            prop_assert!(codes.iter().all(|&c| c <= 2) && global <= 2);
            for which in ErrorCategory::ALL
                .map(Tripped::Category)
                .into_iter()
                .chain([Tripped::Global])
            {
                let out = in_flight.iter().filter(|p| p.is_probe_for(which)).count();
                let limit = m.breaker(which).config().half_open_probes as usize;
                prop_assert!(out <= limit);
                prop_assert_eq!(out, m.breaker(which).probes_outstanding() as usize);
            }
        }
    }
}
