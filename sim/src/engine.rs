//! The simulation engine: the discrete-event driver of the pool core.
//!
//! Requests arrive from a non-homogeneous Poisson process. Each one draws
//! its class, statement pattern, hold time and failure dice *at arrival*,
//! from streams of its own, so the offered traffic is the same whichever
//! policy sizes the pool (a fair comparison, and what an oracle can
//! foresee). It passes the breakers, asks the [`PoolCore`] for a connection,
//! holds it (slowed by contention and degradation windows), and releases
//! it. The core's actions (grants, creations, closes, timeouts) become
//! events; its single timer is one more event. Every telemetry interval the
//! [`IntervalRecorder`] closes a [`Snapshot`] and the scaling policy may set
//! a new target.
//!
//! Statement caches: every connection keeps an LRU of the patterns it
//! prepared (`pool.affinity.cache_size`). With `pool.affinity.enabled` a
//! request asks the core for an idle connection that holds its pattern
//! ([`PoolCore::acquire_preferring`]), as the runtime pool does. On a grant
//! the pattern is looked up in the connection's cache (one lookup per
//! request, however many statements it runs): a miss adds
//! `pool.affinity.prepare_ms` to the hold, not stretched by contention. A
//! grant whose health check fails looks nothing up; a closed connection
//! forgets its cache.

use poolcast::core::breaker::{MultiBreaker, Permit, Tripped};
use poolcast::core::interval::{IntervalRecorder, SystemSignals};
use poolcast::core::policy::{Foresight, PolicyConfig, PolicyContext, ScalingPolicy};

use crate::foresight::DemandProfile;
use poolcast::core::pool::{Action, ConnId, PoolCore};
use poolcast::core::{
    ErrorCategory, NANOS_PER_MS, NANOS_PER_SEC, Nanos, Outcome, QueryClass, RequestRecord, Snapshot,
};
use rand::RngExt;

use crate::database::DatabaseConfig;
use crate::failures::Failures;
use crate::kernel::EventQueue;
use crate::rng::{SimRng, StreamKey};
use crate::statement_cache::StatementCaches;
use crate::summary::{Summary, WAIT_QUANTILE_LEVELS};
use crate::valid_scenario::ValidScenario;
use crate::workload::closed_loop::ChainRef;
use crate::workload::demand::Demand;
use crate::workload::{ServiceSampler, ms_to_ns};

/// Where the engine sends telemetry.
pub trait TelemetrySink {
    /// The error a sink can fail with.
    type Error;
    /// One interval's snapshot.
    ///
    /// # Errors
    /// The sink could not store it; the run stops with this error.
    fn snapshot(&mut self, snap: &Snapshot) -> Result<(), Self::Error>;
    /// One finished request (only called when the scenario records
    /// requests).
    ///
    /// # Errors
    /// The sink could not store it; the run stops with this error.
    fn request(&mut self, rec: &RequestRecord) -> Result<(), Self::Error>;
}

/// A sink that keeps everything in memory (tests, small runs).
#[derive(Debug, Default)]
pub struct MemorySink {
    /// Snapshots in order.
    pub snapshots: Vec<Snapshot>,
    /// Request records in completion order.
    pub requests: Vec<RequestRecord>,
}

impl TelemetrySink for MemorySink {
    type Error = std::convert::Infallible;
    fn snapshot(&mut self, snap: &Snapshot) -> Result<(), Self::Error> {
        self.snapshots.push(snap.clone());
        Ok(())
    }
    fn request(&mut self, rec: &RequestRecord) -> Result<(), Self::Error> {
        self.requests.push(*rec);
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
enum Ev {
    Arrival,
    Done(u32),
    CreateDone(ConnId),
    Timer,
    Tick,
}

#[derive(Debug, Clone, Copy)]
struct Req {
    arrival: Nanos,
    class: QueryClass,
    multi: bool,
    pattern: u64,
    hold: Nanos,
    u_fail: f64,
    u_frac: f64,
    permit: Permit,
    conn: ConnId,
    granted: Nanos,
    outcome: Outcome,
    /// The client chain of a closed-loop replay (default: none).
    chain: ChainRef,
}

/// Totals the engine keeps beside the pool's own.
#[derive(Debug, Default, Clone)]
struct Counters {
    arrivals: u64,
    completed: u64,
    failed: [u64; ErrorCategory::COUNT],
    acquire_timeouts: u64,
    rejected: u64,
    rejected_by: [u64; ErrorCategory::COUNT + 1],
    hold_ns_sum: u128,
    held: u64,
    time_in_system_ns: u128,
    ended: u64,
    scale_events: u64,
    /// Integral of the target over time up to `target_since`.
    target_ns: u128,
    target_since: Nanos,
}

/// One simulation run of one scenario replication.
pub struct Engine<'a, S: TelemetrySink> {
    sc: &'a ValidScenario,
    q: EventQueue<Ev>,
    pool: PoolCore,
    breaker: MultiBreaker,
    policy: Box<dyn ScalingPolicy>,
    rec: IntervalRecorder,
    demand: Demand,
    /// A closed-loop replay: arrivals follow the ends of requests.
    closed: bool,
    /// Closed loop: the time of the arrival event in the queue's side slot.
    armed: Option<Nanos>,
    create_time: ServiceSampler,
    failures: Failures,
    inject: bool,
    db: DatabaseConfig,
    rng_failures: SimRng,
    rng_create: SimRng,
    reqs: Vec<Req>,
    free: Vec<u32>,
    in_flight: u64,
    conn_epoch: Vec<u32>,
    create_dice: Vec<f64>,
    timer_at: Option<Nanos>,
    horizon: Nanos,
    interval: Nanos,
    health_check_cost: Nanos,
    counters: Counters,
    sink: &'a mut S,
    sink_error: Option<S::Error>,
    record_requests: bool,
    foresight: Option<DemandProfile>,
    affinity: bool,
    caches: StatementCaches,
    prepare_cost: Nanos,
}

impl<'a, S: TelemetrySink> Engine<'a, S> {
    /// Prepares replication `replication` of `sc` under `seed`.
    pub fn new(sc: &'a ValidScenario, seed: u64, replication: u32, sink: &'a mut S) -> Self {
        let key = StreamKey::new(seed, sc.name.clone(), replication);
        let horizon = sc.horizon_ns();
        let pool = PoolCore::with_valid(sc.pool_config().clone(), 0);
        let failures = Failures::new(&sc.failures);
        let demand = Demand::new(sc, seed, replication);
        Engine {
            sc,
            q: EventQueue::new(),
            pool,
            breaker: MultiBreaker::new(&sc.breaker),
            policy: sc.pool.policy_config().build(),
            rec: IntervalRecorder::new(0),
            closed: demand.is_closed(),
            demand,
            armed: None,
            create_time: sc.create_time().clone(),
            inject: !failures.is_none(),
            failures,
            db: sc.database.clone(),
            rng_failures: key.stream("failures"),
            rng_create: key.stream("create"),
            reqs: Vec::with_capacity(1024),
            free: Vec::with_capacity(1024),
            in_flight: 0,
            conn_epoch: Vec::new(),
            create_dice: Vec::new(),
            timer_at: None,
            horizon,
            interval: sc.interval_ns(),
            health_check_cost: ms_to_ns(sc.pool.health_check_ms),
            counters: Counters::default(),
            sink,
            sink_error: None,
            record_requests: sc.record_requests,
            foresight: match sc.pool.policy_config() {
                PolicyConfig::Oracle(_) => true,
                PolicyConfig::Predictive(c) => c.foresight,
                _ => false,
            }
            .then(|| DemandProfile::compute(sc, seed, replication)),
            affinity: sc.pool.affinity.enabled,
            caches: StatementCaches::new(sc.pool.affinity.cache_size),
            prepare_cost: ms_to_ns(sc.pool.affinity.prepare_ms),
        }
    }

    /// Runs to the horizon and returns the summary.
    ///
    /// # Errors
    /// The first error of the telemetry sink.
    pub fn run(mut self) -> Result<Summary, S::Error> {
        let started = std::time::Instant::now();
        self.drain_actions(0);
        if self.closed {
            self.rearm(0);
        } else if let Some(t) = self.demand.next_arrival(0) {
            self.q.push_side(t, Ev::Arrival);
        }
        self.q.push(self.interval.min(self.horizon), Ev::Tick);
        self.arm_timer(0);
        while let Some((now, ev)) = self.q.pop() {
            if now > self.horizon {
                break;
            }
            match ev {
                Ev::Arrival if self.closed => self.on_closed_wake(now),
                Ev::Arrival => self.on_arrival(now),
                Ev::Done(slot) => self.on_done(now, slot),
                Ev::CreateDone(conn) => {
                    let u = self.create_dice.get(conn as usize).copied().unwrap_or(1.0);
                    self.on_create_done(now, conn, u);
                }
                Ev::Timer => {
                    if self.timer_at == Some(now) {
                        self.timer_at = None;
                        self.pool.handle_timeout(now);
                        self.drain_actions(now);
                    }
                }
                Ev::Tick => {
                    if self.on_tick(now)? {
                        break;
                    }
                }
            }
            self.arm_timer(now);
            if self.sink_error.is_some() {
                break;
            }
        }
        if let Some(e) = self.sink_error.take() {
            return Err(e);
        }
        let wall = started.elapsed().as_secs_f64();
        Ok(self.summarize(wall))
    }

    #[inline]
    fn arm_timer(&mut self, now: Nanos) {
        if let Some(t) = self.pool.poll_timeout()
            && self.timer_at.is_none_or(|at| t < at)
        {
            let t = t.max(now);
            self.timer_at = Some(t);
            self.q.push(t, Ev::Timer);
        }
    }

    fn on_arrival(&mut self, now: Nanos) {
        if let Some(t) = self.demand.next_arrival(now) {
            self.q.push_side(t, Ev::Arrival);
        }
        let drawn = self.demand.draw();
        // Open loop: the client is recorded, nothing waits on its end.
        let chain = ChainRef {
            client: drawn.client,
            seq: 0,
        };
        self.admit(now, drawn, chain);
    }

    /// Closed loop: the side slot's event fired. Every request due now
    /// arrives, then the next wake is armed.
    fn on_closed_wake(&mut self, now: Nanos) {
        self.armed = None;
        while let Some((drawn, chain)) = self.demand.pop_due(now) {
            self.admit(now, drawn, chain);
        }
        self.rearm(now);
    }

    /// Closed loop: puts the demand's next wake in the side slot, unless
    /// it is there already.
    fn rearm(&mut self, now: Nanos) {
        let wake = self.demand.wake_at(now);
        if wake != self.armed {
            if let Some(t) = wake {
                self.q.push_side(t, Ev::Arrival);
            }
            // (A wake that is gone leaves its event, which finds nothing.)
            self.armed = wake;
        }
    }

    /// A request arrives now.
    #[inline]
    fn admit(&mut self, now: Nanos, drawn: crate::workload::demand::Drawn, chain: ChainRef) {
        self.counters.arrivals += 1;
        let crate::workload::demand::Drawn {
            class,
            pattern,
            hold,
            ..
        } = drawn;
        let (u_fail, u_frac) = if self.inject {
            (
                self.rng_failures.random::<f64>(),
                self.rng_failures.random::<f64>(),
            )
        } else {
            (1.0, 1.0)
        };
        self.rec.on_arrival(class);
        let mut req = Req {
            arrival: now,
            class,
            multi: hold.statements > 1 || class == QueryClass::Transaction,
            pattern,
            hold: hold.hold_ns,
            u_fail,
            u_frac,
            permit: Permit::default(),
            conn: 0,
            granted: 0,
            outcome: Outcome::Ok,
            chain,
        };
        match self.breaker.try_acquire(now) {
            Ok(permit) => req.permit = permit,
            Err(tripped) => {
                let cat = match tripped {
                    Tripped::Category(c) => Some(c),
                    Tripped::Global => None,
                };
                req.outcome = Outcome::Rejected(cat);
                self.counters.rejected += 1;
                self.counters.rejected_by
                    [cat.map_or(ErrorCategory::COUNT, ErrorCategory::index)] += 1;
                self.finish_request(now, &req, 0);
                return;
            }
        }
        let slot = match self.free.pop() {
            Some(s) => {
                self.reqs[s as usize] = req;
                s
            }
            None => {
                self.reqs.push(req);
                (self.reqs.len() - 1) as u32
            }
        };
        self.in_flight += 1;
        // Pattern 0: no statement known (a replayed checkout without SQL,
        // as the runtime's plain `get()` records it): no routing.
        if self.affinity && pattern != 0 {
            let caches = &self.caches;
            self.pool
                .acquire_preferring(now, u64::from(slot), |c| caches.holds(c, pattern));
        } else {
            self.pool.acquire(now, u64::from(slot));
        }
        self.drain_actions(now);
    }

    fn drain_actions(&mut self, now: Nanos) {
        while let Some(a) = self.pool.poll_action() {
            match a {
                Action::Grant {
                    req, conn, check, ..
                } => self.on_grant(now, req as u32, conn, check),
                Action::Create { conn } => {
                    // A new connection in a reused slot starts with an
                    // empty cache (its predecessor's Close already cleared
                    // it; this keeps that true whatever the core's order).
                    self.caches.forget(conn);
                    let dt = self.create_time.sample(&mut self.rng_create);
                    let u = self.rng_create.random::<f64>();
                    let i = conn as usize;
                    if self.create_dice.len() <= i {
                        self.create_dice.resize(i + 1, 1.0);
                    }
                    // Kept beside the event so that events stay 8 bytes.
                    self.create_dice[i] = u;
                    self.q.push(now + dt, Ev::CreateDone(conn));
                }
                Action::Close { conn, .. } => self.caches.forget(conn),
                Action::Timeout { req, .. } => {
                    let slot = req as u32;
                    let mut r = self.reqs[slot as usize];
                    r.outcome = Outcome::AcquireTimeout;
                    self.counters.acquire_timeouts += 1;
                    self.counters.failed[ErrorCategory::Timeout.index()] += 1;
                    self.breaker
                        .record(now, r.permit, Some(ErrorCategory::Timeout));
                    self.free_slot(slot);
                    self.finish_request(now, &r, 0);
                }
                Action::Reject { req, .. } => {
                    let slot = req as u32;
                    let mut r = self.reqs[slot as usize];
                    r.outcome = Outcome::Rejected(None);
                    self.counters.rejected += 1;
                    self.counters.rejected_by[ErrorCategory::COUNT] += 1;
                    self.breaker.cancel(r.permit);
                    self.free_slot(slot);
                    self.finish_request(now, &r, 0);
                }
            }
        }
    }

    fn free_slot(&mut self, slot: u32) {
        self.free.push(slot);
        self.in_flight -= 1;
    }

    fn conn_dead(&self, now: Nanos, conn: ConnId) -> bool {
        self.inject
            && (self.failures.in_outage(now)
                || self.conn_epoch.get(conn as usize).copied().unwrap_or(0)
                    < self.failures.outage_epoch(now))
    }

    fn on_grant(&mut self, now: Nanos, slot: u32, conn: ConnId, check: bool) {
        let r = self.reqs[slot as usize];
        let dead = self.conn_dead(now, conn);
        if check && dead {
            // The health check finds the connection dead: the pool closes it
            // and serves the request from another one.
            self.pool
                .check_failed(now, u64::from(slot), conn, r.arrival);
            return;
        }
        // No statement known, nothing to find prepared or to prepare.
        let hit = r.pattern == 0 || self.caches.lookup(conn, r.pattern);
        let mut hold = r.hold;
        let mut outcome = Outcome::Ok;
        if dead {
            hold = self.failures.dead_error();
            outcome = Outcome::Error(ErrorCategory::Connection);
        } else {
            let slow = self.db.contention(self.pool.busy());
            let slow = if self.inject {
                slow * self.failures.latency_multiplier(now)
            } else {
                slow
            };
            if slow != 1.0 {
                hold = (hold as f64 * slow) as Nanos;
            }
            if self.inject {
                let f = &self.failures;
                let p_q = f.rate(ErrorCategory::Query, now);
                let p_t = p_q + f.rate(ErrorCategory::Timeout, now);
                let p_x = p_t
                    + if r.multi {
                        f.rate(ErrorCategory::Transaction, now)
                    } else {
                        0.0
                    };
                if r.u_fail < p_q {
                    outcome = Outcome::Error(ErrorCategory::Query);
                    hold = (hold as f64 * r.u_frac) as Nanos;
                } else if r.u_fail < p_t {
                    outcome = Outcome::Error(ErrorCategory::Timeout);
                    hold = f.statement_timeout().unwrap_or(hold);
                } else if r.u_fail < p_x {
                    outcome = Outcome::Error(ErrorCategory::Transaction);
                    hold = (hold as f64 * r.u_frac) as Nanos;
                } else if let Some(st) = f.statement_timeout()
                    && hold > st
                {
                    outcome = Outcome::Error(ErrorCategory::Timeout);
                    hold = st;
                }
            }
        }
        if !hit && !dead {
            hold += self.prepare_cost;
        }
        if check {
            hold += self.health_check_cost;
        }
        let req = &mut self.reqs[slot as usize];
        req.conn = conn;
        req.granted = now;
        req.outcome = outcome;
        self.q.push(now + hold, Ev::Done(slot));
    }

    fn on_done(&mut self, now: Nanos, slot: u32) {
        let r = self.reqs[slot as usize];
        let reusable = r.outcome != Outcome::Error(ErrorCategory::Connection);
        self.pool.release(now, r.conn, reusable);
        self.breaker.record(now, r.permit, r.outcome.category());
        let hold = now - r.granted;
        match r.outcome {
            Outcome::Ok => self.counters.completed += 1,
            Outcome::Error(c) => self.counters.failed[c.index()] += 1,
            _ => {}
        }
        self.counters.hold_ns_sum += u128::from(hold);
        self.counters.held += 1;
        self.free_slot(slot);
        self.finish_request(now, &r, hold);
        self.drain_actions(now);
    }

    fn finish_request(&mut self, now: Nanos, r: &Req, hold: Nanos) {
        self.rec.on_end(r.class, hold, r.outcome);
        self.counters.ended += 1;
        self.counters.time_in_system_ns += u128::from(now - r.arrival);
        if self.record_requests && self.sink_error.is_none() {
            let granted = matches!(r.outcome, Outcome::Ok | Outcome::Error(_));
            let wait = if granted {
                r.granted - r.arrival
            } else {
                now - r.arrival
            };
            let rec = RequestRecord {
                arrival_ns: r.arrival,
                class: r.class,
                pattern_hash: r.pattern,
                acquire_wait_ns: wait,
                hold_ns: hold,
                outcome: r.outcome,
                client: r.chain.client,
            };
            if let Err(e) = self.sink.request(&rec) {
                self.sink_error = Some(e);
            }
        }
        if self.closed {
            self.demand.ended(now, r.chain);
            self.rearm(now);
        }
    }

    fn on_create_done(&mut self, now: Nanos, conn: ConnId, u: f64) {
        let fail = if self.inject {
            if self.failures.in_outage(now) {
                Some(ErrorCategory::Connection)
            } else {
                let pc = self.failures.rate(ErrorCategory::Connection, now);
                let ps = pc + self.failures.rate(ErrorCategory::Security, now);
                if u < pc {
                    Some(ErrorCategory::Connection)
                } else if u < ps {
                    Some(ErrorCategory::Security)
                } else {
                    None
                }
            }
        } else {
            None
        };
        match fail {
            Some(cat) => {
                // A failed creation is a failed call for the breakers: this
                // is how the connection breaker sees a database going away.
                self.breaker.record(now, Permit::default(), Some(cat));
                self.pool.create_failed(now, conn);
            }
            None => {
                let i = conn as usize;
                if self.conn_epoch.len() <= i {
                    self.conn_epoch.resize(i + 1, 0);
                }
                self.conn_epoch[i] = if self.inject {
                    self.failures.outage_epoch(now)
                } else {
                    0
                };
                self.pool.created(now, conn);
            }
        }
        self.drain_actions(now);
    }

    /// Closes an interval. Returns whether the run is over.
    fn on_tick(&mut self, now: Nanos) -> Result<bool, S::Error> {
        let states = self.breaker.states(now);
        let mut snap = self
            .rec
            .finish(now, &mut self.pool, states, SystemSignals::default());
        snap.db_cpu = Some(self.db.cpu(snap.busy_mean));
        snap.db_mem = Some(self.db.mem(snap.size_mean));
        self.sink.snapshot(&snap)?;
        let cfg = self.pool.config();
        let ctx = PolicyContext {
            now,
            min_size: cfg.min_size,
            max_size: cfg.max_size,
            target: self.pool.target(),
            foresight: self.foresight.as_ref().map(|f| f as &dyn Foresight),
        };
        if let Some(t) = self.policy.decide(&ctx, &snap) {
            let before = self.pool.target();
            self.pool.set_target(now, t);
            let after = self.pool.target();
            if after != before {
                let c = &mut self.counters;
                c.scale_events += 1;
                c.target_ns += u128::from(before) * u128::from(now - c.target_since);
                c.target_since = now;
            }
            self.drain_actions(now);
        }
        if now >= self.horizon {
            return Ok(true);
        }
        self.q
            .push((now + self.interval).min(self.horizon), Ev::Tick);
        Ok(false)
    }

    fn summarize(mut self, wall_seconds: f64) -> Summary {
        let (conn_ns, busy_ns, wait_ns) = self.pool.integrals(self.horizon);
        let totals = self.pool.totals();
        let h = self.pool.wait_histogram();
        let ms = |v: f64| v / NANOS_PER_MS as f64;
        let c = &self.counters;
        let secs = self.horizon as f64 / NANOS_PER_SEC as f64;
        let events = self.q.events();
        let target_ns = c.target_ns
            + u128::from(self.pool.target())
                * u128::from(self.horizon.saturating_sub(c.target_since));
        let (hits, misses) = (self.caches.hits(), self.caches.misses());
        let wait_quantiles = if h.count() > 0 {
            WAIT_QUANTILE_LEVELS
                .iter()
                .map(|&q| {
                    if q >= 1.0 {
                        h.max().map_or(0.0, |v| ms(v as f64))
                    } else {
                        h.quantile(q).map_or(0.0, ms)
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        Summary {
            scenario: self.sc.name.clone(),
            policy: self.policy.name(),
            duration_s: secs,
            requests: c.arrivals,
            completed: c.completed,
            failed_by_category: ErrorCategory::ALL
                .iter()
                .map(|cat| (cat.name().to_string(), c.failed[cat.index()]))
                .collect(),
            timeouts: c.acquire_timeouts,
            rejected: c.rejected,
            rejected_by_breaker: ErrorCategory::ALL
                .iter()
                .map(|cat| (cat.name().to_string(), c.rejected_by[cat.index()]))
                .chain(std::iter::once((
                    "global".to_string(),
                    c.rejected_by[ErrorCategory::COUNT],
                )))
                .collect(),
            in_flight_at_end: self.in_flight,
            grants: totals.grants,
            acquire_wait_mean_ms: h.mean().map(ms),
            acquire_wait_p50_ms: h.quantile(0.50).map(ms),
            acquire_wait_p95_ms: h.quantile(0.95).map(ms),
            acquire_wait_p99_ms: h.quantile(0.99).map(ms),
            acquire_wait_max_ms: h.max().map(|v| ms(v as f64)),
            p_wait: if totals.grants > 0 {
                1.0 - totals.grants_immediate as f64 / totals.grants as f64
            } else {
                0.0
            },
            utilization: if conn_ns > 0 {
                busy_ns as f64 / conn_ns as f64
            } else {
                0.0
            },
            connection_seconds: conn_ns as f64 / NANOS_PER_SEC as f64,
            mean_size: conn_ns as f64 / self.horizon.max(1) as f64,
            mean_busy: busy_ns as f64 / self.horizon.max(1) as f64,
            mean_waiting: wait_ns as f64 / self.horizon.max(1) as f64,
            mean_hold_ms: if c.held > 0 {
                ms(c.hold_ns_sum as f64 / c.held as f64)
            } else {
                0.0
            },
            mean_time_in_system_ms: if c.ended > 0 {
                ms(c.time_in_system_ns as f64 / c.ended as f64)
            } else {
                0.0
            },
            arrival_rate: c.arrivals as f64 / secs,
            connections_created: totals.created,
            connections_closed: totals.closed,
            create_failures: totals.create_failures,
            events,
            wall_seconds,
            events_per_sec: if wall_seconds > 0.0 {
                events as f64 / wall_seconds
            } else {
                0.0
            },
            throughput_rps: c.completed as f64 / secs,
            acquire_wait_quantiles_ms: wait_quantiles,
            scale_events: c.scale_events,
            target_mean: target_ns as f64 / self.horizon.max(1) as f64,
            statement_cache_hits: hits,
            statement_cache_misses: misses,
            cache_hit_rate: (hits + misses > 0).then(|| hits as f64 / (hits + misses) as f64),
            closed_loop: self.demand.chain_counts(),
        }
    }
}
