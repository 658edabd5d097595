//! Assembles one [`Snapshot`] per interval from the traffic a driver saw
//! and the state of its [`PoolCore`]. Both drivers (the simulator and the
//! runtime pool) use it, so their telemetry cannot drift apart.

use super::histogram::Histogram;
use super::pool::PoolCore;
use super::telemetry::{BreakerCode, ErrorCategory, Outcome, QueryClass, Snapshot};
use super::{NANOS_PER_MS, Nanos};

/// Traffic counters of the running interval.
#[derive(Debug)]
pub struct IntervalRecorder {
    start: Nanos,
    arrivals: [u32; QueryClass::COUNT],
    completions: [u32; QueryClass::COUNT],
    errors: [u32; ErrorCategory::COUNT],
    rejected: u32,
    service: [Histogram; QueryClass::COUNT],
}

/// Database signals for the snapshot (modeled or probed).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SystemSignals {
    /// CPU utilization in \[0, 1\], if known.
    pub cpu: Option<f64>,
    /// Memory utilization in \[0, 1\], if known.
    pub mem: Option<f64>,
}

impl IntervalRecorder {
    /// A recorder whose first interval starts at `start`.
    pub fn new(start: Nanos) -> Self {
        IntervalRecorder {
            start,
            arrivals: [0; QueryClass::COUNT],
            completions: [0; QueryClass::COUNT],
            errors: [0; ErrorCategory::COUNT],
            rejected: 0,
            service: std::array::from_fn(|_| Histogram::new()),
        }
    }

    /// A request of `class` arrived.
    #[inline]
    pub fn on_arrival(&mut self, class: QueryClass) {
        self.arrivals[class.index()] += 1;
    }

    /// A request of `class` ended with `outcome` after holding a connection
    /// for `hold` ns (0 if it never got one).
    #[inline]
    pub fn on_end(&mut self, class: QueryClass, hold: Nanos, outcome: Outcome) {
        match outcome {
            Outcome::Ok => {
                self.completions[class.index()] += 1;
                self.service[class.index()].record(hold);
            }
            Outcome::Error(c) => {
                self.errors[c.index()] += 1;
                self.service[class.index()].record(hold);
            }
            Outcome::AcquireTimeout => self.errors[ErrorCategory::Timeout.index()] += 1,
            Outcome::Rejected(_) => self.rejected += 1,
        }
    }

    /// Adds the traffic `other` recorded and empties it (a driver that
    /// records from several threads keeps one recorder per thread and
    /// gathers them before [`finish`](Self::finish)).
    pub fn absorb(&mut self, other: &mut IntervalRecorder) {
        let add = |a: &mut [u32], b: &mut [u32]| {
            for (a, b) in a.iter_mut().zip(b.iter_mut()) {
                *a += std::mem::take(b);
            }
        };
        add(&mut self.arrivals, &mut other.arrivals);
        add(&mut self.completions, &mut other.completions);
        add(&mut self.errors, &mut other.errors);
        self.rejected += std::mem::take(&mut other.rejected);
        for (a, b) in self.service.iter_mut().zip(other.service.iter_mut()) {
            a.merge(b);
            b.reset();
        }
    }

    /// Adds the holds of this interval (every class) to `into`; call it
    /// before [`finish`](Self::finish), which clears them.
    pub fn merge_holds_into(&self, into: &mut crate::core::histogram::Histogram) {
        for h in &self.service {
            into.merge(h);
        }
    }

    /// Closes the interval at `now` and starts the next one.
    pub fn finish(
        &mut self,
        now: Nanos,
        pool: &mut PoolCore,
        breakers: ([BreakerCode; ErrorCategory::COUNT], BreakerCode),
        system: SystemSignals,
    ) -> Snapshot {
        let iv = pool.take_interval(now);
        let ms = |v: f64| v / NANOS_PER_MS as f64;
        let mut snap = Snapshot {
            t_ns: now,
            interval_ns: now.saturating_sub(self.start),
            size: pool.size(),
            idle: pool.idle(),
            busy: pool.busy(),
            waiting: pool.waiting(),
            pending_creates: pool.creating(),
            target: pool.target(),
            size_mean: iv.size_mean,
            busy_mean: iv.busy_mean,
            waiting_mean: iv.waiting_mean,
            demand_max: iv.demand_max,
            created: iv.created,
            closed: iv.closed,
            create_failures: iv.create_failures,
            acquires: iv.acquires,
            timeouts: iv.timeouts,
            acquire_wait_mean_ms: iv.wait_mean_ms,
            acquire_wait_p50_ms: iv.wait_p50_ms,
            acquire_wait_p95_ms: iv.wait_p95_ms,
            acquire_wait_p99_ms: iv.wait_p99_ms,
            acquire_wait_max_ms: iv.wait_max_ms,
            arrivals: self.arrivals,
            completions: self.completions,
            service_p50_ms: [None; QueryClass::COUNT],
            service_p95_ms: [None; QueryClass::COUNT],
            errors: self.errors,
            rejected: self.rejected,
            breaker: breakers.0,
            breaker_global: breakers.1,
            db_cpu: system.cpu,
            db_mem: system.mem,
        };
        for (i, h) in self.service.iter_mut().enumerate() {
            snap.service_p50_ms[i] = h.quantile(0.50).map(ms);
            snap.service_p95_ms[i] = h.quantile(0.95).map(ms);
            h.reset();
        }
        self.arrivals = [0; QueryClass::COUNT];
        self.completions = [0; QueryClass::COUNT];
        self.errors = [0; ErrorCategory::COUNT];
        self.rejected = 0;
        self.start = now;
        snap
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::pool::{Action, PoolConfig};

    #[test]
    fn snapshot_counts_traffic_and_resets() {
        let cfg = PoolConfig {
            min_size: 1,
            max_size: 1,
            initial_size: 1,
            ..PoolConfig::default()
        };
        let mut pool = PoolCore::new(cfg, 0).unwrap();
        let Some(Action::Create { conn }) = pool.poll_action() else {
            panic!()
        };
        pool.created(0, conn);
        let mut r = IntervalRecorder::new(0);
        r.on_arrival(QueryClass::Read);
        r.on_arrival(QueryClass::Write);
        r.on_end(QueryClass::Read, 2 * NANOS_PER_MS, Outcome::Ok);
        r.on_end(
            QueryClass::Write,
            0,
            Outcome::Rejected(Some(ErrorCategory::Connection)),
        );
        let s = r.finish(
            1000,
            &mut pool,
            ([0, 0, 0, 0, 2], 1),
            SystemSignals::default(),
        );
        assert_eq!(s.arrivals, [1, 1, 0, 0, 0]);
        assert_eq!(s.completions, [1, 0, 0, 0, 0]);
        assert_eq!(s.errors, [0, 0, 0, 0, 0]);
        assert_eq!(s.rejected, 1);
        assert_eq!(s.service_p50_ms[0], Some(2.0));
        assert_eq!(s.breaker[4], 2);
        assert_eq!((s.size, s.idle, s.interval_ns), (1, 1, 1000));
        let s2 = r.finish(2000, &mut pool, ([0; 5], 0), SystemSignals::default());
        assert_eq!(s2.arrivals_total(), 0);
        assert_eq!(s2.service_p50_ms[0], None);
    }

    #[test]
    fn absorb_adds_another_recorder_and_empties_it() {
        let mut pool = PoolCore::new(PoolConfig::default(), 0).unwrap();
        let mut main = IntervalRecorder::new(0);
        let mut other = IntervalRecorder::new(0);
        main.on_arrival(QueryClass::Read);
        main.on_end(QueryClass::Read, 4 * NANOS_PER_MS, Outcome::Ok);
        other.on_end(QueryClass::Read, 4 * NANOS_PER_MS, Outcome::Ok);
        other.on_end(
            QueryClass::Api,
            NANOS_PER_MS,
            Outcome::Error(ErrorCategory::Query),
        );
        other.on_end(QueryClass::Api, 0, Outcome::Rejected(None));
        main.absorb(&mut other);
        let s = main.finish(1000, &mut pool, ([0; 5], 0), SystemSignals::default());
        assert_eq!(s.arrivals, [1, 0, 0, 0, 0]);
        assert_eq!(s.completions, [2, 0, 0, 0, 0]);
        assert_eq!(s.errors[ErrorCategory::Query.index()], 1);
        assert_eq!(s.rejected, 1);
        assert_eq!(s.service_p50_ms[0], Some(4.0));
        assert_eq!(s.service_p50_ms[QueryClass::Api.index()], Some(1.0));
        // Emptied: absorbing it again adds nothing.
        main.absorb(&mut other);
        let s = main.finish(2000, &mut pool, ([0; 5], 0), SystemSignals::default());
        assert_eq!((s.completions.iter().sum::<u32>(), s.rejected), (0, 0));
    }
}
