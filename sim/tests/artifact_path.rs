//! A predictive policy finds its artifact whatever the working directory:
//! an absolute path is used as is, a relative one is resolved against the
//! scenario file's directory when the file is loaded, and a policy set
//! programmatically ([`Scenario::with_policy`]) with an absolute path works
//! too.
//!
//! This binary holds a single test because it changes the process's
//! working directory.

mod common;

use std::path::{Path, PathBuf};

use poolcast::core::policy::PolicyConfig;
use poolcast::core::policy::{PredictiveConfig, PredictivePolicy};
use poolcast_sim::{Scenario, ScenarioFile, Summary};

/// The workbench-exported model of `pool/tests/data/predictive` (100-ms
/// telemetry, an `api` class of 20 ms).
fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../pool/tests/data/predictive/artifact.json")
        .canonicalize()
        .expect("the predictive fixture exists")
}

fn scenario(name: &str, artifact: &str) -> String {
    format!(
        r#"
[[scenario]]
name = "{name}"
duration_s = 120
interval_s = 0.1
load = {{ base_rate = 100.0, patterns = [{{ kind = "markov", states = [0.5, 4.0], mean_dwell_s = [20.0, 20.0] }}] }}
classes = [{{ class = "api", share = 1.0, service = {{ kind = "exponential", mean_ms = 20.0 }} }}]
pool = {{ min_size = 1, max_size = 40, initial_size = 2, policy = {{ kind = "predictive", artifact = "{artifact}" }} }}
"#
    )
}

fn artifact_of(sc: &Scenario) -> PathBuf {
    match &sc.pool.policy {
        Some(PolicyConfig::Predictive(PredictiveConfig {
            artifact: Some(p), ..
        })) => p.clone(),
        other => panic!("expected a predictive policy with an artifact, got {other:?}"),
    }
}

fn loads(sc: &Scenario) {
    let Some(PolicyConfig::Predictive(cfg)) = &sc.pool.policy else {
        panic!("predictive");
    };
    let p = PredictivePolicy::new(cfg.clone(), 0);
    assert_eq!(p.load_error(), None, "{}", artifact_of(sc).display());
}

fn run(sc: &Scenario) -> Summary {
    let (s, _) = common::run(sc, 7, 0);
    assert!(s.conserves());
    s
}

#[test]
fn artifacts_are_found_from_any_working_directory() {
    let art = fixture();
    let files = tempfile::tempdir().expect("temp dir");
    std::fs::copy(&art, files.path().join("artifact.json")).expect("copy");
    let text = format!(
        "seed = 7\n{}{}",
        scenario("absolute", &art.display().to_string()),
        scenario("relative", "artifact.json")
    );
    let path = files.path().join("scenario.toml");
    std::fs::write(&path, text).expect("write");

    // Somewhere the relative path means nothing.
    let elsewhere = tempfile::tempdir().expect("temp dir");
    std::env::set_current_dir(elsewhere.path()).expect("chdir");

    let file = ScenarioFile::load(&path).expect("loads");
    let (abs, rel) = (&file.scenarios[0], &file.scenarios[1]);
    assert_eq!(artifact_of(abs), art, "an absolute path is kept as is");
    assert_eq!(artifact_of(rel), files.path().join("artifact.json"));
    assert!(artifact_of(rel).is_absolute());
    loads(abs);
    loads(rel);

    // The runner's way: a scenario whose policy is set in code.
    let mut reactive = abs.clone().into_inner();
    reactive.pool.policy = Some(PolicyConfig::Reactive(Default::default()));
    let coded = reactive
        .clone()
        .with_policy(abs.pool.policy.clone().expect("set"));
    assert_eq!(&coded, &**abs);
    loads(&coded);

    // The model drives the pool: the run differs from the reactive
    // fallback it would be without its artifact.
    let (a, r) = (run(&coded), run(&reactive));
    assert_eq!(a.policy, "predictive");
    assert_eq!(a.requests, r.requests);
    assert_ne!(
        (a.connection_seconds, a.scale_events),
        (r.connection_seconds, r.scale_events),
        "the predictive run behaved exactly like the reactive one"
    );
    let missing = reactive.with_policy(PolicyConfig::Predictive(PredictiveConfig {
        artifact: Some(elsewhere.path().join("artifact.json")),
        ..PredictiveConfig::default()
    }));
    let m = run(&missing);
    assert_eq!(
        (m.connection_seconds, m.scale_events),
        (r.connection_seconds, r.scale_events),
        "without its artifact a predictive policy runs as reactive"
    );
    // Leave the temp dirs from outside them.
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).expect("chdir back");
}
