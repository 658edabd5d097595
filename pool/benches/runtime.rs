//! The runtime pool beside deadpool and bb8, in one run:
//!
//! - `noop/uncontended/*`: one task, acquire + release, a manager that does
//!   nothing (the pool's own overhead);
//! - `noop/contended/*`: 32 tasks sharing 8 connections, each yielding once
//!   while it holds one; time per acquire + release (all tasks' operations
//!   over wall time);
//! - `postgres/select1_tasks=N/*`: `SELECT 1` (simple query protocol, one
//!   round trip) through each pool from N tasks sharing 16 connections,
//!   time per query, and beside them `direct`: no pool, `min(N, 16)` tasks
//!   that each own a client (up to 16 tasks, poolcast / direct is what the
//!   pool costs; see [`PG_POOLS`] for above). Needs
//!   PostgreSQL at `POOLCAST_TEST_PG` (default
//!   `postgres://postgres@127.0.0.1:5432/test`); skipped with a message
//!   when it does not answer.
//!
//! ```sh
//! cargo bench -p poolcast --bench runtime              # everything
//! cargo bench -p poolcast --bench runtime -- noop      # one family
//! cargo bench -p poolcast --bench runtime -- paired    # the paired rounds only
//! ```
//!
//! Criterion measures each pool on its own, one after the other, so a change
//! of machine load between two pools' runs (other builds on this 2-core
//! machine) shows up as a difference between the pools. After the criterion
//! groups, the **paired rounds** (`paired/*`) measure the same workloads
//! interleaved: every round runs each pool once for about
//! `POOLCAST_BENCH_ROUND_MS` (default 60) ms, the order of the pools cycles
//! through every rotation and its reverse (all six permutations of three),
//! and slow drifts of the load cancel out of the per-round ratios. Rounds
//! come in `POOLCAST_BENCH_SESSIONS` (default 5) sessions of
//! `POOLCAST_BENCH_ROUNDS` (default 12 with three contestants, 16 with
//! four: whole cycles of the orders) rounds, each session
//! with a fresh runtime and fresh pools: where the tasks and the connections'
//! I/O tasks land on the two workers changes from one setup to the next and
//! moves a whole session's results (by up to ±20% for PostgreSQL), so the
//! 95% confidence intervals are taken over sessions, not rounds, and each
//! session's ratio is printed. Each pool's mean time per operation and each
//! ratio (poolcast / each other contestant: geometric means of the
//! per-round ratios) come with their interval; the load average is printed
//! before and after.
//!
//! deadpool hands out its least recently returned connection (FIFO, its
//! default), poolcast its most recently used one; with fewer tasks than
//! connections that alone makes deadpool-postgres keep all 16 backends busy
//! where poolcast keeps as many as it has tasks.
//! `POOLCAST_BENCH_DEADPOOL_LIFO=1` runs deadpool in LIFO mode to tell that
//! apart from the pools' own costs.
//!
//! Every pool does the same work per checkout: one local "is the socket
//! closed" check and no round trip. All pools use a multi-threaded tokio
//! runtime with 2 workers (this machine's cores):
//! - deadpool and deadpool-postgres recycle on every get in fast mode (the
//!   `is_closed` check, no query);
//! - bb8 runs `has_broken` (`is_closed`) on every return; its
//!   `test_on_check_out` is turned off, since bb8-postgres' `is_valid` is a
//!   round trip (`simple_query("")`) that would double its work per query;
//! - poolcast checks `is_broken` (`is_closed`) on every return, and runs the
//!   fast local check on a grant of a connection idle for 500 ms or more (its
//!   default).
//!
//! Each pool is warmed before it is measured: the PostgreSQL pools are
//! filled to 16 open connections, and every workload runs once untimed per
//! pool before the paired rounds.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use poolcast::core::settings::PoolSettings;
use poolcast::runtime::postgres::PgManager;
use poolcast::runtime::{Manager, Pool, RecycleMode};
use tokio::runtime::Runtime;

const CONNS: u32 = 8;
const TASKS: u64 = 32;
const PG_CONNS: u32 = 16;
const PG_TASKS: [u64; 4] = [1, 8, 32, 64];
const POOLS: [&str; 3] = ["poolcast", "deadpool", "bb8"];
/// The PostgreSQL contestants: the three pools, and `direct`, no pool at
/// all: `min(tasks, 16)` tasks that each own one tokio-postgres client.
/// Up to 16 tasks it runs the pools' workload without a pool, so poolcast /
/// direct is what the pool costs; above 16 it is 16 tasks against the
/// pools' N, the most queries 16 connections carry at once without
/// pipelining, but not a ceiling: the pools' extra tasks can keep the
/// workers busier than direct's 16 do.
const PG_POOLS: [&str; 4] = ["poolcast", "deadpool-postgres", "bb8-postgres", "direct"];

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

/// Runs `op` `iters` times spread over `tasks` tasks (`op(i)` on task `i`);
/// returns wall time.
async fn spread<F, Fut>(tasks: u64, iters: u64, op: F) -> Duration
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let per = iters.div_ceil(tasks);
    let start = Instant::now();
    let mut hs = Vec::with_capacity(tasks as usize);
    for i in 0..tasks as usize {
        let op = Arc::clone(&op);
        hs.push(tokio::spawn(async move {
            for _ in 0..per {
                op(i).await;
            }
        }));
    }
    for h in hs {
        h.await.expect("bench task");
    }
    // Per requested iteration, as criterion expects.
    start.elapsed().mul_f64(iters as f64 / (per * tasks) as f64)
}

/// deadpool hands out its least recently returned connection (FIFO, its
/// default); `POOLCAST_BENCH_DEADPOOL_LIFO=1` makes it hand out the most
/// recently returned one, as poolcast does, to tell that difference apart
/// from the pools' own costs.
fn deadpool_queue_mode() -> deadpool::managed::QueueMode {
    if std::env::var("POOLCAST_BENCH_DEADPOOL_LIFO").is_ok_and(|v| v == "1") {
        deadpool::managed::QueueMode::Lifo
    } else {
        deadpool::managed::QueueMode::Fifo
    }
}

// ---- the three pools of each family, behind one `run` ----

#[derive(Clone)]
struct NoopPools {
    pc: Pool<Noop>,
    dp: deadpool::managed::Pool<DeadNoop>,
    b8: bb8::Pool<Bb8Noop>,
}

impl NoopPools {
    async fn new() -> Self {
        let pc = Pool::builder(Noop)
            .settings(PoolSettings {
                max_size: CONNS,
                ..PoolSettings::default()
            })
            .build()
            .expect("poolcast pool");
        let dp = deadpool::managed::Pool::<DeadNoop>::builder(DeadNoop)
            .max_size(CONNS as usize)
            .queue_mode(deadpool_queue_mode())
            .build()
            .expect("deadpool");
        let b8 = bb8::Pool::builder()
            .max_size(CONNS)
            .test_on_check_out(false)
            .build(Bb8Noop)
            .await
            .expect("bb8");
        NoopPools { pc, dp, b8 }
    }

    /// `iters` acquire + release on pool `which`: on the calling task
    /// (`contended = false`), or from `TASKS` tasks that yield once while
    /// holding a connection. Returns the wall time.
    async fn run(&self, which: usize, contended: bool, iters: u64) -> Duration {
        macro_rules! go {
            ($pool:expr) => {{
                let p = $pool.clone();
                if contended {
                    spread(TASKS, iters, move |_| {
                        let p = p.clone();
                        async move {
                            let o = p.get().await.expect("get");
                            tokio::task::yield_now().await;
                            drop(o);
                        }
                    })
                    .await
                } else {
                    let start = Instant::now();
                    for _ in 0..iters {
                        drop(p.get().await.expect("get"));
                    }
                    start.elapsed()
                }
            }};
        }
        match which {
            0 => go!(self.pc),
            1 => go!(self.dp),
            _ => go!(self.b8),
        }
    }
}

type Bb8Pg = bb8_postgres::PostgresConnectionManager<tokio_postgres::NoTls>;

#[derive(Clone)]
struct PgPools {
    pc: Pool<PgManager>,
    dp: deadpool_postgres::Pool,
    b8: bb8::Pool<Bb8Pg>,
    /// `direct`'s clients, one per task (their connections run on tasks
    /// of their own, as the pools' do).
    direct: Arc<Vec<tokio_postgres::Client>>,
}

impl PgPools {
    async fn new(config: &tokio_postgres::Config) -> Self {
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
            .queue_mode(deadpool_queue_mode())
            .build()
            .expect("deadpool-postgres");
        let b8 = bb8::Pool::builder()
            .max_size(PG_CONNS)
            .min_idle(Some(PG_CONNS))
            .test_on_check_out(false)
            .build(Bb8Pg::new(config.clone(), tokio_postgres::NoTls))
            .await
            .expect("bb8-postgres");
        let mut direct = Vec::with_capacity(PG_CONNS as usize);
        for _ in 0..PG_CONNS {
            let (client, conn) = config
                .connect(tokio_postgres::NoTls)
                .await
                .expect("direct connection");
            tokio::spawn(conn);
            direct.push(client);
        }
        let pools = PgPools {
            pc,
            dp,
            b8,
            direct: Arc::new(direct),
        };
        pools.fill().await;
        pools
    }

    /// Opens every pool's 16 connections: holds 16 of each at once.
    async fn fill(&self) {
        let mut a = Vec::new();
        let mut b = Vec::new();
        let mut c = Vec::new();
        for _ in 0..PG_CONNS {
            a.push(self.pc.get().await.expect("warm poolcast"));
            b.push(self.dp.get().await.expect("warm deadpool-postgres"));
            c.push(self.b8.get().await.expect("warm bb8-postgres"));
        }
        drop((a, b, c));
        assert_eq!(self.pc.status().size, PG_CONNS);
        assert_eq!(self.dp.status().size, PG_CONNS as usize);
        assert_eq!(self.b8.state().connections, PG_CONNS);
    }

    /// `iters` `SELECT 1` through pool `which` from `tasks` tasks; wall
    /// time.
    async fn run(&self, which: usize, tasks: u64, iters: u64) -> Duration {
        macro_rules! go {
            ($pool:expr) => {{
                let p = $pool.clone();
                spread(tasks, iters, move |_| {
                    let p = p.clone();
                    async move {
                        let c = p.get().await.expect("get");
                        c.simple_query("SELECT 1").await.expect("SELECT 1");
                    }
                })
                .await
            }};
        }
        match which {
            0 => go!(self.pc),
            1 => go!(self.dp),
            2 => go!(self.b8),
            _ => self.direct(tasks, iters).await,
        }
    }

    /// `iters` `SELECT 1` from `min(tasks, 16)` tasks that each own a
    /// client; wall time.
    async fn direct(&self, tasks: u64, iters: u64) -> Duration {
        let clients = Arc::clone(&self.direct);
        spread(tasks.min(clients.len() as u64), iters, move |i| {
            let clients = Arc::clone(&clients);
            async move {
                clients[i].simple_query("SELECT 1").await.expect("SELECT 1");
            }
        })
        .await
    }
}

// ---- criterion ----

fn noop(c: &mut Criterion, rt: &Runtime, pools: &NoopPools) {
    for (group, contended) in [("noop/uncontended", false), ("noop/contended", true)] {
        let mut g = c.benchmark_group(group);
        for (which, name) in POOLS.iter().enumerate() {
            g.bench_function(*name, |b| {
                b.to_async(rt)
                    .iter_custom(|iters| pools.run(which, contended, iters))
            });
        }
        g.finish();
    }
}

fn postgres(c: &mut Criterion, rt: &Runtime, pools: &PgPools) {
    for tasks in PG_TASKS {
        let mut g = c.benchmark_group(format!("postgres/select1_tasks={tasks}"));
        g.sample_size(30)
            .warm_up_time(Duration::from_secs(2))
            .measurement_time(Duration::from_secs(4));
        for (which, name) in PG_POOLS.iter().enumerate() {
            g.bench_function(*name, |b| {
                b.to_async(rt)
                    .iter_custom(|iters| pools.run(which, tasks, iters))
            });
        }
        g.finish();
    }
}

fn pg_config() -> Option<tokio_postgres::Config> {
    let url = std::env::var("POOLCAST_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let config: tokio_postgres::Config = match url.parse() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("postgres benches skipped: POOLCAST_TEST_PG does not parse ({e})");
            return None;
        }
    };
    let probe = runtime().block_on(async {
        tokio::time::timeout(
            Duration::from_secs(2),
            config.connect(tokio_postgres::NoTls),
        )
        .await
        .is_ok_and(|r| r.is_ok())
    });
    if !probe {
        eprintln!("postgres benches skipped: PostgreSQL does not answer at POOLCAST_TEST_PG");
        return None;
    }
    Some(config)
}

// ---- paired rounds ----

/// The 1- and 5-minute load averages.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// The 97.5% quantile of Student's t with `df` degrees of freedom
/// (Cornish-Fisher expansion; within 0.2% for df >= 5).
fn t975(df: f64) -> f64 {
    let z: f64 = 1.959_964;
    z + (z.powi(3) + z) / (4.0 * df)
        + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * df * df)
}

/// Mean and the half-width of its 95% confidence interval.
fn mean_ci(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    if xs.len() < 2 {
        return (mean, f64::NAN);
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, t975(n - 1.0) * (var / n).sqrt())
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

/// The orders in which a round runs `n` contestants: every rotation of
/// `0..n` and its reverse, so over `2n` rounds each contestant runs in
/// each place, and before each other one, equally often (for three, these
/// are all six permutations).
fn orders(n: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::with_capacity(2 * n);
    for r in 0..n {
        let rot: Vec<usize> = (0..n).map(|i| (i + r) % n).collect();
        out.push(rot.clone());
        out.push(rot.into_iter().rev().collect());
    }
    out
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// One workload's paired rounds: ns per operation of each pool, per round,
/// per session.
struct Paired<const N: usize> {
    sessions: Vec<Vec<[f64; N]>>,
}

impl<const N: usize> Default for Paired<N> {
    fn default() -> Self {
        Paired {
            sessions: Vec::new(),
        }
    }
}

impl<const N: usize> Paired<N> {
    /// Prints each pool's time per operation and poolcast's ratios to the
    /// others, with 95% confidence intervals over the sessions: rounds of
    /// one session share a runtime and pools (and their connections'
    /// placement on the workers), so they are not independent of each
    /// other; sessions are.
    fn print(&self, name: &str, names: [&str; N], rounds: usize, round_ms: f64) {
        let n = self.sessions.len();
        println!(
            "{name}: {n} sessions (fresh runtime and pools) x {rounds} rounds (pools in {} orders, ~{round_ms} ms each)",
            2 * N
        );
        let all: Vec<[f64; N]> = self.sessions.iter().flatten().copied().collect();
        for (p, pool) in names.iter().enumerate() {
            let means: Vec<f64> = self
                .sessions
                .iter()
                .map(|rows| rows.iter().map(|r| r[p]).sum::<f64>() / rows.len() as f64)
                .collect();
            let (mean, half) = mean_ci(&means);
            let xs: Vec<f64> = all.iter().map(|r| r[p]).collect();
            println!(
                "  {pool:<18} mean {:>10} ± {:<10} median {:>10}",
                fmt_ns(mean),
                fmt_ns(half),
                fmt_ns(median(&xs))
            );
        }
        for other in 1..N {
            // The geometric mean of the per-round ratios of each session.
            let logs: Vec<f64> = self
                .sessions
                .iter()
                .map(|rows| {
                    rows.iter().map(|r| (r[0] / r[other]).ln()).sum::<f64>() / rows.len() as f64
                })
                .collect();
            let (m, half) = mean_ci(&logs);
            let each: Vec<String> = logs.iter().map(|l| format!("{:.3}", l.exp())).collect();
            println!(
                "  poolcast / {:<8} {:.3}x  95% CI [{:.3}, {:.3}]  sessions: {}",
                names[other],
                m.exp(),
                (m - half).exp(),
                (m + half).exp(),
                each.join(" ")
            );
        }
    }
}

/// Measures the three pools of each workload in `groups` in interleaved
/// rounds and prints the comparison (see the module docs). `setup` makes
/// a session's runtime and pools; `run(session, param, pool, iters)`
/// returns the wall time of `iters` operations of pool `pool`.
fn paired<S, P: Copy, const N: usize>(
    groups: &[(String, P)],
    names: [&str; N],
    mut setup: impl FnMut() -> S,
    mut run: impl FnMut(&S, P, usize, u64) -> Duration,
) {
    if groups.is_empty() {
        return;
    }
    let sessions: usize = env_or("POOLCAST_BENCH_SESSIONS", 5).max(2);
    // By default the smallest whole number of cycles through the orders
    // that is at least 12 rounds.
    let rounds: usize = env_or("POOLCAST_BENCH_ROUNDS", 12usize.next_multiple_of(2 * N)).max(1);
    let round_ms: f64 = env_or("POOLCAST_BENCH_ROUND_MS", 60.0);
    let load_before = load();
    let mut results: Vec<Paired<N>> = groups.iter().map(|_| Paired::default()).collect();
    for _ in 0..sessions {
        let session = setup();
        for ((_, param), result) in groups.iter().zip(&mut results) {
            // Warm-up and calibration: grow the batch until it takes a
            // tenth of a round, then size the pool's batch for a round.
            let mut iters = [0u64; N];
            for (p, n) in iters.iter_mut().enumerate() {
                let mut k = 16u64;
                loop {
                    let t = run(&session, *param, p, k);
                    if t.as_secs_f64() * 1e3 >= round_ms / 10.0 || k >= 1 << 30 {
                        let per_op = t.as_secs_f64() / k as f64;
                        *n = ((round_ms / 1e3 / per_op) as u64).max(16);
                        break;
                    }
                    k *= 4;
                }
                run(&session, *param, p, *n);
            }
            let orders = orders(N);
            let mut rows = vec![[0.0f64; N]; rounds];
            for (r, row) in rows.iter_mut().enumerate() {
                for &p in &orders[r % orders.len()] {
                    let t = run(&session, *param, p, iters[p]);
                    row[p] = t.as_secs_f64() * 1e9 / iters[p] as f64;
                }
            }
            result.sessions.push(rows);
        }
    }
    println!("load (1 and 5 min) {load_before} -> {}", load());
    for ((id, _), result) in groups.iter().zip(&results) {
        result.print(id, names, rounds, round_ms);
    }
}

/// The positional arguments (criterion's benchmark filters).
fn filters() -> Vec<String> {
    const WITH_VALUE: [&str; 14] = [
        "--save-baseline",
        "--baseline",
        "--baseline-lenient",
        "--load-baseline",
        "--sample-size",
        "--warm-up-time",
        "--measurement-time",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--profile-time",
        "--output-format",
        "--plotting-backend",
    ];
    let mut out = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if WITH_VALUE.contains(&a.as_str()) || a == "--color" || a == "-c" {
            args.next();
        } else if !a.starts_with('-') {
            out.push(a);
        }
    }
    out
}

fn main() {
    let filters = filters();
    // Criterion reads the filter as a regex; the paired rounds take its
    // `|`-separated alternatives as plain substrings.
    let wanted = |id: &str| {
        filters.is_empty()
            || filters
                .iter()
                .flat_map(|f| f.split('|'))
                .any(|alt| id.contains(alt))
    };
    // Without `--bench` (`cargo test --benches`) criterion runs each
    // benchmark once as a test; the paired rounds are skipped then.
    let bench = std::env::args().any(|a| a == "--bench");
    let rt = runtime();

    let mut c = Criterion::default()
        .sample_size(30)
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    if wanted("noop/uncontended/") || wanted("noop/contended/") {
        let pools = rt.block_on(NoopPools::new());
        noop(&mut c, &rt, &pools);
    }
    let pg = PG_TASKS
        .iter()
        .any(|t| {
            wanted(&format!("postgres/select1_tasks={t}/"))
                || wanted(&format!("paired/postgres/select1_tasks={t}"))
        })
        .then(pg_config)
        .flatten();
    let criterion_pg = PG_TASKS
        .iter()
        .any(|t| wanted(&format!("postgres/select1_tasks={t}/")));
    if let Some(cfg) = pg.as_ref().filter(|_| criterion_pg) {
        let pools = rt.block_on(PgPools::new(cfg));
        postgres(&mut c, &rt, &pools);
    }
    c.final_summary();
    drop(rt);

    if !bench {
        return;
    }
    let noop_groups: Vec<(String, bool)> = [("noop/uncontended", false), ("noop/contended", true)]
        .into_iter()
        .map(|(g, contended)| (format!("paired/{g}"), contended))
        .filter(|(id, _)| wanted(id))
        .collect();
    paired(
        &noop_groups,
        POOLS,
        || {
            let rt = runtime();
            (rt.block_on(NoopPools::new()), rt)
        },
        |(pools, rt), contended, p, n| rt.block_on(pools.run(p, contended, n)),
    );
    if let Some(cfg) = &pg {
        let pg_groups: Vec<(String, u64)> = PG_TASKS
            .into_iter()
            .map(|t| (format!("paired/postgres/select1_tasks={t}"), t))
            .filter(|(id, _)| wanted(id))
            .collect();
        paired(
            &pg_groups,
            PG_POOLS,
            || {
                let rt = runtime();
                (rt.block_on(PgPools::new(cfg)), rt)
            },
            |(pools, rt), tasks, p, n| rt.block_on(pools.run(p, tasks, n)),
        );
    }
}
