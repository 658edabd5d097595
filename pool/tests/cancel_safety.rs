//! Cancel safety of a checkout: `get()` futures dropped at random points
//! (queued, waiting for a create, inside a health check, inside a failed
//! check's re-queue) leave no busy slot, no checkout record and no breaker
//! probe behind, and the pool still serves `max_size` checkouts at once.
//!
//! Seeded: each task draws its timeouts and holds from its own stream, so
//! a failure names a seed that runs the same draws again (the interleaving
//! is the scheduler's).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::cluster::Cluster;
use common::eventually_doing;
use poolcast::core::breaker::MultiBreakerConfig;
use poolcast::core::policy::PolicyConfig;
use poolcast::core::settings::{
    ControllerSettings, HealthCheckSetting, PoolFile, PoolSettings, RecycleMode,
};
use poolcast::core::telemetry::ErrorCategory;
use poolcast::runtime::postgres::PgManager;
use poolcast::runtime::{ErrorClass, Manager, Pool, PoolError};

const MAX: u32 = 4;

/// splitmix64: a seeded stream for each task.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Debug, thiserror::Error)]
#[error("slow mock failure")]
struct SlowError;

/// A manager whose creates and checks take a few milliseconds, and whose
/// checks sometimes fail; it counts checks cut off by a dropped future.
#[derive(Default)]
struct Slow {
    seq: AtomicU64,
    checks_started: AtomicU64,
    checks_cut: AtomicU64,
}

/// Counts a check whose future is dropped before it finishes.
struct CutGuard<'a>(&'a AtomicU64, bool);

impl Drop for CutGuard<'_> {
    fn drop(&mut self) {
        if !self.1 {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

struct SlowManager(Arc<Slow>);

impl Manager for SlowManager {
    type Connection = u64;
    type Error = SlowError;
    async fn create(&self) -> Result<u64, SlowError> {
        let n = self.0.seq.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(1 + n % 4)).await;
        Ok(n)
    }
    async fn recycle(&self, c: &mut u64, _m: RecycleMode) -> Result<(), SlowError> {
        let n = self.0.checks_started.fetch_add(1, Ordering::Relaxed);
        let mut guard = CutGuard(&self.0.checks_cut, false);
        tokio::time::sleep(Duration::from_millis(n % 4)).await;
        guard.1 = true;
        // One check in ten fails: the request is served again.
        if (*c + n).is_multiple_of(10) {
            Err(SlowError)
        } else {
            Ok(())
        }
    }
    fn classify(&self, _e: &SlowError) -> ErrorClass {
        ErrorClass::fault(ErrorCategory::Connection)
    }
}

/// Breakers that trip on a few reported failures and go half-open after
/// 20 ms, so that probes are in flight while futures are dropped.
fn jumpy_breakers() -> MultiBreakerConfig {
    let mut b = MultiBreakerConfig::default();
    b.query.enabled = true;
    b.query.failure_count = Some(3);
    b.query.min_calls = 3;
    b.query.open_ms = 20.0;
    b.query.max_open_ms = 20.0;
    b.query.half_open_probes = 2;
    b.global.enabled = false;
    b.connection.enabled = false;
    b
}

fn file(health_check: HealthCheckSetting, recycle: RecycleMode) -> PoolFile {
    PoolFile {
        pool: PoolSettings {
            min_size: 0,
            max_size: MAX,
            acquire_timeout_ms: Some(2000.0),
            health_check,
            recycle,
            leak_detection_threshold_ms: Some(100.0),
            ..PoolSettings::default()
        },
        controller: ControllerSettings {
            interval_s: 0.05,
            ..ControllerSettings::default()
        },
        policy: Some(PolicyConfig::Static { size: 2 }),
        breaker: jumpy_breakers(),
        ..PoolFile::default()
    }
}

/// What the rounds saw.
#[derive(Default)]
struct Seen {
    ok: AtomicU64,
    cut: AtomicU64,
    refused: AtomicU64,
    half_open: AtomicBool,
}

/// `tasks` tasks of `rounds` rounds each: a `get()` bounded by a random
/// timeout of 0–20 ms (a third of them under 0.5 ms), and a connection held 0–2 ms, one in eight
/// reported failed (which trips the query breaker now and then).
async fn rounds<M: Manager>(pool: &Pool<M>, seed: u64, tasks: u64, rounds: u64) -> Arc<Seen> {
    let seen = Arc::new(Seen::default());
    let mut handles = Vec::new();
    for t in 0..tasks {
        let (pool, seen) = (pool.clone(), Arc::clone(&seen));
        handles.push(tokio::spawn(async move {
            let mut rng = Rng(seed ^ (t << 32));
            for _ in 0..rounds {
                // Timeouts of 0-20 ms; one in three under half a
                // millisecond, so that futures are cut mid-flight however
                // fast the server answers.
                let limit = if rng.below(3) == 0 {
                    Duration::from_micros(rng.below(500))
                } else {
                    Duration::from_micros(rng.below(20_000))
                };
                match tokio::time::timeout(limit, pool.get()).await {
                    Ok(Ok(mut c)) => {
                        seen.ok.fetch_add(1, Ordering::Relaxed);
                        let hold = rng.below(2_000);
                        if hold > 0 {
                            tokio::time::sleep(Duration::from_micros(hold)).await;
                        }
                        if rng.below(8) == 0 {
                            c.report_class(ErrorClass::fault(ErrorCategory::Query));
                        }
                    }
                    Ok(Err(PoolError::BreakerOpen { .. })) => {
                        seen.refused.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    Ok(Err(e)) => panic!("seed {seed}: unexpected error {e}"),
                    Err(_) => {
                        seen.cut.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if pool.status().breakers[ErrorCategory::Query.index()] == 1 {
                    seen.half_open.store(true, Ordering::Relaxed);
                }
            }
        }));
    }
    for h in handles {
        h.await.expect("no task panicked");
    }
    seen
}

/// After the rounds: nothing busy, queued or probing; no checkout record
/// left (a stale one would be reported as a leak in a quiet period); the
/// breakers close again and `MAX` checkouts are served at once.
async fn nothing_left_behind<M: Manager>(pool: &Pool<M>, seed: u64) {
    let s = pool.status();
    assert_eq!(s.busy, 0, "seed {seed}: a slot stayed busy: {s:?}");
    assert_eq!(s.waiting, 0, "seed {seed}: {s:?}");
    assert_eq!(
        s.probes_outstanding, 0,
        "seed {seed}: a breaker probe was never given back: {s:?}"
    );
    let leaks = pool.metrics().leaks;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        pool.metrics().leaks,
        leaks,
        "seed {seed}: a checkout record outlived its checkout"
    );
    // Successful calls close the query breaker.
    eventually_doing(
        "the breakers close again",
        Duration::from_secs(10),
        || {
            let s = pool.status();
            s.breakers == [0; ErrorCategory::COUNT] && s.breaker_global == 0
        },
        || async {
            if let Ok(Ok(c)) = tokio::time::timeout(Duration::from_secs(2), pool.get()).await {
                drop(c);
            }
        },
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..MAX {
        held.push(
            tokio::time::timeout(Duration::from_secs(5), pool.get())
                .await
                .unwrap_or_else(|_| panic!("seed {seed}: a checkout hung"))
                .unwrap_or_else(|e| panic!("seed {seed}: {e}")),
        );
    }
    assert_eq!(pool.status().busy, MAX);
    drop(held);
    assert_eq!(pool.status().busy, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_checkouts_leave_nothing_behind() {
    let slow = Arc::new(Slow::default());
    let pool = Pool::builder(SlowManager(Arc::clone(&slow)))
        .config(file(HealthCheckSetting::Always, RecycleMode::Verified))
        .build()
        .unwrap();
    for seed in [1_u64, 2, 3] {
        let seen = rounds(&pool, seed, 8, 400).await;
        nothing_left_behind(&pool, seed).await;
        // Every path was taken: futures dropped while queued and while
        // checking, failed checks, refusals and half-open breakers.
        assert!(seen.ok.load(Ordering::Relaxed) > 100, "seed {seed}");
        assert!(seen.cut.load(Ordering::Relaxed) > 100, "seed {seed}");
        assert!(seen.refused.load(Ordering::Relaxed) > 0, "seed {seed}");
        assert!(seen.half_open.load(Ordering::Relaxed), "seed {seed}");
    }
    assert!(
        slow.checks_cut.load(Ordering::Relaxed) > 10,
        "only {} checks were cut off by a dropped future",
        slow.checks_cut.load(Ordering::Relaxed)
    );
    let m = pool.metrics();
    assert!(m.check_failures > 10, "{m:?}");
    assert!(m.cancelled > 100, "{m:?}");
    pool.close().await;
}

/// The same against PostgreSQL, with verified checks (a `SELECT 1` round
/// trip per grant), on a throwaway cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_checkouts_leave_nothing_behind_on_postgres() {
    let cluster = Cluster::start();
    let manager =
        PgManager::from_url(&common::with_app_name(&cluster.url(), "poolcast_t_cancel")).unwrap();
    let pool = Pool::builder(manager)
        .config(file(HealthCheckSetting::Always, RecycleMode::Verified))
        .build()
        .unwrap();
    let seed = 7;
    let seen = rounds(&pool, seed, 8, 300).await;
    nothing_left_behind(&pool, seed).await;
    assert!(
        seen.ok.load(Ordering::Relaxed) > 50,
        "{}",
        seen.ok.load(Ordering::Relaxed)
    );
    assert!(seen.cut.load(Ordering::Relaxed) > 50);
    assert!(pool.metrics().cancelled > 50);
    // The server sees no more sessions than the pool has open (a closed
    // client's backend exits shortly after).
    let (admin, conn) = tokio_postgres::connect(&cluster.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut sessions = i64::MAX;
    for _ in 0..100 {
        sessions = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE application_name = 'poolcast_t_cancel'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if sessions <= i64::from(pool.status().size) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let size = pool.status().size;
    assert!(
        sessions <= i64::from(size),
        "{sessions} sessions on the server for a pool of {size}"
    );
    pool.close().await;
}
