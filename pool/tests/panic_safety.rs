//! Panics in code the pool calls (the manager, the scaling policy, the
//! snapshot hook) are caught where the pool calls it, counted, and fail
//! only that step: a create panic is a failed create, a check panic a
//! failed check, a policy panic a switch to reactive scaling, a hook panic
//! a skipped hook. The pool keeps serving, and its acquire timeouts fire.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::eventually;
use poolcast::core::policy::{PolicyConfig, PolicyContext, ScalingPolicy};
use poolcast::core::settings::{ControllerSettings, HealthCheckSetting, PoolFile, PoolSettings};
use poolcast::core::telemetry::{ErrorCategory, Snapshot};
use poolcast::runtime::{ErrorClass, Manager, Pool, PoolError, RecycleMode};

#[derive(Debug, thiserror::Error)]
#[error("flaky failure")]
struct FlakyError;

/// A manager that panics on request.
#[derive(Default)]
struct Flaky {
    seq: AtomicU64,
    /// `create` panics this many more times.
    create_panics: AtomicU32,
    recycle_panics: AtomicBool,
    is_broken_panics: AtomicBool,
    classify_panics: AtomicBool,
}

struct FlakyManager(Arc<Flaky>);

impl Manager for FlakyManager {
    type Connection = u64;
    type Error = FlakyError;
    async fn create(&self) -> Result<u64, FlakyError> {
        tokio::time::sleep(Duration::from_millis(1)).await;
        let left = self.0.create_panics.load(Ordering::SeqCst);
        if left > 0 {
            self.0.create_panics.store(left - 1, Ordering::SeqCst);
            panic!("create panics ({left} left)");
        }
        Ok(self.0.seq.fetch_add(1, Ordering::SeqCst))
    }
    async fn recycle(&self, _c: &mut u64, _m: RecycleMode) -> Result<(), FlakyError> {
        tokio::task::yield_now().await;
        assert!(
            !self.0.recycle_panics.load(Ordering::SeqCst),
            "recycle panics"
        );
        Ok(())
    }
    fn is_broken(&self, _c: &mut u64) -> bool {
        assert!(
            !self.0.is_broken_panics.load(Ordering::SeqCst),
            "is_broken panics"
        );
        false
    }
    fn classify(&self, _e: &FlakyError) -> ErrorClass {
        assert!(
            !self.0.classify_panics.load(Ordering::SeqCst),
            "classify panics"
        );
        ErrorClass::fault(ErrorCategory::Query)
    }
}

fn file(min: u32, max: u32) -> PoolFile {
    PoolFile {
        pool: PoolSettings {
            min_size: min,
            max_size: max,
            max_concurrent_creates: 4,
            create_backoff_initial_ms: 5.0,
            create_backoff_max_ms: 20.0,
            acquire_timeout_ms: Some(200.0),
            health_check: HealthCheckSetting::Never,
            ..PoolSettings::default()
        },
        controller: ControllerSettings {
            interval_s: 0.02,
            ..ControllerSettings::default()
        },
        policy: Some(PolicyConfig::Static { size: min }),
        ..PoolFile::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_panicking_five_times_still_reaches_min_size() {
    let flaky = Arc::new(Flaky::default());
    flaky.create_panics.store(5, Ordering::SeqCst);
    let pool = Pool::builder(FlakyManager(Arc::clone(&flaky)))
        .config(file(4, 8))
        .build()
        .unwrap();
    eventually("the pool reaches min_size", Duration::from_secs(5), || {
        pool.status().size >= 4
    })
    .await;
    assert_eq!(flaky.create_panics.load(Ordering::SeqCst), 0);
    let m = pool.metrics();
    assert_eq!(m.panics, 5, "{m:?}");
    assert_eq!(m.totals.create_failures, 5, "{m:?}");
    let c = pool.get().await.expect("the pool serves");
    drop(c);
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manager_check_panics_fail_only_their_step() {
    let flaky = Arc::new(Flaky::default());
    let mut f = file(2, 2);
    f.pool.health_check = HealthCheckSetting::Always;
    let pool = Pool::builder(FlakyManager(Arc::clone(&flaky)))
        .config(f)
        .build()
        .unwrap();
    eventually("two connections", Duration::from_secs(5), || {
        pool.status().size == 2
    })
    .await;

    // A check that panics has failed: the connection is closed and the
    // request is served by a new one (which fails its check too while
    // the panics last, so the request times out: no hang, no panic).
    flaky.recycle_panics.store(true, Ordering::SeqCst);
    let t0 = Instant::now();
    let e = pool.get().await.unwrap_err();
    assert!(matches!(e, PoolError::Timeout { .. }), "{e}");
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    flaky.recycle_panics.store(false, Ordering::SeqCst);
    let c = pool.get().await.expect("served once checks pass again");
    drop(c);
    assert!(pool.metrics().check_failures > 0);

    // `is_broken` panicking on return: the connection is closed, not
    // parked, and the pool replaces it.
    flaky.is_broken_panics.store(true, Ordering::SeqCst);
    let closed_before = pool.metrics().closed[2];
    let c = pool.get().await.unwrap();
    drop(c);
    flaky.is_broken_panics.store(false, Ordering::SeqCst);
    assert_eq!(pool.metrics().closed[2], closed_before + 1);
    assert_eq!(pool.status().busy, 0);

    // `classify` panicking: the error counts as a connection fault.
    flaky.classify_panics.store(true, Ordering::SeqCst);
    let mut c = pool.get().await.unwrap();
    let class = c.report_error(&FlakyError);
    assert_eq!(class.category, ErrorCategory::Connection);
    drop(c);
    flaky.classify_panics.store(false, Ordering::SeqCst);

    let m = pool.metrics();
    assert!(m.panics >= 3, "{m:?}");
    assert_eq!(pool.status().busy, 0);
    pool.close().await;
}

/// A scaling policy that panics at every decision.
#[derive(Debug)]
struct PanickingPolicy;

impl ScalingPolicy for PanickingPolicy {
    fn name(&self) -> String {
        "panicking".into()
    }
    fn decide(&mut self, _ctx: &PolicyContext<'_>, _snap: &Snapshot) -> Option<u32> {
        panic!("the policy panics");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_policy_and_hook_leave_timeouts_firing_and_the_pool_serving() {
    let hook_calls = Arc::new(AtomicU64::new(0));
    let calls = Arc::clone(&hook_calls);
    let pool = Pool::builder(FlakyManager(Arc::new(Flaky::default())))
        .config(file(1, 1))
        .policy(Box::new(PanickingPolicy))
        .on_snapshot(move |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            panic!("the hook panics");
        })
        .build()
        .unwrap();
    eventually("the hook ran several times", Duration::from_secs(5), || {
        hook_calls.load(Ordering::SeqCst) >= 5
    })
    .await;
    assert!(
        pool.status().policy.contains("fallback"),
        "{}",
        pool.status().policy
    );

    // The one connection is held: a second acquire times out on time.
    let held = pool.get().await.unwrap();
    for _ in 0..3 {
        let t0 = Instant::now();
        let e = tokio::time::timeout(Duration::from_secs(5), pool.get())
            .await
            .expect("an acquire hung: the controller that fires timeouts is dead")
            .unwrap_err();
        let waited = t0.elapsed();
        assert!(matches!(e, PoolError::Timeout { .. }), "{e}");
        assert!(
            waited >= Duration::from_millis(190) && waited < Duration::from_secs(1),
            "timed out after {waited:?}, expected about 200 ms"
        );
    }
    drop(held);
    let c = pool.get().await.expect("the pool serves");
    drop(c);
    let m = pool.metrics();
    assert!(m.panics >= 5, "{m:?}");
    pool.close().await;
}

/// A log writer that panics once, on the first line containing `needle`:
/// a tracing subscriber is user code the pool cannot wrap, and it runs
/// under the pool's lock.
#[derive(Clone)]
struct PanickyWriter {
    needle: &'static str,
    armed: Arc<AtomicBool>,
}

impl std::io::Write for PanickyWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if String::from_utf8_lossy(buf).contains(self.needle)
            && self.armed.swap(false, Ordering::SeqCst)
        {
            panic!("the log writer panics");
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for PanickyWriter {
    type Writer = PanickyWriter;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// A panic in a log line written while the pool carries out its actions
/// (closing a connection, here) is caught there: the drop that caused it
/// returns normally, and the pool serves on.
#[tokio::test(flavor = "current_thread")]
async fn a_panicking_subscriber_in_the_actions_costs_only_its_line() {
    let armed = Arc::new(AtomicBool::new(true));
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(PanickyWriter {
            needle: "closing connection",
            armed: Arc::clone(&armed),
        })
        .finish();
    let _log = tracing::subscriber::set_default(subscriber);
    let pool = Pool::builder(FlakyManager(Arc::new(Flaky::default())))
        .config(file(1, 2))
        .build()
        .unwrap();
    let mut c = pool.get().await.unwrap();
    c.mark_broken();
    drop(c);
    assert!(!armed.load(Ordering::SeqCst), "the writer did panic");
    for _ in 0..3 {
        let c = tokio::time::timeout(Duration::from_secs(2), pool.get())
            .await
            .expect("an acquire hung")
            .expect("the pool serves");
        drop(c);
    }
    let m = pool.metrics();
    assert_eq!(m.panics, 1, "{m:?}");
    assert_eq!(m.closed[2], 1, "the broken connection was closed: {m:?}");
    assert_eq!(pool.status().busy, 0);
}

/// A panic under the pool's lock outside the actions (a log line of the
/// controller, after it changed the target) poisons the lock and kills the
/// controller. The supervisor starts it again, the next caller finds the
/// bookkeeping consistent and goes on, and acquire timeouts keep firing.
#[tokio::test(flavor = "current_thread")]
async fn a_poisoned_lock_and_a_dead_controller_are_recovered() {
    let armed = Arc::new(AtomicBool::new(true));
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(PanickyWriter {
            needle: "scaling target",
            armed: Arc::clone(&armed),
        })
        .finish();
    let _log = tracing::subscriber::set_default(subscriber);
    let mut f = file(0, 1);
    f.policy = Some(PolicyConfig::Static { size: 1 });
    let pool = Pool::builder(FlakyManager(Arc::new(Flaky::default())))
        .config(f)
        .build()
        .unwrap();
    eventually(
        "the controller changed the target and died",
        Duration::from_secs(5),
        || !armed.load(Ordering::SeqCst),
    )
    .await;
    eventually(
        "the supervisor named the restart",
        Duration::from_secs(5),
        || pool.status().policy.contains("died with the controller"),
    )
    .await;
    let m = pool.metrics();
    // The controller's panic, and the poisoned lock found consistent.
    assert!(m.panics >= 2, "{m:?}");
    assert!(!pool.is_closed());
    let held = pool.get().await.expect("the pool serves");
    let t0 = Instant::now();
    let e = tokio::time::timeout(Duration::from_secs(5), pool.get())
        .await
        .expect("an acquire hung: the restarted controller fires timeouts")
        .unwrap_err();
    assert!(matches!(e, PoolError::Timeout { .. }), "{e}");
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    drop(held);
    pool.close().await;
}
