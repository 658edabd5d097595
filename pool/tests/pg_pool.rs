//! The runtime pool against a real PostgreSQL (`POOLCAST_TEST_PG`, else a
//! throwaway cluster the tests start):
//! queries, statement-cache affinity, SQLSTATE classification, broken
//! backends (`pg_terminate_backend` under load), the trace recorder,
//! acquire timeouts, idle and lifetime retirement, resize and drain as
//! `pg_stat_activity` sees them, leak warnings, and secrets staying out of
//! errors, logs and metrics.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::cluster::Cluster;
use common::{LogBuffer, eventually, pg_url, with_app_name};
use poolcast::core::settings::{
    ControllerSettings, HealthCheckSetting, PoolFile, PoolSettings, RecycleMode,
};
use poolcast::core::telemetry::ErrorCategory;
use poolcast::runtime::postgres::{PgError, PgManager};
use poolcast::runtime::{Pool, PoolError, RecorderConfig, TraceRecorder};

fn file(max: u32) -> PoolFile {
    PoolFile {
        pool: PoolSettings {
            max_size: max,
            min_size: 1,
            acquire_timeout_ms: Some(3000.0),
            create_backoff_max_ms: 200.0,
            health_check: HealthCheckSetting::Always,
            recycle: RecycleMode::Fast,
            ..PoolSettings::default()
        },
        controller: ControllerSettings {
            interval_s: 0.1,
            ..ControllerSettings::default()
        },
        policy: Some(poolcast::core::policy::PolicyConfig::Static { size: 1 }),
        ..PoolFile::default()
    }
}

fn pool(app: &str, f: PoolFile) -> Pool<PgManager> {
    pool_at(&pg_url(), app, f)
}

fn pool_at(url: &str, app: &str, f: PoolFile) -> Pool<PgManager> {
    let m = PgManager::from_url(&with_app_name(url, app)).expect("the test URL parses");
    Pool::builder(m)
        .name(app)
        .config(f)
        .build()
        .expect("valid settings")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn select_one_and_pool_bookkeeping() {
    let p = pool("poolcast_t_basic", file(4));
    let mut c = p.get().await.unwrap();
    let rows = c
        .query_cached("SELECT 1::int4 + $1", &[&41_i32])
        .await
        .unwrap();
    let v: i32 = rows[0].get(0);
    assert_eq!(v, 42);
    assert_eq!(p.status().busy, 1);
    drop(c);
    let s = p.status();
    assert_eq!((s.busy, s.idle), (0, s.size));
    p.close().await;
    assert_eq!(p.status().size, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn affinity_gives_statement_cache_hits_on_a_repeated_workload() {
    let p = pool("poolcast_t_affinity", file(4));
    const SQLS: [&str; 5] = [
        "SELECT $1::int4 AS a",
        "SELECT $1::int4 * 2 AS b",
        "SELECT $1::int4 * 3 AS c",
        "SELECT $1::int4 * 4 AS d",
        "SELECT $1::int4 * 5 AS e",
    ];
    let mut tasks = Vec::new();
    for t in 0..4 {
        let p = p.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..100_i32 {
                let sql = SQLS[((i as usize) + t) % SQLS.len()];
                let mut c = p.get_for(sql).await.unwrap();
                let rows = c.query_cached(sql, &[&i]).await.unwrap();
                assert_eq!(rows.len(), 1);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let m = p.metrics();
    let rate = m.cache_hit_rate().expect("lookups were reported");
    assert!(rate > 0.0, "hit rate {rate}");
    assert_eq!(m.cache_hits + m.cache_misses, 400);
    // Each connection prepares each statement at most once.
    assert!(m.cache_misses <= 4 * 5, "{} misses", m.cache_misses);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlstates_feed_the_right_breakers() {
    let mut f = file(2);
    f.breaker.query.enabled = true;
    f.breaker.query.min_calls = 3;
    let p = pool("poolcast_t_sqlstate", f);
    // A syntax error is a client error: counted, never trips.
    for _ in 0..10 {
        let mut c = p.get().await.unwrap();
        let e = c.query_cached("SELEC nonsense", &[]).await.unwrap_err();
        assert_eq!(e.sqlstate(), Some("42601"));
    }
    assert!(p.get().await.is_ok());
    // A statement timeout is a timeout fault.
    let mut c = p.get().await.unwrap();
    c.batch_execute("SET statement_timeout = 20").await.unwrap();
    let e = c.query_cached("SELECT pg_sleep(1)", &[]).await.unwrap_err();
    assert_eq!(e.sqlstate(), Some("57014"));
    drop(c);
    let m = p.metrics();
    assert_eq!(m.errors[ErrorCategory::Query.index()], 10);
    assert_eq!(m.client_errors, 10);
    assert_eq!(m.errors[ErrorCategory::Timeout.index()], 1);
    assert_eq!(p.status().breakers, [0; 5]);
}

/// Terminates random pool backends while 16 tasks run queries: every
/// request ends with rows or a typed error, nothing panics or hangs, broken
/// connections are discarded and the pool heals. It terminates backends,
/// so it runs on a cluster of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_backends_are_discarded_and_the_pool_heals() {
    let cluster = Cluster::start();
    let app = "poolcast_t_terminate";
    let mut f = file(8);
    f.pool.min_size = 4;
    // Killed connections are errors of the connection category; keep the
    // breaker out of this test (it has its own in pg_restart.rs).
    f.breaker.connection.enabled = false;
    f.breaker.global.enabled = false;
    let p = pool_at(&cluster.url(), app, f);
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (p, ok, failed, stop) = (p.clone(), ok.clone(), failed.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let fut = async {
                    let mut c = p.get().await.map_err(|e| e.to_string())?;
                    c.query_cached("SELECT pg_sleep(0.002)", &[])
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                };
                // No request may hang: acquire timeout (3 s) + the query.
                match tokio::time::timeout(Duration::from_secs(10), fut).await {
                    Ok(Ok(())) => ok.fetch_add(1, Ordering::Relaxed),
                    Ok(Err(_)) => failed.fetch_add(1, Ordering::Relaxed),
                    Err(_) => panic!("a request hung"),
                };
            }
        }));
    }
    let (admin, conn) = tokio_postgres::connect(&cluster.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut killed = 0;
    for _ in 0..15 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let n: i64 = admin
            .query_one(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE application_name = $1 ORDER BY random() LIMIT 2) t",
                &[&app],
            )
            .await
            .unwrap()
            .get(0);
        killed += n;
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("no task panicked");
    }
    assert!(killed >= 10, "killed only {killed} backends");
    let m = p.metrics();
    assert!(
        ok.load(Ordering::Relaxed) > 100,
        "{} ok",
        ok.load(Ordering::Relaxed)
    );
    // Broken connections were closed, not parked.
    assert!(m.closed[2] + m.check_failures > 0, "{m:?}");
    // Healed: the pool is back at its floor and every connection works.
    eventually("pool back at min_size", Duration::from_secs(2), || {
        let s = p.status();
        s.size >= 4 && s.busy == 0
    })
    .await;
    for _ in 0..8 {
        let mut c = p.get().await.unwrap();
        c.query_cached("SELECT 1", &[]).await.unwrap();
    }
    assert_eq!(p.status().busy, 0, "connection leak");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recorder_writes_requests_and_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let rec = TraceRecorder::start(RecorderConfig::new(dir.path())).unwrap();
    let m = PgManager::from_url(&pg_url()).unwrap();
    let p = Pool::builder(m)
        .config(file(2))
        .trace(rec.clone())
        .build()
        .unwrap();
    for i in 0..20_i32 {
        let mut c = p.get_for("SELECT $1::int4").await.unwrap();
        c.query_cached("SELECT $1::int4", &[&i]).await.unwrap();
    }
    eventually("a snapshot", Duration::from_secs(2), || {
        !p.snapshots().is_empty()
    })
    .await;
    p.close().await;
    rec.flush();
    let csv = std::fs::read_to_string(dir.path().join("requests-000001.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some(poolcast::runtime::REQUEST_HEADER));
    let rows: Vec<_> = lines.collect();
    assert_eq!(rows.len(), 20);
    let fields: Vec<Vec<&str>> = rows.iter().map(|r| r.split(',').collect()).collect();
    assert!(
        fields
            .iter()
            .all(|f| f.len() == 8 && f[5] == "ok" && f[6].is_empty()),
        "{rows:?}"
    );
    let pattern = poolcast::core::affinity::pattern_hash("SELECT $1::int4").to_string();
    assert!(fields.iter().all(|f| f[2] == pattern));
    // All from this test's one task (or, outside one, client 0).
    let client = fields[0][7];
    assert!(fields.iter().all(|f| f[7] == client), "{rows:?}");
    assert_eq!(client == "0", tokio::task::try_id().is_none(), "{client}");
    let snaps = std::fs::read_to_string(dir.path().join("snapshots-000001.jsonl")).unwrap();
    let first: poolcast::core::Snapshot =
        serde_json::from_str(snaps.lines().next().unwrap()).unwrap();
    assert!(first.interval_ns > 0);
    assert_eq!(rec.dropped(), 0);
}

#[test]
fn passwords_stay_out_of_errors_logs_debug_and_metrics() {
    let secret = "s3cr3t-hunter2";
    let logs = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut seen = Vec::new();
    rt.block_on(async {
        // A port nothing listens on: every creation fails.
        let bad = format!("postgres://postgres:{secret}@127.0.0.1:1/test");
        let mut f = file(2);
        f.pool.acquire_timeout_ms = Some(200.0);
        let p = Pool::builder(PgManager::from_url(&bad).unwrap())
            .config(f)
            .build()
            .unwrap();
        let e = p.get().await.unwrap_err();
        assert!(matches!(e, PoolError::Timeout { .. }), "{e}");
        seen.push(e.to_string());
        seen.push(format!("{e:?}"));
        seen.push(format!("{p:?}"));
        seen.push(format!("{:?}", p.manager()));
        seen.push(p.prometheus());
        // A good URL with a password (trust auth ignores it).
        let good = pg_url().replacen(
            "postgres://postgres@",
            &format!("postgres://postgres:{secret}@"),
            1,
        );
        let p = Pool::builder(PgManager::from_url(&good).unwrap())
            .config(file(2))
            .build()
            .unwrap();
        let mut c = p.get().await.unwrap();
        let e: PgError = c.query_cached("SELEC 1", &[]).await.unwrap_err();
        seen.push(e.to_string());
        seen.push(format!("{e:?}"));
        drop(c);
        seen.push(format!("{p:?}"));
        seen.push(p.prometheus());
        p.close().await;
        let bad_url = format!("postgres://postgres:{secret}@127.0.0.1:notaport/test");
        let e = PgManager::from_url(&bad_url).unwrap_err();
        seen.push(e.to_string());
        seen.push(format!("{e:?}"));
    });
    let logged = logs.text();
    assert!(
        logged.contains("could not open a connection"),
        "the failure was logged:\n{logged}"
    );
    seen.push(logged);
    for s in seen {
        assert!(!s.contains(secret), "secret leaked into: {s}");
    }
}

/// The pool's life cycle on PostgreSQL: acquire timeout, idle and lifetime
/// retirement, resize and drain, with the server's own view of the
/// sessions (`pg_stat_activity`) as the witness.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_retirement_resize_and_drain_on_postgres() {
    let app = "poolcast_t_lifecycle";
    let (admin, conn) = tokio_postgres::connect(&pg_url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let sessions = || async {
        let n: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                &[&app],
            )
            .await
            .unwrap()
            .get(0);
        n
    };
    let mut f = file(3);
    f.pool.min_size = 1;
    f.pool.acquire_timeout_ms = Some(150.0);
    f.pool.idle_timeout_s = Some(0.2);
    f.pool.max_lifetime_s = Some(0.6);
    f.pool.max_lifetime_jitter = 0.0;
    let p = pool(app, f);
    // Timeout: three held, a fourth waits 150 ms and fails, typed.
    let held = vec![
        p.get().await.unwrap(),
        p.get().await.unwrap(),
        p.get().await.unwrap(),
    ];
    let t0 = std::time::Instant::now();
    let e = p.get().await.unwrap_err();
    assert!(matches!(e, PoolError::Timeout { max_size: 3, .. }), "{e}");
    assert!(t0.elapsed() >= Duration::from_millis(150) && t0.elapsed() < Duration::from_secs(1));
    assert_eq!(sessions().await, 3);
    drop(held);
    // Idle retirement down to min_size 1, seen by the server.
    eventually("idle retirement", Duration::from_secs(3), || {
        p.status().size == 1
    })
    .await;
    let mut n = sessions().await;
    for _ in 0..100 {
        if n == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        n = sessions().await;
    }
    assert_eq!(n, 1, "the server still sees retired sessions");
    // Lifetime: the last connection is replaced by a new backend.
    let pid_before: i32 = p
        .get()
        .await
        .unwrap()
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    tokio::time::sleep(Duration::from_millis(900)).await;
    let pid_after: i32 = p
        .get()
        .await
        .unwrap()
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    assert_ne!(
        pid_before, pid_after,
        "max_lifetime did not replace the connection"
    );
    assert!(p.metrics().closed[1] >= 1);
    // Resize up: min_size 3 opens two more sessions.
    p.resize(3, 5).unwrap();
    eventually("resized to 3", Duration::from_secs(3), || {
        p.status().size == 3
    })
    .await;
    // Drain: a held connection delays close; afterwards the server sees none.
    let c = p.get().await.unwrap();
    let closer = tokio::spawn({
        let p = p.clone();
        async move { p.close().await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!closer.is_finished());
    c.query_one("SELECT 1", &[]).await.unwrap();
    drop(c);
    closer.await.unwrap();
    let mut n = sessions().await;
    for _ in 0..100 {
        if n == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        n = sessions().await;
    }
    assert_eq!(n, 0, "sessions left after drain");
    assert!(matches!(p.get().await, Err(PoolError::Closed)));
}

#[test]
fn a_leak_warning_names_where_the_connection_was_taken() {
    let logs = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut f = file(2);
        f.pool.leak_detection_threshold_ms = Some(50.0);
        let p = pool("poolcast_t_leak", f);
        let c = p.get().await.unwrap(); // the line the warning must name
        let line = line!() - 1;
        tokio::time::sleep(Duration::from_millis(300)).await;
        c.query_one("SELECT 1", &[]).await.unwrap();
        drop(c);
        assert_eq!(p.metrics().leaks, 1);
        let text = logs.text();
        let at = format!("pg_pool.rs:{line}");
        assert!(
            text.contains("possible leak") && text.contains(&at),
            "expected a leak warning naming {at}:\n{text}"
        );
        // The Prometheus endpoint counts it, and parses.
        let prom = p.prometheus();
        let scrape = prometheus_parse::Scrape::parse(prom.lines().map(|l| Ok(l.to_string())))
            .expect("valid exposition");
        let leaks = scrape
            .samples
            .iter()
            .find(|s| s.metric == "poolcast_leaked_connections_total")
            .expect("leak counter");
        assert!(matches!(
            leaks.value,
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) if v == 1.0
        ));
    });
}

/// Without the server binaries (and without `POOLCAST_TEST_PG`) a
/// PostgreSQL test fails, naming the package to install: it never passes
/// silently. Runs one test of this binary again in a child process that
/// cannot find them.
#[test]
fn without_server_binaries_a_test_fails_naming_the_package() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "select_one_and_pool_bookkeeping"])
        .env_remove("POOLCAST_TEST_PG")
        .env("POOLCAST_PG_BIN", "/nonexistent/poolcast-no-postgres")
        .output()
        .expect("the test binary runs again");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success(),
        "it passed without PostgreSQL:\n{text}"
    );
    assert!(
        text.contains("1 failed") && text.contains("apt install postgresql"),
        "{text}"
    );
}
