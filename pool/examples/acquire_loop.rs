//! Profiling aid for the acquire + release path, beside deadpool, on a
//! current-thread runtime with no-op managers:
//!
//! ```sh
//! cargo build --release -p poolcast --example acquire_loop
//! target/release/examples/acquire_loop poolcast contended 200000
//! valgrind --tool=callgrind target/release/examples/acquire_loop deadpool uncontended 200000
//! target/release/examples/acquire_loop poolcast contended 2000000 mt   # 2 workers, as the bench
//! target/release/examples/acquire_loop deadpool pg8 20000 mt   # SELECT 1 from 8 tasks, 16 connections
//! target/release/examples/acquire_loop direct pg8 20000 mt     # the same without a pool
//! ```
//!
//! The `pg<N>` mode needs PostgreSQL at `POOLCAST_TEST_PG` (default
//! `postgres://postgres@127.0.0.1:5432/test`); `POOLCAST_BENCH_DEADPOOL_LIFO=1`
//! makes deadpool hand out its most recently returned connection.
//!
//! Instruction counts under callgrind do not depend on what else the
//! machine runs, so this compares the two pools' costs on a busy machine;
//! the criterion bench (`benches/runtime.rs`) gives the wall-clock figures.
use std::convert::Infallible;
use std::time::Instant;

use poolcast::core::settings::PoolSettings;
use poolcast::runtime::{Manager, Pool, RecycleMode};

struct Noop;
impl Manager for Noop {
    type Connection = u64;
    type Error = Infallible;
    async fn create(&self) -> Result<u64, Infallible> {
        Ok(0)
    }
    async fn recycle(&self, _: &mut u64, _: RecycleMode) -> Result<(), Infallible> {
        Ok(())
    }
}

struct DeadNoop;
impl deadpool::managed::Manager for DeadNoop {
    type Type = u64;
    type Error = Infallible;
    async fn create(&self) -> Result<u64, Infallible> {
        Ok(0)
    }
    async fn recycle(
        &self,
        _: &mut u64,
        _: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<Infallible> {
        Ok(())
    }
}

const TASKS: u64 = 32;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map_or("poolcast", String::as_str).to_string();
    let contended = args.get(2).is_some_and(|s| s == "contended");
    let n: u64 = args
        .get(3)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    // `mt`: the benchmark's runtime (2 workers) instead of one thread.
    let rt = if args.get(4).is_some_and(|s| s == "mt") {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
    .expect("runtime");
    if let Some(tasks) = args
        .get(2)
        .and_then(|s| s.strip_prefix("pg"))
        .and_then(|t| t.parse().ok())
    {
        let us = rt.block_on(select1(&which, tasks, n));
        println!("{us:.2} us/query");
        return;
    }
    let ns = rt.block_on(async move {
        let size = if contended { 8 } else { 1 };
        let tasks = if contended { TASKS } else { 1 };
        let per = n / tasks;
        let t = Instant::now();
        let mut hs = Vec::new();
        if which == "deadpool" {
            let pool = deadpool::managed::Pool::<DeadNoop>::builder(DeadNoop)
                .max_size(size)
                .build()
                .expect("deadpool");
            for _ in 0..tasks {
                let p = pool.clone();
                hs.push(tokio::spawn(async move {
                    for _ in 0..per {
                        let o = p.get().await.expect("get");
                        if contended {
                            tokio::task::yield_now().await;
                        }
                        drop(o);
                    }
                }));
            }
        } else {
            let pool = Pool::builder(Noop)
                .settings(PoolSettings {
                    max_size: size as u32,
                    ..PoolSettings::default()
                })
                .build()
                .expect("pool");
            for _ in 0..tasks {
                let p = pool.clone();
                hs.push(tokio::spawn(async move {
                    for _ in 0..per {
                        let o = p.get().await.expect("get");
                        if contended {
                            tokio::task::yield_now().await;
                        }
                        drop(o);
                    }
                }));
            }
        }
        for h in hs {
            h.await.expect("task");
        }
        t.elapsed().as_nanos() as f64 / (per * tasks) as f64
    });
    println!("{ns:.1} ns/op");
}

/// Opens every connection of `$pool` (any pool whose `get` yields a
/// `tokio_postgres::Client`), then runs `$per` `SELECT 1` from each of
/// `$tasks` tasks; the wall time of the second part. A macro because the
/// pools share no trait.
macro_rules! time_select1 {
    ($pool:expr, $conns:expr, $tasks:expr, $per:expr) => {{
        let pool = $pool;
        let mut held = Vec::new();
        for _ in 0..$conns {
            held.push(pool.get().await.expect("connect"));
        }
        drop(held);
        let t = Instant::now();
        let mut hs = Vec::new();
        for _ in 0..$tasks {
            let p = pool.clone();
            hs.push(tokio::spawn(async move {
                for _ in 0..$per {
                    let c = p.get().await.expect("get");
                    c.simple_query("SELECT 1").await.expect("SELECT 1");
                }
            }));
        }
        for h in hs {
            h.await.expect("task");
        }
        t.elapsed()
    }};
}

/// `n` `SELECT 1` from `tasks` tasks sharing 16 connections (all opened
/// first); microseconds per query.
async fn select1(which: &str, tasks: u64, n: u64) -> f64 {
    const CONNS: u32 = 16;
    let url = std::env::var("POOLCAST_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let config: tokio_postgres::Config = url.parse().expect("POOLCAST_TEST_PG parses");
    let per = n / tasks;
    let took = if which == "direct" {
        // No pool: min(tasks, 16) tasks that each own a client.
        let mut clients = Vec::new();
        for _ in 0..CONNS {
            let (client, conn) = config
                .connect(tokio_postgres::NoTls)
                .await
                .expect("connect");
            tokio::spawn(conn);
            clients.push(std::sync::Arc::new(client));
        }
        let k = tasks.min(u64::from(CONNS));
        let per = n / k;
        let t = Instant::now();
        let mut hs = Vec::new();
        for c in clients.iter().take(k as usize) {
            let c = std::sync::Arc::clone(c);
            hs.push(tokio::spawn(async move {
                for _ in 0..per {
                    c.simple_query("SELECT 1").await.expect("SELECT 1");
                }
            }));
        }
        for h in hs {
            h.await.expect("task");
        }
        return t.elapsed().as_secs_f64() * 1e6 / (per * k) as f64;
    } else if which == "deadpool" {
        let lifo = std::env::var("POOLCAST_BENCH_DEADPOOL_LIFO").is_ok_and(|v| v == "1");
        let mgr = deadpool_postgres::Manager::from_config(
            config,
            tokio_postgres::NoTls,
            deadpool_postgres::ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        );
        let pool = deadpool_postgres::Pool::builder(mgr)
            .max_size(CONNS as usize)
            .queue_mode(if lifo {
                deadpool::managed::QueueMode::Lifo
            } else {
                deadpool::managed::QueueMode::Fifo
            })
            .build()
            .expect("deadpool-postgres");
        time_select1!(pool, CONNS, tasks, per)
    } else {
        let pool = Pool::builder(poolcast::runtime::postgres::PgManager::new(config))
            .settings(PoolSettings {
                max_size: CONNS,
                min_size: CONNS,
                ..PoolSettings::default()
            })
            .build()
            .expect("pool");
        time_select1!(pool, CONNS, tasks, per)
    };
    took.as_secs_f64() * 1e6 / (per * tasks) as f64
}
