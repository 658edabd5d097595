//! The pool state machine.
//!
//! [`PoolCore`] owns the idle set, the FIFO waiter queue and the bookkeeping
//! of every connection, but it never opens, checks or closes a connection
//! itself. Like quinn-proto, every entry point takes the current time, and
//! the machine tells its driver what to do through [`PoolCore::poll_action`]
//! and when to call back through [`PoolCore::poll_timeout`]:
//!
//! | driver calls | the machine may answer |
//! |---|---|
//! | [`acquire`](PoolCore::acquire) | [`Action::Grant`], [`Action::Create`], [`Action::Reject`] |
//! | [`created`](PoolCore::created) / [`create_failed`](PoolCore::create_failed) | grants, more creates |
//! | [`release`](PoolCore::release) | a grant to the next waiter, [`Action::Close`] |
//! | [`handle_timeout`](PoolCore::handle_timeout) | [`Action::Timeout`], closes, creates |
//! | [`set_target`](PoolCore::set_target) | creates (pre-warm), closes |
//! | [`close`](PoolCore::close) | rejects, closes |
//!
//! Sizing rules:
//! - the pool keeps `size + creating` at least at the *floor*:
//!   `max(target, min_size, busy + min_idle)`, capped at `max_size`;
//! - with `grow_on_demand`, queued requests raise that to `busy + waiting`
//!   (still capped at `max_size`); without it the target is a hard cap;
//! - an idle connection above the floor is closed once it has been idle
//!   for `idle_timeout` (least recently used first);
//! - a connection older than `max_lifetime` is closed when next idle;
//! - creations run at most `max_concurrent_creates` at a time, and after a
//!   failure they back off exponentially (`create_backoff_*`).
//!
//! Grants are fair: requests are served strictly in arrival order, and the
//! most recently used idle connection is handed out first (it is warm; the
//! least recently used ones age out).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use serde::{Deserialize, Serialize};

use super::Nanos;
use super::config_error::ConfigError;
use super::histogram::Histogram;

/// Identifies a connection slot inside one pool.
pub type ConnId = u32;
/// Identifies a request, chosen by the driver.
pub type RequestId = u64;

/// How a pool verifies a connection before handing it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HealthCheck {
    /// Never check (fastest; a broken connection surfaces on first use).
    #[default]
    Never,
    /// Check a connection that has been idle at least this many ns
    /// (HikariCP's `aliveBypassWindowMs` idea).
    AfterIdle(Nanos),
    /// Check on every grant.
    Always,
}

/// The largest `max_size` (and `max_concurrent_creates`) a pool takes:
/// PostgreSQL's own ceiling on connections (`MAX_BACKENDS`, 2^18 − 1).
/// The pool reserves its slots up front, so a larger value would only
/// waste memory, or abort the process on a mistyped size.
pub const MAX_POOL_SIZE: u32 = 262_143;

/// Static configuration of a [`PoolCore`]. Names follow HikariCP where they
/// fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolConfig {
    /// The pool never shrinks below this many open connections.
    pub min_size: u32,
    /// Hard cap on open plus in-flight connections (`maximumPoolSize`).
    pub max_size: u32,
    /// Keep at least this many idle connections ready, within `max_size`
    /// (`minimumIdle`).
    pub min_idle: u32,
    /// Connections created when the pool starts.
    pub initial_size: u32,
    /// A waiting request fails after this long (`connectionTimeout`).
    pub acquire_timeout: Option<Nanos>,
    /// An idle connection above the floor closes after this long idle.
    pub idle_timeout: Option<Nanos>,
    /// A connection closes when first idle after this age (`maxLifetime`).
    pub max_lifetime: Option<Nanos>,
    /// Each connection retires up to this fraction of `max_lifetime` early
    /// (0.025 = HikariCP's 2.5%), so a pool filled at once does not
    /// reconnect at once.
    pub max_lifetime_jitter: f64,
    /// Creations in flight at once.
    pub max_concurrent_creates: u32,
    /// First back-off after a failed creation.
    pub create_backoff_initial: Nanos,
    /// Longest back-off between failed creations.
    pub create_backoff_max: Nanos,
    /// Whether queued requests may grow the pool above its target (up to
    /// `max_size`). Without it the policy's target is a hard cap.
    pub grow_on_demand: bool,
    /// Health check before a grant.
    pub health_check: HealthCheck,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            min_size: 0,
            max_size: 10,
            min_idle: 0,
            initial_size: 0,
            acquire_timeout: Some(30 * super::NANOS_PER_SEC),
            idle_timeout: Some(600 * super::NANOS_PER_SEC),
            max_lifetime: Some(1800 * super::NANOS_PER_SEC),
            max_lifetime_jitter: 0.025,
            max_concurrent_creates: 4,
            create_backoff_initial: 10 * super::NANOS_PER_MS,
            create_backoff_max: 2 * super::NANOS_PER_SEC,
            grow_on_demand: true,
            health_check: HealthCheck::Never,
        }
    }
}

/// A [`PoolConfig`] that passed [`PoolConfig::validate`]: what
/// [`PoolCore::with_valid`] takes, so building a pool from it cannot fail.
/// Read it through `Deref`; it cannot be changed.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidPoolConfig(PoolConfig);

impl std::ops::Deref for ValidPoolConfig {
    type Target = PoolConfig;
    fn deref(&self) -> &PoolConfig {
        &self.0
    }
}

impl PoolConfig {
    /// Checks the bounds and returns the configuration as validated.
    ///
    /// # Errors
    /// As [`PoolConfig::validate`].
    pub fn into_valid(self) -> Result<ValidPoolConfig, ConfigError> {
        self.validate()?;
        Ok(ValidPoolConfig(self))
    }

    /// Checks the bounds.
    ///
    /// # Errors
    /// Names the field when `max_size` is 0, `min_size > max_size`,
    /// `initial_size > max_size`, `max_concurrent_creates` is 0, or a back-off
    /// range is inverted.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |field: &str, message: String| Err(ConfigError::new(field, message));
        if self.max_size == 0 {
            return err("max_size", "must be at least 1".into());
        }
        for (field, v) in [
            ("max_size", self.max_size),
            ("max_concurrent_creates", self.max_concurrent_creates),
        ] {
            if v > MAX_POOL_SIZE {
                return err(
                    field,
                    format!(
                        "{v} is above {MAX_POOL_SIZE}, the most connections a PostgreSQL server \
                         can take (its MAX_BACKENDS)"
                    ),
                );
            }
        }
        if self.min_size > self.max_size {
            return err(
                "min_size",
                format!("{} is above max_size {}", self.min_size, self.max_size),
            );
        }
        if self.initial_size > self.max_size {
            return err(
                "initial_size",
                format!("{} is above max_size {}", self.initial_size, self.max_size),
            );
        }
        if self.min_idle > self.max_size {
            return err(
                "min_idle",
                format!("{} is above max_size {}", self.min_idle, self.max_size),
            );
        }
        if self.max_concurrent_creates == 0 {
            return err("max_concurrent_creates", "must be at least 1".into());
        }
        if !(self.max_lifetime_jitter.is_finite() && (0.0..1.0).contains(&self.max_lifetime_jitter))
        {
            return err(
                "max_lifetime_jitter",
                "expected a fraction in [0, 1)".into(),
            );
        }
        if self.create_backoff_initial > self.create_backoff_max {
            return err(
                "create_backoff_initial",
                "must not exceed create_backoff_max".into(),
            );
        }
        Ok(())
    }
}

/// Why the pool asks its driver to close a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// Idle above the floor for `idle_timeout`.
    IdleTimeout,
    /// Older than `max_lifetime`.
    MaxLifetime,
    /// The driver reported it broken.
    Broken,
    /// The pool is closing.
    PoolClosed,
}

/// Why a request was refused without waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// The pool is closing or closed.
    PoolClosed,
}

/// An instruction for the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Hand connection `conn` to request `req`, which waited `waited` ns.
    /// With `check`, verify the connection first (see
    /// [`PoolCore::check_failed`]).
    Grant {
        /// The request.
        req: RequestId,
        /// The connection.
        conn: ConnId,
        /// How long the request waited.
        waited: Nanos,
        /// Whether to run a health check before use.
        check: bool,
    },
    /// Open a new connection for slot `conn`; report with
    /// [`PoolCore::created`] or [`PoolCore::create_failed`].
    Create {
        /// The slot the new connection will occupy.
        conn: ConnId,
    },
    /// Close connection `conn`.
    Close {
        /// The connection.
        conn: ConnId,
        /// Why.
        reason: CloseReason,
    },
    /// Fail request `req`: it waited `waited` ns, past the acquire timeout.
    Timeout {
        /// The request.
        req: RequestId,
        /// How long it waited.
        waited: Nanos,
    },
    /// Refuse request `req` at once.
    Reject {
        /// The request.
        req: RequestId,
        /// Why.
        reason: RejectReason,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    Free,
    Creating,
    Idle,
    Busy,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    state: SlotState,
    generation: u32,
    created_at: Nanos,
    idle_since: Nanos,
    expired: bool,
}

#[derive(Debug, Clone, Copy)]
struct Waiter {
    req: RequestId,
    arrived: Nanos,
}

/// Counters of one telemetry interval, read and reset by
/// [`PoolCore::take_interval`].
#[derive(Debug, Clone, Default)]
pub struct PoolInterval {
    /// Connections created.
    pub created: u32,
    /// Connections closed.
    pub closed: u32,
    /// Failed creations.
    pub create_failures: u32,
    /// Grants.
    pub acquires: u32,
    /// Acquire timeouts.
    pub timeouts: u32,
    /// Time-weighted mean of open connections.
    pub size_mean: f64,
    /// Time-weighted mean of busy connections.
    pub busy_mean: f64,
    /// Time-weighted mean of waiting requests.
    pub waiting_mean: f64,
    /// Peak of busy + waiting.
    pub demand_max: u32,
    /// Mean acquire wait of the grants, in ms.
    pub wait_mean_ms: Option<f64>,
    /// Median acquire wait, in ms.
    pub wait_p50_ms: Option<f64>,
    /// 95th percentile acquire wait, in ms.
    pub wait_p95_ms: Option<f64>,
    /// 99th percentile acquire wait, in ms.
    pub wait_p99_ms: Option<f64>,
    /// Longest acquire wait, in ms.
    pub wait_max_ms: Option<f64>,
}

/// Whole-run totals, never reset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolTotals {
    /// Requests that asked for a connection.
    pub acquires_requested: u64,
    /// Grants.
    pub grants: u64,
    /// Grants that did not wait.
    pub grants_immediate: u64,
    /// Acquire timeouts.
    pub timeouts: u64,
    /// Connections created.
    pub created: u64,
    /// Connections closed.
    pub closed: u64,
    /// Failed creations.
    pub create_failures: u64,
    /// Integral of open connections over time, in connection-nanoseconds.
    pub connection_ns: u128,
    /// Integral of busy connections over time, in connection-nanoseconds.
    pub busy_ns: u128,
    /// Integral of queued requests over time, in request-nanoseconds.
    pub waiting_ns: u128,
}

/// The pool state machine. See the module documentation.
#[derive(Debug)]
pub struct PoolCore {
    cfg: PoolConfig,
    slots: Vec<Slot>,
    free_slots: Vec<ConnId>,
    idle: VecDeque<ConnId>,
    waiters: VecDeque<Waiter>,
    /// Lifetime expiries, earliest first (a min-heap: jitter breaks
    /// creation order).
    lifetimes: BinaryHeap<Reverse<(Nanos, ConnId, u32)>>,
    actions: VecDeque<Action>,
    target: u32,
    open: u32,
    busy: u32,
    creating: u32,
    closing: bool,
    create_failures_in_row: u32,
    next_create_at: Nanos,
    // time integration
    last_t: Nanos,
    interval_start: Nanos,
    area_size: u128,
    area_busy: u128,
    area_waiting: u128,
    interval: PoolInterval,
    wait_hist: Histogram,
    wait_total: Histogram,
    /// Grants leave their waits to the driver ([`Self::set_driver_records_waits`]).
    driver_records_waits: bool,
    totals: PoolTotals,
}

impl PoolCore {
    /// A pool at time `now`. It asks for `initial_size` (at least the floor)
    /// connections at once.
    ///
    /// # Errors
    /// Returns the [`PoolConfig::validate`] error.
    pub fn new(cfg: PoolConfig, now: Nanos) -> Result<Self, ConfigError> {
        Ok(Self::with_valid(cfg.into_valid()?, now))
    }

    /// A pool at time `now` from a configuration that passed validation:
    /// it cannot fail.
    pub fn with_valid(cfg: ValidPoolConfig, now: Nanos) -> Self {
        let ValidPoolConfig(cfg) = cfg;
        let target = cfg.initial_size.max(cfg.min_size);
        let mut pool = PoolCore {
            slots: Vec::with_capacity(cfg.max_size as usize),
            free_slots: Vec::new(),
            idle: VecDeque::with_capacity(cfg.max_size as usize),
            waiters: VecDeque::new(),
            lifetimes: BinaryHeap::new(),
            actions: VecDeque::new(),
            target,
            open: 0,
            busy: 0,
            creating: 0,
            closing: false,
            create_failures_in_row: 0,
            next_create_at: now,
            last_t: now,
            interval_start: now,
            area_size: 0,
            area_busy: 0,
            area_waiting: 0,
            interval: PoolInterval::default(),
            wait_hist: Histogram::new(),
            wait_total: Histogram::new(),
            driver_records_waits: false,
            totals: PoolTotals::default(),
            cfg,
        };
        pool.fill(now);
        pool
    }

    /// The configuration.
    pub fn config(&self) -> &PoolConfig {
        &self.cfg
    }

    /// Open connections (idle + busy).
    pub fn size(&self) -> u32 {
        self.open
    }
    /// Idle connections.
    pub fn idle(&self) -> u32 {
        self.idle.len() as u32
    }
    /// Busy connections.
    pub fn busy(&self) -> u32 {
        self.busy
    }
    /// Queued requests.
    pub fn waiting(&self) -> u32 {
        self.waiters.len() as u32
    }
    /// Creations in flight.
    pub fn creating(&self) -> u32 {
        self.creating
    }
    /// The current target size.
    pub fn target(&self) -> u32 {
        self.target
    }
    /// Whole-run totals.
    pub fn totals(&self) -> PoolTotals {
        self.totals
    }
    /// Whether [`close`](Self::close) was called and every connection is
    /// gone.
    pub fn is_drained(&self) -> bool {
        self.closing && self.open == 0 && self.creating == 0
    }

    /// Checks the core's bookkeeping against its slots: every counter
    /// agrees with the slot states, every idle slot is in the idle list
    /// once, and no request waits beside an idle connection (a lowered
    /// `max_size` may be exceeded for a while: busy connections and
    /// creations in flight are never cut short). A driver calls it after a panic may
    /// have cut an update short (a poisoned lock), to decide whether the
    /// pool can go on.
    ///
    /// # Errors
    /// The first disagreement found.
    pub fn check_invariants(&self) -> Result<(), String> {
        let count = |st: SlotState| self.slots.iter().filter(|s| s.state == st).count() as u32;
        let (idle, busy, creating) = (
            count(SlotState::Idle),
            count(SlotState::Busy),
            count(SlotState::Creating),
        );
        if idle != self.idle.len() as u32 {
            return Err(format!(
                "{idle} idle slots but {} in the idle list",
                self.idle.len()
            ));
        }
        if busy != self.busy || creating != self.creating {
            return Err(format!(
                "slots say {busy} busy and {creating} creating, counters {} and {}",
                self.busy, self.creating
            ));
        }
        if self.open != idle + busy {
            return Err(format!(
                "open {} is not idle + busy {}",
                self.open,
                idle + busy
            ));
        }
        let mut seen = vec![false; self.slots.len()];
        for &c in &self.idle {
            let Some(slot) = self.slots.get(c as usize) else {
                return Err(format!("idle list names slot {c}, which does not exist"));
            };
            if slot.state != SlotState::Idle || std::mem::replace(&mut seen[c as usize], true) {
                return Err(format!("idle list entry {c} is not one idle slot"));
            }
        }
        if !self.waiters.is_empty() && !self.idle.is_empty() && !self.closing {
            return Err(format!(
                "{} requests wait beside {} idle connections",
                self.waiters.len(),
                self.idle.len()
            ));
        }
        Ok(())
    }

    /// Next instruction for the driver, if any.
    #[inline]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Whether [`poll_action`](Self::poll_action) has an instruction to
    /// give (a driver can skip its action loop when not).
    #[inline]
    pub fn has_actions(&self) -> bool {
        !self.actions.is_empty()
    }

    /// The earliest time at which [`handle_timeout`](Self::handle_timeout)
    /// has work to do, if any.
    pub fn poll_timeout(&self) -> Option<Nanos> {
        let mut t: Option<Nanos> = None;
        let mut consider = |x: Nanos| t = Some(t.map_or(x, |t| t.min(x)));
        if let (Some(w), Some(to)) = (self.waiters.front(), self.cfg.acquire_timeout) {
            consider(w.arrived.saturating_add(to));
        }
        if let (Some(&c), Some(to)) = (self.idle.front(), self.cfg.idle_timeout)
            && self.open > self.floor()
        {
            consider(self.slots[c as usize].idle_since.saturating_add(to));
        }
        if let Some(&Reverse((at, _, _))) = self.lifetimes.peek() {
            consider(at);
        }
        // Cheapest test first: the back-off only matters when it is ahead.
        if self.next_create_at > self.last_t
            && !self.closing
            && self.creating < self.cfg.max_concurrent_creates
            && self.open + self.creating < self.want()
        {
            consider(self.next_create_at);
        }
        t
    }

    /// Integrates the gauges up to `now`. Time never goes backwards: an
    /// earlier `now` is treated as the last one seen.
    #[inline]
    fn advance(&mut self, now: Nanos) {
        if now > self.last_t {
            let dt = u128::from(now - self.last_t);
            self.area_size += u128::from(self.open) * dt;
            self.area_busy += u128::from(self.busy) * dt;
            self.area_waiting += self.waiters.len() as u128 * dt;
            self.last_t = now;
        }
    }

    #[inline]
    fn note_demand(&mut self) {
        let d = self.busy + self.waiters.len() as u32;
        if d > self.interval.demand_max {
            self.interval.demand_max = d;
        }
    }

    /// The size the pool keeps without queued demand.
    fn floor(&self) -> u32 {
        self.target
            .max(self.cfg.min_size)
            .max(self.busy.saturating_add(self.cfg.min_idle))
            .min(self.cfg.max_size)
    }

    /// The size the pool is heading to, queued demand included.
    fn want(&self) -> u32 {
        if self.closing {
            return 0;
        }
        let floor = self.floor();
        let demand = self.busy + self.waiters.len() as u32;
        let cap = if self.cfg.grow_on_demand {
            self.cfg.max_size
        } else {
            self.target.max(self.cfg.min_size).min(self.cfg.max_size)
        };
        floor.max(demand.min(cap))
    }

    /// Asks for creations up to [`want`](Self::want), within the
    /// concurrency limit and the failure back-off.
    ///
    /// Inlined for its early return: at the cap (every acquire and release
    /// of a busy pool) that test is all there is to it.
    #[inline]
    fn fill(&mut self, now: Nanos) {
        // `want` never exceeds `max_size`: at the cap (a busy pool with a
        // queue) there is nothing to ask for.
        if self.closing
            || now < self.next_create_at
            || self.open + self.creating >= self.cfg.max_size
        {
            return;
        }
        self.fill_to_want(now);
    }

    /// The rest of [`fill`](Self::fill), past its early return.
    #[inline(never)]
    fn fill_to_want(&mut self, now: Nanos) {
        let want = self.want();
        while self.open + self.creating < want && self.creating < self.cfg.max_concurrent_creates {
            let conn = self.alloc_slot(now);
            self.creating += 1;
            self.actions.push_back(Action::Create { conn });
        }
    }

    fn alloc_slot(&mut self, now: Nanos) -> ConnId {
        if let Some(c) = self.free_slots.pop() {
            let s = &mut self.slots[c as usize];
            s.state = SlotState::Creating;
            s.generation = s.generation.wrapping_add(1);
            s.created_at = now;
            s.idle_since = now;
            s.expired = false;
            c
        } else {
            self.slots.push(Slot {
                state: SlotState::Creating,
                generation: 0,
                created_at: now,
                idle_since: now,
                expired: false,
            });
            (self.slots.len() - 1) as ConnId
        }
    }

    fn free_slot(&mut self, conn: ConnId) {
        self.slots[conn as usize].state = SlotState::Free;
        self.free_slots.push(conn);
    }

    fn slot_is(&self, conn: ConnId, state: SlotState) -> bool {
        self.slots
            .get(conn as usize)
            .is_some_and(|s| s.state == state)
    }

    /// Request `req` asks for a connection at `now`.
    pub fn acquire(&mut self, now: Nanos, req: RequestId) {
        self.advance(now);
        self.totals.acquires_requested += 1;
        if self.closing {
            self.actions.push_back(Action::Reject {
                req,
                reason: RejectReason::PoolClosed,
            });
            return;
        }
        if self.waiters.is_empty()
            && let Some(conn) = self.pop_idle()
        {
            self.grant(now, req, now, conn);
            return;
        }
        self.waiters.push_back(Waiter { req, arrived: now });
        self.note_demand();
        self.fill(now);
    }

    /// Withdraws a queued request (its caller gave up). Returns whether it
    /// was still queued.
    pub fn cancel(&mut self, now: Nanos, req: RequestId) -> bool {
        self.advance(now);
        if let Some(pos) = self.waiters.iter().position(|w| w.req == req) {
            self.waiters.remove(pos);
            true
        } else {
            false
        }
    }

    /// Pops the most recently used idle connection, closing expired ones.
    fn pop_idle(&mut self) -> Option<ConnId> {
        while let Some(conn) = self.idle.pop_back() {
            if self.slots[conn as usize].expired {
                self.close_conn(conn, CloseReason::MaxLifetime);
                continue;
            }
            return Some(conn);
        }
        None
    }

    fn grant(&mut self, now: Nanos, req: RequestId, arrived: Nanos, conn: ConnId) {
        let slot = &mut self.slots[conn as usize];
        let check = match self.cfg.health_check {
            HealthCheck::Never => false,
            HealthCheck::Always => true,
            HealthCheck::AfterIdle(d) => now.saturating_sub(slot.idle_since) >= d,
        };
        slot.state = SlotState::Busy;
        self.busy += 1;
        let waited = now - arrived.min(now);
        self.interval.acquires += 1;
        self.totals.grants += 1;
        if waited == 0 {
            self.totals.grants_immediate += 1;
        }
        if !self.driver_records_waits {
            self.wait_hist.record(waited);
        }
        self.note_demand();
        self.actions.push_back(Action::Grant {
            req,
            conn,
            waited,
            check,
        });
    }

    /// Hands `conn`, now idle, to the first waiter, or parks it.
    fn make_available(&mut self, now: Nanos, conn: ConnId) {
        if self.slots[conn as usize].expired {
            self.close_conn(conn, CloseReason::MaxLifetime);
            return;
        }
        if let Some(w) = self.waiters.pop_front() {
            // Handed straight on: it has not been idle at all, so a
            // `health_check = AfterIdle` does not check it.
            let s = &mut self.slots[conn as usize];
            s.state = SlotState::Idle;
            s.idle_since = now;
            self.grant(now, w.req, w.arrived, conn);
        } else if self.open > self.cfg.max_size {
            // Above a lowered maximum (see `resize`): retire instead of
            // parking.
            self.slots[conn as usize].state = SlotState::Idle;
            self.close_conn(conn, CloseReason::IdleTimeout);
        } else {
            let s = &mut self.slots[conn as usize];
            s.state = SlotState::Idle;
            s.idle_since = now;
            self.idle.push_back(conn);
        }
    }

    fn close_conn(&mut self, conn: ConnId, reason: CloseReason) {
        debug_assert!(matches!(
            self.slots[conn as usize].state,
            SlotState::Idle | SlotState::Busy
        ));
        self.open -= 1;
        self.interval.closed += 1;
        self.totals.closed += 1;
        self.free_slot(conn);
        self.actions.push_back(Action::Close { conn, reason });
    }

    /// How much earlier than `max_lifetime` this connection retires: up to
    /// `max_lifetime_jitter` of it, so connections opened together do not
    /// all reconnect at once (HikariCP does the same). The fraction is a
    /// hash of the slot, its generation and the time, so the core stays
    /// deterministic without a random generator.
    fn lifetime_jitter(&self, life: Nanos, conn: ConnId, generation: u32, now: Nanos) -> Nanos {
        let j = self.cfg.max_lifetime_jitter;
        if j.is_nan() || j <= 0.0 {
            return 0;
        }
        let mut z = now ^ (u64::from(conn) << 32) ^ u64::from(generation);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let frac = (z >> 11) as f64 / (1u64 << 53) as f64;
        ((life as f64) * j.min(1.0) * frac) as Nanos
    }

    /// The driver opened the connection of slot `conn`.
    ///
    /// Ignored when `conn` is not a creation in flight.
    pub fn created(&mut self, now: Nanos, conn: ConnId) {
        self.advance(now);
        if !self.slot_is(conn, SlotState::Creating) {
            return;
        }
        self.creating -= 1;
        self.open += 1;
        self.interval.created += 1;
        self.totals.created += 1;
        self.create_failures_in_row = 0;
        let s = &mut self.slots[conn as usize];
        s.created_at = now;
        s.idle_since = now;
        if let Some(life) = self.cfg.max_lifetime {
            let generation = s.generation;
            let expiry =
                now.saturating_add(life - self.lifetime_jitter(life, conn, generation, now));
            self.lifetimes.push(Reverse((expiry, conn, generation)));
        }
        if self.closing {
            self.slots[conn as usize].state = SlotState::Idle;
            self.close_conn(conn, CloseReason::PoolClosed);
            return;
        }
        self.make_available(now, conn);
        self.fill(now);
    }

    /// The driver could not open the connection of slot `conn`. Creation
    /// backs off exponentially until one succeeds.
    pub fn create_failed(&mut self, now: Nanos, conn: ConnId) {
        self.advance(now);
        if !self.slot_is(conn, SlotState::Creating) {
            return;
        }
        self.creating -= 1;
        self.free_slot(conn);
        self.interval.create_failures += 1;
        self.totals.create_failures += 1;
        let shift = self.create_failures_in_row.min(20);
        self.create_failures_in_row = self.create_failures_in_row.saturating_add(1);
        let backoff = self
            .cfg
            .create_backoff_initial
            .saturating_mul(1u64 << shift)
            .min(self.cfg.create_backoff_max);
        self.next_create_at = now.saturating_add(backoff);
        self.fill(now);
    }

    /// Request done with `conn`. `reusable = false` means the driver found
    /// it broken: it is closed and, if needed, replaced.
    ///
    /// Ignored when `conn` is not checked out.
    pub fn release(&mut self, now: Nanos, conn: ConnId, reusable: bool) {
        self.advance(now);
        if !self.slot_is(conn, SlotState::Busy) {
            return;
        }
        self.busy -= 1;
        if !reusable || self.closing {
            let reason = if self.closing {
                CloseReason::PoolClosed
            } else {
                CloseReason::Broken
            };
            self.close_conn(conn, reason);
            self.fill(now);
            return;
        }
        self.make_available(now, conn);
        // Asks for nothing unless below `want` (and returns at once at the cap).
        self.fill(now);
    }

    /// The health check of a grant failed: `conn` is closed and request
    /// `req` goes back to the head of the queue with its original arrival
    /// time (so its timeout still counts from then); when the pool is
    /// closing, it is rejected.
    pub fn check_failed(&mut self, now: Nanos, req: RequestId, conn: ConnId, arrived: Nanos) {
        self.advance(now);
        if !self.slot_is(conn, SlotState::Busy) {
            return;
        }
        self.busy -= 1;
        self.close_conn(conn, CloseReason::Broken);
        if self.closing {
            // `close` has already refused the queue: queued now, the
            // request would wait forever in a pool that is draining.
            self.actions.push_back(Action::Reject {
                req,
                reason: RejectReason::PoolClosed,
            });
            return;
        }
        if let Some(next) = self.pop_idle() {
            self.grant(now, req, arrived, next);
        } else {
            self.waiters.push_front(Waiter { req, arrived });
            self.fill(now);
        }
    }

    /// Processes every deadline at or before `now`: acquire timeouts, idle
    /// retirement, lifetimes and the creation back-off.
    pub fn handle_timeout(&mut self, now: Nanos) {
        self.advance(now);
        if let Some(to) = self.cfg.acquire_timeout {
            while let Some(w) = self.waiters.front() {
                if w.arrived.saturating_add(to) > now {
                    break;
                }
                let w = *w;
                self.waiters.pop_front();
                self.interval.timeouts += 1;
                self.totals.timeouts += 1;
                self.actions.push_back(Action::Timeout {
                    req: w.req,
                    waited: now - w.arrived,
                });
            }
        }
        while let Some(&Reverse((at, conn, generation))) = self.lifetimes.peek() {
            if at > now {
                break;
            }
            self.lifetimes.pop();
            let slot = self.slots[conn as usize];
            if slot.generation != generation {
                continue;
            }
            match slot.state {
                SlotState::Idle => {
                    if let Some(pos) = self.idle.iter().position(|&c| c == conn) {
                        self.idle.remove(pos);
                    }
                    self.close_conn(conn, CloseReason::MaxLifetime);
                }
                SlotState::Busy => self.slots[conn as usize].expired = true,
                SlotState::Free | SlotState::Creating => {}
            }
        }
        if let Some(to) = self.cfg.idle_timeout {
            while self.open > self.floor() {
                let Some(&conn) = self.idle.front() else {
                    break;
                };
                if self.slots[conn as usize].idle_since.saturating_add(to) > now {
                    break;
                }
                self.idle.pop_front();
                self.close_conn(conn, CloseReason::IdleTimeout);
            }
        }
        self.fill(now);
    }

    /// Sets the scaling target (clamped to `[min_size, max_size]`). Raising
    /// it pre-warms connections at once; lowering it lets idle connections
    /// above it retire after `idle_timeout`.
    pub fn set_target(&mut self, now: Nanos, target: u32) {
        self.advance(now);
        self.target = target.clamp(self.cfg.min_size, self.cfg.max_size);
        self.fill(now);
    }

    /// Changes `min_size` and `max_size` at runtime. Connections above a
    /// lowered maximum retire as they become idle.
    ///
    /// # Errors
    /// Returns the validation error and changes nothing when the new bounds
    /// are invalid.
    pub fn resize(&mut self, now: Nanos, min_size: u32, max_size: u32) -> Result<(), ConfigError> {
        let mut cfg = self.cfg.clone();
        cfg.min_size = min_size;
        cfg.max_size = max_size;
        cfg.initial_size = cfg.initial_size.min(max_size);
        cfg.min_idle = cfg.min_idle.min(max_size);
        cfg.validate()?;
        self.advance(now);
        self.cfg = cfg;
        self.target = self.target.clamp(min_size, max_size);
        while self.open > max_size {
            let Some(conn) = self.idle.pop_front() else {
                break;
            };
            self.close_conn(conn, CloseReason::IdleTimeout);
        }
        self.fill(now);
        Ok(())
    }

    /// Starts a graceful close: queued and new requests are rejected, idle
    /// connections close now, busy ones when released, creations in flight
    /// when they complete.
    pub fn close(&mut self, now: Nanos) {
        self.advance(now);
        if self.closing {
            return;
        }
        self.closing = true;
        while let Some(w) = self.waiters.pop_front() {
            self.actions.push_back(Action::Reject {
                req: w.req,
                reason: RejectReason::PoolClosed,
            });
        }
        while let Some(conn) = self.idle.pop_front() {
            self.close_conn(conn, CloseReason::PoolClosed);
        }
    }

    /// Ends the telemetry interval at `now`: returns its counters,
    /// acquire-wait statistics and time-weighted gauges, and starts the next
    /// one. The interval's waits are merged into [`wait_histogram`](Self::wait_histogram).
    pub fn take_interval(&mut self, now: Nanos) -> PoolInterval {
        self.advance(now);
        let span = now.saturating_sub(self.interval_start);
        let mut iv = std::mem::take(&mut self.interval);
        if span > 0 {
            let s = span as f64;
            iv.size_mean = self.area_size as f64 / s;
            iv.busy_mean = self.area_busy as f64 / s;
            iv.waiting_mean = self.area_waiting as f64 / s;
        } else {
            iv.size_mean = f64::from(self.open);
            iv.busy_mean = f64::from(self.busy);
            iv.waiting_mean = self.waiters.len() as f64;
        }
        let ms = |v: f64| v / super::NANOS_PER_MS as f64;
        let h = &self.wait_hist;
        iv.wait_mean_ms = h.mean().map(ms);
        iv.wait_p50_ms = h.quantile(0.50).map(ms);
        iv.wait_p95_ms = h.quantile(0.95).map(ms);
        iv.wait_p99_ms = h.quantile(0.99).map(ms);
        iv.wait_max_ms = h.max().map(|v| ms(v as f64));
        self.wait_total.merge(&self.wait_hist);
        self.wait_hist.reset();
        self.totals.connection_ns += self.area_size;
        self.totals.busy_ns += self.area_busy;
        self.totals.waiting_ns += self.area_waiting;
        self.area_size = 0;
        self.area_busy = 0;
        self.area_waiting = 0;
        self.interval_start = now;
        self.interval.demand_max = self.busy + self.waiters.len() as u32;
        iv
    }

    /// Acquire waits of every grant in the intervals taken so far.
    pub fn wait_histogram(&self) -> &Histogram {
        &self.wait_total
    }

    /// With `yes`, grants no longer record their waits in the interval's
    /// histogram: the driver records each grant's `waited` itself and hands
    /// them over with [`add_waits`](Self::add_waits) before each
    /// [`take_interval`](Self::take_interval). The runtime pool does, per
    /// worker thread and outside its lock, so that the histogram's lines
    /// are not written from both cores on every checkout.
    pub fn set_driver_records_waits(&mut self, yes: bool) {
        self.driver_records_waits = yes;
    }

    /// Adds acquire waits the driver recorded to the running interval (see
    /// [`set_driver_records_waits`](Self::set_driver_records_waits)).
    pub fn add_waits(&mut self, waits: &Histogram) {
        self.wait_hist.merge(waits);
    }

    /// Whole-run integrals up to `now`, running interval included:
    /// (open connection-ns, busy connection-ns, queued request-ns).
    pub fn integrals(&mut self, now: Nanos) -> (u128, u128, u128) {
        self.advance(now);
        (
            self.totals.connection_ns + self.area_size,
            self.totals.busy_ns + self.area_busy,
            self.totals.waiting_ns + self.area_waiting,
        )
    }

    /// Like [`acquire`](Self::acquire), but when nobody is queued grants
    /// the most recently used idle connection for which `holds` is true
    /// (statement-cache affinity: `holds` says whether a connection has the
    /// request's statement prepared). Without such a connection it is
    /// [`acquire`](Self::acquire): the pool never waits for a preferred
    /// connection, and a queued request is always served first.
    ///
    /// The scan starts at the most recently used end of the idle list, where
    /// a warm connection usually sits, so the common case is one `holds`
    /// call; the worst case is one call per idle connection. With at most
    /// one idle connection there is nothing to choose, and no scan.
    ///
    /// `#[inline]`: called once per request on the simulator's hot path;
    /// left to the heuristics, a change elsewhere in the caller's crate
    /// moved it out of line and cost the simulator 1.5% of its
    /// instructions (callgrind, 2026-12-07).
    #[inline]
    pub fn acquire_preferring(
        &mut self,
        now: Nanos,
        req: RequestId,
        mut holds: impl FnMut(ConnId) -> bool,
    ) {
        if !self.closing && self.waiters.is_empty() && self.idle.len() > 1 {
            let slots = &self.slots;
            let found = self
                .idle
                .iter()
                .rposition(|&c| !slots[c as usize].expired && holds(c));
            if let Some(pos) = found {
                let conn = if pos + 1 == self.idle.len() {
                    self.idle.pop_back()
                } else {
                    self.idle.remove(pos)
                };
                if let Some(conn) = conn {
                    self.advance(now);
                    self.totals.acquires_requested += 1;
                    self.grant(now, req, now, conn);
                    return;
                }
            }
        }
        self.acquire(now, req);
    }

    /// Closes idle connection `conn` because the driver found it broken
    /// (its socket closed while it sat idle), and refills toward the
    /// target. Returns whether `conn` was idle.
    pub fn discard_idle(&mut self, now: Nanos, conn: ConnId) -> bool {
        if !self.slot_is(conn, SlotState::Idle) {
            return false;
        }
        self.advance(now);
        if let Some(pos) = self.idle.iter().position(|&c| c == conn) {
            self.idle.remove(pos);
        }
        self.close_conn(conn, CloseReason::Broken);
        self.fill(now);
        true
    }

    /// Whether `conn` is an open connection sitting idle in the pool.
    pub fn is_idle(&self, conn: ConnId) -> bool {
        self.slot_is(conn, SlotState::Idle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::NANOS_PER_MS as MS;

    fn cfg(min: u32, max: u32) -> PoolConfig {
        PoolConfig {
            min_size: min,
            max_size: max,
            initial_size: min,
            idle_timeout: Some(1000 * MS),
            max_lifetime: None,
            acquire_timeout: Some(100 * MS),
            max_concurrent_creates: 8,
            ..PoolConfig::default()
        }
    }

    fn drain(p: &mut PoolCore) -> Vec<Action> {
        std::iter::from_fn(|| p.poll_action()).collect()
    }

    /// Completes every requested creation at `now`.
    fn create_all(p: &mut PoolCore, now: Nanos) -> Vec<Action> {
        let mut out = Vec::new();
        loop {
            let acts = drain(p);
            if acts.is_empty() {
                return out;
            }
            for a in acts {
                if let Action::Create { conn } = a {
                    p.created(now, conn);
                } else {
                    out.push(a);
                }
            }
        }
    }

    #[test]
    fn warm_pool_grants_immediately_then_queues_fifo() {
        let mut p = PoolCore::new(cfg(2, 2), 0).unwrap();
        assert!(create_all(&mut p, 0).is_empty());
        assert_eq!((p.size(), p.idle()), (2, 2));
        p.acquire(1, 1);
        p.acquire(1, 2);
        p.acquire(1, 3);
        p.acquire(2, 4);
        let acts = drain(&mut p);
        assert_eq!(acts.len(), 2);
        let Action::Grant { conn: c1, .. } = acts[0] else {
            panic!("{acts:?}")
        };
        assert_eq!(p.waiting(), 2);
        p.release(10, c1, true);
        assert_eq!(
            drain(&mut p),
            vec![Action::Grant {
                req: 3,
                conn: c1,
                waited: 9,
                check: false
            }]
        );
    }

    #[test]
    fn cold_pool_creates_on_demand_up_to_max() {
        let mut p = PoolCore::new(cfg(0, 3), 0).unwrap();
        for r in 0..5 {
            p.acquire(0, r);
        }
        let acts = drain(&mut p);
        let creates: Vec<_> = acts
            .iter()
            .filter(|a| matches!(a, Action::Create { .. }))
            .collect();
        assert_eq!(creates.len(), 3);
        for a in creates {
            let Action::Create { conn } = *a else {
                unreachable!()
            };
            p.created(5, conn);
        }
        let grants = drain(&mut p);
        assert_eq!(grants.len(), 3);
        assert!(
            grants
                .iter()
                .all(|g| matches!(g, Action::Grant { waited: 5, .. }))
        );
        assert_eq!(p.waiting(), 2);
    }

    #[test]
    fn acquire_timeout_fails_waiters_in_order() {
        let mut p = PoolCore::new(cfg(1, 1), 0).unwrap();
        create_all(&mut p, 0);
        p.acquire(0, 1);
        p.acquire(10 * MS, 2);
        p.acquire(20 * MS, 3);
        drain(&mut p);
        assert_eq!(p.poll_timeout(), Some(110 * MS));
        p.handle_timeout(115 * MS);
        assert_eq!(
            drain(&mut p),
            vec![Action::Timeout {
                req: 2,
                waited: 105 * MS
            }]
        );
        assert_eq!(p.poll_timeout(), Some(120 * MS));
        assert_eq!(p.totals().timeouts, 1);
    }

    #[test]
    fn idle_connections_above_floor_retire_lru_first() {
        let mut p = PoolCore::new(cfg(1, 4), 0).unwrap();
        create_all(&mut p, 0);
        p.set_target(0, 3);
        create_all(&mut p, 0);
        assert_eq!(p.size(), 3);
        p.set_target(0, 1);
        assert_eq!(p.poll_timeout(), Some(1000 * MS));
        p.handle_timeout(1000 * MS);
        let closes = drain(&mut p);
        assert_eq!(closes.len(), 2);
        assert!(closes.iter().all(|a| matches!(
            a,
            Action::Close {
                reason: CloseReason::IdleTimeout,
                ..
            }
        )));
        assert_eq!(p.size(), 1);
        assert_eq!(p.poll_timeout(), None);
    }

    #[test]
    fn max_lifetime_closes_idle_and_marks_busy() {
        let mut c = cfg(2, 2);
        c.max_lifetime = Some(500 * MS);
        let mut p = PoolCore::new(c, 0).unwrap();
        create_all(&mut p, 0);
        p.acquire(1, 1);
        let Action::Grant { conn: busy, .. } = drain(&mut p)[0] else {
            panic!()
        };
        p.handle_timeout(500 * MS);
        let acts = drain(&mut p);
        // The idle one closes and is replaced; the busy one waits for release.
        assert!(acts.iter().any(|a| matches!(
            a,
            Action::Close {
                reason: CloseReason::MaxLifetime,
                ..
            }
        )));
        assert!(acts.iter().any(|a| matches!(a, Action::Create { .. })));
        for a in acts {
            if let Action::Create { conn } = a {
                p.created(501 * MS, conn);
            }
        }
        p.release(600 * MS, busy, true);
        let acts = drain(&mut p);
        assert!(acts.contains(&Action::Close {
            conn: busy,
            reason: CloseReason::MaxLifetime
        }));
    }

    #[test]
    fn lifetimes_are_jittered_but_never_exceed_max() {
        let mut c = cfg(8, 8);
        c.max_lifetime = Some(1000 * MS);
        c.max_lifetime_jitter = 0.1;
        let mut p = PoolCore::new(c, 0).unwrap();
        create_all(&mut p, 0);
        let mut closed_at = Vec::new();
        let mut t = 0;
        while closed_at.len() < 8 {
            let Some(next) = p.poll_timeout() else { break };
            assert!(next <= 1000 * MS, "never past max_lifetime");
            t = next.max(t);
            p.handle_timeout(t);
            for a in drain(&mut p) {
                if let Action::Close {
                    reason: CloseReason::MaxLifetime,
                    ..
                } = a
                {
                    closed_at.push(t);
                }
            }
            if t >= 1000 * MS {
                break;
            }
        }
        assert_eq!(closed_at.len(), 8);
        assert!(closed_at.iter().all(|&t| t >= 900 * MS));
        closed_at.dedup();
        assert!(
            closed_at.len() > 1,
            "connections opened together retire at different times"
        );
    }

    #[test]
    fn create_failures_back_off_exponentially() {
        let mut p = PoolCore::new(cfg(1, 1), 0).unwrap();
        let Some(Action::Create { conn }) = p.poll_action() else {
            panic!()
        };
        p.create_failed(0, conn);
        assert!(p.poll_action().is_none(), "no instant retry");
        assert_eq!(p.poll_timeout(), Some(10 * MS));
        p.handle_timeout(10 * MS);
        let Some(Action::Create { conn }) = p.poll_action() else {
            panic!()
        };
        p.create_failed(10 * MS, conn);
        assert_eq!(p.poll_timeout(), Some(30 * MS));
    }

    #[test]
    fn without_grow_on_demand_target_is_a_cap() {
        let mut c = cfg(1, 10);
        c.grow_on_demand = false;
        let mut p = PoolCore::new(c, 0).unwrap();
        create_all(&mut p, 0);
        for r in 0..5 {
            p.acquire(0, r);
        }
        assert!(create_all(&mut p, 0).len() == 1);
        assert_eq!(p.size(), 1);
        p.set_target(0, 3);
        create_all(&mut p, 0);
        assert_eq!(p.size(), 3);
    }

    #[test]
    fn close_drains() {
        let mut p = PoolCore::new(cfg(2, 2), 0).unwrap();
        create_all(&mut p, 0);
        p.acquire(0, 1);
        p.acquire(0, 2);
        p.acquire(0, 3);
        let grants = drain(&mut p);
        p.close(1);
        assert_eq!(
            drain(&mut p),
            vec![Action::Reject {
                req: 3,
                reason: RejectReason::PoolClosed
            }]
        );
        assert!(!p.is_drained());
        for g in grants {
            let Action::Grant { conn, .. } = g else {
                panic!()
            };
            p.release(2, conn, true);
        }
        assert!(p.is_drained());
        assert_eq!(drain(&mut p).len(), 2, "two closes");
        p.acquire(3, 4);
        assert!(matches!(
            p.poll_action(),
            Some(Action::Reject { req: 4, .. })
        ));
    }

    #[test]
    fn health_check_failure_requeues_at_head() {
        let mut c = cfg(2, 2);
        c.health_check = HealthCheck::Always;
        let mut p = PoolCore::new(c, 0).unwrap();
        create_all(&mut p, 0);
        p.acquire(5, 1);
        let Some(Action::Grant {
            conn, check: true, ..
        }) = p.poll_action()
        else {
            panic!()
        };
        p.check_failed(6, 1, conn, 5);
        let acts = drain(&mut p);
        assert!(acts.contains(&Action::Close {
            conn,
            reason: CloseReason::Broken
        }));
        assert!(acts.iter().any(|a| matches!(
            a,
            Action::Grant {
                req: 1,
                waited: 1,
                ..
            }
        )));
    }

    #[test]
    fn after_idle_check_skips_a_connection_handed_straight_to_a_waiter() {
        let mut c = cfg(1, 1);
        c.health_check = HealthCheck::AfterIdle(50 * MS);
        let mut p = PoolCore::new(c, 0).unwrap();
        create_all(&mut p, 0);
        // Idle for 60 ms: checked.
        p.acquire(60 * MS, 1);
        let Some(Action::Grant {
            conn, check: true, ..
        }) = p.poll_action()
        else {
            panic!("an idle connection is checked")
        };
        // Busy for a long time while a request queues; on release it goes
        // straight to the waiter, so it was never idle: no check.
        p.acquire(61 * MS, 2);
        assert!(p.poll_action().is_none());
        p.release(200 * MS, conn, true);
        assert_eq!(
            p.poll_action(),
            Some(Action::Grant {
                req: 2,
                conn,
                waited: 139 * MS,
                check: false
            })
        );
        p.release(210 * MS, conn, true);
        p.acquire(300 * MS, 3);
        assert!(matches!(
            p.poll_action(),
            Some(Action::Grant { check: true, .. })
        ));
    }

    #[test]
    fn interval_means_are_time_weighted() {
        let mut p = PoolCore::new(cfg(1, 1), 0).unwrap();
        create_all(&mut p, 0);
        p.acquire(0, 1);
        let Some(Action::Grant { conn, .. }) = p.poll_action() else {
            panic!()
        };
        p.release(250, conn, true);
        let iv = p.take_interval(1000);
        assert!((iv.busy_mean - 0.25).abs() < 1e-12);
        assert!((iv.size_mean - 1.0).abs() < 1e-12);
        assert_eq!(iv.acquires, 1);
        assert_eq!(iv.wait_max_ms, Some(0.0));
        assert_eq!(p.wait_histogram().count(), 1);
    }

    #[test]
    fn invalid_config_is_refused() {
        let e = PoolCore::new(cfg(5, 2), 0).unwrap_err();
        assert_eq!(e.path, "min_size");
        let mut c = cfg(0, 0);
        c.initial_size = 0;
        assert_eq!(PoolCore::new(c, 0).unwrap_err().path, "max_size");
    }
}
