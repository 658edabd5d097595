//! Simulator throughput benchmarks (a bench binary, not criterion: each
//! case is one long run whose events/s, wall time and peak memory are the
//! numbers that matter).
//!
//! ```text
//! cargo bench -p poolcast-sim --bench sim_throughput            # both cases
//! cargo bench -p poolcast-sim --bench sim_throughput -- mmc     # one case
//! ```
//!
//! - `mmc`: M/M/c at ρ = 0.9, c = 50, exponential 50 ms service
//!   (900 req/s), one core. Target ≥ 15M events/s. Statement caches and
//!   affinity routing are on (the default) with the default 20 patterns:
//!   every request looks its pattern up and, when connections are idle,
//!   is routed by `PoolCore::acquire_preferring`.
//! - `day`: a 24-hour day at 500 req/s (43.2M requests), 1-s snapshots
//!   written to Parquet, one core. Target < 20 s wall, peak RSS < 500 MB.
//!
//! Both pools say `health_check = "never"`: the workload measured since
//! 2026-12-02, from before the pool default became the runtime's check
//! after 500 ms idle.

use std::time::Instant;

use poolcast_sim::ScenarioFile;

const MMC: &str = r#"
seed = 1
[[scenario]]
name = "mmc-c50-rho0.9"
duration_s = 20000
interval_s = 60
load = { base_rate = 900.0 }
classes = [{ class = "read", share = 1.0, service = { kind = "exponential", mean_ms = 50.0 } }]
pool = { min_size = 50, max_size = 50, acquire_timeout_ms = 1e12, idle_timeout_s = 1e9, max_lifetime_s = 1e9, health_check = "never" }
"#;

const DAY: &str = r#"
seed = 1
[[scenario]]
name = "day-500rps"
duration_s = 86400
interval_s = 1
load = { base_rate = 500.0 }
classes = [
  { class = "read", share = 0.6, service = { kind = "lognormal", mean_ms = 8.0, cv = 1.0 } },
  { class = "write", share = 0.2, service = { kind = "exponential", mean_ms = 12.0 } },
  { class = "api", share = 0.15, service = { kind = "gamma", mean_ms = 10.0, shape = 2.0 } },
  { class = "analytics", share = 0.05, service = { kind = "lognormal", mean_ms = 80.0, cv = 1.5 } },
]
pool = { min_size = 5, max_size = 40, initial_size = 10, policy = { kind = "reactive" }, health_check = "never" }
"#;

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn run(name: &str, text: &str) {
    let file = ScenarioFile::parse(text, name).expect("bench scenario is valid");
    let out = std::env::temp_dir().join(format!("poolcast-bench-{name}-{}", std::process::id()));
    let started = Instant::now();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("one thread");
    let summaries = pool
        .install(|| poolcast_sim::output::run_file(&file, &out))
        .expect("bench run writes its output");
    let wall = started.elapsed().as_secs_f64();
    let s = &summaries[0];
    println!(
        "{name:<5} requests={:>10} events={:>11} wall={wall:>7.2}s events/s={:>6.2}M engine_events/s={:>6.2}M peak_rss={:.0}MB",
        s.requests,
        s.events,
        s.events as f64 / wall / 1e6,
        s.events_per_sec / 1e6,
        peak_rss_mb().unwrap_or(f64::NAN),
    );
    let _ = std::fs::remove_dir_all(&out);
}

fn main() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |n: &str| filter.is_empty() || filter.iter().any(|f| n.contains(f.as_str()));
    if want("mmc") {
        run("mmc", MMC);
    }
    if want("day") {
        run("day", DAY);
    }
}
