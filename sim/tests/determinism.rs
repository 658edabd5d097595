//! Same file and seed → byte-identical Parquet, whatever the thread count;
//! a different seed or replication → different data.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use poolcast_sim::output::{run_dir, run_file};
use poolcast_sim::{ScenarioFile, Summary};

/// Two scenarios × two replications, random patterns, failures and request
/// records, so every random stream is exercised.
fn file_toml(seed: u64) -> String {
    format!(
        r#"
seed = {seed}

[defaults]
duration_s = 120
interval_s = 1.0
classes = [
  {{ class = "read", share = 0.7, service = {{ kind = "lognormal", mean_ms = 8.0, cv = 1.5 }} }},
  {{ class = "write", share = 0.2, service = {{ kind = "exponential", mean_ms = 15.0 }} }},
  {{ class = "transaction", share = 0.1, statements = 4, service = {{ kind = "exponential", mean_ms = 5.0 }} }},
]

[[scenario]]
name = "bursty"
replications = 2
record_requests = true
load = {{ base_rate = 300.0, patterns = [
  {{ kind = "random_walk", step_s = 5.0, sigma = 0.2 }},
  {{ kind = "noise", sigma = 0.3, step_s = 1.0 }},
  {{ kind = "spike", start_s = 60, duration_s = 20, multiplier = 2.5, rise_s = 5, fall_s = 5 }},
] }}
pool = {{ min_size = 2, max_size = 30, acquire_timeout_ms = 200, policy = {{ kind = "reactive" }} }}
failures = {{ query_rate = 0.01, connection_rate = 0.02, transaction_rate = 0.05, outages = [{{ start_s = 30, duration_s = 5 }}] }}
breaker = {{ transaction = {{ enabled = false }}, connection = {{ failure_count = 50 }} }}

[[scenario]]
name = "markov"
replications = 2
load = {{ base_rate = 200.0, patterns = [{{ kind = "markov", states = [0.5, 1.0, 2.0], mean_dwell_s = [10.0, 20.0, 5.0] }}] }}
pool = {{ min_size = 4, max_size = 16, policy = {{ kind = "adaptive", strategy = "moderate" }} }}
"#
    )
}

fn file(seed: u64) -> ScenarioFile {
    common::parse(&file_toml(seed))
}

/// Every file under `dir`, by relative path.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).expect("readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).expect("under root").to_path_buf();
                out.insert(rel, std::fs::read(&path).expect("readable"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// A summary as JSON without the two wall-clock fields.
fn deterministic_json(bytes: &[u8]) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_slice(bytes).expect("valid JSON");
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            serde_json::Value::Object(o) => {
                assert!(o.remove("wall_seconds").is_some(), "wall_seconds present");
                assert!(
                    o.remove("events_per_sec").is_some(),
                    "events_per_sec present"
                );
            }
            _ => panic!("unexpected summary JSON: {v}"),
        }
    }
    strip(&mut v);
    v
}

fn strip_wall(mut s: Summary) -> Summary {
    s.wall_seconds = 0.0;
    s.events_per_sec = 0.0;
    s
}

/// Runs `file` into a fresh directory with `threads` rayon threads.
fn run_with_threads(file: &ScenarioFile, threads: usize) -> (tempfile::TempDir, Vec<Summary>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("rayon pool");
    let summaries = pool
        .install(|| run_file(file, dir.path()))
        .expect("run_file succeeds");
    (dir, summaries)
}

/// Asserts that two output trees hold the same files with the same bytes
/// (summaries compared without their wall-clock fields).
fn assert_same_outputs(a: &Path, b: &Path) {
    let (ta, tb) = (tree(a), tree(b));
    assert_eq!(
        ta.keys().collect::<Vec<_>>(),
        tb.keys().collect::<Vec<_>>(),
        "same files"
    );
    let mut parquet = 0;
    for (path, bytes) in &ta {
        let other = &tb[path];
        if path.extension().is_some_and(|e| e == "json") {
            assert_eq!(
                deterministic_json(bytes),
                deterministic_json(other),
                "{} differs",
                path.display()
            );
        } else {
            parquet += 1;
            assert!(bytes == other, "{} is not byte-identical", path.display());
        }
    }
    // 4 runs × snapshots + 2 runs × requests.
    assert_eq!(parquet, 6, "{:?}", ta.keys().collect::<Vec<_>>());
}

#[test]
fn same_seed_same_bytes_whatever_the_thread_count() {
    let f = file(42);
    let (a, sa) = run_with_threads(&f, 2);
    let (b, sb) = run_with_threads(&f, 2);
    let (c, sc) = run_with_threads(&f, 1);
    assert_same_outputs(a.path(), b.path());
    assert_same_outputs(a.path(), c.path());
    assert_eq!(sa.len(), 4);
    let strip = |v: Vec<Summary>| v.into_iter().map(strip_wall).collect::<Vec<_>>();
    let sa = strip(sa);
    assert_eq!(sa, strip(sb));
    assert_eq!(sa, strip(sc));
    // Summaries are listed in file order: scenario, then replication.
    let order: Vec<&str> = sa.iter().map(|s| s.scenario.as_str()).collect();
    assert_eq!(order, ["bursty", "bursty", "markov", "markov"]);
    // The files are the runs that were returned.
    let top = deterministic_json(&std::fs::read(a.path().join("summary.json")).expect("summary"));
    // (Through text on both sides: serde_json's default float parsing is
    // not exactly round-trip.)
    let returned = deterministic_json(&serde_json::to_vec_pretty(&sa).expect("serializes"));
    assert_eq!(top, returned);
    for s in &sa {
        assert!(s.conserves(), "{s:?}");
        assert!(s.requests > 10_000, "{}: {}", s.scenario, s.requests);
        assert!(s.completed > s.requests / 2, "{s:?}");
    }
}

#[test]
fn parquet_round_trips_the_in_memory_run() {
    let f = file(42);
    let dir = tempfile::tempdir().expect("temp dir");
    let summaries = run_file(&f, dir.path()).expect("run_file");
    let sc = &f.scenarios[0];
    for rep in 0..sc.replications {
        let (mem_summary, sink) = common::run(sc, f.seed, rep);
        let run = run_dir(dir.path(), &sc.name, rep);
        let snaps = poolcast_datasets::read_snapshots(run.join("snapshots.parquet"))
            .expect("snapshots readable");
        assert_eq!(snaps, sink.snapshots, "replication {rep}: snapshots");
        let recs = poolcast_datasets::read_records(run.join("requests.parquet"))
            .expect("records readable");
        assert_eq!(recs, sink.requests, "replication {rep}: records");
        assert_eq!(
            strip_wall(mem_summary),
            strip_wall(summaries[rep as usize].clone())
        );
    }
    // No request file when the scenario does not record requests.
    let run = run_dir(dir.path(), "markov", 0);
    assert!(run.join("snapshots.parquet").is_file());
    assert!(!run.join("requests.parquet").exists());
}

#[test]
fn different_seed_or_replication_gives_different_data() {
    let (a, _) = run_with_threads(&file(42), 2);
    let (b, _) = run_with_threads(&file(43), 2);
    let (ta, tb) = (tree(a.path()), tree(b.path()));
    assert_eq!(ta.keys().collect::<Vec<_>>(), tb.keys().collect::<Vec<_>>());
    for (path, bytes) in &ta {
        if path.extension().is_some_and(|e| e == "parquet") {
            assert!(
                bytes != &tb[path],
                "{} did not change with the seed",
                path.display()
            );
        }
    }
    // Replications of one scenario differ from each other.
    let snaps = |rep: u32| {
        poolcast_datasets::read_snapshots(
            run_dir(a.path(), "bursty", rep).join("snapshots.parquet"),
        )
        .expect("readable")
    };
    let (r0, r1) = (snaps(0), snaps(1));
    assert_eq!(r0.len(), r1.len());
    assert_ne!(
        common::arrivals(&r0),
        common::arrivals(&r1),
        "replications share their arrivals"
    );
}

#[test]
fn recording_requests_does_not_change_the_run() {
    let f = file(7);
    let mut sc = f.scenarios[0].clone().into_inner();
    sc.record_requests = false;
    let (s_off, off) = common::run(&sc, f.seed, 1);
    sc.record_requests = true;
    let (s_on, on) = common::run(&sc, f.seed, 1);
    assert!(off.requests.is_empty());
    assert_eq!(
        on.requests.len() as u64,
        s_on.requests - s_on.in_flight_at_end
    );
    assert_eq!(off.snapshots, on.snapshots);
    assert_eq!(strip_wall(s_off), strip_wall(s_on));
}

#[test]
fn streams_are_keyed_by_scenario_name() {
    // The same scenario under another name draws other numbers, and two
    // runs under one name draw the same ones.
    let f = file(42);
    let sc = f.scenarios[1].clone().into_inner();
    let mut renamed = sc.clone();
    renamed.name = "markov-2".into();
    let (_, a) = common::run(&sc, f.seed, 0);
    let (_, b) = common::run(&sc, f.seed, 0);
    let (_, c) = common::run(&renamed, f.seed, 0);
    assert_eq!(a.snapshots, b.snapshots);
    assert_ne!(
        common::arrivals(&a.snapshots),
        common::arrivals(&c.snapshots)
    );
}
