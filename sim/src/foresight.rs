//! The future the oracle policy (and `predictive-ideal`) sees: peak and
//! mean concurrent demand per interval if every request were served the
//! moment it arrived.
//!
//! A request draws its class, pattern and hold time at arrival from its own
//! streams (or takes them from the replayed trace), so offered traffic does
//! not depend on the pool. This pre-pass makes exactly the engine's draws
//! ([`Demand`]: same streams, same order) without a pool, and sweeps the
//! holds into a per-interval peak. Holds are the base
//! service times: contention and degradation stretch holds only once a
//! pool serves them, so they are not part of "demand".

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use poolcast::core::Nanos;
use poolcast::core::policy::Foresight;

use crate::valid_scenario::ValidScenario;
use crate::workload::demand::Demand;

/// Peak unconstrained concurrency per interval of one run.
#[derive(Debug, Clone)]
pub struct DemandProfile {
    interval: Nanos,
    peaks: Vec<u32>,
    /// Request-nanoseconds of holding per interval (mean demand × interval).
    busy_ns: Vec<f64>,
}

impl DemandProfile {
    /// Replays the arrivals of `sc` replication `replication` under `seed`.
    pub fn compute(sc: &ValidScenario, seed: u64, replication: u32) -> Self {
        let horizon = sc.horizon_ns();
        let interval = sc.interval_ns().max(1);
        let mut demand = Demand::open_loop(sc, seed, replication);
        let buckets = horizon.div_ceil(interval) as usize + 1;
        let mut peaks = vec![0u32; buckets];
        let mut busy_ns = vec![0.0f64; buckets];
        let mut ends: BinaryHeap<Reverse<Nanos>> = BinaryHeap::new();
        let mut bucket = 0usize;
        let mut now = 0;
        while let Some(t) = demand.next_arrival(now) {
            if t > horizon {
                break;
            }
            now = t;
            let b = (t / interval) as usize;
            while bucket < b {
                // demand at the start of the next bucket carries into it
                bucket += 1;
                let start = bucket as Nanos * interval;
                while ends.peek().is_some_and(|&Reverse(e)| e <= start) {
                    ends.pop();
                }
                peaks[bucket] = ends.len() as u32;
            }
            while ends.peek().is_some_and(|&Reverse(e)| e <= t) {
                ends.pop();
            }
            let hold = demand.draw().hold;
            ends.push(Reverse(t + hold.hold_ns));
            spread(&mut busy_ns, t, t + hold.hold_ns, interval);
            peaks[b] = peaks[b].max(ends.len() as u32);
        }
        while bucket + 1 < buckets {
            bucket += 1;
            let start = bucket as Nanos * interval;
            while ends.peek().is_some_and(|&Reverse(e)| e <= start) {
                ends.pop();
            }
            peaks[bucket] = ends.len() as u32;
        }
        DemandProfile {
            interval,
            peaks,
            busy_ns,
        }
    }

    /// Peak demand of the interval holding time `t`.
    pub fn peak_at(&self, t: Nanos) -> u32 {
        self.peaks
            .get((t / self.interval) as usize)
            .copied()
            .unwrap_or(0)
    }
}

impl DemandProfile {
    /// The intervals `[from, to)` covers, clipped to the run: first and
    /// last index, or `None` when it covers none.
    fn intervals(&self, from: Nanos, to: Nanos) -> Option<(usize, usize)> {
        let a = (from / self.interval) as usize;
        let b = (to.saturating_sub(1) / self.interval) as usize;
        let hi = b.min(self.peaks.len().saturating_sub(1));
        (a <= hi).then_some((a, hi))
    }
}

impl Foresight for DemandProfile {
    fn peak_demand(&self, from: Nanos, to: Nanos) -> f64 {
        self.intervals(from, to).map_or(0.0, |(a, b)| {
            f64::from(self.peaks[a..=b].iter().copied().max().unwrap_or(0))
        })
    }

    fn mean_demand(&self, from: Nanos, to: Nanos) -> f64 {
        self.intervals(from, to).map_or(0.0, |(a, b)| {
            let ns: f64 = self.busy_ns[a..=b].iter().sum();
            ns / ((b + 1 - a) as f64 * self.interval as f64)
        })
    }
}

/// Adds the hold `[from, to)` to the nanoseconds of each interval it
/// overlaps.
fn spread(busy_ns: &mut [f64], from: Nanos, to: Nanos, interval: Nanos) {
    let mut at = from;
    while at < to {
        let b = (at / interval) as usize;
        let Some(cell) = busy_ns.get_mut(b) else {
            return;
        };
        let end = to.min((b as Nanos + 1) * interval);
        *cell += (end - at) as f64;
        at = end;
    }
}
