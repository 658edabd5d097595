//! Helpers shared by the integration tests of `poolcast-sim`.
#![allow(dead_code)]

use poolcast::core::Snapshot;
use poolcast_sim::{Engine, MemorySink, Scenario, ScenarioFile, Summary};

/// Parses scenario TOML that the test expects to be valid.
pub fn parse(toml: &str) -> ScenarioFile {
    ScenarioFile::parse(toml, "test.toml").unwrap_or_else(|e| panic!("invalid test scenario: {e}"))
}

/// Validates `sc` (which the test expects to be valid) and runs one
/// replication in memory.
pub fn run(sc: &Scenario, seed: u64, replication: u32) -> (Summary, MemorySink) {
    let sc = sc
        .clone()
        .into_valid("test")
        .unwrap_or_else(|e| panic!("invalid test scenario: {e}"));
    let mut sink = MemorySink::default();
    let summary = Engine::new(&sc, seed, replication, &mut sink)
        .run()
        .expect("the memory sink never fails");
    (summary, sink)
}

/// Parses `toml` and runs its only scenario (replication 0).
pub fn run_toml(toml: &str) -> (Summary, MemorySink) {
    let file = parse(toml);
    assert_eq!(file.scenarios.len(), 1, "expected exactly one scenario");
    run(&file.scenarios[0], file.seed, 0)
}

/// Total arrivals (all classes) per snapshot, as f64.
pub fn arrivals(snaps: &[Snapshot]) -> Vec<f64> {
    snaps
        .iter()
        .map(|s| f64::from(s.arrivals_total()))
        .collect()
}

/// Arithmetic mean.
pub fn mean(v: &[f64]) -> f64 {
    assert!(!v.is_empty());
    v.iter().sum::<f64>() / v.len() as f64
}

/// Unbiased sample variance.
pub fn variance(v: &[f64]) -> f64 {
    assert!(v.len() > 1);
    let m = mean(v);
    v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64
}

/// Lag-1 autocorrelation.
pub fn lag1_autocorrelation(v: &[f64]) -> f64 {
    let m = mean(v);
    let den: f64 = v.iter().map(|x| (x - m).powi(2)).sum();
    let num: f64 = v.windows(2).map(|w| (w[0] - m) * (w[1] - m)).sum();
    num / den
}

/// `|got / want − 1|`.
pub fn rel_err(got: f64, want: f64) -> f64 {
    (got / want - 1.0).abs()
}

/// Asserts `got` is within `tol` (relative) of `want`.
#[track_caller]
pub fn assert_rel(what: &str, got: f64, want: f64, tol: f64) {
    let e = rel_err(got, want);
    assert!(
        e <= tol,
        "{what}: got {got}, expected {want} within {:.2}% (off by {:.3}%)",
        tol * 100.0,
        e * 100.0
    );
}
