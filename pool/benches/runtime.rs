//! The runtime pool beside deadpool and bb8, in one run:
//!
//! - `noop/uncontended/*`: one task, acquire + release, a manager that does
//!   nothing (the pool's own overhead);
//! - `noop/contended/*`: 32 tasks sharing 8 connections; time per acquire +
//!   release (all tasks' operations over wall time);
//! - `postgres/select1_tasks=N/*`: `SELECT 1` (simple query protocol, one
//!   round trip) through each pool from N tasks sharing 16 connections,
//!   time per query. Needs PostgreSQL at `POOLCAST_TEST_PG` (default
//!   `postgres://postgres@127.0.0.1:5432/test`); skipped with a message
//!   when it does not answer.
//!
//! ```sh
//! cargo bench -p poolcast --bench runtime
//! ```
//!
//! All pools use a multi-threaded tokio runtime with 2 workers (this
//! machine's cores) and their default recycling (deadpool and deadpool-
//! postgres: recycle on every get, fast mode; bb8: no test on checkout;
//! poolcast: fast local check after 500 ms idle).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use poolcast::core::settings::PoolSettings;
use poolcast::runtime::postgres::PgManager;
use poolcast::runtime::{Manager, Pool, RecycleMode};
use tokio::runtime::Runtime;

const CONNS: u32 = 8;
const TASKS: u64 = 32;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

// ---- no-op managers ----

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

struct Bb8Noop;

impl bb8::ManageConnection for Bb8Noop {
    type Connection = u64;
    type Error = Infallible;
    async fn connect(&self) -> Result<u64, Infallible> {
        Ok(0)
    }
    async fn is_valid(&self, _: &mut u64) -> Result<(), Infallible> {
        Ok(())
    }
    fn has_broken(&self, _: &mut u64) -> bool {
        false
    }
}

/// Runs `op` `iters` times spread over `tasks` tasks; returns wall time.
async fn spread<F, Fut>(tasks: u64, iters: u64, op: Arc<F>) -> Duration
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let per = iters.div_ceil(tasks);
    let start = Instant::now();
    let mut hs = Vec::with_capacity(tasks as usize);
    for _ in 0..tasks {
        let op = Arc::clone(&op);
        hs.push(tokio::spawn(async move {
            for _ in 0..per {
                op().await;
            }
        }));
    }
    for h in hs {
        h.await.expect("bench task");
    }
    // Per requested iteration, as criterion expects.
    start.elapsed().mul_f64(iters as f64 / (per * tasks) as f64)
}

fn noop(c: &mut Criterion) {
    let rt = runtime();
    let (pc, dp, b8) = rt.block_on(async {
        let pc = Pool::builder(Noop)
            .settings(PoolSettings {
                max_size: CONNS,
                ..PoolSettings::default()
            })
            .build()
            .expect("poolcast pool");
        let dp = deadpool::managed::Pool::<DeadNoop>::builder(DeadNoop)
            .max_size(CONNS as usize)
            .build()
            .expect("deadpool");
        let b8 = bb8::Pool::builder()
            .max_size(CONNS)
            .build(Bb8Noop)
            .await
            .expect("bb8");
        (pc, dp, b8)
    });
    let mut g = c.benchmark_group("noop/uncontended");
    g.bench_function("poolcast", |b| {
        b.to_async(&rt)
            .iter(|| async { drop(pc.get().await.expect("get")) })
    });
    g.bench_function("deadpool", |b| {
        b.to_async(&rt)
            .iter(|| async { drop(dp.get().await.expect("get")) })
    });
    g.bench_function("bb8", |b| {
        b.to_async(&rt)
            .iter(|| async { drop(b8.get().await.expect("get")) })
    });
    g.finish();

    let mut g = c.benchmark_group("noop/contended");
    {
        let pc = pc.clone();
        g.bench_function("poolcast", |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let pc = pc.clone();
                async move {
                    let op = Arc::new(move || {
                        let pc = pc.clone();
                        async move {
                            let o = pc.get().await.expect("get");
                            tokio::task::yield_now().await;
                            drop(o);
                        }
                    });
                    spread(TASKS, iters, op).await
                }
            })
        });
    }
    {
        let dp = dp.clone();
        g.bench_function("deadpool", |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let dp = dp.clone();
                async move {
                    let op = Arc::new(move || {
                        let dp = dp.clone();
                        async move {
                            let o = dp.get().await.expect("get");
                            tokio::task::yield_now().await;
                            drop(o);
                        }
                    });
                    spread(TASKS, iters, op).await
                }
            })
        });
    }
    {
        let b8 = b8.clone();
        g.bench_function("bb8", |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let b8 = b8.clone();
                async move {
                    let op = Arc::new(move || {
                        let b8 = b8.clone();
                        async move {
                            let o = b8.get().await.expect("get");
                            tokio::task::yield_now().await;
                            drop(o);
                        }
                    });
                    spread(TASKS, iters, op).await
                }
            })
        });
    }
    g.finish();
}

fn pg_url() -> String {
    std::env::var("POOLCAST_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

fn postgres(c: &mut Criterion) {
    const PG_CONNS: u32 = 16;
    let rt = runtime();
    let url = pg_url();
    let config: tokio_postgres::Config = match url.parse() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("postgres benches skipped: POOLCAST_TEST_PG does not parse ({e})");
            return;
        }
    };
    let up = rt.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(2),
            config.connect(tokio_postgres::NoTls),
        )
        .await
        .is_ok_and(|r| r.is_ok())
    });
    if !up {
        eprintln!("postgres benches skipped: PostgreSQL does not answer at POOLCAST_TEST_PG");
        return;
    }
    let (pc, dp, b8) = rt.block_on(async {
        let pc = Pool::builder(PgManager::new(config.clone()))
            .settings(PoolSettings {
                max_size: PG_CONNS,
                min_size: PG_CONNS,
                ..PoolSettings::default()
            })
            .build()
            .expect("poolcast pool");
        let mgr = deadpool_postgres::Manager::from_config(
            config.clone(),
            tokio_postgres::NoTls,
            deadpool_postgres::ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        );
        let dp = deadpool_postgres::Pool::builder(mgr)
            .max_size(PG_CONNS as usize)
            .build()
            .expect("deadpool-postgres");
        let b8 = bb8::Pool::builder()
            .max_size(PG_CONNS)
            .min_idle(Some(PG_CONNS))
            .build(bb8_postgres::PostgresConnectionManager::new(
                config.clone(),
                tokio_postgres::NoTls,
            ))
            .await
            .expect("bb8-postgres");
        // Warm every pool to its full size before measuring.
        let mut held = Vec::new();
        for _ in 0..PG_CONNS {
            held.push(dp.get().await.expect("warm deadpool"));
        }
        drop(held);
        tokio::time::sleep(Duration::from_millis(300)).await;
        (pc, dp, b8)
    });
    for tasks in [1_u64, 8, 32, 64] {
        let mut g = c.benchmark_group(format!("postgres/select1_tasks={tasks}"));
        g.sample_size(20).measurement_time(Duration::from_secs(4));
        {
            let pc = pc.clone();
            g.bench_function("poolcast", |b| {
                b.to_async(&rt).iter_custom(|iters| {
                    let pc = pc.clone();
                    async move {
                        let op = Arc::new(move || {
                            let pc = pc.clone();
                            async move {
                                let c = pc.get().await.expect("get");
                                c.simple_query("SELECT 1").await.expect("SELECT 1");
                            }
                        });
                        spread(tasks, iters, op).await
                    }
                })
            });
        }
        {
            let dp = dp.clone();
            g.bench_function("deadpool-postgres", |b| {
                b.to_async(&rt).iter_custom(|iters| {
                    let dp = dp.clone();
                    async move {
                        let op = Arc::new(move || {
                            let dp = dp.clone();
                            async move {
                                let c = dp.get().await.expect("get");
                                c.simple_query("SELECT 1").await.expect("SELECT 1");
                            }
                        });
                        spread(tasks, iters, op).await
                    }
                })
            });
        }
        {
            let b8 = b8.clone();
            g.bench_function("bb8-postgres", |b| {
                b.to_async(&rt).iter_custom(|iters| {
                    let b8 = b8.clone();
                    async move {
                        let op = Arc::new(move || {
                            let b8 = b8.clone();
                            async move {
                                let c = b8.get().await.expect("get");
                                c.simple_query("SELECT 1").await.expect("SELECT 1");
                            }
                        });
                        spread(tasks, iters, op).await
                    }
                })
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(3));
    targets = noop, postgres
}
criterion_main!(benches);
