//! A small service on the runtime pool, to copy from when embedding it:
//! a pool from a `pool.toml` (for example the one `poolcast export` or the
//! quickstart wrote, whose predictive policy loads the exported model), a
//! workload that steps from 4 to 24 to 8 concurrent tasks, the pool's status
//! once a second, and its Prometheus text at the end.
//!
//! ```sh
//! cargo run --release -p poolcast --example pg_service --features postgres,prometheus
//! cargo run --release -p poolcast --example pg_service --features postgres,prometheus -- \
//!     runs/quickstart/<run-id>/pool.toml
//! ```
//!
//! The quickstart's model learned the simulator's traffic, not this load, so
//! with its `pool.toml` the run shows the mechanism (the policy warming up
//! on reactive, then predicting; on 2026-12-03 it went to `max_size` 64 for
//! this load's 24 tasks), not a model fitted to this service. To fit one,
//! record the service's telemetry with a `TraceRecorder` and give its
//! directory to `poolcast train`, then `poolcast export` the winner. A
//! model needs hours of telemetry, not the default 10 s:
//! `POOLCAST_SERVICE_SCALE=30` stretches each phase 30-fold (status every
//! 30 s) and `POOLCAST_SERVICE_CYCLES=12` repeats the cycle, an hour in all:
//!
//! ```sh
//! POOLCAST_TRACE_DIR=trace POOLCAST_SERVICE_SCALE=30 POOLCAST_SERVICE_CYCLES=12 \
//!     cargo run --release -p poolcast --example pg_service --features postgres,prometheus
//! poolcast train trace --out fit --horizons 5,15
//! ```
//!
//! The database is `POOLCAST_TEST_PG` (default
//! `postgres://postgres@127.0.0.1:5432/test`). With `POOLCAST_TRACE_DIR`
//! set, a `TraceRecorder` writes every request and snapshot there
//! (`requests-*.csv`, `snapshots-*.jsonl`), the files `poolcast train`
//! takes, and that a `replay` scenario sends through the simulator
//! (`experiments/manifests/replay.toml`). Errors (a bad `pool.toml`, a
//! database that does not answer) are printed and end the program with
//! status 2; failed queries are counted by kind, not unwrapped.
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use poolcast::runtime::postgres::PgManager;
use poolcast::runtime::{Pool, RecorderConfig, TraceRecorder, load_pool_file};

/// The workload's phases: (seconds, concurrent tasks), times
/// `POOLCAST_SERVICE_SCALE`.
const PHASES: [(u64, usize); 3] = [(3, 4), (3, 24), (4, 8)];
/// One statement, so the pool's statement affinity has something to learn.
const SQL: &str = "SELECT $1::int + 1";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("pg_service: {e}");
        std::process::exit(2);
    }
}

/// A whole number >= 1 from the environment variable `name` (1 if unset).
fn env_count(name: &str) -> Result<u64, String> {
    match std::env::var(name) {
        Err(_) => Ok(1),
        Ok(v) => v
            .parse::<u64>()
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| format!("{name}: expected a whole number >= 1, got {v:?}")),
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let scale = env_count("POOLCAST_SERVICE_SCALE")?;
    let cycles = env_count("POOLCAST_SERVICE_CYCLES")?;
    let url = std::env::var("POOLCAST_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let mut builder = Pool::builder(PgManager::from_url(&url)?).name("demo");
    if let Some(path) = std::env::args().nth(1) {
        builder = builder.config(load_pool_file(&path)?);
    }
    let recorder = match std::env::var_os("POOLCAST_TRACE_DIR") {
        Some(dir) => {
            let dir = std::path::PathBuf::from(dir);
            // The default keeps the newest 10 files of 1M rows; an hour of
            // this load is ~16M requests, and a trace that lost its first
            // files cannot be replayed from time 0, so keep 100.
            let config = RecorderConfig {
                max_files: 100,
                ..RecorderConfig::new(&dir)
            };
            let rec = TraceRecorder::start(config)
                .map_err(|e| format!("POOLCAST_TRACE_DIR {}: {e}", dir.display()))?;
            builder = builder.trace(rec.clone());
            Some(rec)
        }
        None => None,
    };
    let pool = builder.build()?;
    // Fail early, with the pool's typed error, if the database is not there.
    drop(pool.get().await?);

    let errors: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let start = Instant::now();
    let mut ends = Vec::new();
    let mut at = 0;
    for _ in 0..cycles {
        for (secs, tasks) in PHASES {
            ends.push((at, at + secs * scale, tasks));
            at += secs * scale;
        }
    }
    let mut handles = Vec::new();
    for (from, to, tasks) in ends {
        for _ in 0..tasks {
            let pool = pool.clone();
            let errors = Arc::clone(&errors);
            handles.push(tokio::spawn(async move {
                tokio::time::sleep_until((start + Duration::from_secs(from)).into()).await;
                let until = start + Duration::from_secs(to);
                let mut n = 0i32;
                while Instant::now() < until {
                    n = n.wrapping_add(1);
                    let outcome = match pool.get_for(SQL).await {
                        Ok(mut conn) => conn
                            .query_cached(SQL, &[&n])
                            .await
                            .map(drop)
                            .map_err(|e| format!("query: {e}")),
                        Err(e) => Err(format!("acquire: {e}")),
                    };
                    if let Err(kind) = outcome {
                        *errors.lock().unwrap().entry(kind).or_default() += 1;
                    }
                    // A little work between queries, as a handler would do.
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }));
        }
    }

    println!("  t  size idle busy wait target  policy");
    for t in (scale..=at).step_by(scale as usize) {
        tokio::time::sleep_until((start + Duration::from_secs(t)).into()).await;
        let s = pool.status();
        println!(
            "{t:>3}  {:>4} {:>4} {:>4} {:>4} {:>6}  {}",
            s.size, s.idle, s.busy, s.waiting, s.target, s.policy
        );
    }
    for h in handles {
        h.await?;
    }

    let m = pool.metrics();
    println!(
        "\n{} acquires, {} granted ({} without waiting), {} timeouts, {} connections opened, statement-cache hit rate {}",
        m.totals.acquires_requested,
        m.totals.grants,
        m.totals.grants_immediate,
        m.totals.timeouts,
        m.totals.created,
        m.cache_hit_rate()
            .map_or("n/a".to_string(), |r| format!("{:.2}%", r * 100.0))
    );
    for (kind, n) in errors.lock().unwrap().iter() {
        println!("{n} x {kind}");
    }
    #[cfg(feature = "prometheus")]
    {
        println!("\nPrometheus text (first lines):");
        for line in pool.prometheus().lines().take(12) {
            println!("{line}");
        }
    }
    pool.close().await;
    if let Some(rec) = recorder {
        rec.flush();
        println!(
            "\ntrace written ({} records dropped, {} write errors)",
            rec.dropped(),
            rec.write_errors()
        );
    }
    Ok(())
}
