//! `poolcast advise` on every committed trace sample: the three forms of
//! one PostgreSQL log and the OpenTelemetry span exports of a real SDK.

use std::path::{Path, PathBuf};
use std::process::Command;

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../datasets/tests/data")
        .join(rel)
}

fn poolcast(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_poolcast"))
        .args(args)
        .output()
        .unwrap()
}

/// The one run directory under `out`.
fn run_dir(out: &Path) -> PathBuf {
    let exp: Vec<_> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(exp.len(), 1, "{exp:?}");
    let runs: Vec<_> = std::fs::read_dir(&exp[0])
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs[0].clone()
}

#[test]
fn every_sample_gets_a_recommendation_with_its_evidence() {
    // The pgbench logs span 0.14 s (the stderr one's whole seconds put
    // every arrival within 3 ms): too short to train on, so only the
    // policies that do not forecast are compared. The span exports are
    // 80 s of a service.
    for (rel, closed_loop, forecast) in [
        ("pg-three-ways/postgresql.csv", true, false),
        ("pg-three-ways/postgresql.json", true, false),
        ("pg-three-ways/postgresql-rds.log", true, false),
        ("otlp/spans-old-semconv.jsonl", true, true),
        ("otlp/spans-new-semconv.jsonl", true, true),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = poolcast(&[
            "advise".as_ref(),
            data(rel).as_os_str(),
            "--out".as_ref(),
            dir.path().as_os_str(),
            "--quiet".as_ref(),
            "--jobs".as_ref(),
            "2".as_ref(),
        ]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{rel}: {}\n{stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        let root = run_dir(dir.path());
        for f in [
            "manifest.toml",
            "advice.md",
            "advice.json",
            "advice.pool.toml",
            "report.html",
        ] {
            assert!(root.join(f).is_file(), "{rel}: no {f}");
        }
        let advice: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(root.join("advice.json")).unwrap())
                .unwrap();
        assert_eq!(advice["closed_loop"], closed_loop, "{rel}");
        let policies = advice["policies"].as_array().unwrap();
        let names: Vec<&str> = policies
            .iter()
            .map(|p| p["policy"].as_str().unwrap())
            .collect();
        for p in ["reactive", "oracle", "static-max"] {
            assert!(names.contains(&p), "{rel}: {names:?}");
        }
        assert_eq!(names.contains(&"predictive"), forecast, "{rel}: {names:?}");
        let rec = advice["recommended"].as_str().unwrap();
        assert!(
            names.contains(&rec) && rec != "oracle" && rec != "static-matched",
            "{rel}: {rec}"
        );
        let best = advice["best_without_forecast"].as_str().unwrap();
        assert_ne!(best, "predictive", "{rel}");
        // Every policy replayed the same held-out part, so each one's
        // interval holds its point and the paired difference is the
        // difference of the points.
        for p in policies {
            for k in ["conn_s", "wait_mean_ms"] {
                let (m, lo, hi) = (
                    p[k]["mean"].as_f64().unwrap(),
                    p[k]["lo"].as_f64().unwrap(),
                    p[k]["hi"].as_f64().unwrap(),
                );
                assert!(lo <= m && m <= hi, "{rel}: {} {k}: {p}", p["policy"]);
            }
        }
        let conn = |name: &str| {
            policies.iter().find(|p| p["policy"] == name).unwrap()["conn_s"]["mean"]
                .as_f64()
                .unwrap()
        };
        // The pgbench held-out parts are about as long as a connection's
        // set-up: a pool may open nothing in them. The spans' are longer.
        if forecast {
            assert!(conn("static-max") > 0.0, "{rel}");
        }
        let d = &advice["forecasting_adds"];
        assert_eq!(rec == "predictive" || forecast, forecast, "{rel}");
        if forecast {
            assert_eq!(d["b"], best, "{rel}");
            let diff = d["conn_s"]["mean"].as_f64().unwrap();
            assert!(
                (diff - (conn("predictive") - conn(best))).abs() < 1e-6 * conn(best).max(1.0),
                "{rel}: {d}"
            );
        } else {
            assert!(d.is_null(), "{rel}: {d}");
            assert!(stdout.contains("too short to train"), "{rel}: {stdout}");
        }
        // The recommended pool.toml is one the runtime accepts.
        let toml = std::fs::read_to_string(root.join("advice.pool.toml")).unwrap();
        let file: poolcast::core::settings::PoolFile = toml::from_str(&toml).unwrap();
        file.validate().unwrap();
        assert!(
            stdout.contains(&format!("## Recommended: {rec}")),
            "{rel}: {stdout}"
        );
        assert!(stdout.contains("What forecasting adds"), "{rel}");
        // A sample of seconds says it is a sketch.
        assert!(stdout.contains("a sketch"), "{rel}");
    }
}

/// The manifest advise writes is an ordinary one: `poolcast run` on it
/// finds the same run directory and reuses every step.
#[test]
fn the_written_manifest_runs_again_from_its_run_directory() {
    let dir = tempfile::tempdir().unwrap();
    let trace = data("otlp/spans-new-semconv.jsonl");
    let out = poolcast(&[
        "advise".as_ref(),
        trace.as_os_str(),
        "--out".as_ref(),
        dir.path().as_os_str(),
        "--quiet".as_ref(),
        "--wait-target-ms".as_ref(),
        "2".as_ref(),
        "--max-size".as_ref(),
        "7".as_ref(),
        "--create-ms".as_ref(),
        "20".as_ref(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root = run_dir(dir.path());
    let manifest = std::fs::read_to_string(root.join("manifest.toml")).unwrap();
    assert!(manifest.contains("max_size = 7"), "{manifest}");
    assert!(manifest.contains("mean_ms = 20.0"), "{manifest}");
    assert!(manifest.contains("target_wait_ms = 2.0"), "{manifest}");
    let again = poolcast(&[
        "run".as_ref(),
        root.join("manifest.toml").as_os_str(),
        "--out".as_ref(),
        dir.path().as_os_str(),
    ]);
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{err}");
    assert!(err.contains(&root.display().to_string()), "{err}");
    for step in ["train", "tune", "evaluate"] {
        assert!(
            err.lines()
                .any(|l| l.trim_start().starts_with(&format!("{step}:")) && l.contains("reused")),
            "{step} was not reused: {err}"
        );
    }
}

#[test]
fn a_metrics_file_or_bad_knobs_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let out = poolcast(&[
        "advise".as_ref(),
        data("otlp/spans-new-semconv.jsonl").as_os_str(),
        "--out".as_ref(),
        dir.path().as_os_str(),
        "--held-out".as_ref(),
        "0.99".as_ref(),
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--held-out"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = poolcast(&[
        "advise".as_ref(),
        data("otlp/metrics.jsonl").as_os_str(),
        "--out".as_ref(),
        dir.path().as_os_str(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("metrics.jsonl"), "{err}");
}
