//! `poolcast run` and `poolcast merge` through the binary: manifest errors,
//! determinism across `--jobs`, reuse of finished steps, shards that merge
//! into the same run, every report section, and a `pool.toml` that the
//! runtime pool loads as is.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::Noop;

/// A small experiment: seconds of work, every step and policy.
const TINY: &str = r#"
[experiment]
name = "tiny"
seed = 11
description = "A test run."

[defaults]
interval_s = 1.0
duration_s = 1500
replications = 2
classes = [
  { class = "read", share = 0.7, service = { kind = "exponential", mean_ms = 150.0 } },
  { class = "write", share = 0.3, service = { kind = "gamma", mean_ms = 200.0, shape = 2.0 } },
]
pool = { min_size = 1, max_size = 30, initial_size = 4, acquire_timeout_ms = 2000.0, create_time = { kind = "lognormal", mean_ms = 80.0, cv = 0.5 }, policy = { kind = "reactive" } }
failures = { query_rate = 0.002, connection_rate = 0.002 }

[[scenario]]
name = "wave"
load = { base_rate = 30.0, patterns = [{ kind = "spike", start_s = 600, duration_s = 300, multiplier = 2.5, rise_s = 60, fall_s = 60 }, { kind = "noise", sigma = 0.1 }] }

[[scenario]]
name = "unseen"
load = { base_rate = 25.0, patterns = [{ kind = "markov", states = [1.0, 2.0], mean_dwell_s = [300.0, 120.0] }] }

[data]
scenarios = ["wave"]

[dataset]
horizons = [5]
season_s = 300
[dataset.features]
windows = [10, 30, 60]
lags = [1, 2, 5]
ewma_spans = [5, 20]
seasons_s = [300]
season_ahead = [0, 5]

[train]
forest = [{ n_trees = 8, max_depth = 6, max_features = 0.5 }]
boosting = [{ rounds = 40, learning_rate = 0.1, max_leaves = 8 }]

[tuning]
replications = 1
constraints = { wait_p95_ms = 200.0 }
space = { "policy.headroom" = [1.0, 1.3] }

[evaluation]
scenarios = ["wave", "unseen"]
replications = 3
policies = ["static-min", "static-max", "reactive", "adaptive-moderate", "predictive", "predictive-naive", "static-matched", "oracle"]

[outputs]
importance_rows = 200
"#;

fn poolcast(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_poolcast"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn write_manifest(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("m.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// `poolcast run <manifest> --out <out> <extra>… -q`, which must succeed;
/// its stdout.
fn run_into(manifest: &str, out: &Path, extra: &[&str]) -> String {
    let mut args = vec!["run", manifest, "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push("-q");
    ok(&poolcast(&args))
}

/// TINY run in `dir/o`; its run directory.
fn tiny_run(dir: &Path) -> PathBuf {
    let m = write_manifest(dir, TINY);
    let out = dir.join("o");
    run_into(m.to_str().unwrap(), &out, &[]);
    run_dir(&out)
}

/// The only run directory under `out/tiny/`.
fn run_dir(out: &Path) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(out.join("tiny"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.pop().unwrap()
}

/// Every file under `root` (relative path → bytes), without the
/// machine-dependent ones: `timings.json`, the shard bookkeeping, and the
/// reports' machine-measured blocks.
fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, d: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).unwrap().display().to_string();
                let bytes = std::fs::read(&p).unwrap();
                out.insert(rel, bytes);
            }
        }
    }
    let mut all = BTreeMap::new();
    walk(root, root, &mut all);
    all.retain(|k, _| {
        !(k == "timings.json" || k == "train/timings.json" || k.starts_with("shards/"))
    });
    for k in ["report.md", "report.html"] {
        if let Some(v) = all.get_mut(k) {
            *v =
                poolcast_reports::strip_machine_dependent(&String::from_utf8_lossy(v)).into_bytes();
        }
    }
    all
}

fn assert_same(a: &Path, b: &Path) {
    let (fa, fb) = (files(a), files(b));
    let ka: Vec<&String> = fa.keys().collect();
    let kb: Vec<&String> = fb.keys().collect();
    assert_eq!(ka, kb, "the two runs wrote different files");
    for (k, v) in &fa {
        assert!(
            v == &fb[k],
            "{k} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
}

#[test]
fn bad_manifests_fail_naming_the_file_and_field() {
    let d = tempfile::tempdir().unwrap();
    for (edit, want) in [
        (
            TINY.replace("replications = 3", "replicatons = 3"),
            "evaluation.replicatons",
        ),
        (
            TINY.replace("\"static-min\", ", "\"static-minimal\", "),
            "evaluation.policies[0]: unknown policy `static-minimal`",
        ),
        (
            TINY.replace("\"policy.headroom\"", "\"policy.headrom\""),
            "tuning.space.\"policy.headrom\"[0]",
        ),
        (
            TINY.replace("base_rate = 30.0", "base_rate = -30.0"),
            "scenario[0].load.base_rate",
        ),
        (
            TINY.replace("scenarios = [\"wave\"]", "scenarios = [\"wav\"]"),
            "data.scenarios[0]: no scenario named \"wav\"",
        ),
    ] {
        let m = write_manifest(d.path(), &edit);
        let out = poolcast(&[
            "run",
            m.to_str().unwrap(),
            "--out",
            d.path().to_str().unwrap(),
        ]);
        assert!(!out.status.success(), "{want}: should fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(want) && err.contains("m.toml"),
            "expected {want:?} naming m.toml, got:\n{err}"
        );
    }
}

#[test]
fn the_same_manifest_gives_the_same_bytes_whatever_the_thread_count() {
    let d = tempfile::tempdir().unwrap();
    let m = write_manifest(d.path(), TINY);
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    run_into(m.to_str().unwrap(), &a, &["--jobs", "1"]);
    run_into(m.to_str().unwrap(), &b, &["--jobs", "2"]);
    let (ra, rb) = (run_dir(&a), run_dir(&b));
    assert_eq!(
        ra.file_name(),
        rb.file_name(),
        "the run id is the manifest's hash"
    );
    assert_same(&ra, &rb);

    // Every section of the report, every output of the run directory.
    for f in [
        "manifest.toml",
        "manifest.resolved.json",
        "run.json",
        "features.parquet",
        "artifact.json",
        "pool.toml",
        "metrics.json",
        "evaluation.json",
        "timings.json",
        "report.md",
        "report.html",
        "tuning/result.json",
        "telemetry/phase=data/scenario=wave/replication=0/snapshots.parquet",
        "telemetry/phase=eval/policy=predictive/scenario=unseen/replication=3/snapshots.parquet",
    ] {
        assert!(ra.join(f).is_file(), "missing {f}");
    }
    let md = std::fs::read_to_string(ra.join("report.md")).unwrap();
    let html = std::fs::read_to_string(ra.join("report.html")).unwrap();
    for heading in [
        "Summary",
        "Claims",
        "Forecast accuracy",
        "Policies",
        "Tuning",
        "Procedure",
        "timings",
    ] {
        assert!(md.contains(heading), "report.md lacks {heading}");
        assert!(html.contains(heading), "report.html lacks {heading}");
    }
    assert!(md.contains("persistence") && md.contains("seasonal_naive"));
    assert!(
        md.contains("rate oracle (future rate known)")
            && md.contains("rate oracle (shape + current step known)")
            && md.contains("forecastability ceiling"),
        "the simulated run's report lacks its rate references"
    );
    // Knowing the future noise draws must beat knowing only the shape: the
    // TINY workload redraws its noise every interval.
    let fc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ra.join("train/forecast.json")).unwrap()).unwrap();
    for h in fc["forecast"]["horizons"].as_array().unwrap() {
        let acc = |name: &str| {
            h["models"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["name"] == name && m["kind"] == "reference")
                .unwrap_or_else(|| panic!("no {name} at h = {}", h["horizon"]))["test"]["accuracy"]
                .as_f64()
                .unwrap()
        };
        let (full, shape) = (
            acc("rate oracle (future rate known)"),
            acc("rate oracle (shape + current step known)"),
        );
        assert!(full > shape, "h = {}: {full} vs {shape}", h["horizon"]);
    }
    assert!(md.contains("static-matched") && md.contains("oracle"));
    let charts: Vec<String> = std::fs::read_dir(ra.join("charts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    for c in [
        "forecast-series.svg",
        "error-by-horizon.svg",
        "residuals.svg",
        "importance.svg",
        "model-comparison.svg",
        "wait-cdf-wave.svg",
        "size-vs-demand-unseen.svg",
        "cost-vs-latency-wave.svg",
        "tuning.svg",
    ] {
        assert!(
            charts.contains(&c.to_string()),
            "missing chart {c}: {charts:?}"
        );
    }
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ra.join("metrics.json")).unwrap()).unwrap();
    let claims = metrics["claims"].as_array().unwrap();
    assert!(claims.len() >= 10);
    assert!(claims.iter().all(|c| c["verdict"].is_string()));
    let scen = metrics["policies"]["scenarios"].as_array().unwrap();
    assert_eq!(scen.len(), 2);
    assert_eq!(scen[1]["seen_in_training"], false);
    assert_eq!(scen[0]["rows"].as_array().unwrap().len(), 8);
    // The ablation: what the model adds over the best baseline forecaster
    // in the same machinery, paired by replication, in words too.
    for s in scen {
        let c = &s["model_contribution"];
        assert_eq!(c["a"], "predictive");
        assert_eq!(c["b"], "predictive-naive");
        let e = &c["connection_seconds"];
        assert!(
            e["lo"].as_f64().unwrap() <= e["hi"].as_f64().unwrap(),
            "{c}"
        );
    }
    assert!(
        md.contains("What the model adds (predictive − predictive-naive"),
        "{md}"
    );
    assert!(ra.join("artifact-naive.json").is_file());
}

#[test]
fn a_rerun_reuses_finished_steps_and_a_change_reruns_only_what_depends_on_it() {
    let d = tempfile::tempdir().unwrap();
    let m = write_manifest(d.path(), TINY);
    let out = d.path().join("o");
    let args = |m: &Path| {
        vec![
            "run".to_string(),
            m.display().to_string(),
            "--out".into(),
            out.display().to_string(),
            "--run-id".into(),
            "r".into(),
        ]
    };
    let run = |m: &Path| {
        let a = args(m);
        ok(&poolcast(&a.iter().map(String::as_str).collect::<Vec<_>>()))
    };
    let steps = || -> BTreeMap<String, bool> {
        let t: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("tiny/r/timings.json")).unwrap())
                .unwrap();
        t["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().unwrap().to_string(),
                    s["reused"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    run(&m);
    let first = files(&out.join("tiny/r"));
    assert!(!steps()["data"]);
    run(&m);
    let s = steps();
    for step in ["data", "features", "train", "tune", "evaluate"] {
        assert!(
            s[step],
            "{step} should be reused on an unchanged re-run: {s:?}"
        );
    }
    assert_eq!(first, files(&out.join("tiny/r")), "a reuse changes no byte");

    // An interrupted evaluation: one run's stamp is gone; only it re-runs,
    // and the result is the same.
    let job = out.join("tiny/r/telemetry/phase=eval/policy=reactive/scenario=wave/replication=4");
    std::fs::remove_file(job.join("_sim.done.json")).unwrap();
    std::fs::remove_file(job.join("summary.json")).unwrap();
    run(&m);
    let s = steps();
    assert!(
        s["data"] && s["train"] && s["tune"] && !s["evaluate"],
        "{s:?}"
    );
    assert_eq!(first, files(&out.join("tiny/r")));

    // More evaluation replications: data, features, training and tuning are
    // reused; the evaluation runs again (its old replications reused).
    let m2 = write_manifest(
        d.path(),
        &TINY.replace("replications = 3", "replications = 4"),
    );
    run(&m2);
    let s = steps();
    assert!(
        s["data"] && s["features"] && s["train"] && s["tune"],
        "{s:?}"
    );
    assert!(!s["evaluate"], "{s:?}");
    assert!(
        out.join(
            "tiny/r/telemetry/phase=eval/policy=oracle/scenario=wave/replication=6/summary.json"
        )
        .is_file()
    );
}

#[test]
fn shards_merged_then_finished_equal_an_unsharded_run() {
    let d = tempfile::tempdir().unwrap();
    let m = write_manifest(d.path(), TINY);
    let ms = m.to_str().unwrap();
    let whole = d.path().join("whole");
    run_into(ms, &whole, &[]);
    let (s0, s1, merged) = (
        d.path().join("s0"),
        d.path().join("s1"),
        d.path().join("merged"),
    );
    run_into(ms, &s0, &["--shard", "0/2"]);
    run_into(ms, &s1, &["--shard", "1/2"]);
    // A missing shard is refused, naming it.
    let one = poolcast(&[
        "merge",
        run_dir(&s0).to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert!(!one.status.success());
    assert!(String::from_utf8_lossy(&one.stderr).contains("shards 1 of 2 are missing"));
    ok(&poolcast(&[
        "merge",
        run_dir(&s0).to_str().unwrap(),
        run_dir(&s1).to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
        "-q",
    ]));
    let finish = ok(&poolcast(&["run", ms, "--out", merged.to_str().unwrap()]));
    assert!(finish.contains("data: reused"), "{finish}");
    assert_same(&run_dir(&whole), &run_dir(&merged));
}

/// `poolcast run --shard i/n` started as a child writing into `out`.
fn spawn_shard(manifest: &str, out: &Path, i: u32, n: u32) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_poolcast"))
        .args(["run", manifest, "--out", out.to_str().unwrap()])
        .args(["--shard", &format!("{i}/{n}"), "-q"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary starts")
}

/// Every file under `root` whose name says it is a temporary.
fn temporaries(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "tmp") {
                out.push(p);
            }
        }
    }
    out
}

/// Four shard processes started at the same moment into one `--out` (as
/// a Job array on a shared volume), then `merge` (a check there) and the
/// finishing run: the files of an unsharded run, round after round. In the
/// last round one shard is killed part-way and started again. Before issue
/// 26 the shards collided on the run-level files' temporary name.
#[test]
fn four_concurrent_shards_on_one_directory_equal_an_unsharded_run() {
    let d = tempfile::tempdir().unwrap();
    let m = write_manifest(d.path(), TINY);
    let ms = m.to_str().unwrap();
    let whole = d.path().join("whole");
    run_into(ms, &whole, &[]);
    for round in 0..3 {
        let shared = d.path().join(format!("shared-{round}"));
        let mut children: Vec<_> = (0..4).map(|i| spawn_shard(ms, &shared, i, 4)).collect();
        if round == 2 {
            std::thread::sleep(std::time::Duration::from_millis(400));
            children[1].kill().expect("the shard is killed");
            let _ = children[1].wait();
            children[1] = spawn_shard(ms, &shared, 1, 4);
        }
        // the restarted shard succeeds too, whether it finished its part
        // or found the wave over (its part done before the kill)
        for c in children {
            ok(&c.wait_with_output().expect("the shard ends"));
        }
        let run = run_dir(&shared);
        ok(&poolcast(&[
            "merge",
            run.to_str().unwrap(),
            "--out",
            shared.to_str().unwrap(),
            "-q",
        ]));
        run_into(ms, &shared, &[]);
        assert_same(&run_dir(&whole), &run);
        if round < 2 {
            // a killed process may leave its temporary; a finished one not
            assert_eq!(temporaries(&shared), Vec::<PathBuf>::new(), "round {round}");
        }
    }
}

/// Every simulation sharded, in three waves on one directory: the data
/// and model-free evaluation runs; after `--until train` on one machine,
/// the tuning runs; then the model-driven evaluation runs. Each wave's
/// four shards start at once, and in the second and third waves one is
/// killed part-way and started again. The finishing run simulates nothing
/// and gives the unsharded run's files (issue 26).
#[test]
fn three_waves_of_shards_equal_an_unsharded_run() {
    let d = tempfile::tempdir().unwrap();
    let m = write_manifest(d.path(), TINY);
    let ms = m.to_str().unwrap();
    let whole = d.path().join("whole");
    run_into(ms, &whole, &[]);
    let shared = d.path().join("shared");
    let os = shared.to_str().unwrap();
    let wave = |kill: bool| {
        let mut children: Vec<_> = (0..4).map(|i| spawn_shard(ms, &shared, i, 4)).collect();
        if kill {
            std::thread::sleep(std::time::Duration::from_millis(150));
            children[2].kill().expect("the shard is killed");
            let _ = children[2].wait();
            children[2] = spawn_shard(ms, &shared, 2, 4);
        }
        children
            .into_iter()
            .map(|c| c.wait_with_output().expect("the shard ends"))
            .collect::<Vec<_>>()
    };
    for o in wave(false) {
        ok(&o);
    }
    // The second wave needs the model: a shard started again (as a
    // scheduler restarts a task whose part was done) says how to make it,
    // and succeeds, having nothing to do.
    let early = spawn_shard(ms, &shared, 0, 4).wait_with_output().unwrap();
    ok(&early);
    let said = String::from_utf8_lossy(&early.stderr);
    assert!(
        said.contains("nothing to run") && said.contains("--until train"),
        "{said}"
    );
    run_into(ms, &shared, &["--until", "train"]);
    let run = run_dir(&shared);
    assert!(run.join("train").is_dir() && !run.join("tuning").exists());
    for o in wave(true) {
        ok(&o);
    }
    assert!(run.join("tuning").is_dir() && !run.join("artifact.json").exists());
    for o in wave(true) {
        ok(&o);
    }
    assert!(run.join("artifact.json").is_file() && !run.join("evaluation.json").exists());
    let late = spawn_shard(ms, &shared, 1, 4).wait_with_output().unwrap();
    ok(&late);
    assert!(String::from_utf8_lossy(&late.stderr).contains("every simulation is finished"));
    let status =
        String::from_utf8_lossy(&poolcast(&["status", run.to_str().unwrap()]).stdout).to_string();
    assert!(
        status.contains("wave 2 (tuning): shards 0/4, 1/4, 2/4, 3/4 finished"),
        "{status}"
    );
    assert!(status.contains("left: evaluate, report;"), "{status}");
    ok(&poolcast(&[
        "merge",
        run.to_str().unwrap(),
        "--out",
        os,
        "-q",
    ]));
    let finish = ok(&poolcast(&["run", ms, "--out", os]));
    for step in ["data", "tune", "evaluate"] {
        assert!(finish.contains(&format!("{step}: reused")), "{finish}");
    }
    assert_same(&run_dir(&whole), &run);
}

/// `poolcast status` says how far a sharded run is: one shard of two
/// finished, the other not started, the steps after the data not begun;
/// and, once the run is finished, that nothing is left.
#[test]
fn status_shows_each_shard_and_what_is_left() {
    let d = tempfile::tempdir().unwrap();
    let m = write_manifest(d.path(), TINY);
    let ms = m.to_str().unwrap();
    let out = d.path().join("o");
    let os = out.to_str().unwrap();
    ok(&poolcast(&["run", ms, "--out", os, "--shard", "0/2", "-q"]));
    let run = run_dir(&out);
    let status = poolcast(&["status", run.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&status.stdout).to_string();
    ok(&status);
    assert!(
        text.contains("shard 0/2") && text.contains("finished"),
        "{text}"
    );
    assert!(text.contains("shard 1/2  0 of"), "{text}");
    assert!(
        text.contains("  data       partly  1 of 2 simulations"),
        "{text}"
    );
    assert!(text.contains("  train      -"), "{text}");
    assert!(text.contains("left: data (1 simulation left)"), "{text}");
    // the same through the manifest, as `poolcast run` was given it
    let by_manifest = poolcast(&["status", ms, "--out", os]);
    assert_eq!(String::from_utf8_lossy(&by_manifest.stdout), text);
    ok(&poolcast(&["run", ms, "--out", os, "-q"]));
    let done =
        String::from_utf8_lossy(&poolcast(&["status", run.to_str().unwrap()]).stdout).to_string();
    assert!(
        done.contains("left: nothing; the run is finished"),
        "{done}"
    );
    assert!(
        done.lines()
            .filter(|l| l.starts_with("  "))
            .all(|l| l.contains(" done ") || l.contains("shard")),
        "{done}"
    );
    // a run that never started is named
    let none = poolcast(&[
        "status",
        ms,
        "--out",
        d.path().join("empty").to_str().unwrap(),
    ]);
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("no such run directory"));
}

#[test]
fn the_exported_pool_toml_drives_a_runtime_pool_with_the_run_s_model() {
    let d = tempfile::tempdir().unwrap();
    let root = tiny_run(d.path());
    let text = std::fs::read_to_string(root.join("pool.toml")).unwrap();
    assert!(
        text.contains("[provenance]") && text.contains("objective"),
        "{text}"
    );
    let file = poolcast::runtime::load_pool_file(root.join("pool.toml")).expect("pool.toml loads");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pool = poolcast::runtime::Pool::builder(Noop)
            .config(file)
            .build()
            .expect("the runtime accepts the exported settings");
        let policy = pool.status().policy;
        assert!(policy.starts_with("predictive"), "{policy}");
        assert!(!policy.contains("artifact unavailable"), "{policy}");
        pool.close().await;
    });
}

/// `poolcast train` on a finished run directory trains on what the run
/// trained on (its data phase, with its own [dataset] and [train]) and
/// says so first; a directory that mixes phases is refused by name.
#[test]
fn train_on_a_run_directory_reads_its_data_phase_only() {
    let d = tempfile::tempdir().unwrap();
    let root = tiny_run(d.path());
    let fit = d.path().join("fit");
    let err = ok(&poolcast(&[
        "train",
        root.to_str().unwrap(),
        "--out",
        fit.to_str().unwrap(),
    ]));
    let first: Vec<&str> = err.lines().take(2).collect();
    assert!(first[0].contains("data phase only"), "{err}");
    // The data phase: scenario "wave", 2 replications; not the 3 × 7
    // evaluation runs nor the tuning runs.
    assert!(first[1].contains("reading 2 run(s): wave × 2"), "{err}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fit.join("train_report.json")).unwrap())
            .unwrap();
    let horizons = report["horizons"].as_array().unwrap();
    // The run's own [dataset]: one horizon, 5.
    assert_eq!(horizons.len(), 1);
    assert_eq!(horizons[0]["target"]["horizon"], 5);
    for m in horizons[0]["models"].as_array().unwrap() {
        let acc = m["test"]["accuracy"].as_f64().unwrap_or(f64::NAN);
        assert!(
            acc.is_nan() || acc >= 0.0,
            "{}: test accuracy {acc}",
            m["name"]
        );
    }
    // The whole telemetry tree mixes phases: refused, naming them.
    let mixed = poolcast(&[
        "train",
        root.join("telemetry").to_str().unwrap(),
        "--out",
        d.path().join("fit2").to_str().unwrap(),
    ]);
    assert!(!mixed.status.success());
    let e = String::from_utf8_lossy(&mixed.stderr);
    assert!(e.contains("data, eval") && e.contains("phase=data"), "{e}");
}

/// A copy of manifest `p` (text `text`) in a staging directory, beside a
/// stand-in trace at every relative `trace = "..."` path it names: one
/// request a second for an hour, from 8 clients.
fn staged_with_traces(staged: &Path, p: &Path, text: &str) -> std::path::PathBuf {
    let at = staged.join("experiments/manifests");
    std::fs::create_dir_all(&at).unwrap();
    let copy = at.join(p.file_name().unwrap());
    std::fs::write(&copy, text).unwrap();
    let mut csv = format!("{}\n", poolcast::core::telemetry::REQUEST_CSV_HEADER);
    for s in 0..3600u64 {
        csv.push_str(&format!(
            "{},read,7,0,1000000,ok,,{}\n",
            s * 1_000_000_000,
            s % 8 + 1
        ));
    }
    for trace in text.split("trace = \"").skip(1) {
        let rel = trace.split('"').next().unwrap();
        let dir = at.join(rel);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("requests-000001.csv"), &csv).unwrap();
    }
    copy
}

#[test]
fn every_shipped_manifest_is_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests");
    let (mut n, mut scenario_files, mut pool_files) = (0, 0, 0);
    // Runtime pool files (`pools/`): each loads in the runtime pool.
    for e in std::fs::read_dir(dir.join("pools")).unwrap() {
        let p = e.unwrap().path();
        poolcast::runtime::load_pool_file(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        pool_files += 1;
    }
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let staged = tempfile::tempdir().unwrap();
        // A manifest replaying a recorded trace is checked beside a stand-in
        // trace at the same relative path.
        let checked = if text.contains("replay = {") {
            staged_with_traces(staged.path(), &p, &text)
        } else {
            p.clone()
        };
        // Scenario files of `poolcast simulate` have a top-level seed;
        // experiment manifests an [experiment] table.
        if !text.contains("[experiment]") {
            poolcast_sim::ScenarioFile::load(&checked)
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            scenario_files += 1;
            continue;
        }
        let out = poolcast(&["run", checked.to_str().unwrap(), "--check"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("valid"),
            "{}: {}",
            p.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        n += 1;
    }
    assert!(n >= 5, "expected the five shipped manifests, found {n}");
    assert!(scenario_files >= 3, "scenario files: {scenario_files}");
    assert!(pool_files >= 5, "pool files: {pool_files}");
}
