//! `poolcast inspect` on every committed sample: the three forms of one
//! PostgreSQL log and the OpenTelemetry span exports of a real SDK.

use std::path::{Path, PathBuf};
use std::process::Command;

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../datasets/tests/data")
        .join(rel)
}

/// Runs inspect on `trace`; its stdout, HTML and JSON.
fn inspect(trace: &Path, extra: &[&str]) -> (String, String, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("p.html");
    let json = dir.path().join("p.json");
    let out = Command::new(env!("CARGO_BIN_EXE_poolcast"))
        .arg("inspect")
        .arg(trace)
        .arg("--html")
        .arg(&html)
        .arg("--json")
        .arg(&json)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        trace.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        std::fs::read_to_string(html).unwrap(),
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap(),
    )
}

#[test]
fn every_sample_is_profiled_in_text_and_html() {
    for (rel, requests, format) in [
        ("pg-three-ways/postgresql.csv", None, "csvlog"),
        ("pg-three-ways/postgresql.json", None, "jsonlog"),
        ("pg-three-ways/postgresql-rds.log", None, "stderr"),
        ("otlp/spans-old-semconv.jsonl", Some(178), "OTLP/JSON spans"),
        ("otlp/spans-new-semconv.jsonl", Some(178), "OTLP/JSON spans"),
    ] {
        let (text, html, json) = inspect(&data(rel), &[]);
        let n = json["requests"].as_u64().unwrap();
        if let Some(r) = requests {
            assert_eq!(n, r, "{rel}");
        }
        assert!(n > 0, "{rel}");
        assert!(
            json["format"].as_str().unwrap().starts_with(format),
            "{rel}"
        );
        assert!(text.contains(&format!("requests: {n} ")), "{rel}: {text}");
        assert!(text.contains("MB/s"), "{rel}");
        // Self-contained: charts inlined, nothing fetched.
        assert!(
            html.contains("<svg") && !html.contains("src=\"http"),
            "{rel}"
        );
        assert!(html.contains("Top patterns by requests"), "{rel}");
        let classes: u64 = json["classes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["requests"].as_u64().unwrap())
            .sum();
        assert_eq!(classes, n, "{rel}");
    }
}

/// The three forms of one run profile to the same requests, classes and
/// patterns; the stderr log's `%t` is said in its notes.
#[test]
fn one_run_in_three_forms_profiles_alike() {
    let (_, _, csv) = inspect(&data("pg-three-ways/postgresql.csv"), &[]);
    let (_, _, json) = inspect(&data("pg-three-ways/postgresql.json"), &[]);
    let (text, _, err) = inspect(&data("pg-three-ways/postgresql-rds.log"), &[]);
    for v in [&json, &err] {
        assert_eq!(v["requests"], csv["requests"]);
        assert_eq!(
            v["top_by_count"][0]["count"],
            csv["top_by_count"][0]["count"]
        );
        assert_eq!(v["patterns"], csv["patterns"]);
    }
    assert_eq!(json["classes"], csv["classes"]);
    assert!(text.contains("%t has whole seconds"), "{text}");
    assert!(err["sizing"]["busy_peak"].is_null(), "{}", err["sizing"]);
}

#[test]
fn bad_options_and_files_name_what_is_wrong() {
    let out = Command::new(env!("CARGO_BIN_EXE_poolcast"))
        .args(["inspect", "/no/such/trace.log"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/trace.log"));
    let out = Command::new(env!("CARGO_BIN_EXE_poolcast"))
        .arg("inspect")
        .arg(data("pg-three-ways/postgresql.csv"))
        .args(["--format", "xml"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("--format"));
}
