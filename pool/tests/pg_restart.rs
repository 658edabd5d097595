//! PostgreSQL is stopped and started again while 16 tasks run queries
//! through the pool. The server is a throwaway cluster this test starts
//! itself (`common::cluster`), whatever `POOLCAST_TEST_PG` says: a test
//! never stops a server it did not start.
//!
//! What must hold:
//! - every request ends with rows or a typed error, and every acquire ends
//!   within its acquire timeout (plus scheduling slack); no task hangs;
//! - the connection breaker opens while the database is down and closes
//!   after it is back;
//! - the pool is back at its target within 2 s of PostgreSQL answering;
//! - no connection leaks.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::cluster::Cluster;
use common::with_app_name;
use poolcast::core::policy::PolicyConfig;
use poolcast::core::settings::{ControllerSettings, HealthCheckSetting, PoolFile, PoolSettings};
use poolcast::core::telemetry::ErrorCategory;
use poolcast::runtime::postgres::PgManager;
use poolcast::runtime::{Pool, PoolError};

const ACQUIRE_TIMEOUT_MS: u64 = 1000;

async fn pg_answers(url: &str) -> bool {
    match tokio::time::timeout(
        Duration::from_millis(500),
        tokio_postgres::connect(url, tokio_postgres::NoTls),
    )
    .await
    {
        Ok(Ok((client, conn))) => {
            tokio::spawn(conn);
            client.simple_query("SELECT 1").await.is_ok()
        }
        _ => false,
    }
}

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    timeout: AtomicU64,
    breaker: AtomicU64,
    query_error: AtomicU64,
    slow_acquire: AtomicU64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_postgres_under_load() {
    let cluster = Arc::new(Cluster::start());
    let url = cluster.url();
    assert!(
        pg_answers(&url).await,
        "PostgreSQL must answer before the test"
    );
    let file = PoolFile {
        pool: PoolSettings {
            min_size: 4,
            max_size: 8,
            acquire_timeout_ms: Some(ACQUIRE_TIMEOUT_MS as f64),
            create_timeout_ms: Some(1000.0),
            create_backoff_initial_ms: 10.0,
            create_backoff_max_ms: 200.0,
            health_check: HealthCheckSetting::Always,
            ..PoolSettings::default()
        },
        controller: ControllerSettings {
            interval_s: 0.1,
            ..ControllerSettings::default()
        },
        policy: Some(PolicyConfig::Static { size: 4 }),
        breaker: {
            let mut b = poolcast::core::breaker::MultiBreakerConfig::default();
            // Failed creations are rate-limited by the back-off, so during
            // an outage they are a handful among thousands of earlier
            // successes in the window: an absolute count is the threshold
            // that sees them (the rate threshold stays for failing queries).
            b.connection.failure_count = Some(5);
            b.connection.open_ms = 300.0;
            b.connection.max_open_ms = 300.0;
            b.global.open_ms = 300.0;
            b.global.max_open_ms = 300.0;
            b
        },
        ..PoolFile::default()
    };
    let manager = PgManager::from_url(&with_app_name(&url, "poolcast_t_restart")).unwrap();
    let pool = Pool::builder(manager)
        .name("restart")
        .config(file)
        .build()
        .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (pool, stop, tally) = (pool.clone(), stop.clone(), tally.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let t0 = Instant::now();
                let got = tokio::time::timeout(Duration::from_secs(5), pool.get())
                    .await
                    .expect("an acquire hung past 5 s");
                if t0.elapsed() > Duration::from_millis(ACQUIRE_TIMEOUT_MS + 500) {
                    tally.slow_acquire.fetch_add(1, Ordering::Relaxed);
                }
                match got {
                    Ok(mut c) => {
                        let q = tokio::time::timeout(
                            Duration::from_secs(5),
                            c.query_cached("SELECT 1", &[]),
                        )
                        .await
                        .expect("a query hung past 5 s");
                        match q {
                            Ok(_) => tally.ok.fetch_add(1, Ordering::Relaxed),
                            Err(_) => tally.query_error.fetch_add(1, Ordering::Relaxed),
                        };
                    }
                    Err(PoolError::Timeout { .. }) => {
                        tally.timeout.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(PoolError::BreakerOpen { .. }) => {
                        tally.breaker.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err(PoolError::Closed) => panic!("the pool was never closed"),
                }
            }
        }));
    }

    tokio::time::sleep(Duration::from_millis(500)).await;
    let ok_before = tally.ok.load(Ordering::Relaxed);
    assert!(ok_before > 0, "no query succeeded before the restart");

    let c = Arc::clone(&cluster);
    tokio::task::spawn_blocking(move || c.pg_ctl_stop())
        .await
        .unwrap();
    // Down for a while: the connection breaker must open.
    let down_at = Instant::now();
    let mut breaker_opened = false;
    let mut smallest = u32::MAX;
    while down_at.elapsed() < Duration::from_millis(1500) {
        let s = pool.status();
        if s.breakers[ErrorCategory::Connection.index()] == 2 {
            breaker_opened = true;
        }
        smallest = smallest.min(s.size);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let c = Arc::clone(&cluster);
    tokio::task::spawn_blocking(move || c.pg_ctl_start())
        .await
        .unwrap();
    let start_wait = Instant::now();
    while !pg_answers(&url).await {
        assert!(
            start_wait.elapsed() < Duration::from_secs(30),
            "PostgreSQL did not come back"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let answered = Instant::now();
    // Back at target (4 open connections) within 2 s.
    loop {
        let s = pool.status();
        if s.size >= 4 {
            break;
        }
        assert!(
            answered.elapsed() < Duration::from_secs(2),
            "pool not back at target 2 s after PostgreSQL answered: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let recovered_in = answered.elapsed();
    // Requests succeed again and the breaker closes.
    let ok_at_restart = tally.ok.load(Ordering::Relaxed);
    let t = Instant::now();
    while tally.ok.load(Ordering::Relaxed) < ok_at_restart + 100 {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "queries did not resume"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("no task panicked");
    }
    let s = pool.status();
    eprintln!(
        "smallest size while down {smallest}; recovered to target in {recovered_in:?}; ok={} timeouts={} breaker={} query_errors={} status={s:?}",
        tally.ok.load(Ordering::Relaxed),
        tally.timeout.load(Ordering::Relaxed),
        tally.breaker.load(Ordering::Relaxed),
        tally.query_error.load(Ordering::Relaxed),
    );
    assert!(
        breaker_opened,
        "the connection breaker never opened while PostgreSQL was down"
    );
    // Dead connections were noticed and retired during the outage, so
    // "back at target" below counts fresh connections.
    assert_eq!(
        smallest, 0,
        "dead idle connections were still counted as open"
    );
    assert_eq!(
        tally.slow_acquire.load(Ordering::Relaxed),
        0,
        "an acquire outlived its timeout"
    );
    assert!(
        tally.breaker.load(Ordering::Relaxed) + tally.timeout.load(Ordering::Relaxed) > 0,
        "the outage was never seen by callers"
    );
    assert_eq!(s.busy, 0, "connection leak");
    assert_eq!(s.waiting, 0);
    assert_eq!(
        s.breakers[ErrorCategory::Connection.index()],
        0,
        "breaker still open"
    );
}
