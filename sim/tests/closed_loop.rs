//! The summary fields the closed-loop policy comparison reads
//! (`scale_events`, `target_mean`, `acquire_wait_quantiles_ms`,
//! `throughput_rps`) and the helpers that set a scenario's policy.

mod common;

use poolcast::core::policy::{PolicyConfig, ReactiveConfig};
use poolcast_sim::summary::WAIT_QUANTILE_LEVELS;
use poolcast_sim::{Scenario, Summary};

/// A 4× spike on a pool of 4..120 that starts at 10 connections.
fn spike(policy: &str) -> Scenario {
    let toml = format!(
        r#"
seed = 11
[[scenario]]
name = "spike"
duration_s = 900
interval_s = 5
load = {{ base_rate = 150.0, patterns = [{{ kind = "spike", start_s = 300, duration_s = 200, multiplier = 4.0, rise_s = 20, fall_s = 20 }}] }}
classes = [{{ class = "read", share = 1.0, service = {{ kind = "lognormal", mean_ms = 40.0, cv = 1.0 }} }}]
pool = {{ min_size = 4, max_size = 120, initial_size = 10, acquire_timeout_ms = 500.0, create_time = {{ kind = "lognormal", mean_ms = 50.0, cv = 0.5 }} {policy} }}
"#
    );
    let mut f = common::parse(&toml);
    f.scenarios.remove(0).into_inner()
}

fn run(sc: &Scenario) -> Summary {
    sc.validate("test").expect("valid scenario");
    let (s, _) = common::run(sc, 11, 0);
    assert!(s.conserves());
    s
}

#[test]
fn a_static_pool_at_its_initial_size_never_scales() {
    // The default policy: static at the initial size.
    let s = run(&spike(""));
    assert_eq!(s.policy, "static");
    assert_eq!(s.scale_events, 0);
    assert_eq!(s.target_mean, 10.0);
    // Written out, same thing.
    let s = run(&spike(r#", policy = { kind = "static", size = 10 }"#));
    assert_eq!(s.scale_events, 0);
    assert_eq!(s.target_mean, 10.0);
}

#[test]
fn a_static_policy_off_the_initial_size_scales_once() {
    let s = run(&spike(r#", policy = { kind = "static", size = 30 }"#));
    assert_eq!(s.scale_events, 1);
    // 10 until the first interval closes at 5 s, 30 after.
    let want = (10.0 * 5.0 + 30.0 * 895.0) / 900.0;
    assert!((s.target_mean - want).abs() < 1e-9, "{}", s.target_mean);
}

#[test]
fn a_reactive_pool_scales_on_a_spike() {
    let s = run(&spike(r#", policy = { kind = "reactive" }"#));
    assert_eq!(s.policy, "reactive");
    assert!(s.scale_events >= 2, "up and back down: {}", s.scale_events);
    // The target can only change once per interval.
    assert!(s.scale_events <= 900 / 5);
    assert!(
        s.target_mean > 4.0 && s.target_mean < 120.0,
        "{}",
        s.target_mean
    );
    // It had to grow above the initial 10 for the 4× spike (~24 busy).
    assert!(s.target_mean > 10.0, "{}", s.target_mean);
}

#[test]
fn throughput_is_completions_per_simulated_second() {
    let s = run(&spike(""));
    assert_eq!(s.throughput_rps, s.completed as f64 / s.duration_s);
    assert!(s.throughput_rps > 0.0 && s.throughput_rps <= s.arrival_rate);
}

#[test]
fn wait_quantiles_are_a_monotone_cdf_matching_the_named_fields() {
    assert_eq!(WAIT_QUANTILE_LEVELS.len(), 104);
    assert_eq!(WAIT_QUANTILE_LEVELS[0], 0.0);
    assert_eq!(WAIT_QUANTILE_LEVELS[1], 0.01);
    assert_eq!(WAIT_QUANTILE_LEVELS[50], 0.5);
    assert_eq!(WAIT_QUANTILE_LEVELS[95], 0.95);
    assert_eq!(WAIT_QUANTILE_LEVELS[99], 0.99);
    assert_eq!(WAIT_QUANTILE_LEVELS[100..], [0.995, 0.999, 0.9999, 1.0]);
    assert!(WAIT_QUANTILE_LEVELS.windows(2).all(|w| w[0] < w[1]));

    // The static pool of 10 waits (and times out) through the spike.
    let s = run(&spike(""));
    let q = &s.acquire_wait_quantiles_ms;
    assert_eq!(q.len(), WAIT_QUANTILE_LEVELS.len());
    assert!(q.windows(2).all(|w| w[0] <= w[1]), "{q:?}");
    assert_eq!(Some(q[103]), s.acquire_wait_max_ms);
    assert_eq!(Some(q[95]), s.acquire_wait_p95_ms);
    assert_eq!(Some(q[50]), s.acquire_wait_p50_ms);
    assert_eq!(Some(q[99]), s.acquire_wait_p99_ms);
    assert!(q[103] > 0.0 && q[0] == 0.0);
}

#[test]
fn no_grants_no_wait_quantiles() {
    let f = common::parse(
        r#"
seed = 1
[[scenario]]
name = "idle"
duration_s = 10
load = { base_rate = 0.0001 }
classes = [{ class = "read", share = 1.0, service = { kind = "exponential", mean_ms = 5.0 } }]
"#,
    );
    let (s, _) = common::run(&f.scenarios[0], f.seed, 0);
    assert_eq!(s.grants, 0);
    assert!(s.acquire_wait_quantiles_ms.is_empty());
    assert_eq!(s.acquire_wait_max_ms, None);
    assert_eq!(s.cache_hit_rate, None);
    assert_eq!(s.throughput_rps, 0.0);
}

#[test]
fn with_policy_replaces_only_the_policy() {
    let base = spike("");
    let reactive = base
        .clone()
        .with_policy(PolicyConfig::Reactive(ReactiveConfig::default()));
    assert_eq!(reactive.name, base.name);
    assert_eq!(reactive.pool.settings.min_size, base.pool.settings.min_size);
    assert_eq!(reactive.pool.settings.max_size, base.pool.settings.max_size);
    assert!(matches!(
        reactive.pool.policy,
        Some(PolicyConfig::Reactive(_))
    ));
    // The same as writing the policy into the file.
    let written = spike(r#", policy = { kind = "reactive" }"#);
    assert_eq!(reactive, written);
    let (a, b) = (run(&reactive), run(&base));
    assert_eq!(a.policy, "reactive");
    // Same name, same streams: the same requests arrive.
    assert_eq!(a.requests, b.requests);
}

#[test]
fn with_fixed_size_pins_the_pool() {
    let mut base = spike(r#", policy = { kind = "reactive" }, min_idle = 8"#);
    base.replications = 3;
    let fixed = base.clone().with_fixed_size(6);
    assert!(fixed.pool.is_fixed());
    assert_eq!(
        (
            fixed.pool.settings.min_size,
            fixed.pool.settings.max_size,
            fixed.pool.initial()
        ),
        (6, 6, 6)
    );
    assert_eq!(fixed.pool.settings.min_idle, 6, "lowered to the size");
    assert_eq!(fixed.pool.policy, Some(PolicyConfig::Static { size: 6 }));
    assert_eq!(fixed.replications, 3);
    let s = run(&fixed);
    assert_eq!(s.policy, "static");
    assert_eq!(s.scale_events, 0);
    assert_eq!(s.target_mean, 6.0);
    assert!((s.mean_size - 6.0).abs() < 0.01, "{}", s.mean_size);
    assert_eq!(s.requests, run(&base).requests);
}

#[test]
fn a_summary_written_before_the_new_fields_still_parses() {
    let (s, _) = common::run(&spike(""), 11, 0);
    let mut v = serde_json::to_value(&s).expect("serializes");
    let o = v.as_object_mut().expect("an object");
    for k in [
        "throughput_rps",
        "acquire_wait_quantiles_ms",
        "scale_events",
        "target_mean",
        "statement_cache_hits",
        "statement_cache_misses",
        "cache_hit_rate",
    ] {
        assert!(o.remove(k).is_some(), "{k} is serialized");
    }
    let old: Summary = serde_json::from_value(v).expect("old summaries parse");
    assert_eq!(old.requests, s.requests);
    assert!(old.acquire_wait_quantiles_ms.is_empty());
    assert_eq!((old.scale_events, old.cache_hit_rate), (0, None));
}
