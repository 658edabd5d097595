//! Bad scenario files are clear errors naming the field; bad output
//! directories are errors, never panics, and leave no half-written file
//! under a final name.

mod common;

use std::path::Path;

use poolcast_sim::output::{run_dir, run_file};
use poolcast_sim::{ConfigError, ScenarioFile};

const ORIGIN: &str = "x.toml";

const GOOD: &str = r#"
seed = 1

[[scenario]]
name = "a"
duration_s = 10
load = { base_rate = 10.0 }
classes = [{ class = "read", share = 1.0, service = { kind = "exponential", mean_ms = 5.0 } }]
pool = { min_size = 1, max_size = 4 }
"#;

/// `GOOD` with `from` replaced by `to` (which must occur).
fn edit(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "test bug: {from:?} not in GOOD");
    GOOD.replacen(from, to, 1)
}

/// `GOOD` with extra lines in its scenario.
fn with(extra: &str) -> String {
    format!("{GOOD}{extra}\n")
}

#[track_caller]
fn parse_err(toml: &str) -> ConfigError {
    match ScenarioFile::parse(toml, ORIGIN) {
        Ok(f) => panic!("expected an error, parsed {f:?}"),
        Err(e) => {
            assert!(!e.message.trim().is_empty(), "empty message for {}", e.path);
            // Display shows both.
            let shown = e.to_string();
            assert!(shown.contains(&e.path) && shown.contains(e.message.trim()));
            e
        }
    }
}

/// Asserts the error's path is exactly `ORIGIN: field` and its message
/// contains `needle`.
#[track_caller]
fn assert_err(toml: &str, field: &str, needle: &str) {
    let e = parse_err(toml);
    assert_eq!(
        e.path,
        format!("{ORIGIN}: {field}"),
        "message: {}",
        e.message
    );
    assert!(
        e.message.contains(needle),
        "{}: message {:?} lacks {needle:?}",
        e.path,
        e.message
    );
}

#[test]
fn the_base_file_is_valid() {
    let f = ScenarioFile::parse(GOOD, ORIGIN).expect("valid");
    assert_eq!(f.seed, 1);
    assert_eq!(f.scenarios.len(), 1);
    assert!(f.warnings.is_empty());
}

#[test]
fn unknown_fields_are_named() {
    assert_err(
        &edit("max_size = 4", "max_sizee = 4"),
        "scenario[0].pool.max_sizee",
        "unknown field `max_sizee`",
    );
    assert_err(
        &edit("name = \"a\"", "name = \"a\"\nreplicatoins = 2"),
        "scenario[0].replicatoins",
        "unknown field",
    );
    assert_err(
        &edit("seed = 1", "seed = 1\nsede = 2"),
        "sede",
        "unknown field",
    );
    assert_err(
        &with(r#"failures = { query_rte = 0.1 }"#),
        "scenario[0].failures.query_rte",
        "unknown field",
    );
}

#[test]
fn bad_numbers_are_named() {
    assert_err(
        &edit("base_rate = 10.0", "base_rate = -1"),
        "scenario[0].load.base_rate",
        "-1",
    );
    assert_err(
        &edit("base_rate = 10.0", "base_rate = nan"),
        "scenario[0].load.base_rate",
        "NaN",
    );
    assert_err(
        &edit("min_size = 1", "min_size = 5"),
        "scenario[0].pool.min_size",
        "above max_size",
    );
    assert_err(
        &edit("max_size = 4", "max_size = 0"),
        "scenario[0].pool.max_size",
        "at least 1",
    );
    assert_err(
        &edit("duration_s = 10", "duration_s = 10\ninterval_s = 20"),
        "scenario[0].interval_s",
        "duration_s",
    );
    assert_err(
        &edit("name = \"a\"", "name = \"a\"\nreplications = 0"),
        "scenario[0].replications",
        "at least 1",
    );
}

#[test]
fn bad_patterns_are_named() {
    let spike = |m: &str| {
        edit(
            "load = { base_rate = 10.0 }",
            &format!(
                r#"load = {{ base_rate = 10.0, patterns = [{{ kind = "steady" }}, {{ kind = "spike", start_s = 1, duration_s = 2, multiplier = {m} }}] }}"#
            ),
        )
    };
    assert_err(
        &spike("0"),
        "scenario[0].load.patterns[1].multiplier",
        "> 0",
    );
    assert_err(
        &spike("-2"),
        "scenario[0].load.patterns[1].multiplier",
        "> 0",
    );
    assert_err(
        &edit(
            "load = { base_rate = 10.0 }",
            r#"load = { base_rate = 10.0, patterns = [{ kind = "spike", start_s = 1, duration_s = 2, multiplier = 2, rise_s = 2, fall_s = 1 }] }"#,
        ),
        "scenario[0].load.patterns[0].duration_s",
        "rise_s + fall_s",
    );
    assert_err(
        &edit(
            "load = { base_rate = 10.0 }",
            r#"load = { base_rate = 10.0, patterns = [{ kind = "spikey", start_s = 1 }] }"#,
        ),
        "scenario[0].load.patterns[0].kind",
        "unknown variant `spikey`",
    );
    assert_err(
        &edit(
            "load = { base_rate = 10.0 }",
            r#"load = { base_rate = 10.0, patterns = [{ kind = "cyclical", daily_amplitude = 1.0 }] }"#,
        ),
        "scenario[0].load.patterns[0].daily_amplitude",
        "[0, 1)",
    );
    assert_err(
        &edit(
            "load = { base_rate = 10.0 }",
            r#"load = { base_rate = 10.0, patterns = [{ kind = "markov", states = [1.0, 2.0], mean_dwell_s = [5.0] }] }"#,
        ),
        "scenario[0].load.patterns[0].mean_dwell_s",
        "one mean dwell time per state",
    );
    assert_err(
        &edit(
            "load = { base_rate = 10.0 }",
            r#"load = { base_rate = 10.0, patterns = [{ kind = "random_walk", step_s = 0.0001, sigma = 0.1 }] }"#,
        ),
        "scenario[0].load.patterns[0].step_s",
        "0.001",
    );
}

#[test]
fn bad_class_mixes_are_errors() {
    // The class mix errors name `classes` (see also
    // `class_mix_errors_name_the_toml_path`, which pins the exact path).
    let empty = parse_err(&edit(
        r#"classes = [{ class = "read", share = 1.0, service = { kind = "exponential", mean_ms = 5.0 } }]"#,
        "classes = []",
    ));
    assert!(
        empty.path.starts_with("x.toml: scenario[0].classes"),
        "{}",
        empty.path
    );
    assert!(
        empty.message.contains("empty class mix"),
        "{}",
        empty.message
    );
    let zero = parse_err(&edit("share = 1.0", "share = 0.0"));
    assert!(
        zero.path.starts_with("x.toml: scenario[0].classes"),
        "{}",
        zero.path
    );
    assert!(
        zero.message.contains("every share is zero"),
        "{}",
        zero.message
    );
    // An unknown class is a serde error, with its exact path.
    assert_err(
        &edit(r#"class = "read""#, r#"class = "reed""#),
        "scenario[0].classes[0].class",
        "unknown variant `reed`",
    );
}

#[test]
fn class_mix_errors_name_the_toml_path() {
    // The paths a user can find in the file: `scenario[0].classes`, and
    // `scenario[0].classes[1].share` for the second class.
    let e = parse_err(&edit(
        r#"classes = [{ class = "read", share = 1.0, service = { kind = "exponential", mean_ms = 5.0 } }]"#,
        "classes = []",
    ));
    assert_eq!(e.path, "x.toml: scenario[0].classes");
    let e = parse_err(&edit(
        r#"classes = [{ class = "read", share = 1.0, service = { kind = "exponential", mean_ms = 5.0 } }]"#,
        r#"classes = [
  { class = "read", share = 1.0, service = { kind = "exponential", mean_ms = 5.0 } },
  { class = "write", share = -1.0, service = { kind = "exponential", mean_ms = 5.0 } },
]"#,
    ));
    assert_eq!(e.path, "x.toml: scenario[0].classes[1].share");
    assert_err(
        &edit("mean_ms = 5.0", "mean_ms = 0.0"),
        "scenario[0].classes[0].service.mean_ms",
        "> 0",
    );
}

#[test]
fn bad_failures_are_named() {
    assert_err(
        &with("failures = { query_rate = 1.5 }"),
        "scenario[0].failures.query_rate",
        "[0, 1]",
    );
    assert_err(
        &with("failures = { connection_rate = -0.1 }"),
        "scenario[0].failures.connection_rate",
        "[0, 1]",
    );
    assert_err(
        &with("failures = { connection_rate = 0.6, security_rate = 0.6 }"),
        "scenario[0].failures.security_rate",
        "must not exceed 1",
    );
    assert_err(
        &with("failures = { timeout_rate = 0.1 }"),
        "scenario[0].failures.statement_timeout_ms",
        "statement_timeout_ms",
    );
    assert_err(
        &with("failures = { outages = [{ start_s = 1, duration_s = 0 }] }"),
        "scenario[0].failures.outages[0].duration_s",
        "> 0",
    );
    assert_err(
        &with(
            r#"failures = { bursts = [{ start_s = 1, duration_s = 1, category = "query", rate = 2.0 }] }"#,
        ),
        "scenario[0].failures.bursts[0].rate",
        "[0, 1]",
    );
}

#[test]
fn bad_policies_and_breakers_are_named() {
    assert_err(
        &edit(
            "max_size = 4 }",
            r#"max_size = 4, policy = { kind = "reactive", scale_up_utilization = 2.0 } }"#,
        ),
        "scenario[0].pool.policy.scale_up_utilization",
        "(0, 1.5]",
    );
    assert_err(
        &with("breaker = { connection = { failure_count = 0 } }"),
        "scenario[0].breaker.connection.failure_count",
        "at least 1",
    );
}

#[test]
fn file_level_errors_are_named() {
    assert_err(&edit("seed = 1", ""), "seed", "missing");
    assert_err(&edit("seed = 1", "seed = -3"), "seed", "non-negative");
    assert_err(&edit("seed = 1", "seed = \"one\""), "seed", "non-negative");
    assert_err("seed = 1\n", "scenario", "no [[scenario]]");
    // Duplicate names: the second one is named.
    let dup = format!(
        "{GOOD}\n{}",
        &GOOD[GOOD.find("[[scenario]]").expect("scenario")..]
    );
    assert_err(&dup, "scenario[1].name", "duplicate scenario name \"a\"");
    // A name that would escape its output partition.
    assert_err(
        &edit("name = \"a\"", "name = \"../a\""),
        "scenario[0].name",
        "letters",
    );
    // Not TOML at all: the origin, and where the parser stopped.
    let e = parse_err(&edit("duration_s = 10", "duration_s = 10 ="));
    assert_eq!(e.path, ORIGIN);
    assert!(
        e.message.contains("not valid TOML") && e.message.contains("line 6"),
        "{}",
        e.message
    );
}

#[test]
fn a_missing_required_field_is_named() {
    let e = parse_err(&edit("duration_s = 10\n", ""));
    assert!(e.message.contains("duration_s"), "{}", e.message);
    // Either the field's own path or its scenario's, not a dangling dot.
    assert!(
        e.path == "x.toml: scenario[0].duration_s" || e.path == "x.toml: scenario[0]",
        "path {:?}",
        e.path
    );
}

#[test]
fn overload_on_a_fixed_pool_is_a_warning() {
    // 500/s × 5 ms = 2.5 erlangs on 1 connection.
    let f = ScenarioFile::parse(
        &edit("base_rate = 10.0", "base_rate = 500.0")
            .replace("min_size = 1, max_size = 4", "min_size = 1, max_size = 1"),
        ORIGIN,
    )
    .expect("a warning, not an error");
    assert_eq!(f.warnings.len(), 1, "{:?}", f.warnings);
    let w = &f.warnings[0];
    assert!(w.path.ends_with("scenario[0].load.base_rate"), "{}", w.path);
    assert!(w.message.contains("2.500"), "{}", w.message);
    // Exactly at ρ = 1 too (200/s × 5 ms on 1 connection).
    let f = ScenarioFile::parse(
        &edit("base_rate = 10.0", "base_rate = 200.0")
            .replace("min_size = 1, max_size = 4", "min_size = 1, max_size = 1"),
        ORIGIN,
    )
    .expect("valid");
    assert_eq!(f.warnings.len(), 1, "{:?}", f.warnings);
    // Below 1, or on a pool that can grow: no warning.
    let f = ScenarioFile::parse(
        &edit("base_rate = 10.0", "base_rate = 190.0")
            .replace("min_size = 1, max_size = 4", "min_size = 1, max_size = 1"),
        ORIGIN,
    )
    .expect("valid");
    assert!(f.warnings.is_empty(), "{:?}", f.warnings);
    let f = ScenarioFile::parse(&edit("base_rate = 10.0", "base_rate = 5000.0"), ORIGIN)
        .expect("valid");
    assert!(f.warnings.is_empty(), "{:?}", f.warnings);
}

#[test]
fn loading_a_missing_file_names_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nope.toml");
    let e = ScenarioFile::load(&path).expect_err("missing file");
    assert!(e.path.contains("nope.toml"), "{}", e.path);
    assert!(e.message.contains("cannot read"), "{}", e.message);
}

// ---------------------------------------------------------------------------
// Output failures.

fn small_file(record: bool) -> ScenarioFile {
    common::parse(&format!(
        r#"
seed = 3
[[scenario]]
name = "small"
duration_s = 200
record_requests = {record}
load = {{ base_rate = 500.0 }}
classes = [{{ class = "read", share = 1.0, service = {{ kind = "exponential", mean_ms = 2.0 }} }}]
pool = {{ min_size = 4, max_size = 4 }}
"#
    ))
}

/// Every file name under `dir` (recursively).
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries {
        let p = e.expect("entry").path();
        if p.is_dir() && !p.is_symlink() {
            out.extend(files(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

#[test]
fn output_into_a_file_is_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let not_a_dir = dir.path().join("out");
    std::fs::write(&not_a_dir, b"keep me").expect("write");
    let err = run_file(&small_file(false), &not_a_dir).expect_err("a file is not a directory");
    let msg = err.to_string();
    assert!(msg.contains("out"), "the error names the path: {msg}");
    assert_eq!(std::fs::read(&not_a_dir).expect("still there"), b"keep me");
    assert_eq!(files(dir.path()).len(), 1, "{:?}", files(dir.path()));
}

#[test]
fn a_failed_writer_leaves_no_parquet_behind() {
    // The request writer cannot create its temporary file (a directory is in
    // the way): the run fails after the snapshot writer has started.
    let dir = tempfile::tempdir().expect("temp dir");
    let run = run_dir(dir.path(), "small", 0);
    std::fs::create_dir_all(run.join("requests.parquet.tmp")).expect("blocker");
    let err = run_file(&small_file(true), dir.path()).expect_err("cannot write requests");
    assert!(err.to_string().contains("requests.parquet"), "{err}");
    let left = files(dir.path());
    assert!(
        left.iter()
            .all(|f| !f.ends_with(".parquet") && !f.ends_with("snapshots.parquet.tmp")),
        "{left:?}"
    );
    assert!(!dir.path().join("summary.json").exists());
    assert!(!run.join("summary.json").exists());
}

/// Points `<run>/<name>.tmp` at /dev/full, where every write fails with
/// ENOSPC. Returns false when there is no /dev/full.
#[cfg(target_os = "linux")]
fn disk_full(run: &Path, name: &str) -> bool {
    if !Path::new("/dev/full").exists() {
        eprintln!("no /dev/full: skipped");
        return false;
    }
    std::fs::create_dir_all(run).expect("run dir");
    std::os::unix::fs::symlink("/dev/full", run.join(format!("{name}.tmp"))).expect("symlink");
    true
}

#[cfg(target_os = "linux")]
#[test]
fn a_write_error_at_finish_leaves_no_parquet_behind() {
    // 200 snapshot rows stay buffered until the footer, which fails.
    let dir = tempfile::tempdir().expect("temp dir");
    let run = run_dir(dir.path(), "small", 0);
    if !disk_full(&run, "snapshots.parquet") {
        return;
    }
    let err = run_file(&small_file(true), dir.path()).expect_err("disk full");
    assert!(err.to_string().contains("snapshots.parquet"), "{err}");
    let left = files(dir.path());
    assert!(left.iter().all(|f| !f.ends_with(".parquet")), "{left:?}");
    assert!(!run.join("requests.parquet.tmp").exists(), "{left:?}");
    assert!(!dir.path().join("summary.json").exists());
}

#[cfg(target_os = "linux")]
#[test]
fn a_write_error_mid_run_stops_it_and_leaves_no_parquet_behind() {
    // 1.2 M request records: the writer flushes its first row group
    // (1 Mi rows) to disk while the simulation is still running.
    let file = common::parse(
        r#"
seed = 3
[[scenario]]
name = "big"
duration_s = 600
interval_s = 10.0
record_requests = true
load = { base_rate = 2000.0 }
classes = [{ class = "read", share = 1.0, service = { kind = "exponential", mean_ms = 1.0 } }]
pool = { min_size = 8, max_size = 8 }
"#,
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let run = run_dir(dir.path(), "big", 0);
    if !disk_full(&run, "requests.parquet") {
        return;
    }
    let err = run_file(&file, dir.path()).expect_err("disk full");
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(
        msg.contains("requests.parquet") && !msg.contains("footer"),
        "{msg}"
    );
    let left = files(dir.path());
    assert!(left.iter().all(|f| !f.ends_with(".parquet")), "{left:?}");
    assert!(!run.join("snapshots.parquet.tmp").exists(), "{left:?}");
    assert!(!run.join("summary.json").exists());
    assert!(!dir.path().join("summary.json").exists());
}

#[test]
fn a_scenario_table_of_another_kind_replaces_the_default_instead_of_merging() {
    use poolcast_sim::workload::ServiceDist;
    let file = |create: &str| {
        format!(
            r#"
seed = 1
[defaults.pool]
min_size = 1
max_size = 4
create_time = {{ kind = "deterministic", ms = 3.0 }}
[[scenario]]
name = "a"
duration_s = 10
load = {{ base_rate = 10.0 }}
classes = [{{ class = "read", share = 1.0, service = {{ kind = "exponential", mean_ms = 5.0 }} }}]
pool = {{ create_time = {create} }}
"#
        )
    };
    // Another variant: the default's `ms` is not carried into it.
    let f = ScenarioFile::parse(
        &file(r#"{ kind = "lognormal", mean_ms = 150.0, cv = 0.6 }"#),
        ORIGIN,
    )
    .expect("a lognormal over a deterministic default");
    assert!(
        matches!(f.scenarios[0].pool.create_time, ServiceDist::Lognormal { mean_ms, .. } if mean_ms == 150.0),
        "{:?}",
        f.scenarios[0].pool.create_time
    );
    // The same variant, or no kind: merged key by key as before.
    let f = ScenarioFile::parse(&file(r#"{ ms = 5.0 }"#), ORIGIN).expect("merged");
    assert!(
        matches!(f.scenarios[0].pool.create_time, ServiceDist::Deterministic { ms } if ms == 5.0),
        "{:?}",
        f.scenarios[0].pool.create_time
    );
    // The rest of the default pool is still merged in.
    assert_eq!(f.scenarios[0].pool.settings.max_size, 4);
    // A misspelt field of the new variant is still named.
    assert_err(
        &file(r#"{ kind = "lognormal", mean = 150.0, cv = 0.6 }"#),
        "scenario[0].pool.create_time",
        "mean",
    );
}
