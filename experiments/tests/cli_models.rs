//! `poolcast features --list`, `train` and `export` through the binary.

use std::process::Command;

fn poolcast(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_poolcast"))
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn features_list_prints_every_feature_and_the_hash() {
    let out = poolcast(&["features", "--list"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let rows = text.lines().filter(|l| !l.starts_with('#')).count();
    assert!(rows >= 120, "{rows} features listed");
    assert!(text.contains("definition hash"));
    assert!(text.contains("demand_mean_roll30_slope"));
    let bad = poolcast(&["features", "--list", "--interval-s", "7"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("seasons_s"));
}

#[test]
fn train_then_export_writes_a_loadable_artifact() {
    let dir = tempfile::tempdir().unwrap();
    let scen = dir.path().join("s.toml");
    std::fs::write(
        &scen,
        r#"
seed = 3
[[scenario]]
name = "cyc"
duration_s = 172800
interval_s = 60.0
classes = [{ class = "read", share = 1.0, service = { kind = "exponential", mean_ms = 80.0 } }]
pool = { min_size = 4, max_size = 60, initial_size = 10, policy = { kind = "reactive" } }
load = { base_rate = 50.0, patterns = [{ kind = "cyclical", daily_amplitude = 0.7 }] }
"#,
    )
    .unwrap();
    let runs = dir.path().join("runs");
    let s = poolcast(&[
        "simulate",
        scen.to_str().unwrap(),
        "--out",
        runs.to_str().unwrap(),
        "-q",
    ]);
    assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
    let tdir = dir.path().join("train");
    let t = poolcast(&[
        "train",
        runs.to_str().unwrap(),
        "--out",
        tdir.to_str().unwrap(),
        "--horizons",
        "5",
        "--families",
        "linear",
        "-q",
    ]);
    assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stderr));
    for f in [
        "features.parquet",
        "train_report.md",
        "train_report.json",
        "artifacts/h5.json",
    ] {
        assert!(tdir.join(f).exists(), "{f} missing");
    }
    let md = std::fs::read_to_string(tdir.join("train_report.md")).unwrap();
    assert!(md.contains("persistence") && md.contains("seasonal_naive") && md.contains("ridge"));
    let art = dir.path().join("artifact.json");
    let e = poolcast(&[
        "export",
        tdir.to_str().unwrap(),
        "--horizon",
        "5",
        "--out",
        art.to_str().unwrap(),
    ]);
    assert!(e.status.success(), "{}", String::from_utf8_lossy(&e.stderr));
    poolcast::core::artifact::ModelArtifact::load(&art).expect("the exported artifact loads");
    let missing = poolcast(&[
        "export",
        tdir.to_str().unwrap(),
        "--horizon",
        "15",
        "--out",
        art.to_str().unwrap(),
    ]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("train horizon 15 first"));
    // a features.parquet is accepted as input too
    let again = dir.path().join("train2");
    let t2 = poolcast(&[
        "train",
        tdir.join("features.parquet").to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
        "--families",
        "linear",
        "-q",
    ]);
    assert!(
        t2.status.success(),
        "{}",
        String::from_utf8_lossy(&t2.stderr)
    );
    assert_eq!(
        std::fs::read(tdir.join("artifacts/h5.json")).unwrap(),
        std::fs::read(again.join("artifacts/h5.json")).unwrap(),
        "same features, same artifact"
    );
}

/// A production pool's OpenTelemetry metrics (node-postgres through its
/// instrumentation, `datasets/tests/data/otlp`) train a forecaster and
/// export an artifact, as a simulated run's snapshots do.
#[test]
fn otlp_pool_metrics_train_a_forecaster() {
    let metrics = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../datasets/tests/data/otlp/metrics.jsonl");
    let dir = tempfile::tempdir().unwrap();
    let fit = dir.path().join("fit");
    let out = poolcast(&[
        "train",
        metrics.to_str().unwrap(),
        "--out",
        fit.to_str().unwrap(),
        "--horizons",
        "1,3",
        "--quick",
        "-q",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = std::fs::read_to_string(fit.join("train_report.md")).unwrap();
    // 82 one-second exports, less the horizon and the gaps between the
    // train, validation and test sets: every row a snapshot of the pool.
    // The three folds' validation blocks (16 rows each) pool to 48.
    assert!(
        report.contains(
            "rows: train 48, valid 48, test 15; folds (train, valid): (16, 16), (32, 16), (48, 16)"
        ),
        "{report}"
    );
    let art = fit.join("artifacts/h1.json");
    let exported = dir.path().join("model.json");
    let out = poolcast(&[
        "export",
        fit.to_str().unwrap(),
        "--horizon",
        "1",
        "--out",
        exported.to_str().unwrap(),
    ]);
    assert!(
        art.exists() && out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
