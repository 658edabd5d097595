//! Issue 24's acceptance on the shipped non-stationary manifest
//! (`trend.toml`: load tripling through the day, then a grown workload
//! with a higher peak than training saw): no model family collapses below
//! persistence at the export horizon, the selected forecaster beats
//! persistence, and the report carries the fold table, the quantile
//! coverage and the ablation rows.

use poolcast_reports::{ForecastSection, ModelKind, ModelScore, PolicySection};

mod common;

fn find<'a>(models: &'a [ModelScore], prefix: &str) -> &'a ModelScore {
    models
        .iter()
        .find(|m| m.name.starts_with(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` row"))
}

#[test]
fn no_family_collapses_on_the_trend_and_the_report_says_what_the_model_adds() {
    let dir = tempfile::tempdir().unwrap();
    let run = common::run_shipped("trend", dir.path());
    // metrics.json is the report without its machine-dependent timings
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("metrics.json")).unwrap()).unwrap();
    let f: ForecastSection =
        serde_json::from_value(metrics["forecast"].clone()).expect("trend.toml trains");
    let h = f
        .horizons
        .iter()
        .find(|h| h.horizon == f.export_horizon)
        .expect("the export horizon was trained");
    let persistence = find(&h.models, "persistence").test.accuracy;
    for m in h.models.iter().filter(|m| m.kind == ModelKind::Model) {
        assert!(
            m.test.accuracy >= persistence - 0.01,
            "{} collapses: test accuracy {:.4} against persistence's {persistence:.4}",
            m.name,
            m.test.accuracy
        );
        assert_eq!(m.folds.len(), h.fold_rows.len(), "{}", m.name);
        assert!(m.fold_accuracy.is_some(), "{}", m.name);
    }
    let winner = h.models.iter().find(|m| m.name == h.winner).unwrap();
    assert!(
        winner.test.accuracy > persistence,
        "selected {} at {:.4} does not beat persistence's {persistence:.4}",
        winner.name,
        winner.test.accuracy
    );
    assert!(h.fold_rows.len() >= 2, "{:?}", h.fold_rows);
    assert!(!h.quantile_coverage.is_empty());
    let policies: PolicySection =
        serde_json::from_value(metrics["policies"].clone()).expect("trend.toml evaluates policies");
    for s in &policies.scenarios {
        assert!(s.model_contribution.is_some(), "{}", s.scenario);
        assert!(s.ideal_contribution.is_some(), "{}", s.scenario);
    }
    let md = std::fs::read_to_string(run.join("report.md")).unwrap();
    for needle in [
        "Rolling-origin folds",
        "Quantile coverage on test",
        "What the model adds",
        "What a perfect forecast adds",
    ] {
        assert!(md.contains(needle), "report.md lacks `{needle}`");
    }
}
