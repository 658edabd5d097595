//! The oracle's foresight and the predictive policy's fallback, in the
//! closed loop.

mod common;

use poolcast::core::policy::Foresight;
use poolcast_sim::foresight::DemandProfile;

const CLASSES: &str = r#"
[[defaults.classes]]
class = "read"
share = 0.7
service = { kind = "lognormal", mean_ms = 40.0, cv = 1.0 }
[[defaults.classes]]
class = "analytics"
share = 0.3
service = { kind = "exponential", mean_ms = 120.0 }
"#;

/// With a pool so large nobody waits, measured demand per interval is the
/// unconstrained demand the oracle is shown.
#[test]
fn the_oracle_sees_the_demand_an_unbounded_pool_measures() {
    let toml = format!(
        r#"
seed = 5
{CLASSES}
[[scenario]]
name = "big-pool"
duration_s = 600
interval_s = 1
load = {{ base_rate = 300.0, patterns = [{{ kind = "spike", start_s = 200, duration_s = 100, multiplier = 3.0 }}] }}
pool = {{ min_size = 400, max_size = 400, initial_size = 400, health_check = "never" }}
"#
    );
    let file = common::parse(&toml);
    let sc = &file.scenarios[0];
    let (summary, sink) = common::run(sc, file.seed, 0);
    assert_eq!(summary.timeouts, 0);
    let profile = DemandProfile::compute(sc, file.seed, 0);
    let mut mismatches = 0;
    for (i, s) in sink.snapshots.iter().enumerate() {
        let start = s.t_ns - s.interval_ns;
        // the first second includes waits for the initial connections
        if i > 0 && profile.peak_at(start) != s.demand_max {
            mismatches += 1;
        }
        // and its mean concurrency is the busy mean the pool measured
        // (what `predictive-ideal` is shown for a mean-demand target)
        let mean = profile.mean_demand(start, s.t_ns);
        if i > 0 && (mean - s.busy_mean).abs() > 1e-6 * mean.max(1.0) {
            mismatches += 1;
        }
    }
    assert_eq!(
        mismatches, 0,
        "profile and measured peaks differ in {mismatches} intervals"
    );
    assert!(sink.snapshots.iter().map(|s| s.demand_max).max().unwrap() > 40);
}

fn spike(policy: &str) -> poolcast_sim::Summary {
    let toml = format!(
        r#"
seed = 11
{CLASSES}
[[scenario]]
name = "spike"
duration_s = 1800
interval_s = 5
load = {{ base_rate = 150.0, patterns = [{{ kind = "spike", start_s = 600, duration_s = 300, multiplier = 4.0, rise_s = 20, fall_s = 20 }}] }}
pool = {{ min_size = 4, max_size = 120, initial_size = 10, acquire_timeout_ms = 500.0, create_time = {{ kind = "lognormal", mean_ms = 50.0, cv = 0.5 }}, policy = {policy} }}
"#
    );
    let (summary, _) = common::run_toml(&toml);
    assert!(summary.conserves());
    summary
}

#[test]
fn the_oracle_waits_less_than_reactive_scaling_on_a_spike() {
    let reactive = spike(r#"{ kind = "reactive" }"#);
    let oracle = spike(r#"{ kind = "oracle", lead = 2 }"#);
    let p95 = |s: &poolcast_sim::Summary| s.acquire_wait_p95_ms.unwrap_or(0.0);
    assert!(
        p95(&oracle) <= p95(&reactive) && oracle.timeouts <= reactive.timeouts,
        "oracle p95 {} ms / {} timeouts vs reactive {} ms / {}",
        p95(&oracle),
        oracle.timeouts,
        p95(&reactive),
        reactive.timeouts
    );
    assert_eq!(oracle.policy, "oracle");
}

#[test]
fn a_predictive_policy_without_its_artifact_runs_as_reactive() {
    let reactive = spike(r#"{ kind = "reactive" }"#);
    let predictive = spike(r#"{ kind = "predictive", artifact = "/nonexistent/artifact.json" }"#);
    assert_eq!(predictive.policy, "predictive");
    assert_eq!(predictive.requests, reactive.requests);
    assert_eq!(predictive.acquire_wait_p95_ms, reactive.acquire_wait_p95_ms);
    assert_eq!(predictive.connection_seconds, reactive.connection_seconds);
}
