//! [`Pool`]: the tokio driver of [`PoolCore`].
//!
//! One mutex guards the core and the parked connections. Every entry point
//! locks it, hands the current time to the core and carries out the core's
//! actions before unlocking: a grant moves a parked connection to its
//! request (the caller itself, or a queued waiter's [`Node`]), a
//! create spawns [`Manager::create`], a close drops the connection. Nothing
//! awaits while the lock is held, and the tasks of queued waiters that got
//! an answer are woken after it is released ([`Locked`]); a woken waiter
//! takes its answer from its node without the lock. A contended checkout
//! so takes the lock twice (its request, its release), not three times.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::Notify;

use super::driver;
use super::error::{BuildError, PoolError};
use super::manager::Manager;
use super::object::Object;
use super::recorder::TraceRecorder;
use super::shards::Shards;
use crate::core::affinity::{AffinityIndex, pattern_hash};
use crate::core::breaker::{MultiBreaker, Permit};
use crate::core::interval::IntervalRecorder;
use crate::core::policy::ScalingPolicy;
use crate::core::pool::{Action, CloseReason, ConnId, PoolConfigError, PoolCore, RequestId};
use crate::core::settings::{PoolFile, RecycleMode, SettingsError};
use crate::core::telemetry::{BreakerCode, ErrorCategory, Outcome, QueryClass, Snapshot};
use crate::core::{Nanos, RequestRecord};

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

/// A callback that sees every telemetry snapshot.
pub type SnapshotHook = Arc<dyn Fn(&Snapshot) + Send + Sync>;

/// Runtime options derived from the settings.
#[derive(Debug, Clone)]
pub(crate) struct Opts {
    pub(crate) name: String,
    pub(crate) create_timeout: Option<Duration>,
    pub(crate) recycle: RecycleMode,
    pub(crate) leak_threshold: Option<Nanos>,
    pub(crate) breaker_counts_client_errors: bool,
    pub(crate) affinity: bool,
    pub(crate) interval_ns: Nanos,
    pub(crate) max_step_up: Option<u32>,
    pub(crate) max_step_down: Option<u32>,
    pub(crate) keep_snapshots: usize,
    /// A trace recorder is configured: only then does an acquire note its
    /// client ([`task_client`]), so the untraced hot path does not pay
    /// for it. Fixed at build, like the recorder.
    pub(crate) traced: bool,
}

/// The client of the calling task, for the trace: its tokio task id's
/// [`client_id`](crate::core::telemetry::client_id), or 0 outside a task
/// (`block_on`).
#[inline(never)]
pub(crate) fn task_client() -> u64 {
    tokio::task::try_id().map_or(0, |id| crate::core::telemetry::client_id(&id))
}

/// Where and when a connection was checked out (leak detection).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Checkout {
    pub(crate) since: Option<Nanos>,
    pub(crate) location: Option<&'static Location<'static>>,
    pub(crate) warned: bool,
}

/// A connection handed to a request, before it becomes an [`Object`].
/// Connections live boxed from creation to close, so a checkout moves a
/// pointer, not the connection (a tokio-postgres client with its
/// statement cache is about 230 bytes, moved about ten times between the
/// pool's slot and the caller's `Object`).
pub(crate) struct Granted<C> {
    pub(crate) conn: Box<C>,
    pub(crate) id: ConnId,
    /// When the core granted it.
    pub(crate) at: Nanos,
    /// How long the request waited for it.
    pub(crate) waited: Nanos,
    pub(crate) check: bool,
    pub(crate) permit: Permit,
}

type Reply<C> = Result<Granted<C>, PoolError>;

/// What a queued request leaves with the pool: read by the task that
/// answers it.
pub(crate) struct Queued {
    waker: Waker,
    /// The request as it was when it queued.
    me: Me,
}

/// A request's node, in the acquiring future itself, which is pinned while
/// the request waits (tokio's semaphore keeps its waiters the same way).
/// Its address is the request's id in the core ([`Node::id`]), so the
/// request the core names in a grant, timeout or rejection is reached
/// without a table of waiters: one cache line fewer to fetch from the
/// other core per grant. The task that answers writes the reply under the
/// pool's lock and then raises `ready`; the waiting task takes it with one
/// atomic load, without the lock (that pick-up was one of the three lock
/// acquisitions of a contended checkout).
///
/// Hand-written rather than a oneshot channel: a channel allocates per
/// waiter, and its shared state is one more line between the cores.
///
/// The node stays valid while the core may name it: a request is in the
/// core's queue only while its [`Wait`] lives, and `Wait`'s drop withdraws
/// it, or takes its answer, under the lock, before the node goes away.
/// Every entry point carries out the core's actions under the lock that
/// produced them, so no answer to a withdrawn request is pending, and the
/// steps before a `Wait` exists cannot unwind ([`AbortOnUnwind`]).
pub(crate) struct Node<C> {
    /// Set when the request is queued; taken by the task that answers it.
    /// Read and written under the pool's lock only.
    queued: UnsafeCell<Option<Queued>>,
    ready: AtomicBool,
    /// Written once, under the lock, before `ready` is raised.
    reply: UnsafeCell<Option<Reply<C>>>,
}

// SAFETY: `queued` is only touched under the pool's lock. `reply` is written
// once, by the task that answers, under the lock and before it raises
// `ready` (release); it is read only after `ready` is seen raised
// (acquire), by the one waiter, or under the lock. A reply holds a `C`, so
// `C: Send` is what moving it between threads needs.
unsafe impl<C: Send> Sync for Node<C> {}

impl<C> Node<C> {
    pub(crate) fn new() -> Self {
        Node {
            queued: UnsafeCell::new(None),
            ready: AtomicBool::new(false),
            reply: UnsafeCell::new(None),
        }
    }

    /// The id of this node's request: its address.
    #[inline]
    fn id(&self) -> RequestId {
        std::ptr::from_ref(self) as usize as RequestId
    }

    /// Takes the answer, if it has come.
    #[inline]
    fn take(&self) -> Option<Reply<C>> {
        if !self.ready.load(Ordering::Acquire) {
            return None;
        }
        self.ready.store(false, Ordering::Relaxed);
        // SAFETY: `ready` was raised after the only write, and only the
        // waiter that owns this node takes from it.
        unsafe { (*self.reply.get()).take() }
    }

    /// The request's registration (under the lock).
    ///
    /// # Safety
    /// The pool's lock is held.
    #[allow(clippy::mut_from_ref)]
    unsafe fn queued(&self) -> &mut Option<Queued> {
        // SAFETY: the lock serializes every access to `queued`.
        unsafe { &mut *self.queued.get() }
    }

    /// Answers the queued request with `build(payload, registration)`, and
    /// returns the registration (to wake its task). When the request is
    /// not registered (which does not happen), nothing changes and
    /// `payload` comes back.
    ///
    /// # Safety
    /// The pool's lock is held and the request is in the core's queue (so
    /// the node is alive).
    #[inline]
    unsafe fn answer<T>(
        &self,
        payload: T,
        build: impl FnOnce(T, &Queued) -> Reply<C>,
    ) -> Result<Queued, T> {
        // SAFETY: per the contract.
        let Some(q) = (unsafe { self.queued() }).take() else {
            return Err(payload);
        };
        let reply = build(payload, &q);
        // SAFETY: under the lock, before `ready` is raised; the waiter reads
        // only after.
        unsafe { *self.reply.get() = Some(reply) };
        self.ready.store(true, Ordering::Release);
        Ok(q)
    }
}

/// Aborts the process when dropped. Held, and forgotten once done, across
/// the steps in which the core may name a node that no [`Wait`] guards
/// yet, or that a `Wait` is withdrawing: unwinding out of them (a panic in
/// a waker's clone or a tracing subscriber, say) would let the node go away
/// while the core still names it, and an abort is the only sound end.
struct AbortOnUnwind;

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        tracing::error!("panic while a queued request's node was exposed; aborting");
        std::process::abort();
    }
}

/// The node of queued request `req`.
///
/// # Safety
/// `req` is in the core's queue (see [`Node`]): its node is alive.
#[inline]
unsafe fn node<'a, C>(req: RequestId) -> &'a Node<C> {
    // SAFETY: per the contract; ids are node addresses.
    unsafe { &*(req as usize as *const Node<C>) }
}

/// The caller of an acquire, when it is served inside the same lock.
#[derive(Clone, Copy)]
pub(crate) struct Me {
    req: RequestId,
    permit: Permit,
    class: QueryClass,
    pattern: u64,
    arrived: Nanos,
    /// The caller's client ([`task_client`]); 0 when no trace is kept.
    client: u64,
    location: &'static Location<'static>,
}

impl Me {
    /// The record of this request, ended after waiting `wait` with
    /// `outcome` and no connection held.
    fn record(&self, wait: Nanos, outcome: Outcome) -> RequestRecord {
        RequestRecord {
            arrival_ns: self.arrived,
            class: self.class,
            pattern_hash: self.pattern,
            acquire_wait_ns: wait,
            hold_ns: 0,
            outcome,
            client: self.client,
        }
    }
}

/// Counters the core does not keep.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counters {
    pub(crate) rejected: [u64; ErrorCategory::COUNT + 1],
    pub(crate) errors: [u64; ErrorCategory::COUNT],
    pub(crate) client_errors: u64,
    pub(crate) leaks: u64,
    pub(crate) cache_hits: u64,
    pub(crate) cache_misses: u64,
    pub(crate) check_failures: u64,
    pub(crate) closed: [u64; 4],
    pub(crate) create_timeouts: u64,
    pub(crate) cancelled: u64,
}

pub(crate) fn close_reason_index(r: CloseReason) -> usize {
    match r {
        CloseReason::IdleTimeout => 0,
        CloseReason::MaxLifetime => 1,
        CloseReason::Broken => 2,
        CloseReason::PoolClosed => 3,
    }
}

/// Tasks to wake once the lock is released: usually one (a release hands
/// its connection to one waiter), so the first has a field of its own.
#[derive(Default)]
pub(crate) struct Wakes {
    first: Option<Waker>,
    more: Vec<Waker>,
}

impl Wakes {
    #[inline]
    fn push(&mut self, w: Waker) {
        if self.first.is_none() {
            self.first = Some(w);
        } else {
            self.more.push(w);
        }
    }
}

/// Wakes `first` and then `more`, in order.
#[inline]
fn wake_all(first: Waker, more: Vec<Waker>) {
    first.wake();
    for w in more {
        w.wake();
    }
}

/// The pool's lock, held. Dropping it releases the lock first and then
/// wakes the tasks that got an answer while it was held.
pub(crate) struct Locked<'a, C> {
    guard: Option<MutexGuard<'a, State<C>>>,
}

impl<C> Deref for Locked<'_, C> {
    type Target = State<C>;
    #[inline]
    fn deref(&self) -> &State<C> {
        match &self.guard {
            Some(g) => g,
            None => unreachable!("the guard is only taken in drop"),
        }
    }
}

impl<C> DerefMut for Locked<'_, C> {
    #[inline]
    fn deref_mut(&mut self) -> &mut State<C> {
        match &mut self.guard {
            Some(g) => g,
            None => unreachable!("the guard is only taken in drop"),
        }
    }
}

impl<C> Drop for Locked<'_, C> {
    #[inline]
    fn drop(&mut self) {
        // The common case (nothing to wake) stays inline: a test and the
        // unlock, without the frame of the waking loop.
        if let Some(g) = self.guard.take()
            && g.wakes.first.is_some()
        {
            unlock_and_wake(g);
        }
    }
}

/// Releases the lock held by `g`, then wakes the tasks it collected.
#[inline(never)]
fn unlock_and_wake<C>(mut g: MutexGuard<'_, State<C>>) {
    let Some(first) = g.wakes.first.take() else {
        return;
    };
    let more = if g.wakes.more.is_empty() {
        Vec::new()
    } else {
        std::mem::take(&mut g.wakes.more)
    };
    drop(g);
    wake_all(first, more);
}

/// Everything behind the pool's one lock.
pub(crate) struct State<C> {
    pub(crate) core: PoolCore,
    pub(crate) breaker: MultiBreaker,
    pub(crate) recorder: IntervalRecorder,
    pub(crate) conns: Vec<Option<Box<C>>>,
    /// Per connection slot, while leak detection is on.
    pub(crate) checkouts: Vec<Checkout>,
    wakes: Wakes,
    /// When the controller task will next wake up on its own; a waiter
    /// whose deadline is earlier wakes it (acquire timeouts are fired by
    /// the controller, so a queued acquire needs no timer of its own).
    pub(crate) driver_wake_at: Nanos,
    pub(crate) affinity: AffinityIndex,
    pub(crate) counters: Counters,
    pub(crate) last_create_error: Option<String>,
    pub(crate) snapshots: VecDeque<Snapshot>,
    pub(crate) closed: bool,
    pub(crate) policy_name: String,
    pub(crate) trace: Option<TraceRecorder>,
}

impl<C> State<C> {
    /// Notes where and when `conn` was checked out, for leak detection
    /// (only when it is on: otherwise no checkout is kept, which saves a
    /// line written on every grant and release).
    fn note_checkout(&mut self, conn: ConnId, now: Nanos, location: &'static Location<'static>) {
        let i = conn as usize;
        if self.checkouts.len() <= i {
            self.checkouts.resize(i + 1, Checkout::default());
        }
        self.checkouts[i] = Checkout {
            since: Some(now),
            location: Some(location),
            warned: false,
        };
    }

    /// `conn` is back (or gone): forgets its checkout, if one was kept.
    #[inline]
    pub(crate) fn clear_checkout(&mut self, conn: ConnId) {
        if let Some(c) = self.checkouts.get_mut(conn as usize) {
            *c = Checkout::default();
        }
    }
}

/// Aligns `T` to 128 bytes (two cache lines: x86 prefetches lines in
/// pairs), so nothing else shares its lines.
#[repr(align(128))]
pub(crate) struct CacheAligned<T>(pub(crate) T);

/// The part of a pool shared by its handles, objects and tasks.
pub(crate) struct Shared<M: Manager> {
    pub(crate) manager: M,
    /// On cache lines of its own: the lock and the state written under it
    /// move between cores on every checkout, and must not drag the
    /// read-mostly fields around them (or the `Arc`'s counts) along.
    pub(crate) state: CacheAligned<Mutex<State<M::Connection>>>,
    pub(crate) clock: quanta::Clock,
    /// `clock.raw()` when the pool started: pool time 0.
    pub(crate) epoch_raw: u64,
    pub(crate) handle: Handle,
    pub(crate) opts: Opts,
    pub(crate) driver_wake: Arc<Notify>,
    pub(crate) drained: Notify,
    pub(crate) on_snapshot: Option<SnapshotHook>,
    /// Per-thread telemetry, written outside the lock.
    pub(crate) shards: Shards,
}

impl<M: Manager> Shared<M> {
    #[inline]
    pub(crate) fn lock(&self) -> Locked<'_, M::Connection> {
        // A panic while the lock was held cannot leave the core half
        // updated in a way that matters more than a dead pool would.
        Locked {
            guard: Some(self.state.0.lock().unwrap_or_else(PoisonError::into_inner)),
        }
    }

    /// Nanoseconds since the pool started.
    ///
    /// The hot paths (acquire, release) read it before taking the lock, so
    /// the core may see a time a little earlier than the last one it saw
    /// from another task. Every consumer takes that in its stride: the
    /// core and the breakers treat an earlier time as the last one seen,
    /// and waits and holds saturate at 0.
    ///
    /// Read from quanta's TSC clock (calibrated against the OS's monotonic
    /// clock, or the OS clock itself where the TSC is not usable): a few
    /// nanoseconds instead of `Instant::now()`'s ≈ 29 on this machine.
    /// Sleeps are computed relative to this clock (see [`Self::until`]), so
    /// a small rate difference from tokio's clock never makes a deadline
    /// look past on one clock and future on the other.
    #[inline]
    pub(crate) fn now(&self) -> Nanos {
        self.clock.delta_as_nanos(self.epoch_raw, self.clock.raw())
    }

    /// How long from now until pool time `t` (zero if it has passed).
    pub(crate) fn until(&self, t: Nanos) -> Duration {
        Duration::from_nanos(t.saturating_sub(self.now()))
    }

    fn timeout_error(&self, st: &State<M::Connection>, waited: Nanos) -> PoolError {
        PoolError::Timeout {
            waited: Duration::from_nanos(waited),
            size: st.core.size(),
            max_size: st.core.config().max_size,
            waiting: st.core.waiting(),
            last_error: st.last_create_error.clone(),
        }
    }

    /// Counts a request that ended in `record` and writes it to the
    /// trace, if one is kept.
    pub(crate) fn record_request(st: &mut State<M::Connection>, record: RequestRecord) {
        st.recorder
            .on_end(record.class, record.hold_ns, record.outcome);
        Self::trace_request(st, record);
    }

    /// Writes a request's record to the trace, if one is kept.
    #[inline]
    pub(crate) fn trace_request(st: &State<M::Connection>, record: RequestRecord) {
        if let Some(t) = &st.trace {
            t.request(record);
        }
    }

    /// Carries out the core's actions. A grant, timeout or rejection of
    /// `me` is returned instead of being sent to a waiter.
    ///
    /// Inlined for its shortcut: a request that queues behind a busy pool
    /// leaves no action (and an open pool nothing to signal).
    #[inline]
    pub(crate) fn dispatch(
        self: &Arc<Self>,
        st: &mut State<M::Connection>,
        now: Nanos,
        me: Option<Me>,
    ) -> Option<Reply<M::Connection>> {
        if !st.core.has_actions() && !st.closed {
            return None;
        }
        self.dispatch_actions(st, now, me)
    }

    /// [`dispatch`](Self::dispatch) past its shortcut.
    #[inline(never)]
    fn dispatch_actions(
        self: &Arc<Self>,
        st: &mut State<M::Connection>,
        now: Nanos,
        me: Option<Me>,
    ) -> Option<Reply<M::Connection>> {
        let mut mine = None;
        while let Some(action) = st.core.poll_action() {
            match action {
                Action::Grant {
                    req,
                    conn,
                    check,
                    waited,
                } => {
                    let i = conn as usize;
                    let Some(c) = st.conns.get_mut(i).and_then(Option::take) else {
                        // The core granted a slot with no parked connection:
                        // an invariant broke. Close the slot rather than hand
                        // out nothing.
                        tracing::error!(conn, "pool granted a slot without a connection");
                        st.core.release(now, conn, false);
                        continue;
                    };
                    let leaks = self.opts.leak_threshold.is_some();
                    if let Some(m) = me.filter(|m| m.req == req) {
                        if leaks {
                            st.note_checkout(conn, now, m.location);
                        }
                        mine = Some(Ok(Granted {
                            conn: c,
                            id: conn,
                            at: now,
                            waited,
                            check,
                            permit: m.permit,
                        }));
                    } else {
                        // A waiter whose future is dropped before it picks
                        // this up gives it back (`Wait`'s drop).
                        // SAFETY: the core grants queued requests only, under
                        // the lock held here.
                        let node = unsafe { node::<M::Connection>(req) };
                        // SAFETY: as above.
                        let answered = unsafe {
                            node.answer(c, |c, w| {
                                Ok(Granted {
                                    conn: c,
                                    id: conn,
                                    at: now,
                                    waited,
                                    check,
                                    permit: w.me.permit,
                                })
                            })
                        };
                        match answered {
                            Ok(w) => {
                                if leaks {
                                    st.note_checkout(conn, now, w.me.location);
                                }
                                st.wakes.push(w.waker);
                            }
                            Err(c) => {
                                st.conns[i] = Some(c);
                                st.core.release(now, conn, true);
                            }
                        }
                    }
                }
                Action::Create { conn } => {
                    let i = conn as usize;
                    if st.conns.len() <= i {
                        st.conns.resize_with(i + 1, || None);
                    }
                    self.spawn_create(conn);
                }
                Action::Close { conn, reason } => {
                    let c = st.conns.get_mut(conn as usize).and_then(Option::take);
                    st.affinity.forget_conn(conn);
                    st.counters.closed[close_reason_index(reason)] += 1;
                    if reason != CloseReason::PoolClosed {
                        tracing::debug!(conn, ?reason, "closing connection");
                    }
                    drop(c);
                }
                Action::Timeout { req, waited } => {
                    let err = self.timeout_error(st, waited);
                    let Some(m) = Self::fail(st, me, &mut mine, req, err) else {
                        continue;
                    };
                    st.breaker
                        .record(now, m.permit, Some(ErrorCategory::Timeout));
                    st.counters.errors[ErrorCategory::Timeout.index()] += 1;
                    Self::record_request(st, m.record(waited, Outcome::AcquireTimeout));
                }
                Action::Reject { req, .. } => {
                    let Some(m) = Self::fail(st, me, &mut mine, req, PoolError::Closed) else {
                        continue;
                    };
                    st.breaker.cancel(m.permit);
                    st.counters.rejected[ErrorCategory::COUNT] += 1;
                    Self::record_request(
                        st,
                        m.record(now - m.arrived.min(now), Outcome::Rejected(None)),
                    );
                }
            }
        }
        if st.closed && st.core.is_drained() {
            self.drained.notify_waiters();
        }
        mine
    }

    /// Answers request `req` with `err`: into `mine` when it is the caller
    /// `me`, or into its node (and its task is woken) when it is queued.
    /// Returns the request, or `None` when it is neither (which does not
    /// happen).
    ///
    /// Only for a request the core has just timed out or rejected, under
    /// the lock that produced that action.
    fn fail(
        st: &mut State<M::Connection>,
        me: Option<Me>,
        mine: &mut Option<Reply<M::Connection>>,
        req: RequestId,
        err: PoolError,
    ) -> Option<Me> {
        if let Some(m) = me.filter(|m| m.req == req) {
            *mine = Some(Err(err));
            return Some(m);
        }
        // SAFETY: the core times out or rejects only queued requests (or
        // `me`), and this runs under the lock that produced the action.
        let w = unsafe { node::<M::Connection>(req).answer(err, |e, _| Err(e)) }.ok()?;
        st.wakes.push(w.waker);
        Some(w.me)
    }

    /// Registers `me`, queued in the core under this same lock with the id
    /// of `node`: its answer will go to `node` and `waker` will be woken.
    /// Makes sure the controller wakes up in time to fire its acquire
    /// timeout.
    ///
    /// The caller must withdraw the request (or take its answer) before
    /// `node` goes away: [`Wait`] does, on drop.
    fn enqueue(
        &self,
        st: &mut State<M::Connection>,
        me: Me,
        waker: &Waker,
        node: &Node<M::Connection>,
    ) {
        debug_assert_eq!(me.req, node.id());
        // SAFETY: the lock is held (`st`).
        *unsafe { node.queued() } = Some(Queued {
            waker: waker.clone(),
            me,
        });
        if let Some(to) = st.core.config().acquire_timeout {
            let deadline = me.arrived.saturating_add(to);
            if deadline < st.driver_wake_at {
                st.driver_wake_at = deadline;
                self.driver_wake.notify_one();
            }
        }
    }

    fn spawn_create(self: &Arc<Self>, conn: ConnId) {
        let shared = Arc::clone(self);
        self.handle.spawn(async move {
            let result = match shared.opts.create_timeout {
                Some(limit) => tokio::time::timeout(limit, shared.manager.create())
                    .await
                    .map_err(|_| limit),
                None => Ok(shared.manager.create().await),
            };
            let mut st = shared.lock();
            let now = shared.now();
            match result {
                Ok(Ok(c)) => {
                    st.conns[conn as usize] = Some(Box::new(c));
                    st.core.created(now, conn);
                    if st.last_create_error.is_some() {
                        tracing::info!(pool = %shared.opts.name, "connections open again");
                        st.last_create_error = None;
                    }
                }
                Ok(Err(e)) => {
                    let class = shared.manager.classify(&e);
                    let msg = e.to_string();
                    tracing::warn!(pool = %shared.opts.name, category = class.category.name(), error = %msg, "could not open a connection; backing off");
                    st.last_create_error = Some(msg);
                    // A failed creation is a failed call for the breakers:
                    // this is how the connection breaker sees a database
                    // going away (as in the simulator).
                    st.breaker
                        .record(now, Permit::default(), Some(class.category));
                    st.core.create_failed(now, conn);
                    shared.driver_wake.notify_one();
                }
                Err(limit) => {
                    let msg = format!("opening a connection took longer than {limit:?}");
                    tracing::warn!(pool = %shared.opts.name, error = %msg, "could not open a connection; backing off");
                    st.last_create_error = Some(msg);
                    st.counters.create_timeouts += 1;
                    st.breaker
                        .record(now, Permit::default(), Some(ErrorCategory::Connection));
                    st.core.create_failed(now, conn);
                    shared.driver_wake.notify_one();
                }
            }
            shared.dispatch(&mut st, now, None);
        });
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
        let mut core = PoolCore::new(f.pool.core_config(), 0).map_err(|e| SettingsError {
            path: format!("pool.{}", e.field),
            message: e.message,
        })?;
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
                .map(crate::core::settings::ms_to_ns),
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
            wakes: Wakes::default(),
            driver_wake_at: 0,
            affinity: AffinityIndex::new(),
            counters: Counters::default(),
            last_create_error: None,
            snapshots: VecDeque::new(),
            closed: false,
            policy_name,
            trace: self.trace,
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
        handle.spawn(driver::run(
            Arc::downgrade(&shared),
            Arc::clone(&shared.driver_wake),
            policy,
        ));
        Ok(Pool { shared })
    }
}

/// A queued acquire: takes its answer from its [`Node`] once woken. If it
/// is dropped first, it withdraws the request, or gives back the
/// connection granted to it in the meantime.
struct Wait<'a, M: Manager> {
    shared: &'a Arc<Shared<M>>,
    req: RequestId,
    node: &'a Node<M::Connection>,
    /// The waker was registered when the request was queued, in this same
    /// poll of the task: the first poll has only the node to look at.
    fresh: bool,
    done: bool,
}

impl<M: Manager> Future for Wait<'_, M> {
    type Output = Reply<M::Connection>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(reply) = this.node.take() {
            this.done = true;
            return Poll::Ready(reply);
        }
        if this.fresh {
            this.fresh = false;
            return Poll::Pending;
        }
        this.register(cx)
    }
}

impl<M: Manager> Wait<'_, M> {
    /// [`poll`](Future::poll) past the first, with no answer yet (a poll
    /// the pool did not cause): registers the task's waker again if it
    /// changed. Out of line, as it is rare.
    #[inline(never)]
    fn register(&mut self, cx: &mut Context<'_>) -> Poll<Reply<M::Connection>> {
        let _st = self.shared.lock();
        // Answered between the load above and the lock.
        if let Some(reply) = self.node.take() {
            self.done = true;
            return Poll::Ready(reply);
        }
        // SAFETY: the lock is held (`_st`).
        match unsafe { self.node.queued() } {
            Some(q) => {
                if !q.waker.will_wake(cx.waker()) {
                    q.waker = cx.waker().clone();
                }
                Poll::Pending
            }
            None => {
                // Neither queued nor answered: cannot happen while the pool
                // lives; fail rather than hang.
                self.done = true;
                Poll::Ready(Err(PoolError::Closed))
            }
        }
    }
}

impl<M: Manager> Drop for Wait<'_, M> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let exposed = AbortOnUnwind;
        self.withdraw();
        std::mem::forget(exposed);
    }
}

impl<M: Manager> Wait<'_, M> {
    /// Withdraws the request, or gives back the connection granted to it.
    fn withdraw(&mut self) {
        let shared = self.shared;
        let now = shared.now();
        let mut st = shared.lock();
        if st.core.cancel(now, self.req) {
            // SAFETY: the lock is held.
            if let Some(w) = unsafe { self.node.queued() }.take() {
                let m = w.me;
                st.breaker.cancel(m.permit);
                st.counters.cancelled += 1;
                // The caller gave up waiting: from its side an acquire
                // timeout, but not one the breakers should count.
                Shared::<M>::record_request(
                    &mut st,
                    m.record(now - m.arrived.min(now), Outcome::AcquireTimeout),
                );
            }
            return;
        }
        // No longer queued, so answered. Every entry point carries out the
        // core's actions before it unlocks, so the answer is in the node;
        // carrying out any left over here as well makes sure no answer can
        // reach the node after it is gone.
        shared.dispatch(&mut st, now, None);
        if let Some(Ok(g)) = self.node.take() {
            // The core counted the grant; its wait counts too.
            shared.shards.with(|s| s.wait(g.waited));
            st.clear_checkout(g.id);
            st.conns[g.id as usize] = Some(g.conn);
            st.breaker.cancel(g.permit);
            st.counters.cancelled += 1;
            st.core.release(now, g.id, true);
            shared.dispatch(&mut st, now, None);
        }
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
        let node = Node::new();
        let started =
            poll_fn(|cx| Poll::Ready(self.start(opts, location, cx.waker(), &node))).await;
        let (me, reply) = match started {
            Started::Served(me, reply) => (me, reply),
            Started::Queued(me, wait) => (me, wait.await),
            Started::Refused(e) => return Err(e),
        };
        let g = reply?;
        self.shared.shards.with(|s| s.wait(g.waited));
        if !g.check {
            return Ok(Object::new(
                self.clone(),
                g,
                me.class,
                me.pattern,
                me.arrived,
                me.client,
            ));
        }
        self.checked(g, me).await
    }

    /// Asks the breakers and the core for a connection, under the lock:
    /// served at once, refused, or queued with `waker`.
    fn start<'a>(
        &'a self,
        opts: AcquireOptions,
        location: &'static Location<'static>,
        waker: &Waker,
        node: &'a Node<M::Connection>,
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
        let req = node.id();
        // From the core's acquire until a `Wait` guards the request (or it
        // is served), the core may name `node`.
        let exposed = AbortOnUnwind;
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
        let started = match shared.dispatch(&mut st, now, Some(me)) {
            Some(reply) => Started::Served(me, reply),
            None => {
                shared.enqueue(&mut st, me, waker, node);
                Started::Queued(
                    me,
                    Wait {
                        shared,
                        req,
                        node,
                        fresh: true,
                        done: false,
                    },
                )
            }
        };
        std::mem::forget(exposed);
        started
    }

    /// Runs the health check of a grant that asks for one; a failed check
    /// closes the connection and the request is served again.
    async fn checked(
        &self,
        mut g: Granted<M::Connection>,
        mut me: Me,
    ) -> Result<Object<M>, PoolError> {
        let shared = &self.shared;
        loop {
            if !g.check {
                return Ok(Object::new(
                    self.clone(),
                    g,
                    me.class,
                    me.pattern,
                    me.arrived,
                    me.client,
                ));
            }
            if self.recycle(&mut *g.conn).await {
                return Ok(Object::new(
                    self.clone(),
                    g,
                    me.class,
                    me.pattern,
                    me.arrived,
                    me.client,
                ));
            }
            // The check failed: the core closes the slot and serves the
            // request again, at the head of the queue.
            let node = Node::new();
            let wait = poll_fn(|cx| {
                let mut st = shared.lock();
                let now = shared.now();
                st.counters.check_failures += 1;
                st.clear_checkout(g.id);
                // Queued again under the id of a new node, with its first
                // arrival time.
                me.req = node.id();
                debug_assert_eq!(me.permit, g.permit);
                let exposed = AbortOnUnwind;
                shared.enqueue(&mut st, me, cx.waker(), &node);
                st.core.check_failed(now, me.req, g.id, me.arrived);
                shared.dispatch(&mut st, now, None);
                let wait = Wait {
                    shared,
                    req: me.req,
                    node: &node,
                    fresh: true,
                    done: false,
                };
                std::mem::forget(exposed);
                Poll::Ready(wait)
            })
            .await;
            drop(g.conn);
            g = wait.await?;
            shared.shards.with(|s| s.wait(g.waited));
        }
    }

    /// The health check: [`Manager::recycle`], bounded by
    /// `create_timeout_ms` (10 s without one). A check that is done at its
    /// first poll (the fast local check is) needs no timer, so the timer
    /// (a clock read and a timer-wheel entry) is only set for one that
    /// has to wait.
    async fn recycle(&self, conn: &mut M::Connection) -> bool {
        let shared = &self.shared;
        let check = shared.manager.recycle(conn, shared.opts.recycle);
        let mut check = std::pin::pin!(check);
        if let Poll::Ready(r) = poll_fn(|cx| Poll::Ready(check.as_mut().poll(cx))).await {
            return r.is_ok();
        }
        let limit = shared
            .opts
            .create_timeout
            .unwrap_or(Duration::from_secs(10));
        matches!(tokio::time::timeout(limit, check).await, Ok(Ok(())))
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
        }
    }

    /// Changes `min_size` and `max_size` at runtime. Connections above a
    /// lowered maximum close as they become idle; busy ones are never
    /// interrupted.
    ///
    /// # Errors
    /// Names the bound that is invalid; nothing changes then.
    pub fn resize(&self, min_size: u32, max_size: u32) -> Result<(), PoolConfigError> {
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
        if let Some(t) = &shared.lock().trace {
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
