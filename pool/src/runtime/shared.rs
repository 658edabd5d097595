//! What a pool's handles, objects and tasks share: the state behind the
//! pool's one lock, and the code that carries out the core's actions.
//!
//! One mutex guards the core and the parked connections. Every entry point
//! locks it, hands the current time to the core and carries out the core's
//! actions before unlocking ([`Shared::dispatch`]): a grant moves a parked
//! connection to its request (the caller itself, or a queued request's
//! [`Node`]), a create spawns [`Manager::create`], a close drops the
//! connection. Nothing awaits while the lock is held, and the tasks of
//! queued requests that got an answer are woken after it is released
//! ([`Locked`]); a woken request takes its answer from its node without
//! the lock. A contended checkout so takes the lock twice (its request,
//! its release), not three times.

use std::collections::VecDeque;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Waker;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::Notify;

use super::error::PoolError;
use super::manager::{ErrorClass, Manager};
use super::recorder::TraceRecorder;
use super::shards::Shards;
use super::unwind::{self, Panicked};
use super::waiter::{Node, Waiters};
use crate::core::affinity::AffinityIndex;
use crate::core::breaker::{MultiBreaker, Permit};
use crate::core::histogram::Histogram;
use crate::core::interval::IntervalRecorder;
use crate::core::pool::{Action, CloseReason, ConnId, PoolCore, RequestId};
use crate::core::settings::RecycleMode;
use crate::core::telemetry::{ErrorCategory, Outcome, QueryClass, Snapshot};
use crate::core::{Nanos, RequestRecord};

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

/// The answer to a request: a connection or an error.
pub(crate) type Reply<C> = Result<Granted<C>, PoolError>;

/// A queued request's node (see [`super::waiter`]).
pub(crate) type WaitNode<C> = Node<Queued, Reply<C>>;

/// What a queued request leaves with the pool: read by the task that
/// answers it.
pub(crate) struct Queued {
    pub(crate) waker: Waker,
    /// The request as it was when it queued.
    pub(crate) me: Me,
}

/// The caller of an acquire, when it is served inside the same lock.
#[derive(Clone, Copy)]
pub(crate) struct Me {
    pub(crate) req: RequestId,
    pub(crate) permit: Permit,
    pub(crate) class: QueryClass,
    pub(crate) pattern: u64,
    pub(crate) arrived: Nanos,
    /// The caller's client ([`task_client`]); 0 when no trace is kept.
    pub(crate) client: u64,
    pub(crate) location: &'static Location<'static>,
}

impl Me {
    /// The record of this request, ended after waiting `wait` with
    /// `outcome` and no connection held.
    pub(crate) fn record(&self, wait: Nanos, outcome: Outcome) -> RequestRecord {
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
    /// Panics caught in code the pool calls (see [`super::unwind`]).
    pub(crate) panics: u64,
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
    pub(crate) fn push(&mut self, w: Waker) {
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
    /// The queued requests' nodes (the core keeps their order).
    pub(crate) waiters: Waiters<Queued, Reply<C>>,
    pub(crate) wakes: Wakes,
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
    /// Connection set-up times of successful creates, whole run.
    pub(crate) create_times: Histogram,
    /// Holds of returned connections, whole run, up to the last
    /// completed interval.
    pub(crate) use_times: Histogram,
    /// A poisoned lock left the core's queue and the queued nodes out of
    /// step: the core's request ids are no longer known to name live
    /// nodes, so none is answered through them again (see
    /// [`Shared::recover`]).
    pub(crate) inconsistent: bool,
}

impl<C> State<C> {
    /// Notes where and when `conn` was checked out, for leak detection
    /// (only when it is on: otherwise no checkout is kept, which saves a
    /// line written on every grant and release).
    pub(crate) fn note_checkout(
        &mut self,
        conn: ConnId,
        now: Nanos,
        location: &'static Location<'static>,
    ) {
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
        let guard = match self.state.0.lock() {
            Ok(g) => g,
            Err(poisoned) => self.recover(poisoned),
        };
        Locked { guard: Some(guard) }
    }

    /// The lock is poisoned: a panic cut short an update made under it
    /// (calls into user code are caught, so this is a bug of ours or of a
    /// tracing subscriber). The pool goes on only if its bookkeeping
    /// proves consistent ([`PoolCore::check_invariants`], and one queued
    /// node per request the core holds). Otherwise it fails closed: it is
    /// closed, every request the core holds is refused with
    /// [`PoolError::Closed`] at the next dispatch, and every later one at
    /// once.
    #[cold]
    #[inline(never)]
    fn recover<'a>(
        &'a self,
        poisoned: PoisonError<MutexGuard<'a, State<M::Connection>>>,
    ) -> MutexGuard<'a, State<M::Connection>> {
        self.state.0.clear_poison();
        let mut st = poisoned.into_inner();
        let verdict = st.core.check_invariants().and_then(|()| {
            let (nodes, queued) = (st.waiters.len(), st.core.waiting() as usize);
            if nodes == queued {
                Ok(())
            } else {
                Err(format!("{nodes} queued nodes for {queued} queued requests"))
            }
        });
        st.counters.panics += 1;
        match verdict {
            Ok(()) => tracing::warn!(
                pool = %self.opts.name,
                "a panic poisoned the pool's lock; its bookkeeping checks out, so it goes on"
            ),
            Err(e) => {
                st.inconsistent = true;
                tracing::error!(
                    pool = %self.opts.name,
                    error = %e,
                    "a panic poisoned the pool's lock and left its bookkeeping inconsistent; \
                     closing the pool"
                );
                if !st.closed {
                    st.closed = true;
                    let now = self.now();
                    st.core.close(now);
                }
                // The controller carries out the refusals.
                self.driver_wake.notify_one();
            }
        }
        st
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

    pub(crate) fn timeout_error(&self, st: &State<M::Connection>, waited: Nanos) -> PoolError {
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
            // Each action brings the core, the parked connections and the
            // waiters back in step before it logs or traces, so a panic
            // after that (a tracing subscriber's, the only code left here
            // that may panic) costs only the log line: it is counted, and
            // the remaining actions are carried out. Unwinding instead
            // would leave a request the caller queued in the core with no
            // node, and poison the lock.
            if let Err(p) = unwind::call(|| self.carry_out(st, now, me, &mut mine, action)) {
                st.counters.panics += 1;
                let _ = unwind::call(|| self.log_panic("carrying out the pool's actions", &p));
            }
        }
        if st.closed && st.core.is_drained() {
            self.drained.notify_waiters();
        }
        mine
    }

    /// Carries out one action of the core (see
    /// [`dispatch`](Self::dispatch)); a grant, timeout or rejection of `me`
    /// goes into `mine`.
    #[inline]
    fn carry_out(
        self: &Arc<Self>,
        st: &mut State<M::Connection>,
        now: Nanos,
        me: Option<Me>,
        mine: &mut Option<Reply<M::Connection>>,
        action: Action,
    ) {
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
                    st.core.release(now, conn, false);
                    tracing::error!(conn, "pool granted a slot without a connection");
                    return;
                };
                let leaks = self.opts.leak_threshold.is_some();
                if let Some(m) = me.filter(|m| m.req == req) {
                    if leaks {
                        st.note_checkout(conn, now, m.location);
                    }
                    *mine = Some(Ok(Granted {
                        conn: c,
                        id: conn,
                        at: now,
                        waited,
                        check,
                        permit: m.permit,
                    }));
                } else if st.inconsistent {
                    // No request id is trusted any more: the grant
                    // goes back (the pool is closed, so it closes).
                    st.conns[i] = Some(c);
                    st.core.release(now, conn, true);
                } else {
                    // A waiter whose future is dropped before it picks
                    // this up gives it back (`Wait`'s drop).
                    let answered = st.waiters.answer(req, c, |c, w| {
                        Ok(Granted {
                            conn: c,
                            id: conn,
                            at: now,
                            waited,
                            check,
                            permit: w.me.permit,
                        })
                    });
                    match answered {
                        Ok(w) => {
                            if leaks {
                                st.note_checkout(conn, now, w.me.location);
                            }
                            st.wakes.push(w.waker);
                        }
                        Err(c) => {
                            // No queued request has that id: the core
                            // named one it does not hold (a bug). The
                            // connection goes back.
                            st.conns[i] = Some(c);
                            st.core.release(now, conn, true);
                            tracing::error!(req, conn, "pool granted a request that is not queued");
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
                // The connection's own `Drop` is user code, run under
                // the lock: a panic in it must not poison the pool.
                if let Err(p) = unwind::call(|| drop(c)) {
                    st.counters.panics += 1;
                    self.log_panic("dropping a connection", &p);
                }
                if reason != CloseReason::PoolClosed {
                    tracing::debug!(conn, ?reason, "closing connection");
                }
            }
            Action::Timeout { req, waited } => {
                let err = self.timeout_error(st, waited);
                let Some(m) = Self::fail(st, me, mine, req, err) else {
                    return;
                };
                st.breaker
                    .record(now, m.permit, Some(ErrorCategory::Timeout));
                st.counters.errors[ErrorCategory::Timeout.index()] += 1;
                Self::record_request(st, m.record(waited, Outcome::AcquireTimeout));
            }
            Action::Reject { req, .. } => {
                let Some(m) = Self::fail(st, me, mine, req, PoolError::Closed) else {
                    return;
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
        if st.inconsistent {
            return None;
        }
        let w = st.waiters.answer(req, err, |e, _| Err(e)).ok()?;
        st.wakes.push(w.waker);
        Some(w.me)
    }

    /// Registers `me`, queued in the core under this same lock (at the
    /// head of its queue with `front`): its answer will go to `node` and
    /// `waker` will be woken. Makes sure the controller wakes up in time to
    /// fire its acquire timeout.
    ///
    /// The caller withdraws the request (or takes its answer) before
    /// `node` goes away: [`Wait`](super::wait::Wait) does, on drop.
    pub(crate) fn enqueue(
        &self,
        st: &mut State<M::Connection>,
        me: Me,
        waker: &Waker,
        node: Pin<&WaitNode<M::Connection>>,
        front: bool,
    ) {
        st.waiters.link(
            node,
            Queued {
                waker: waker.clone(),
                me,
            },
        );
        // A new request is queued in the core before it is linked here; a
        // request checked again (`front`) after.
        debug_assert!(front || st.waiters.len() == st.core.waiting() as usize);
        if let Some(to) = st.core.config().acquire_timeout {
            let deadline = me.arrived.saturating_add(to);
            if deadline < st.driver_wake_at {
                st.driver_wake_at = deadline;
                self.driver_wake.notify_one();
            }
        }
    }

    /// Logs a panic caught in `what`, code the pool calls; the caller
    /// counts it (`counters.panics`) and fails the step.
    pub(crate) fn log_panic(&self, what: &str, p: &Panicked) {
        tracing::error!(
            pool = %self.opts.name,
            call = what,
            error = %p,
            "caught a panic in code the pool calls; that step failed"
        );
    }

    /// Logs and counts a panic caught in `what`, outside the lock.
    pub(crate) fn note_panic(&self, what: &str, p: &Panicked) {
        self.log_panic(what, p);
        self.lock().counters.panics += 1;
    }

    /// [`Manager::classify`]; one that panics calls the error a connection
    /// fault (the default). Call it outside the lock or count the panic.
    pub(crate) fn classify(&self, e: &M::Error) -> Result<ErrorClass, ErrorClass> {
        unwind::call(|| self.manager.classify(e)).map_err(|p| {
            self.log_panic("Manager::classify", &p);
            ErrorClass::fault(ErrorCategory::Connection)
        })
    }

    /// [`Manager::is_broken`]; one that panics says broken. `Err` when it
    /// panicked (the caller counts it).
    pub(crate) fn is_broken(&self, c: &mut M::Connection) -> Result<bool, bool> {
        unwind::call(|| self.manager.is_broken(c)).map_err(|p| {
            self.log_panic("Manager::is_broken", &p);
            true
        })
    }

    fn spawn_create(self: &Arc<Self>, conn: ConnId) {
        let shared = Arc::clone(self);
        self.handle.spawn(async move {
            let started = shared.now();
            let outcome = shared.create_once().await;
            let warning = match &outcome {
                CreateOutcome::Failed {
                    category, message, ..
                } => Some((*category, message.clone())),
                CreateOutcome::Opened(_) => None,
            };
            // The state first, under the lock; the log after it, outside:
            // a log line (a tracing subscriber's code) must not be able to
            // leave a creating slot held.
            let mut st = shared.lock();
            let now = shared.now();
            let reopened = match outcome {
                CreateOutcome::Opened(c) => {
                    st.create_times.record(now.saturating_sub(started));
                    st.conns[conn as usize] = Some(Box::new(c));
                    st.core.created(now, conn);
                    st.last_create_error.take().is_some()
                }
                CreateOutcome::Failed {
                    category,
                    ref message,
                    timed_out,
                    panics,
                } => {
                    st.last_create_error = Some(message.clone());
                    st.counters.panics += panics;
                    st.counters.create_timeouts += u64::from(timed_out);
                    // A failed creation is a failed call for the breakers:
                    // this is how the connection breaker sees a database
                    // going away (as in the simulator).
                    st.breaker.record(now, Permit::default(), Some(category));
                    st.core.create_failed(now, conn);
                    shared.driver_wake.notify_one();
                    false
                }
            };
            shared.dispatch(&mut st, now, None);
            drop(st);
            if reopened {
                tracing::info!(pool = %shared.opts.name, "connections open again");
            }
            if let Some((category, message)) = warning {
                tracing::warn!(
                    pool = %shared.opts.name,
                    category = category.name(),
                    error = %message,
                    "could not open a connection; backing off"
                );
            }
        });
    }

    /// Runs [`Manager::create`] once, bounded by `create_timeout_ms`, with
    /// its panics caught, and says what came of it (classified and
    /// described outside the lock: both call user code). A create that
    /// panics is a failed create, or `max_concurrent_creates` panics would
    /// leave the pool unable to open a connection.
    async fn create_once(&self) -> CreateOutcome<M::Connection> {
        let create = unwind::call_async(self.manager.create());
        let result = match self.opts.create_timeout {
            Some(limit) => tokio::time::timeout(limit, create).await.map_err(|_| limit),
            None => Ok(create.await),
        };
        let failed = |category, message, timed_out, panics| CreateOutcome::Failed {
            category,
            message,
            timed_out,
            panics,
        };
        match result {
            Ok(Ok(Ok(c))) => CreateOutcome::Opened(c),
            Ok(Ok(Err(e))) => {
                let (class, panicked) = match self.classify(&e) {
                    Ok(c) => (c, 0),
                    Err(fallback) => (fallback, 1),
                };
                let message = unwind::call(|| e.to_string())
                    .unwrap_or_else(|p| format!("(the error's Display {p})"));
                failed(class.category, message, false, panicked)
            }
            Ok(Err(p)) => {
                self.log_panic("Manager::create", &p);
                failed(
                    ErrorCategory::Connection,
                    format!("Manager::create {p}"),
                    false,
                    1,
                )
            }
            Err(limit) => failed(
                ErrorCategory::Connection,
                format!("opening a connection took longer than {limit:?}"),
                true,
                0,
            ),
        }
    }
}

/// What came of one [`Manager::create`].
enum CreateOutcome<C> {
    /// A connection.
    Opened(C),
    /// No connection.
    Failed {
        /// The breaker category of the failure.
        category: ErrorCategory,
        /// What went wrong (becomes `last_create_error`).
        message: String,
        /// The create took longer than `create_timeout_ms`.
        timed_out: bool,
        /// Panics caught in making it (a create, or a classification).
        panics: u64,
    },
}
