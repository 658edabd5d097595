//! Trace replay: a recorded trace as a scenario's workload.

mod common;

use poolcast::core::NANOS_PER_SEC;
use poolcast::core::telemetry::REQUEST_CSV_HEADER as RECORDER_HEADER;
use poolcast::core::telemetry::REQUEST_CSV_HEADER_V1 as RECORDER_HEADER_V1;
use poolcast::core::telemetry::{Outcome, QueryClass};
use poolcast_sim::ScenarioFile;
use poolcast_sim::output::{run_dir, run_file};

const POOL: &str = "pool = { min_size = 6, max_size = 6, health_check_ms = 0.0 }";

/// A recorded run, replayed through the same pool, is the same run: every
/// request waits as long and holds as long, and every snapshot matches,
/// up to where the recording ends.
#[test]
fn replaying_a_recorded_run_through_the_same_pool_reproduces_it() {
    let dir = tempfile::tempdir().unwrap();
    let recorded = format!(
        r#"
seed = 5
[[scenario]]
name = "recorded"
duration_s = 300
record_requests = true
load = {{ base_rate = 100.0, patterns = [{{ kind = "spike", start_s = 100, duration_s = 60, multiplier = 1.4 }}] }}
classes = [
  {{ class = "read", share = 0.7, service = {{ kind = "exponential", mean_ms = 40.0 }}, patterns = 20 }},
  {{ class = "write", share = 0.3, service = {{ kind = "lognormal", mean_ms = 60.0, cv = 1.0 }} }},
]
{POOL}
"#
    );
    let file = ScenarioFile::parse(&recorded, "recorded.toml").unwrap();
    run_file(&file, dir.path()).unwrap();
    let trace = run_dir(dir.path(), "recorded", 0).join("requests.parquet");
    let (a, a_sink) = common::run(&file.scenarios[0], 5, 0);

    // The recording misses only the requests still in flight at 300 s, so
    // up to 290 s the replay has every request the recorded run had.
    let replay = format!(
        r#"
seed = 99
[[scenario]]
name = "replayed"
duration_s = 290
record_requests = true
replay = {{ trace = "{}" }}
{POOL}
"#,
        trace.display()
    );
    let file = ScenarioFile::parse(&replay, "replay.toml").unwrap();
    assert!(file.warnings.is_empty(), "{:?}", file.warnings);
    // Two scenarios replaying one trace share one copy of it.
    let twice = ScenarioFile::parse(
        &format!(
            "{replay}\n[[scenario]]\nname = \"again\"\nduration_s = 100\nreplay = {{ trace = \"{}\" }}\n",
            trace.display()
        ),
        "twice.toml",
    )
    .unwrap();
    let copy = |i: usize| twice.scenarios[i].replay.as_ref().unwrap().trace().unwrap();
    assert!(std::sync::Arc::ptr_eq(copy(0), copy(1)));
    let (b, b_sink) = common::run(&file.scenarios[0], 99, 0);
    assert!(b.conserves());

    let end = 290 * NANOS_PER_SEC;
    let mut want: Vec<_> = a_sink
        .requests
        .iter()
        .filter(|r| r.arrival_ns + r.acquire_wait_ns + r.hold_ns <= end)
        .copied()
        .collect();
    let mut got = b_sink.requests.clone();
    want.sort_by_key(|r| (r.arrival_ns, r.pattern_hash));
    got.sort_by_key(|r| (r.arrival_ns, r.pattern_hash));
    assert!(want.len() > 25_000, "{} requests", want.len());
    assert!(
        want.iter().any(|r| r.acquire_wait_ns > 0),
        "the spike makes requests wait, so waits are compared too"
    );
    assert_eq!(got.len(), want.len());
    assert_eq!(got, want);
    let n = b_sink.snapshots.len() - 1;
    assert_eq!(b_sink.snapshots[..n], a_sink.snapshots[..n]);
    assert!(a.requests > b.requests);
}

fn write_recorder_file(path: &std::path::Path, rows: &[&str]) {
    let mut text = format!("{RECORDER_HEADER}\n");
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

fn replay_toml(trace: &std::path::Path, extra: &str, duration_s: f64) -> String {
    format!(
        r#"
seed = 1
[[scenario]]
name = "replay"
duration_s = {duration_s}
interval_s = 1
record_requests = true
replay = {{ trace = "{}" {extra} }}
pool = {{ min_size = 2, max_size = 2, health_check_ms = 0.0 }}
"#,
        trace.display()
    )
}

/// A recorder directory replays its files in order, skips `start_s`,
/// compresses time by `speed`, and gives a request that timed out in
/// production a hold of its class.
#[test]
fn a_recorder_directory_replays_with_start_and_speed() {
    let dir = tempfile::tempdir().unwrap();
    write_recorder_file(
        &dir.path().join("requests-000001.csv"),
        &[
            "500000000,read,11,0,10000000,ok,,4",
            "3000000000,write,12,0,20000000,ok,,3",
            // Recorded at its end: a long request arriving earlier.
            "1000000000,read,13,0,30000000,error,query,4",
        ],
    );
    write_recorder_file(
        &dir.path().join("requests-000002.csv"),
        &[
            "5000000000,write,14,30000000000,0,acquire_timeout,timeout,3",
            "7000000000,api,15,0,40000000,ok,,4",
        ],
    );
    std::fs::write(dir.path().join("snapshots-000001.jsonl"), "").unwrap();
    let toml = replay_toml(dir.path(), ", start_s = 1.0, speed = 2.0", 3.5);
    let file = ScenarioFile::parse(&toml, "r.toml").unwrap();
    let info = file.scenarios[0].replay.as_ref().unwrap().loaded.clone();
    let info = info.expect("loaded at parse");
    assert_eq!(info.requests, 4, "the one before start_s is skipped");
    assert_eq!(info.holds_filled, 1);
    assert_eq!(info.last_arrival_ns, 3 * NANOS_PER_SEC);
    let (s, sink) = common::run(&file.scenarios[0], 1, 0);
    assert_eq!(s.requests, 4);
    let mut got = sink.requests.clone();
    got.sort_by_key(|r| r.arrival_ns);
    let at: Vec<_> = got.iter().map(|r| r.arrival_ns).collect();
    assert_eq!(at, [0, NANOS_PER_SEC, 2 * NANOS_PER_SEC, 3 * NANOS_PER_SEC]);
    let pat: Vec<_> = got.iter().map(|r| r.pattern_hash).collect();
    assert_eq!(pat, [13, 12, 14, 15]);
    // The query error is not replayed (no failures are injected here), its
    // hold is; the timed-out write holds the other write's 20 ms.
    assert!(got.iter().all(|r| r.outcome == Outcome::Ok), "{got:?}");
    let holds: Vec<_> = got.iter().map(|r| r.hold_ns / 1_000_000).collect();
    assert_eq!(holds, [30, 20, 20, 40]);
    assert_eq!(got[3].class, QueryClass::Api);
}

/// A recorder file from before the `client` column (7 columns) is still
/// taken for a recorder file, not a csvlog, and replays.
#[test]
fn a_recorder_file_from_before_the_client_column_replays() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("requests-000001.csv");
    std::fs::write(
        &p,
        format!(
            "{RECORDER_HEADER_V1}\n1000000000,read,1,0,5000000,ok,\n\
             2000000000,write,2,0,7000000,ok,\n"
        ),
    )
    .unwrap();
    let file = ScenarioFile::parse(&replay_toml(&p, "", 2.5), "r.toml").unwrap();
    let (s, sink) = common::run(&file.scenarios[0], 1, 0);
    assert_eq!(s.requests, 2);
    let mut pat: Vec<_> = sink.requests.iter().map(|r| r.pattern_hash).collect();
    pat.sort_unstable();
    assert_eq!(pat, [1, 2]);
}

/// Oracle scaling reads the replayed demand.
#[test]
fn the_oracle_scales_to_replayed_demand() {
    let dir = tempfile::tempdir().unwrap();
    // 10 s quiet, then 20 s where 8 requests of 1 s arrive every second.
    let mut rows = Vec::new();
    for s in 10..30u64 {
        for k in 0..8u64 {
            rows.push(format!(
                "{},read,{k},0,1000000000,ok,,3",
                s * NANOS_PER_SEC + k * 1000
            ));
        }
    }
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    let p = dir.path().join("requests-000001.csv");
    write_recorder_file(&p, &rows);
    let toml = format!(
        r#"
seed = 1
[[scenario]]
name = "oracle"
duration_s = 30
replay = {{ trace = "{}" }}
pool = {{ min_size = 1, max_size = 20, initial_size = 1, health_check_ms = 0.0, policy = {{ kind = "oracle", lead = 2 }} }}
"#,
        p.display()
    );
    let file = ScenarioFile::parse(&toml, "o.toml").unwrap();
    let (s, sink) = common::run(&file.scenarios[0], 1, 0);
    let quiet = sink.snapshots[5].size;
    let busy = sink.snapshots[20].size;
    assert!(
        quiet <= 2 && busy >= 8,
        "size {quiet} when quiet, {busy} when busy"
    );
    assert!(s.scale_events > 0);
}

#[test]
fn bad_replays_name_the_field_and_what_was_expected() {
    let dir = tempfile::tempdir().unwrap();
    let err = |toml: &str| ScenarioFile::parse(toml, "r.toml").unwrap_err().to_string();

    let e = err(&replay_toml(&dir.path().join("nope"), "", 1.0));
    assert!(
        e.contains("r.toml: scenario[0].replay.trace") && e.contains("nope"),
        "{e}"
    );

    let e = err(&replay_toml(dir.path(), "", 1.0));
    assert!(e.contains("no requests-*.csv"), "{e}");

    let p = dir.path().join("requests-000001.csv");
    write_recorder_file(
        &p,
        &["1000000000,read,1,0,5,ok,,4", "2000000000,raed,1,0,5,ok,,3"],
    );
    let e = err(&replay_toml(&p, "", 1.0));
    assert!(
        e.contains("scenario[0].replay.trace") && e.contains("requests-000001.csv:3"),
        "{e}"
    );

    write_recorder_file(
        &p,
        &["1000000000,read,1,0,5,ok,,4", "2000000000,read,1,0,5,ok,,3"],
    );
    let e = err(&replay_toml(&p, "", 10.0));
    assert!(
        e.contains("scenario[0].duration_s") && e.contains("last arrival is at 2.000 s"),
        "{e}"
    );
    let e = err(&replay_toml(&p, ", speed = 0.0", 1.0));
    assert!(e.contains("scenario[0].replay.speed"), "{e}");
    let e = err(&replay_toml(&p, ", sped = 2.0", 1.0));
    assert!(e.contains("sped"), "{e}");
    let e = err(&replay_toml(&p, ", start_s = 5.0", 1.0));
    assert!(e.contains("after start_s"), "{e}");
    let e = err(&replay_toml(&p, ", memory_mb = -1", 1.0));
    assert!(
        e.contains("scenario[0].replay.memory_mb") && e.contains("u64"),
        "{e}"
    );
    // Streamed, the same checks hold.
    let file = ScenarioFile::parse(&replay_toml(&p, ", memory_mb = 0", 1.0), "r.toml").unwrap();
    assert_eq!(file.scenarios[0].offered_requests(), 1.0);

    // Relative to the scenario file's directory when loaded from a file.
    let sub = dir.path().join("m");
    std::fs::create_dir(&sub).unwrap();
    let f = sub.join("replay.toml");
    std::fs::write(
        &f,
        replay_toml(std::path::Path::new("../requests-000001.csv"), "", 2.0),
    )
    .unwrap();
    let file = ScenarioFile::load(&f).unwrap();
    assert_eq!(file.scenarios[0].offered_requests(), 2.0);

    // A synthetic scenario without a load is warned about.
    let file = ScenarioFile::parse(
        "seed = 1\n[[scenario]]\nname = \"x\"\nduration_s = 1\nclasses = [{ class = \"read\", share = 1.0, service = { kind = \"exponential\", mean_ms = 5.0 } }]\n",
        "x.toml",
    )
    .unwrap();
    assert!(
        file.warnings[0].path.ends_with("load.base_rate"),
        "{:?}",
        file.warnings
    );
}

/// A directory of PostgreSQL csvlogs replays as one log: statements by
/// their durations, a transaction as one request.
#[test]
fn a_postgresql_csvlog_directory_replays() {
    let dir = tempfile::tempdir().unwrap();
    let line = |time: &str, session: &str, msg: &str| {
        format!(
            "2026-12-03 {time} UTC,\"app\",\"shop\",77,\"10.0.0.5:4000\",{session},1,\"SELECT\",2026-12-03 09:00:00 UTC,3/1,0,LOG,00000,\"{msg}\",,,,,,,,,\"web\",\"client backend\",,0\n"
        )
    };
    // Rotated: the second file continues the first.
    std::fs::write(
        dir.path().join("postgresql-2026-12-03_100000.csv"),
        line(
            "10:00:00.010",
            "a",
            "duration: 10.000 ms  statement: SELECT 1",
        ) + &line("10:00:01.000", "b", "duration: 1.000 ms  statement: BEGIN"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("postgresql-2026-12-03_100002.csv"),
        line(
            "10:00:02.500",
            "b",
            "duration: 500.000 ms  statement: UPDATE t SET x = 1",
        ) + &line("10:00:02.600", "b", "duration: 1.000 ms  statement: COMMIT")
            + &line(
                "10:00:03.020",
                "a",
                "duration: 20.000 ms  statement: SELECT 2",
            ),
    )
    .unwrap();
    let file = ScenarioFile::parse(&replay_toml(dir.path(), "", 3.5), "r.toml").unwrap();
    let (s, sink) = common::run(&file.scenarios[0], 1, 0);
    assert_eq!(s.requests, 3);
    let mut got = sink.requests.clone();
    got.sort_by_key(|r| r.arrival_ns);
    let at_ms: Vec<_> = got.iter().map(|r| r.arrival_ns / 1_000_000).collect();
    assert_eq!(at_ms, [0, 999, 3000]);
    let classes: Vec<_> = got.iter().map(|r| r.class).collect();
    assert_eq!(
        classes,
        [QueryClass::Read, QueryClass::Transaction, QueryClass::Read]
    );
    // BEGIN started at 00.999, COMMIT ended at 02.600.
    assert_eq!(got[1].hold_ns / 1_000_000, 1601);
}

/// A checkout recorded without a statement (pattern 0, the runtime's plain
/// `get()`) neither finds nor prepares one: no cache hits, no misses.
#[test]
fn requests_without_a_statement_leave_the_statement_caches_alone() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<String> = (0..200u64)
        .map(|i| format!("{},read,0,0,5000000,ok,,4", i * 10_000_000))
        .collect();
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    let p = dir.path().join("requests-000001.csv");
    write_recorder_file(&p, &rows);
    let file = ScenarioFile::parse(&replay_toml(&p, "", 2.0), "r.toml").unwrap();
    let (s, _) = common::run(&file.scenarios[0], 1, 0);
    assert!(s.requests > 150);
    assert_eq!((s.statement_cache_hits, s.statement_cache_misses), (0, 0));
    assert_eq!(s.cache_hit_rate, None);
}

/// A trace too long for the replay's `memory_mb` is read from its files
/// on every pass instead of held, and replays exactly as the one held in
/// memory: the same requests, waits, snapshots and oracle look-ahead.
#[test]
fn a_streamed_replay_is_the_replay_held_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    // 60 s of a service, written as a recorder writes: at completion,
    // into files of 2,000 rows.
    let mut rows: Vec<(u64, String)> = Vec::new();
    let mut at = 0u64;
    let mut i = 0u64;
    while at < 60 * NANOS_PER_SEC {
        i += 1;
        let h = i.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17);
        // ~200 requests a second, more in the middle 20 s.
        let gap = if (20..40).contains(&(at / NANOS_PER_SEC)) {
            2_500_000
        } else {
            5_000_000
        };
        at += h % (2 * gap);
        let hold = 1_000_000 + h % 40_000_000;
        let class = ["read", "write", "analytics", "api"][(h >> 50) as usize % 4];
        let (hold, outcome) = if h.is_multiple_of(17) {
            (0, "acquire_timeout,timeout")
        } else {
            (hold, "ok,")
        };
        rows.push((
            at + hold,
            format!(
                "{at},{class},{},0,{hold},{outcome},{}",
                h >> 56,
                (h >> 40) % 16
            ),
        ));
    }
    rows.sort_by_key(|r| r.0);
    for (k, chunk) in rows.chunks(2_000).enumerate() {
        let lines: Vec<&str> = chunk.iter().map(|r| r.1.as_str()).collect();
        write_recorder_file(
            &dir.path().join(format!("requests-{:06}.csv", k + 1)),
            &lines,
        );
    }
    let toml = |memory: &str| {
        format!(
            r#"
seed = 3
[[scenario]]
name = "replay"
duration_s = 50
interval_s = 1
record_requests = true
replay = {{ trace = "{}", start_s = 5.0 {memory} }}
pool = {{ min_size = 1, max_size = 12, health_check_ms = 0.0, policy = {{ kind = "oracle", lead = 2 }} }}
"#,
            dir.path().display()
        )
    };
    let held = ScenarioFile::parse(&toml(""), "m.toml").unwrap();
    let streamed = ScenarioFile::parse(&toml(", memory_mb = 0"), "s.toml").unwrap();
    let (h, s) = (&held.scenarios[0], &streamed.scenarios[0]);
    let trace = |sc: &poolcast_sim::Scenario| sc.replay.as_ref().unwrap().trace().unwrap().clone();
    assert!(trace(h).in_memory() && !trace(s).in_memory());
    assert!(rows.len() > 10_000, "{} rows", rows.len());
    assert_eq!(h.offered_requests(), s.offered_requests());
    assert_eq!(
        h.replay.as_ref().unwrap().loaded,
        s.replay.as_ref().unwrap().loaded
    );
    let (a, a_sink) = common::run(h, 3, 0);
    let (b, b_sink) = common::run(s, 3, 0);
    assert!(a.scale_events > 0, "the oracle follows the busy 20 s");
    assert_eq!(a.requests, b.requests);
    assert_eq!(a_sink.requests, b_sink.requests);
    assert_eq!(a_sink.snapshots, b_sink.snapshots);
    assert!(s.replay_error().is_none());
}

/// Eight recorded clients that each loop over 4-ms checkouts with 1 ms
/// between them, for 20 s, on a pool that never made them wait.
fn looping_clients(dir: &std::path::Path) -> std::path::PathBuf {
    let mut rows = Vec::new();
    for c in 1..=8u64 {
        let mut at = c * 100_000;
        while at < 20 * NANOS_PER_SEC {
            rows.push((at, c));
            at += 5_000_000;
        }
    }
    rows.sort();
    let rows: Vec<String> = rows
        .iter()
        .map(|(at, c)| format!("{at},read,{},0,4000000,ok,,{}", 40 + c, 1000 + c))
        .collect();
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    let trace = dir.join("loop");
    std::fs::create_dir(&trace).unwrap();
    write_recorder_file(&trace.join("requests-000001.csv"), &rows);
    trace
}

fn loop_replay(trace: &std::path::Path, size: u32, extra: &str) -> String {
    format!(
        r#"
seed = 1
[[scenario]]
name = "replay"
duration_s = 19
interval_s = 1
record_requests = true
replay = {{ trace = "{}" {extra} }}
pool = {{ min_size = {size}, max_size = {size}, health_check_ms = 0.0, acquire_timeout_ms = 5000 }}
"#,
        trace.display()
    )
}

/// Closed loop: through the pool the trace ran on, the clients send what
/// they sent; through a smaller one they wait and send less, keeping their
/// think time, where an open-loop replay piles the same arrivals up.
#[test]
fn a_closed_loop_replay_slows_its_clients_down_instead_of_queueing_them() {
    let dir = tempfile::tempdir().unwrap();
    let trace = looping_clients(dir.path());

    let (open8, open8_sink) = common::run_toml(&loop_replay(&trace, 8, ""));
    let (closed8, closed8_sink) = common::run_toml(&loop_replay(&trace, 8, ", closed_loop = true"));
    assert_eq!(closed8.requests, open8.requests);
    // Each client's first request keeps its time; the rest follow an end.
    let chains = closed8
        .closed_loop
        .expect("a closed loop reports its chains");
    assert_eq!(chains.own_time, 8, "{chains:?}");
    assert_eq!(chains.beside, 0, "{chains:?}");
    assert!(chains.after_end + 8 >= closed8.requests, "{chains:?}");
    assert!(open8.closed_loop.is_none());
    let times = |s: &poolcast_sim::MemorySink| {
        let mut t: Vec<_> = s.requests.iter().map(|r| r.arrival_ns).collect();
        t.sort_unstable();
        t
    };
    assert_eq!(times(&closed8_sink), times(&open8_sink));

    let (open2, _) = common::run_toml(&loop_replay(&trace, 2, ""));
    let (closed2, closed2_sink) = common::run_toml(&loop_replay(&trace, 2, ", closed_loop = true"));
    // Two connections serve at most one 4-ms checkout each per 4 ms.
    assert!(
        closed2.requests <= 2 * 19_000 / 4 + 8,
        "{} requests",
        closed2.requests
    );
    assert!(open2.requests > 2 * closed2.requests);
    let (open_wait, closed_wait) = (
        open2.acquire_wait_mean_ms.unwrap(),
        closed2.acquire_wait_mean_ms.unwrap(),
    );
    assert!(closed_wait < 15.0, "closed-loop mean wait {closed_wait} ms");
    assert!(
        open_wait > 100.0 * closed_wait,
        "open {open_wait}, closed {closed_wait}"
    );

    // Each client's next request comes its recorded 1 ms after its
    // previous one ended in the replay, and is written with its client.
    let mut by_client: std::collections::BTreeMap<u64, Vec<_>> = Default::default();
    for r in &closed2_sink.requests {
        by_client.entry(r.client).or_default().push(*r);
    }
    assert_eq!(
        by_client.keys().copied().collect::<Vec<_>>(),
        (1001..=1008).collect::<Vec<_>>()
    );
    for rs in by_client.values_mut() {
        rs.sort_by_key(|r| r.arrival_ns);
        for w in rs.windows(2) {
            let end = w[0].arrival_ns + w[0].acquire_wait_ns + w[0].hold_ns;
            assert_eq!(w[1].arrival_ns, end + 1_000_000, "{w:?}");
        }
    }

    // Streamed, the same run.
    let (streamed, streamed_sink) = common::run_toml(&loop_replay(
        &trace,
        2,
        ", closed_loop = true, memory_mb = 0",
    ));
    assert_eq!(streamed.requests, closed2.requests);
    assert_eq!(streamed_sink.requests, closed2_sink.requests);
    assert_eq!(streamed_sink.snapshots, closed2_sink.snapshots);
}

/// Closed loop with a timer tick: through the pool the trace ran on, the
/// recorded arrivals; through a smaller one, arrivals that stay on each
/// client's recorded 1-ms grid (moved by whole ticks), and still come after
/// the previous request's end.
#[test]
fn a_closed_loop_with_a_tick_keeps_each_client_on_its_timer() {
    let dir = tempfile::tempdir().unwrap();
    let trace = looping_clients(dir.path());
    let tick = ", closed_loop = true, think_tick_ms = 1.0";
    let (_, open8) = common::run_toml(&loop_replay(&trace, 8, ""));
    let (_, closed8) = common::run_toml(&loop_replay(&trace, 8, tick));
    assert!(closed8.requests == open8.requests, "not the recorded run");

    let (closed2, sink) = common::run_toml(&loop_replay(&trace, 2, tick));
    let (untimed2, _) = common::run_toml(&loop_replay(&trace, 2, ", closed_loop = true"));
    assert!(closed2.requests < open8.requests.len() as u64 / 2);
    let mut by_client: std::collections::BTreeMap<u64, Vec<_>> = Default::default();
    for r in &sink.requests {
        by_client.entry(r.client).or_default().push(*r);
    }
    let mut moved = 0;
    for (client, rs) in by_client.iter_mut() {
        rs.sort_by_key(|r| r.arrival_ns);
        let phase = (client - 1000) * 100_000;
        for w in rs.windows(2) {
            assert_eq!(w[1].arrival_ns % 1_000_000, phase, "{w:?}");
            let end = w[0].arrival_ns + w[0].acquire_wait_ns + w[0].hold_ns;
            assert!(w[1].arrival_ns >= end, "{w:?}");
            moved += u64::from(w[1].arrival_ns - end != 1_000_000);
        }
    }
    assert!(moved > 0, "no arrival left its think time");
    // Whole ticks, not exact think times: a different run.
    assert_ne!(closed2.requests, 0);
    assert_ne!(
        (closed2.requests, closed2.acquire_wait_mean_ms),
        (untimed2.requests, untimed2.acquire_wait_mean_ms)
    );
}

/// Closed loop with deadlines: clients that loop for 5 s (two phases of 8
/// clients, 14 s apart) stop at their last recorded request, so through a
/// pool too small for them they send fewer requests; with `work` they send
/// every one, late, and the first phase's backlog runs into the second.
#[test]
fn a_closed_loop_with_deadlines_sends_fewer_through_a_slower_pool() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows = Vec::new();
    for (phase, from) in [(0u64, 0u64), (1, 14 * NANOS_PER_SEC)] {
        for c in 1..=8u64 {
            let mut at = from + c * 100_000;
            while at < from + 5 * NANOS_PER_SEC {
                rows.push((at, phase * 100 + c));
                at += 5_000_000;
            }
        }
    }
    rows.sort();
    let last: std::collections::BTreeMap<u64, u64> = rows.iter().map(|&(at, c)| (c, at)).collect();
    let rows: Vec<String> = rows
        .iter()
        .map(|(at, c)| format!("{at},read,7,0,4000000,ok,,{}", 1000 + c))
        .collect();
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    let trace = dir.path().join("phases");
    std::fs::create_dir(&trace).unwrap();
    write_recorder_file(&trace.join("requests-000001.csv"), &rows);

    let (work, _) = common::run_toml(&loop_replay(&trace, 2, ", closed_loop = true"));
    let deadline = ", closed_loop = true, chain_end = \"deadline\"";
    let (dl, sink) = common::run_toml(&loop_replay(&trace, 2, deadline));
    // Two connections serve one 4-ms checkout each per 4 ms: 2,500 in
    // each 5-s phase.
    assert!(dl.requests <= 2 * 2_500 + 16, "{} requests", dl.requests);
    assert!(
        work.requests > dl.requests * 3 / 2,
        "{} against {}",
        work.requests,
        dl.requests
    );
    let chains = dl.closed_loop.unwrap();
    assert!(chains.dropped > 5_000, "{chains:?}");
    assert_eq!(work.closed_loop.unwrap().dropped, 0);
    // No client sends after its last recorded request.
    for r in &sink.requests {
        assert!(r.arrival_ns <= last[&(r.client - 1000)], "{r:?}");
    }
    // Streamed, the same run.
    let (streamed, streamed_sink) = common::run_toml(&loop_replay(
        &trace,
        2,
        &format!("{deadline}, memory_mb = 0"),
    ));
    assert_eq!(streamed.closed_loop, dl.closed_loop);
    assert!(streamed_sink.requests == sink.requests && streamed_sink.snapshots == sink.snapshots);
    // Through a pool the size of the recording's, nothing is dropped.
    let (as_recorded, _) = common::run_toml(&loop_replay(&trace, 8, deadline));
    assert_eq!(as_recorded.closed_loop.unwrap().dropped, 0);
}

/// A closed loop over a trace that does not know its clients is refused,
/// naming the field and why.
#[test]
fn a_closed_loop_needs_a_trace_that_knows_its_clients() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("requests-000001.csv");
    let text =
        format!("{RECORDER_HEADER_V1}\n1000,read,1,0,4000000,ok,\n6000000,read,1,0,4000000,ok,\n");
    std::fs::write(&path, text).unwrap();
    let e = ScenarioFile::parse(
        &loop_replay(dir.path(), 2, ", closed_loop = true"),
        "x.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("closed_loop") && e.contains("client"), "{e}");
    let e = ScenarioFile::parse(&loop_replay(dir.path(), 2, ", chain_gap_ms = 0"), "x.toml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("chain_gap_ms"), "{e}");
    let e = ScenarioFile::parse(
        &loop_replay(
            dir.path(),
            2,
            ", closed_loop = true, chain_end = \"deadlin\"",
        ),
        "x.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("chain_end") && e.contains("deadline"), "{e}");
    for bad in ["-1.0", "5000.0"] {
        let e = ScenarioFile::parse(
            &loop_replay(dir.path(), 2, &format!(", think_tick_ms = {bad}")),
            "x.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("think_tick_ms"), "{e}");
    }
}

/// The same pgbench run logged three ways (the datasets crate's samples:
/// csvlog, jsonlog, stderr with the RDS prefix) loads as the same replayed
/// requests whichever file a scenario names; the form is found from the
/// file. (stderr's `%t` has whole seconds: its arrivals sit up to a second
/// off the others', so the run itself is compared on csvlog and jsonlog.)
#[test]
fn a_server_log_in_any_form_replays() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../datasets/tests/data/pg-three-ways");
    let mut seen = Vec::new();
    for name in ["postgresql.csv", "postgresql.json", "postgresql-rds.log"] {
        let file = ScenarioFile::parse(&replay_toml(&dir.join(name), "", 1.0), "r.toml")
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let sc = &file.scenarios[0];
        let trace = sc.replay.as_ref().and_then(|r| r.trace()).unwrap();
        let mut classes: Vec<_> = trace
            .stream()
            .map(|r| (r.class.index(), r.pattern))
            .collect();
        classes.sort_unstable();
        let (s, _) = common::run(sc, 1, 0);
        seen.push((classes, s.requests));
        // The load summary says what whole-second times do to arrivals,
        // for the stderr log (`%t`) alone.
        let whole = name.ends_with(".log");
        let loaded = sc.replay.as_ref().and_then(|r| r.loaded.as_ref()).unwrap();
        assert_eq!(loaded.whole_seconds, whole, "{name}");
        let said = file
            .warnings
            .iter()
            .any(|w| w.path.ends_with("replay.trace") && w.message.contains("good to a second"));
        assert_eq!(said, whole, "{name}: {:?}", file.warnings);
    }
    assert!(!seen[0].0.is_empty());
    assert_eq!(seen[1], seen[0], "jsonlog against csvlog");
    assert_eq!(seen[2].0, seen[0].0, "stderr against csvlog");
}

/// `format` and `log_line_prefix` force a server log's form and prefix;
/// bad values name their field.
#[test]
fn a_server_logs_form_and_prefix_can_be_given() {
    let log = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../datasets/tests/data/pg-three-ways/postgresql-rds.log");
    let given = r#", format = "stderr", log_line_prefix = "%t:%r:%u@%d:[%p]:""#;
    let file = ScenarioFile::parse(&replay_toml(&log, given, 1.0), "r.toml").unwrap();
    let auto = ScenarioFile::parse(&replay_toml(&log, "", 1.0), "r.toml").unwrap();
    assert_eq!(
        file.scenarios[0].offered_requests(),
        auto.scenarios[0].offered_requests()
    );
    for (extra, field) in [
        (r#", log_line_prefix = "[%p] ""#, "log_line_prefix"),
        (r#", log_line_prefix = "%m %z ""#, "log_line_prefix"),
        (r#", format = "xml""#, "format"),
        (
            r#", format = "csvlog", log_line_prefix = "%m ""#,
            "log_line_prefix",
        ),
        (r#", log_line_prefix = "%m [%p] ""#, "trace"),
    ] {
        let e = ScenarioFile::parse(&replay_toml(&log, extra, 1.0), "r.toml").unwrap_err();
        assert!(
            e.path.ends_with(&format!("scenario[0].replay.{field}")),
            "{extra}: {e}"
        );
    }
}

/// OpenTelemetry client spans from a real SDK (the datasets crate's
/// `otlp` samples) replay in a closed loop: each trace is a client, and
/// each statement holds its connection for the span's client-side time.
#[test]
fn otlp_client_spans_replay_in_a_closed_loop() {
    let spans = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../datasets/tests/data/otlp/spans-new-semconv.jsonl");
    for extra in ["", r#", format = "otlp""#] {
        let extra = format!("{extra}, closed_loop = true");
        let file = ScenarioFile::parse(&replay_toml(&spans, &extra, 2.0), "r.toml")
            .unwrap_or_else(|e| panic!("{extra}: {e}"));
        let sc = &file.scenarios[0];
        // 121 reads, 30 writes and 27 transactions.
        assert_eq!(sc.offered_requests(), 178.0);
        let trace = sc.replay.as_ref().and_then(|r| r.trace()).unwrap();
        let holds: Vec<u64> = trace.stream().map(|r| r.hold_ns).collect();
        // Client-side holds: milliseconds, where the server's log of the
        // same statements says tens of microseconds.
        let mean = holds.iter().sum::<u64>() as f64 / holds.len() as f64;
        assert!(mean > 1e6, "mean hold {mean} ns");
        let (s, _) = common::run(sc, 1, 0);
        assert_eq!(s.requests, 178);
    }
}
