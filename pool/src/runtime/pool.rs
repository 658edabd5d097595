//! [`Pool`]: the tokio driver of [`PoolCore`], and its [`Builder`].
//!
//! The state behind the pool's lock and the carrying out of the core's
//! actions are in [`super::shared`]; a queued request waits in
//! [`super::wait`], its node in [`super::waiter`].

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::panic::Location;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::Notify;

use super::checking::Checking;
use super::driver;
use super::error::{BuildError, PoolError};
use super::manager::Manager;
use super::object::Object;
use super::recorder::TraceRecorder;
use super::shards::Shards;
use super::shared::{
    CacheAligned, Counters, Granted, Me, Opts, Reply, Shared, SnapshotHook, State, WaitNode, Wakes,
    task_client,
};
use super::unwind::{self, Panicked};
use super::wait::Wait;
use super::waiter::Waiters;
use crate::core::RequestRecord;
use crate::core::affinity::{AffinityIndex, pattern_hash};
use crate::core::breaker::MultiBreaker;
use crate::core::config_error::ConfigError;
use crate::core::histogram::Histogram;
use crate::core::interval::IntervalRecorder;
use crate::core::policy::ScalingPolicy;
use crate::core::pool::PoolCore;
use crate::core::settings::PoolFile;
use crate::core::telemetry::{BreakerCode, ErrorCategory, Outcome, QueryClass, Snapshot};

/// What a request tells the pool about itself (all optional).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcquireOptions {
    /// The query class, for the per-class telemetry (default `api`).
    pub class: QueryClass,
    /// The statement's pattern ([`pattern_hash`]); with affinity on, an
    /// idle connection that already prepared it is preferred. 0: none.
    pub pattern: u64,
}

impl Default for AcquireOptions {
    fn default() -> Self {
        AcquireOptions {
            class: QueryClass::Api,
            pattern: 0,
        }
    }
}

/// An async connection pool driven by the sans-IO [`PoolCore`].
///
/// Cloning is cheap (an `Arc`); every clone is the same pool. See the
/// [module documentation](super) for an example.
pub struct Pool<M: Manager> {
    pub(crate) shared: Arc<Shared<M>>,
}

impl<M: Manager> Clone for Pool<M> {
    fn clone(&self) -> Self {
        Pool {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<M: Manager> std::fmt::Debug for Pool<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the manager: it may hold a connection string.
        let s = self.status();
        f.debug_struct("Pool")
            .field("name", &self.shared.opts.name)
            .field("status", &s)
            .finish()
    }
}

/// The pool's state at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// Open connections.
    pub size: u32,
    /// Idle connections.
    pub idle: u32,
    /// Checked-out connections.
    pub busy: u32,
    /// Queued requests.
    pub waiting: u32,
    /// Connections being opened.
    pub creating: u32,
    /// The scaling target.
    pub target: u32,
    /// Lower bound.
    pub min_size: u32,
    /// Upper bound.
    pub max_size: u32,
    /// Whether [`Pool::close`] was called.
    pub closed: bool,
    /// The scaling policy (`predictive`, `reactive (fallback: ...)`, ...).
    pub policy: String,
    /// Breaker state per category (0 closed, 1 half-open, 2 open).
    pub breakers: [BreakerCode; ErrorCategory::COUNT],
    /// The global breaker's state.
    pub breaker_global: BreakerCode,
    /// Half-open probe calls let through by the breakers and not yet
    /// reported back (0 when nothing is in flight).
    pub probes_outstanding: u32,
}

/// Builds a [`Pool`].
pub struct Builder<M: Manager> {
    manager: M,
    file: PoolFile,
    name: String,
    policy: Option<Box<dyn ScalingPolicy>>,
    on_snapshot: Option<SnapshotHook>,
    trace: Option<TraceRecorder>,
}

impl<M: Manager> Builder<M> {
    /// Uses every table of a `pool.toml` (see [`PoolFile`]).
    pub fn config(mut self, file: PoolFile) -> Self {
        self.file = file;
        self
    }

    /// Sets `[pool]` only.
    pub fn settings(mut self, settings: crate::core::settings::PoolSettings) -> Self {
        self.file.pool = settings;
        self
    }

    /// Names the pool in logs and metrics (default `default`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Uses this policy instead of the one `[policy]` describes.
    pub fn policy(mut self, policy: Box<dyn ScalingPolicy>) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Calls `hook` with every telemetry snapshot (from the controller
    /// task; keep it quick).
    pub fn on_snapshot(mut self, hook: impl Fn(&Snapshot) + Send + Sync + 'static) -> Self {
        self.on_snapshot = Some(Arc::new(hook));
        self
    }

    /// Records every request and snapshot with `recorder`.
    pub fn trace(mut self, recorder: TraceRecorder) -> Self {
        self.trace = Some(recorder);
        self
    }

    /// Starts the pool: opens `initial_size` connections in the background
    /// and starts the controller task.
    ///
    /// # Errors
    /// [`BuildError::Settings`] names an invalid setting;
    /// [`BuildError::NoRuntime`] when called outside a tokio runtime.
    pub fn build(self) -> Result<Pool<M>, BuildError> {
        let handle = Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
        self.file.validate()?;
        let f = &self.file;
        let clock = quanta::Clock::new();
        let epoch_raw = clock.raw();
        let mut core = PoolCore::new(f.pool.core_config(), 0).map_err(|e| e.under("pool"))?;
        // Each task records its own wait, outside the lock (`Shards`).
        core.set_driver_records_waits(true);
        let policy = match self.policy {
            Some(p) => p,
            None => driver::build_policy(&f.policy_config())?,
        };
        let policy_name = policy.describe();
        let opts = Opts {
            name: self.name,
            create_timeout: f
                .pool
                .create_timeout_ms
                .map(|ms| Duration::from_secs_f64(ms / 1e3)),
            recycle: f.pool.recycle,
            leak_threshold: f
                .pool
                .leak_detection_threshold_ms
                .map(crate::core::units::ms_to_ns),
            breaker_counts_client_errors: f.controller.breaker_counts_client_errors,
            affinity: f.controller.affinity,
            interval_ns: f.controller.interval_ns(),
            max_step_up: f.controller.max_step_up,
            max_step_down: f.controller.max_step_down,
            keep_snapshots: f.controller.keep_snapshots,
            traced: self.trace.is_some(),
        };
        let state = State {
            core,
            breaker: MultiBreaker::new(&f.breaker),
            recorder: IntervalRecorder::new(0),
            conns: Vec::new(),
            checkouts: Vec::new(),
            waiters: Waiters::new(),
            wakes: Wakes::default(),
            driver_wake_at: 0,
            affinity: AffinityIndex::new(),
            counters: Counters::default(),
            last_create_error: None,
            snapshots: VecDeque::new(),
            closed: false,
            policy_name,
            trace: self.trace,
            create_times: Histogram::new(),
            use_times: Histogram::new(),
            inconsistent: false,
        };
        let shared = Arc::new(Shared {
            manager: self.manager,
            state: CacheAligned(Mutex::new(state)),
            clock,
            epoch_raw,
            handle: handle.clone(),
            opts,
            driver_wake: Arc::new(Notify::new()),
            drained: Notify::new(),
            on_snapshot: self.on_snapshot,
            shards: Shards::new(),
        });
        {
            let mut st = shared.lock();
            let now = shared.now();
            shared.dispatch(&mut st, now, None);
        }
        handle.spawn(driver::supervise(
            Arc::downgrade(&shared),
            Arc::clone(&shared.driver_wake),
            policy,
        ));
        Ok(Pool { shared })
    }
}

/// How the first, locked step of an acquire ended.
enum Started<'a, M: Manager> {
    /// Served (or refused by the core) at once.
    Served(Me, Reply<M::Connection>),
    /// Queued.
    Queued(Me, Wait<'a, M>),
    /// Refused by a breaker before reaching the core.
    Refused(PoolError),
}

impl<M: Manager> Pool<M> {
    /// A builder with the default settings (see [`PoolFile`]).
    pub fn builder(manager: M) -> Builder<M> {
        Builder {
            manager,
            file: PoolFile::default(),
            name: "default".into(),
            policy: None,
            on_snapshot: None,
            trace: None,
        }
    }

    /// Waits for a connection.
    ///
    /// # Errors
    /// [`PoolError::Timeout`] after `acquire_timeout_ms` (with the last
    /// connection error, if any); [`PoolError::BreakerOpen`] at once when a
    /// circuit breaker is open; [`PoolError::Closed`] after
    /// [`close`](Self::close).
    #[track_caller]
    pub fn get(&self) -> impl Future<Output = Result<Object<M>, PoolError>> + Send + '_ {
        self.acquire(AcquireOptions::default(), Location::caller())
    }

    /// Waits for a connection for statement `sql`: with affinity on, an idle
    /// connection that already prepared a statement of the same pattern is
    /// preferred. The pool never waits for a specific connection.
    ///
    /// # Errors
    /// As [`get`](Self::get).
    #[track_caller]
    pub fn get_for(
        &self,
        sql: &str,
    ) -> impl Future<Output = Result<Object<M>, PoolError>> + Send + '_ {
        let opts = AcquireOptions {
            pattern: pattern_hash(sql),
            ..AcquireOptions::default()
        };
        self.acquire(opts, Location::caller())
    }

    /// Waits for a connection, telling the pool the request's class and
    /// statement pattern.
    ///
    /// # Errors
    /// As [`get`](Self::get).
    #[track_caller]
    pub fn get_with(
        &self,
        opts: AcquireOptions,
    ) -> impl Future<Output = Result<Object<M>, PoolError>> + Send + '_ {
        self.acquire(opts, Location::caller())
    }

    async fn acquire(
        &self,
        opts: AcquireOptions,
        location: &'static Location<'static>,
    ) -> Result<Object<M>, PoolError> {
        // The first step runs inside one poll, so that a queued request
        // registers this task's waker under the same lock.
        // Declared before the step that may queue: a queued request's
        // answer is written here, and `Wait` (dropped first) withdraws it.
        let node = pin!(WaitNode::new());
        let node = node.as_ref();
        let started = poll_fn(|cx| Poll::Ready(self.start(opts, location, cx.waker(), node))).await;
        let (me, reply) = match started {
            Started::Served(me, reply) => (me, reply),
            Started::Queued(me, wait) => (me, wait.await),
            Started::Refused(e) => return Err(e),
        };
        let g = reply?;
        self.shared.shards.with(|s| s.wait(g.waited));
        if !g.check {
            return Ok(self.object(g, me));
        }
        // From here the grant is owned by a guard that gives it back if
        // this future is dropped during the check.
        self.checked(Checking::new(&self.shared, g, me)).await
    }

    fn object(&self, g: Granted<M::Connection>, me: Me) -> Object<M> {
        Object::new(
            Arc::clone(&self.shared),
            g,
            me.class,
            me.pattern,
            me.arrived,
            me.client,
        )
    }

    /// Asks the breakers and the core for a connection, under the lock:
    /// served at once, refused, or queued with `waker`.
    fn start<'a>(
        &'a self,
        opts: AcquireOptions,
        location: &'static Location<'static>,
        waker: &Waker,
        node: Pin<&'a WaitNode<M::Connection>>,
    ) -> Started<'a, M> {
        let shared = &self.shared;
        // Before locking, as in `Object`'s drop (see `Shared::now`); the
        // client only when it is traced.
        let client = if shared.opts.traced { task_client() } else { 0 };
        let now = shared.now();
        let mut st = shared.lock();
        st.recorder.on_arrival(opts.class);
        let permit = match st.breaker.try_acquire(now) {
            Ok(p) => p,
            Err(tripped) => {
                let category = tripped.category();
                st.counters.rejected
                    [category.map_or(ErrorCategory::COUNT, ErrorCategory::index)] += 1;
                Shared::<M>::record_request(
                    &mut st,
                    RequestRecord {
                        arrival_ns: now,
                        class: opts.class,
                        pattern_hash: opts.pattern,
                        acquire_wait_ns: 0,
                        hold_ns: 0,
                        outcome: Outcome::Rejected(category),
                        client,
                    },
                );
                let until = st.breaker.breaker(tripped).next_transition().unwrap_or(now);
                return Started::Refused(PoolError::BreakerOpen {
                    category,
                    retry_in: Duration::from_nanos(until.saturating_sub(now)),
                });
            }
        };
        let req = Waiters::id(node);
        let me = Me {
            req,
            permit,
            class: opts.class,
            pattern: opts.pattern,
            arrived: now,
            client,
            location,
        };
        if opts.pattern != 0 && shared.opts.affinity {
            let State { core, affinity, .. } = &mut *st;
            let pattern = opts.pattern;
            core.acquire_preferring(now, req, |c| affinity.holds(c, pattern));
        } else {
            st.core.acquire(now, req);
        }
        match shared.dispatch(&mut st, now, Some(me)) {
            Some(reply) => Started::Served(me, reply),
            None => {
                shared.enqueue(&mut st, me, waker, node, false);
                Started::Queued(me, Wait::new(shared, node))
            }
        }
    }

    /// Runs the health check of a grant that asks for one; a failed check
    /// closes the connection and the request is served again. Cancel-safe
    /// at every await: the grant under check is owned by a [`Checking`]
    /// guard, a queued request by its [`Wait`].
    async fn checked(&self, mut checking: Checking<'_, M>) -> Result<Object<M>, PoolError> {
        let shared = &self.shared;
        loop {
            if self.recycle(checking.conn()).await {
                let me = checking.me();
                return Ok(self.object(checking.into_granted(), me));
            }
            // The check failed: the core closes the slot and serves the
            // request again, at the head of the queue. No await between
            // taking the grant from the guard and handing it to the core.
            let mut me = checking.me();
            let g = checking.into_granted();
            let node = pin!(WaitNode::new());
            let node = node.as_ref();
            let wait = poll_fn(|cx| {
                let mut st = shared.lock();
                let now = shared.now();
                st.counters.check_failures += 1;
                st.clear_checkout(g.id);
                // Queued again under a new id, at the head, with its first
                // arrival time.
                me.req = Waiters::id(node);
                debug_assert_eq!(me.permit, g.permit);
                shared.enqueue(&mut st, me, cx.waker(), node, true);
                st.core.check_failed(now, me.req, g.id, me.arrived);
                shared.dispatch(&mut st, now, None);
                Poll::Ready(Wait::new(shared, node))
            })
            .await;
            drop(g.conn);
            let g = wait.await?;
            shared.shards.with(|s| s.wait(g.waited));
            if !g.check {
                return Ok(self.object(g, me));
            }
            checking = Checking::new(shared, g, me);
        }
    }

    /// The health check: [`Manager::recycle`], bounded by
    /// `create_timeout_ms` (10 s without one); a check that panics has
    /// failed. A check that is done at its first poll (the fast local
    /// check is) needs no timer, so the timer (a clock read and a
    /// timer-wheel entry) is only set for one that has to wait.
    async fn recycle(&self, conn: &mut M::Connection) -> bool {
        let shared = &self.shared;
        let check = unwind::call_async(shared.manager.recycle(conn, shared.opts.recycle));
        let mut check = std::pin::pin!(check);
        let passed = |r: Result<Result<(), M::Error>, Panicked>| match r {
            Ok(r) => r.is_ok(),
            Err(p) => {
                shared.note_panic("Manager::recycle", &p);
                false
            }
        };
        if let Poll::Ready(r) = poll_fn(|cx| Poll::Ready(check.as_mut().poll(cx))).await {
            return passed(r);
        }
        let limit = shared
            .opts
            .create_timeout
            .unwrap_or(Duration::from_secs(10));
        match tokio::time::timeout(limit, check).await {
            Ok(r) => passed(r),
            Err(_) => false,
        }
    }

    /// The pool's state now.
    pub fn status(&self) -> Status {
        let shared = &self.shared;
        let mut st = shared.lock();
        let now = shared.now();
        let (breakers, breaker_global) = st.breaker.states(now);
        let cfg = st.core.config();
        Status {
            size: st.core.size(),
            idle: st.core.idle(),
            busy: st.core.busy(),
            waiting: st.core.waiting(),
            creating: st.core.creating(),
            target: st.core.target(),
            min_size: cfg.min_size,
            max_size: cfg.max_size,
            closed: st.closed,
            policy: st.policy_name.clone(),
            breakers,
            breaker_global,
            probes_outstanding: st.breaker.probes_outstanding(),
        }
    }

    /// Changes `min_size` and `max_size` at runtime. Connections above a
    /// lowered maximum close as they become idle; busy ones are never
    /// interrupted.
    ///
    /// # Errors
    /// Names the bound that is invalid; nothing changes then.
    pub fn resize(&self, min_size: u32, max_size: u32) -> Result<(), ConfigError> {
        let shared = &self.shared;
        let mut st = shared.lock();
        let now = shared.now();
        st.core.resize(now, min_size, max_size)?;
        shared.dispatch(&mut st, now, None);
        Ok(())
    }

    /// Sets the scaling target by hand (the policy may change it again at
    /// its next interval; use a static policy to keep it).
    pub fn set_target(&self, target: u32) {
        let shared = &self.shared;
        let mut st = shared.lock();
        let now = shared.now();
        st.core.set_target(now, target);
        shared.dispatch(&mut st, now, None);
    }

    /// The most recent telemetry snapshots, oldest first.
    pub fn snapshots(&self) -> Vec<Snapshot> {
        self.shared.lock().snapshots.iter().cloned().collect()
    }

    /// Starts a graceful close and waits until every connection is closed:
    /// queued and new requests fail with [`PoolError::Closed`], idle
    /// connections close now, busy ones when they come back. Wrap it in a
    /// timeout if a caller may hold a connection forever.
    pub async fn close(&self) {
        let shared = &self.shared;
        {
            let mut st = shared.lock();
            let now = shared.now();
            st.closed = true;
            st.core.close(now);
            shared.dispatch(&mut st, now, None);
        }
        shared.driver_wake.notify_one();
        loop {
            let notified = shared.drained.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if shared.lock().core.is_drained() {
                break;
            }
            notified.await;
        }
        // Flushed outside the lock: a flush waits for the writer thread
        // (up to seconds on a slow disk), and nothing else needs to.
        let trace = shared.lock().trace.clone();
        if let Some(t) = trace {
            t.flush();
        }
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }

    /// The manager.
    pub fn manager(&self) -> &M {
        &self.shared.manager
    }
}
