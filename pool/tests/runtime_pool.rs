//! The runtime pool with an in-memory manager: acquire/release, fairness,
//! timeouts, cancellation, resize, drain, breakers, leak detection,
//! retirement, health checks, affinity and metrics. No database needed;
//! `pg_*.rs` run the same pool against PostgreSQL.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use poolcast::core::settings::{HealthCheckSetting, PoolFile, PoolSettings};
use poolcast::core::telemetry::{ErrorCategory, QueryClass};
use poolcast::runtime::{AcquireOptions, ErrorClass, Manager, Pool, PoolError, RecycleMode};

#[derive(Debug, thiserror::Error)]
#[error("mock failure")]
struct MockError;

/// Connections are numbers; creation can be made to fail or stall, and
/// health checks can be made to fail.
#[derive(Default)]
struct Mock {
    next: AtomicU64,
    fail_create: AtomicBool,
    fail_check: AtomicBool,
    create_delay_ms: AtomicU64,
    creates: AtomicU32,
    checks: AtomicU32,
}

/// The manager the pool owns; the test keeps another handle on the mock.
struct MockManager(Arc<Mock>);

impl std::ops::Deref for MockManager {
    type Target = Mock;
    fn deref(&self) -> &Mock {
        &self.0
    }
}

impl Manager for MockManager {
    type Connection = u64;
    type Error = MockError;
    async fn create(&self) -> Result<u64, MockError> {
        self.creates.fetch_add(1, Ordering::SeqCst);
        let d = self.create_delay_ms.load(Ordering::SeqCst);
        if d > 0 {
            tokio::time::sleep(Duration::from_millis(d)).await;
        }
        if self.fail_create.load(Ordering::SeqCst) {
            return Err(MockError);
        }
        Ok(self.next.fetch_add(1, Ordering::SeqCst))
    }
    async fn recycle(&self, _c: &mut u64, _m: RecycleMode) -> Result<(), MockError> {
        self.checks.fetch_add(1, Ordering::SeqCst);
        if self.fail_check.load(Ordering::SeqCst) {
            return Err(MockError);
        }
        Ok(())
    }
    fn classify(&self, _e: &MockError) -> ErrorClass {
        ErrorClass::fault(ErrorCategory::Connection)
    }
}

fn settings(max: u32) -> PoolSettings {
    PoolSettings {
        max_size: max,
        acquire_timeout_ms: Some(2000.0),
        health_check: HealthCheckSetting::Never,
        ..PoolSettings::default()
    }
}

fn pool_with(m: &Arc<Mock>, s: PoolSettings) -> Pool<MockManager> {
    let file = PoolFile {
        pool: s,
        policy: Some(poolcast::core::policy::PolicyConfig::Static { size: 0 }),
        controller: poolcast::core::settings::ControllerSettings {
            interval_s: 0.05,
            ..Default::default()
        },
        ..PoolFile::default()
    };
    Pool::builder(MockManager(Arc::clone(m)))
        .config(file)
        .build()
        .expect("valid settings")
}

async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acquire_release_and_reuse() {
    let m = Arc::new(Mock::default());
    let pool = pool_with(&m, settings(4));
    let a = pool.get().await.unwrap();
    let b = pool.get().await.unwrap();
    assert_ne!(*a, *b);
    assert_eq!(pool.status().busy, 2);
    let first = *a;
    drop(a);
    assert_eq!(pool.status().idle, 1);
    // The most recently used idle connection is handed out first.
    let c = pool.get().await.unwrap();
    assert_eq!(*c, first);
    drop((b, c));
    let s = pool.status();
    assert_eq!((s.size, s.idle, s.busy, s.waiting), (2, 2, 0, 0));
    assert_eq!(m.creates.load(Ordering::SeqCst), 2);
    let metrics = pool.metrics();
    assert_eq!(metrics.totals.grants, 3);
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_are_served_in_arrival_order() {
    let m = Arc::new(Mock::default());
    let pool = pool_with(&m, settings(1));
    let held = pool.get().await.unwrap();
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..5 {
        let (p, o) = (pool.clone(), Arc::clone(&order));
        tasks.push(tokio::spawn(async move {
            let c = p.get().await.unwrap();
            o.lock().unwrap().push(i);
            tokio::time::sleep(Duration::from_millis(2)).await;
            drop(c);
        }));
        // Make the arrival order unambiguous.
        let p = pool.clone();
        eventually("waiter queued", || p.status().waiting == i + 1).await;
    }
    drop(held);
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acquire_times_out_with_a_typed_error_on_time() {
    let m = Arc::new(Mock::default());
    let s = PoolSettings {
        acquire_timeout_ms: Some(100.0),
        ..settings(1)
    };
    let pool = pool_with(&m, s);
    let _held = pool.get().await.unwrap();
    let t0 = Instant::now();
    let err = pool.get().await.unwrap_err();
    let took = t0.elapsed();
    assert!(
        matches!(
            err,
            PoolError::Timeout {
                size: 1,
                max_size: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(took >= Duration::from_millis(100), "{took:?}");
    assert!(took < Duration::from_millis(600), "{took:?}");
    assert_eq!(err.category(), Some(ErrorCategory::Timeout));
    assert_eq!(pool.metrics().totals.timeouts, 1);
    assert_eq!(pool.status().waiting, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_waiter_leaves_nothing_behind() {
    let m = Arc::new(Mock::default());
    let pool = pool_with(&m, settings(1));
    let held = pool.get().await.unwrap();
    // The caller's own timeout abandons the acquire.
    let r = tokio::time::timeout(Duration::from_millis(30), pool.get()).await;
    assert!(r.is_err());
    assert_eq!(pool.status().waiting, 0);
    drop(held);
    let s = pool.status();
    assert_eq!((s.idle, s.busy), (1, 0));
    assert!(pool.get().await.is_ok());
    assert_eq!(pool.metrics().cancelled, 1);
}

/// Polls `f` once; whether it finished.
async fn poll_once<F: std::future::Future + Unpin>(f: &mut F) -> bool {
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(std::pin::Pin::new(&mut *f).poll(cx).is_ready())
    })
    .await
}

#[tokio::test(flavor = "current_thread")]
async fn a_waiter_dropped_after_its_grant_gives_the_connection_back() {
    let m = Arc::new(Mock::default());
    let pool = pool_with(&m, settings(1));
    let held = pool.get().await.unwrap();
    let mut waiting = Box::pin(pool.get());
    assert!(!poll_once(&mut waiting).await, "queued");
    assert_eq!(pool.status().waiting, 1);
    // Granted to the queued request, which is never polled again.
    drop(held);
    assert_eq!((pool.status().busy, pool.status().waiting), (1, 0));
    drop(waiting);
    let s = pool.status();
    assert_eq!((s.idle, s.busy, s.waiting), (1, 0, 0));
    assert_eq!(pool.metrics().cancelled, 1);
    assert!(pool.get().await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_acquire_awaited_by_another_task_is_woken_there() {
    let m = Arc::new(Mock::default());
    let pool = pool_with(&m, settings(1));
    let held = pool.get().await.unwrap();
    let first = *held;
    let p = pool.clone();
    let mut waiting = Box::pin(async move { *p.get().await.unwrap() });
    // Queued from this task, then awaited by another one.
    assert!(!poll_once(&mut waiting).await, "queued");
    let task = tokio::spawn(waiting);
    tokio::time::sleep(Duration::from_millis(20)).await;
    drop(held);
    let got = tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .expect("the task that awaits the acquire is the one woken")
        .unwrap();
    assert_eq!(got, first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contended_load_conserves_connections() {
    let m = Arc::new(Mock::default());
    let pool = pool_with(&m, settings(8));
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let p = pool.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..200 {
                let c = p.get().await.unwrap();
                if *c % 3 == 0 {
                    tokio::task::yield_now().await;
                }
                drop(c);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let s = pool.status();
    assert_eq!((s.busy, s.waiting), (0, 0));
    assert!(s.size <= 8 && s.idle == s.size, "{s:?}");
    assert_eq!(pool.metrics().totals.grants, 32 * 200);
}

/// Queued acquires abandoned at every point of their wait (before a grant,
/// while one is being written on the other worker, after it): each one is
/// withdrawn or gives its connection back, and none is lost or handed out
/// twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_waiters_racing_grants_lose_nothing() {
    let m = Arc::new(Mock::default());
    let pool = pool_with(&m, settings(4));
    let in_use = Arc::new(AtomicU32::new(0));
    let mut tasks = Vec::new();
    for t in 0..16u64 {
        let p = pool.clone();
        let in_use = Arc::clone(&in_use);
        tasks.push(tokio::spawn(async move {
            let (mut served, mut abandoned) = (0u32, 0u32);
            for i in 0..400u64 {
                // Give up after 0 to 3 polls of the acquire.
                let polls = (t * 7 + i * 13) % 4;
                let mut get = Box::pin(p.get());
                let mut got = None;
                for _ in 0..=polls {
                    if let std::task::Poll::Ready(r) =
                        std::future::poll_fn(|cx| std::task::Poll::Ready(get.as_mut().poll(cx)))
                            .await
                    {
                        got = Some(r.unwrap());
                        break;
                    }
                    tokio::task::yield_now().await;
                }
                drop(get);
                match got {
                    Some(c) => {
                        let now = in_use.fetch_add(1, Ordering::SeqCst) + 1;
                        assert!(now <= 4, "{now} connections out of a pool of 4");
                        tokio::task::yield_now().await;
                        in_use.fetch_sub(1, Ordering::SeqCst);
                        drop(c);
                        served += 1;
                    }
                    None => abandoned += 1,
                }
            }
            (served, abandoned)
        }));
    }
    let (mut served, mut abandoned) = (0u32, 0u32);
    for t in tasks {
        let (s, a) = t.await.unwrap();
        served += s;
        abandoned += a;
    }
    assert!(
        abandoned > 0,
        "no acquire was abandoned: the test tests nothing"
    );
    let s = pool.status();
    assert_eq!((s.busy, s.waiting), (0, 0), "{s:?}");
    assert_eq!(s.idle, s.size, "{s:?}");
    assert_eq!(served + abandoned, 16 * 400);
    // Every grant reached its caller, unless the caller had given up and
    // the connection came back (counted as cancelled).
    let met = pool.metrics();
    let served = u64::from(served);
    assert!(served <= met.totals.grants, "{met:?}");
    assert!(met.totals.grants - served <= met.cancelled, "{met:?}");
    assert_eq!(met.cancelled, u64::from(abandoned), "{met:?}");
    // Everything still works afterwards.
    let all: Vec<_> = futures_join(&pool, 4).await;
    assert_eq!(all.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resize_grows_and_shrinks_without_touching_busy_connections() {
    let m = Arc::new(Mock::default());
    let pool = pool_with(&m, settings(2));
    pool.resize(4, 6).unwrap();
    eventually("min_size 4 reached", || pool.status().size == 4).await;
    let held: Vec<_> = futures_join(&pool, 4).await;
    pool.resize(0, 1).unwrap();
    // Busy connections are never closed...
    assert_eq!(pool.status().size, 4);
    drop(held);
    // ...they retire as they come back.
    eventually("shrunk to 1", || pool.status().size == 1).await;
    assert!(pool.resize(5, 2).is_err());
    assert_eq!(pool.status().max_size, 1);
}

async fn futures_join(
    pool: &Pool<MockManager>,
    n: usize,
) -> Vec<poolcast::runtime::Object<MockManager>> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(pool.get().await.unwrap());
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_drains_and_refuses_new_requests() {
    let m = Arc::new(Mock::default());
    let pool = pool_with(&m, settings(2));
    let held = pool.get().await.unwrap();
    let _idle = pool.get().await.unwrap();
    drop(_idle);
    let p = pool.clone();
    let waiter = tokio::spawn(async move {
        // Queue behind a full pool of 2 (one held, one soon taken below).
        p.get().await.map(|_| ())
    });
    let closer = {
        let p = pool.clone();
        tokio::spawn(async move { p.close().await })
    };
    eventually("closing", || pool.is_closed()).await;
    assert!(matches!(pool.get().await, Err(PoolError::Closed)));
    // The busy connection is not interrupted; close waits for it.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!closer.is_finished());
    drop(held);
    tokio::time::timeout(Duration::from_secs(2), closer)
        .await
        .unwrap()
        .unwrap();
    let s = pool.status();
    assert_eq!((s.size, s.creating), (0, 0));
    // The queued one either got the idle connection before close or was
    // refused: never left hanging.
    let r = tokio::time::timeout(Duration::from_secs(2), waiter)
        .await
        .unwrap()
        .unwrap();
    assert!(r.is_ok() || matches!(r, Err(PoolError::Closed)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creation_failures_trip_the_connection_breaker_then_it_recovers() {
    let m = Arc::new(Mock::default());
    m.fail_create.store(true, Ordering::SeqCst);
    let mut file = PoolFile {
        pool: PoolSettings {
            acquire_timeout_ms: Some(300.0),
            create_backoff_initial_ms: 1.0,
            create_backoff_max_ms: 5.0,
            ..settings(4)
        },
        policy: Some(poolcast::core::policy::PolicyConfig::Static { size: 0 }),
        ..PoolFile::default()
    };
    file.breaker.connection.min_calls = 5;
    file.breaker.connection.open_ms = 1000.0;
    // Only the category breaker is under test here.
    file.breaker.global.enabled = false;
    let pool = Pool::builder(MockManager(Arc::clone(&m)))
        .config(file)
        .build()
        .unwrap();
    // The first request waits while creations fail, and times out naming
    // the cause.
    let err = pool.get().await.unwrap_err();
    match &err {
        PoolError::Timeout { last_error, .. } => {
            assert_eq!(last_error.as_deref(), Some("mock failure"), "{err}")
        }
        other => panic!("expected a timeout, got {other}"),
    }
    // By now the connection breaker has seen many failed creations.
    let err = pool.get().await.unwrap_err();
    assert!(
        matches!(
            err,
            PoolError::BreakerOpen {
                category: Some(ErrorCategory::Connection),
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("connection"), "{err}");
    assert_eq!(pool.status().breakers[ErrorCategory::Connection.index()], 2);
    // The database comes back: after the open period a probe goes through.
    m.fail_create.store(false, Ordering::SeqCst);
    let start = Instant::now();
    loop {
        match pool.get().await {
            Ok(_) => break,
            Err(PoolError::BreakerOpen { .. }) | Err(PoolError::Timeout { .. }) => {
                assert!(
                    start.elapsed() < Duration::from_secs(5),
                    "breaker never closed"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
    let _ = pool.get().await.unwrap();
    assert_eq!(pool.status().breakers[ErrorCategory::Connection.index()], 0);
    assert!(pool.metrics().rejected[ErrorCategory::Connection.index()] > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_errors_are_counted_but_do_not_trip() {
    let m = Arc::new(Mock::default());
    let mut file = PoolFile {
        pool: settings(2),
        ..PoolFile::default()
    };
    file.breaker.query.enabled = true;
    file.breaker.query.min_calls = 2;
    let pool = Pool::builder(MockManager(Arc::clone(&m)))
        .config(file)
        .build()
        .unwrap();
    for _ in 0..20 {
        let mut c = pool.get().await.unwrap();
        c.report_class(ErrorClass::client(ErrorCategory::Query));
    }
    assert!(pool.get().await.is_ok());
    let mx = pool.metrics();
    assert_eq!(mx.errors[ErrorCategory::Query.index()], 20);
    assert_eq!(mx.client_errors, 20);
    // The same errors as faults do trip the (enabled) query breaker.
    for _ in 0..40 {
        let Ok(mut c) = pool.get().await else { break };
        c.report_class(ErrorClass::fault(ErrorCategory::Query));
    }
    assert!(matches!(
        pool.get().await,
        Err(PoolError::BreakerOpen {
            category: Some(ErrorCategory::Query),
            ..
        })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_held_too_long_is_reported_as_a_leak() {
    let m = Arc::new(Mock::default());
    let s = PoolSettings {
        leak_detection_threshold_ms: Some(50.0),
        ..settings(2)
    };
    let pool = pool_with(&m, s);
    let quick = pool.get().await.unwrap();
    drop(quick);
    let held = pool.get().await.unwrap();
    eventually("leak reported", || pool.metrics().leaks == 1).await;
    tokio::time::sleep(Duration::from_millis(120)).await;
    // Reported once per checkout, not once per tick.
    assert_eq!(pool.metrics().leaks, 1);
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_lifetime_retirement() {
    let m = Arc::new(Mock::default());
    let s = PoolSettings {
        min_size: 1,
        idle_timeout_s: Some(0.1),
        max_lifetime_s: Some(0.3),
        max_lifetime_jitter: 0.0,
        ..settings(4)
    };
    let pool = pool_with(&m, s);
    let held = futures_join(&pool, 3).await;
    drop(held);
    assert_eq!(pool.status().size, 3);
    // Idle above the floor (min_size 1) for 100 ms: two retire.
    eventually("idle retirement", || pool.status().size == 1).await;
    let first_ids = m.creates.load(Ordering::SeqCst);
    // The last one is replaced when its lifetime ends.
    eventually("lifetime replacement", || {
        m.creates.load(Ordering::SeqCst) > first_ids && pool.status().size == 1
    })
    .await;
    let mx = pool.metrics();
    assert!(mx.closed[0] >= 2, "{:?}", mx.closed);
    assert!(mx.closed[1] >= 1, "{:?}", mx.closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_health_check_replaces_the_connection() {
    let m = Arc::new(Mock::default());
    let s = PoolSettings {
        health_check: HealthCheckSetting::Always,
        ..settings(2)
    };
    let pool = pool_with(&m, s);
    let first = *pool.get().await.unwrap();
    m.fail_check.store(true, Ordering::SeqCst);
    // Every check fails now: the request keeps being re-served from fresh
    // connections until its timeout, and never sees a broken one.
    let r = tokio::time::timeout(Duration::from_millis(200), pool.get()).await;
    assert!(r.is_err() || r.unwrap().is_err());
    m.fail_check.store(false, Ordering::SeqCst);
    let c = pool.get().await.unwrap();
    assert_ne!(*c, first, "the connection that failed its check was reused");
    assert!(pool.metrics().check_failures >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn affinity_prefers_the_connection_that_prepared_the_pattern() {
    let m = Arc::new(Mock::default());
    let pool = pool_with(&m, settings(4));
    let mut held = futures_join(&pool, 4).await;
    let chosen = *held[1];
    held[1].note_prepared(77);
    drop(held);
    for _ in 0..10 {
        let c = pool
            .get_with(AcquireOptions {
                pattern: 77,
                ..AcquireOptions::default()
            })
            .await
            .unwrap();
        assert_eq!(*c, chosen);
    }
    // Busy preferred connection: served by another one, never waits.
    let busy = pool
        .get_with(AcquireOptions {
            pattern: 77,
            ..AcquireOptions::default()
        })
        .await
        .unwrap();
    let other = tokio::time::timeout(
        Duration::from_millis(100),
        pool.get_with(AcquireOptions {
            pattern: 77,
            ..AcquireOptions::default()
        }),
    )
    .await
    .expect("did not wait for the preferred connection")
    .unwrap();
    assert_ne!(*other, *busy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_flow_every_interval() {
    let m = Arc::new(Mock::default());
    let pool = pool_with(&m, settings(2));
    for _ in 0..5 {
        drop(pool.get().await.unwrap());
    }
    eventually("three snapshots", || pool.snapshots().len() >= 3).await;
    let snaps = pool.snapshots();
    let total: u32 = snaps.iter().map(|s| s.acquires).sum();
    assert_eq!(total, 5);
    for s in &snaps {
        assert!(
            (s.interval_ns as f64 - 50e6).abs() < 25e6,
            "{}",
            s.interval_ns
        );
        assert_eq!(s.db_cpu, None, "runtime has no CPU probe: null, not 0");
    }
}

/// Waits and holds are recorded per thread, outside the lock, and gathered
/// at each interval: every checkout from both workers is in the snapshots,
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_count_every_checkout_from_every_thread() {
    let m = Arc::new(Mock::default());
    let pool = pool_with(&m, settings(4));
    let mut tasks = Vec::new();
    for t in 0..16u64 {
        let p = pool.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..100u64 {
                let class = if (t + i) % 2 == 0 {
                    QueryClass::Read
                } else {
                    QueryClass::Write
                };
                let c = p
                    .get_with(AcquireOptions {
                        class,
                        ..AcquireOptions::default()
                    })
                    .await
                    .unwrap();
                tokio::task::yield_now().await;
                drop(c);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // Two more intervals, so the last checkouts are in a snapshot.
    let seen = pool.snapshots().len();
    eventually("two more snapshots", || pool.snapshots().len() >= seen + 2).await;
    let snaps = pool.snapshots();
    let sum = |f: &dyn Fn(&poolcast::core::telemetry::Snapshot) -> u32| -> u32 {
        snaps.iter().map(f).sum()
    };
    assert_eq!(sum(&|s| s.arrivals_total()), 1600);
    assert_eq!(sum(&|s| s.completions[QueryClass::Read.index()]), 800);
    assert_eq!(sum(&|s| s.completions[QueryClass::Write.index()]), 800);
    assert_eq!(sum(&|s| s.acquires), 1600);
    assert!(
        snaps
            .iter()
            .any(|s| s.service_p50_ms[QueryClass::Read.index()].is_some()),
        "hold quantiles reach the snapshots"
    );
    // Every grant's wait is in the whole-run histogram.
    assert_eq!(pool.metrics().wait_count_sum.0, 1600);
}

#[cfg(feature = "prometheus")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_output_parses() {
    let m = Arc::new(Mock::default());
    let pool = Pool::builder(MockManager(Arc::clone(&m)))
        .name("orders-main")
        .settings(settings(2))
        .build()
        .unwrap();
    drop(pool.get().await.unwrap());
    let text = pool.prometheus();
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("valid exposition");
    let grants = scrape
        .samples
        .iter()
        .find(|s| s.metric == "poolcast_grants_total")
        .expect("grants counter");
    assert_eq!(grants.labels.get("pool"), Some("orders-main"));
    match grants.value {
        prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => {
            assert_eq!(v, 1.0)
        }
        ref v => panic!("{v:?}"),
    }
    assert!(scrape.docs.contains_key("poolcast_breaker_state"));
    for s in &scrape.samples {
        assert!(
            s.metric.starts_with("poolcast_") || s.metric.starts_with("db_client_connection_"),
            "{}",
            s.metric
        );
    }
}

/// The value of the OpenTelemetry series `metric` (with `extra` labels) in
/// an exposition: gauges and counters as their value, a histogram bucket
/// as its count.
fn otel_value(scrape: &prometheus_parse::Scrape, metric: &str, extra: &[(&str, &str)]) -> f64 {
    let s = scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == metric
                && s.labels.get("db_client_connection_pool_name") == Some("orders-main")
                && s.labels.get("otel_scope_name") == Some("poolcast")
                && extra
                    .iter()
                    .all(|(k, v)| *k == "le" || s.labels.get(k) == Some(*v))
        })
        .unwrap_or_else(|| panic!("no {metric} {extra:?}"));
    match &s.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => *v,
        prometheus_parse::Value::Histogram(buckets) => {
            let le: f64 = extra
                .iter()
                .find(|(k, _)| *k == "le")
                .map_or(f64::INFINITY, |(_, v)| v.parse().unwrap());
            buckets
                .iter()
                .find(|b| b.less_than == le)
                .map(|b| b.count)
                .unwrap_or_else(|| panic!("no bucket le={le} in {metric}"))
        }
        v => panic!("{metric}: {v:?}"),
    }
}

/// Under a known load (4 connections, each created in at least 20 ms;
/// 3 held, 1 idle; then 4 held and 2 requests queued until they time out;
/// holds of at least 30 ms), the OpenTelemetry connection-pool series say
/// exactly that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opentelemetry_pool_metrics_carry_the_right_values() {
    let m = Arc::new(Mock::default());
    m.create_delay_ms.store(20, Ordering::SeqCst);
    let mut s = settings(4);
    s.acquire_timeout_ms = Some(150.0);
    s.min_idle = 1;
    s.max_concurrent_creates = 4;
    let pool = Pool::builder(MockManager(Arc::clone(&m)))
        .name("orders-main")
        .settings(s)
        .build()
        .unwrap();
    let scrape = |p: &Pool<MockManager>| {
        let text = p.prometheus();
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
            .expect("valid exposition")
    };
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(pool.get().await.unwrap());
    }
    eventually("four connections", || pool.status().size == 4).await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    drop(held.pop());
    let x = scrape(&pool);
    assert_eq!(
        otel_value(
            &x,
            "db_client_connection_count",
            &[("db_client_connection_state", "used")]
        ),
        3.0
    );
    assert_eq!(
        otel_value(
            &x,
            "db_client_connection_count",
            &[("db_client_connection_state", "idle")]
        ),
        1.0
    );
    assert_eq!(otel_value(&x, "db_client_connection_max", &[]), 4.0);
    assert_eq!(otel_value(&x, "db_client_connection_idle_max", &[]), 4.0);
    assert_eq!(otel_value(&x, "db_client_connection_idle_min", &[]), 1.0);
    assert_eq!(
        otel_value(&x, "db_client_connection_pending_requests", &[]),
        0.0
    );
    // Four creates, none faster than the manager's 20 ms.
    let create = "db_client_connection_create_time_seconds";
    assert_eq!(otel_value(&x, create, &[("le", "+Inf")]), 4.0);
    assert_eq!(otel_value(&x, create, &[("le", "0.01")]), 0.0);
    let sum = x
        .samples
        .iter()
        .find(|s| s.metric == "db_client_connection_create_time_seconds_sum")
        .map(|s| match s.value {
            prometheus_parse::Value::Untyped(v) | prometheus_parse::Value::Gauge(v) => v,
            ref v => panic!("{v:?}"),
        });
    assert!(sum.is_some_and(|v| v >= 0.08), "{sum:?}");

    // All four held, two more queued: pending 2, then two timeouts.
    held.push(pool.get().await.unwrap());
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let p = pool.clone();
            tokio::spawn(async move { p.get().await.map(drop) })
        })
        .collect();
    eventually("two queued", || pool.status().waiting == 2).await;
    let x = scrape(&pool);
    assert_eq!(
        otel_value(&x, "db_client_connection_pending_requests", &[]),
        2.0
    );
    assert_eq!(
        otel_value(
            &x,
            "db_client_connection_count",
            &[("db_client_connection_state", "used")]
        ),
        4.0
    );
    for w in waiters {
        assert!(matches!(w.await.unwrap(), Err(PoolError::Timeout { .. })));
    }
    tokio::time::sleep(Duration::from_millis(30)).await;
    drop(held);
    // Wait for the controller to close an interval with these holds.
    eventually("the holds counted", || pool.metrics().use_time.count >= 5).await;
    let x = scrape(&pool);
    assert_eq!(
        otel_value(&x, "db_client_connection_timeouts_total", &[]),
        2.0
    );
    let used = "db_client_connection_use_time_seconds";
    let n = otel_value(&x, used, &[("le", "+Inf")]);
    assert!(n >= 5.0, "{n}");
    // Every hold lasted 30 ms or more.
    assert_eq!(otel_value(&x, used, &[("le", "0.025")]), 0.0);
    let wait = "db_client_connection_wait_time_seconds";
    assert!(otel_value(&x, wait, &[("le", "+Inf")]) >= 5.0);
    pool.close().await;
}

#[test]
fn pool_toml_errors_name_the_file_field_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("pool.toml");
    std::fs::write(&p, "[pool]\nmax_size = 8\nmax_sise = 9\n").unwrap();
    let e = poolcast::runtime::load_pool_file(&p)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("pool.toml") && e.contains("max_sise") && e.contains("line 3"),
        "{e}"
    );
    std::fs::write(&p, "[pool]\nmax_size = 8\nmin_size = 9\n").unwrap();
    let e = poolcast::runtime::load_pool_file(&p)
        .unwrap_err()
        .to_string();
    assert!(e.contains("pool.min_size"), "{e}");
    std::fs::write(&p, "[controller]\ninterval_s = 0\n").unwrap();
    let e = poolcast::runtime::load_pool_file(&p)
        .unwrap_err()
        .to_string();
    assert!(e.contains("controller.interval_s"), "{e}");
    let e = poolcast::runtime::load_pool_file(dir.path().join("missing.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.toml"), "{e}");
    // A good file with a relative artifact path resolves it next to the file.
    std::fs::write(
        &p,
        "[pool]\nmax_size = 8\n[policy]\nkind = \"predictive\"\nartifact = \"model.json\"\n",
    )
    .unwrap();
    let f = poolcast::runtime::load_pool_file(&p).unwrap();
    match f.policy {
        Some(poolcast::core::policy::PolicyConfig::Predictive(c)) => {
            assert_eq!(
                c.artifact.as_deref(),
                Some(dir.path().join("model.json").as_path())
            )
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_artifact_falls_back_to_reactive_and_says_why() {
    let m = Arc::new(Mock::default());
    let file = PoolFile {
        pool: settings(4),
        policy: Some(poolcast::core::policy::PolicyConfig::Predictive(
            poolcast::core::policy::PredictiveConfig {
                artifact: Some("/nonexistent/artifact.json".into()),
                ..Default::default()
            },
        )),
        ..PoolFile::default()
    };
    let pool = Pool::builder(MockManager(m)).config(file).build().unwrap();
    let s = pool.status();
    assert!(
        s.policy.contains("reactive fallback") && s.policy.contains("artifact"),
        "{}",
        s.policy
    );
    assert!(pool.get().await.is_ok());
}

/// The error of building a pool whose `pool.toml` names `policy`.
fn refused(policy: poolcast::core::policy::PolicyConfig) -> String {
    let file = PoolFile {
        policy: Some(policy),
        ..PoolFile::default()
    };
    Pool::builder(MockManager(Arc::new(Mock::default())))
        .config(file)
        .build()
        .unwrap_err()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oracle_is_refused_outside_the_simulator() {
    let e = refused(poolcast::core::policy::PolicyConfig::Oracle(
        Default::default(),
    ));
    assert!(e.contains("policy.kind") && e.contains("simulator"), "{e}");
}

/// `predictive-ideal`'s foresight exists only in the simulator too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foresight_is_refused_outside_the_simulator() {
    let e = refused(poolcast::core::policy::PolicyConfig::Predictive(
        poolcast::core::policy::PredictiveConfig {
            foresight: true,
            ..Default::default()
        },
    ));
    assert!(
        e.contains("policy.foresight") && e.contains("simulator"),
        "{e}"
    );
}

/// The client a traced request of the current task is recorded with: its
/// task id's hash, forced nonzero.
fn this_task_client() -> u64 {
    poolcast::core::telemetry::client_id(&tokio::task::id())
}

/// With a trace recorder, every request names its client: the tokio task
/// that asked (granted, timed out by the pool, or given up by the caller),
/// or 0 outside a task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trace_names_the_task_of_every_request() {
    use poolcast::runtime::{RecorderConfig, TraceRecorder};
    let dir = tempfile::tempdir().unwrap();
    let rec = TraceRecorder::start(RecorderConfig::new(dir.path())).unwrap();
    let m = Arc::new(Mock::default());
    let file = PoolFile {
        pool: PoolSettings {
            acquire_timeout_ms: Some(100.0),
            ..settings(1)
        },
        policy: Some(poolcast::core::policy::PolicyConfig::Static { size: 0 }),
        ..PoolFile::default()
    };
    let pool = Pool::builder(MockManager(Arc::clone(&m)))
        .config(file)
        .trace(rec.clone())
        .build()
        .unwrap();
    let with = |pattern| AcquireOptions {
        pattern,
        ..AcquireOptions::default()
    };
    // Two tasks, one after the other: three and two granted requests.
    let mut expected = Vec::new();
    for (pattern, n) in [(1, 3), (2, 2)] {
        let p = pool.clone();
        let c = tokio::spawn(async move {
            for _ in 0..n {
                drop(p.get_with(with(pattern)).await.unwrap());
            }
            this_task_client()
        })
        .await
        .unwrap();
        expected.push((pattern, c));
    }
    // With the one connection held: a request the pool times out, and
    // one its caller gives up on.
    let held = pool.get_with(with(6)).await.unwrap();
    let p = pool.clone();
    let c = tokio::spawn(async move {
        let e = p.get_with(with(3)).await.unwrap_err();
        assert!(matches!(e, PoolError::Timeout { .. }), "{e}");
        this_task_client()
    })
    .await
    .unwrap();
    expected.push((3, c));
    let p = pool.clone();
    let c = tokio::spawn(async move {
        let r = tokio::time::timeout(Duration::from_millis(20), p.get_with(with(4))).await;
        assert!(r.is_err());
        this_task_client()
    })
    .await
    .unwrap();
    expected.push((4, c));
    drop(held);
    // Outside any task.
    let (p, handle) = (pool.clone(), tokio::runtime::Handle::current());
    std::thread::spawn(move || {
        assert!(tokio::task::try_id().is_none());
        drop(handle.block_on(p.get_with(with(5))).unwrap());
    })
    .join()
    .unwrap();
    expected.push((5, 0));
    pool.close().await;
    rec.flush();

    let csv = std::fs::read_to_string(dir.path().join("requests-000001.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some(poolcast::runtime::REQUEST_HEADER));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert!(rows.iter().all(|r| r.len() == 8), "{rows:?}");
    let clients_of = |pattern: u64| -> Vec<u64> {
        rows.iter()
            .filter(|r| r[2] == pattern.to_string())
            .map(|r| r[7].parse().unwrap())
            .collect()
    };
    for &(pattern, client) in &expected {
        let got = clients_of(pattern);
        let n = if pattern == 1 {
            3
        } else if pattern == 2 {
            2
        } else {
            1
        };
        assert_eq!(got, vec![client; n], "pattern {pattern}: {rows:?}");
    }
    let tasks: Vec<u64> = expected[..4].iter().map(|e| e.1).collect();
    assert!(tasks.iter().all(|&c| c != 0 && c % 2 == 1), "{tasks:?}");
    let mut distinct = tasks.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 4, "one client per task: {tasks:?}");
    let outcome_of = |pattern: u64| {
        rows.iter()
            .find(|r| r[2] == pattern.to_string())
            .map(|r| r[5])
    };
    assert_eq!(outcome_of(3), Some("acquire_timeout"));
    assert_eq!(outcome_of(4), Some("acquire_timeout"));
    assert_eq!(outcome_of(5), Some("ok"));
}
