//! Arrival times: a non-homogeneous Poisson process drawn from a [`RateFn`]
//! by thinning (Lewis–Shedler) against a piecewise-constant bound.
//!
//! Time is cut into blocks (1 s by default, shorter when a random pattern
//! steps faster). Each block gets its own bound, so a spike elsewhere does
//! not slow steady periods down. Candidates are drawn from the bounding
//! process by inverting its integrated intensity, carrying the unused
//! exponential mass across block boundaries, then kept with probability
//! `rate(t) / bound`. Three shortcuts keep the common cases cheap:
//!
//! - a constant rate costs one exponential draw per arrival;
//! - a block on which the rate is constant accepts every candidate without a
//!   uniform draw or a rate evaluation;
//! - a candidate below the block's lower bound is accepted without
//!   evaluating the rate (a squeeze).

use poolcast::core::{NANOS_PER_SEC, Nanos};
use rand::RngExt;
use rand_distr::Exp1;

use super::rate::{LoadConfig, RateFn};
use crate::rng::SimRng;

/// Default thinning block: 1 s.
pub const DEFAULT_BLOCK_NS: Nanos = NANOS_PER_SEC;

/// Shortest block chosen automatically (1 ms).
const MIN_AUTO_BLOCK_NS: Nanos = 1_000_000;

/// Draws successive arrival times in `[0, horizon)`.
#[derive(Debug, Clone)]
pub struct ArrivalProcess {
    rate: RateFn,
    horizon: Nanos,
    block_ns: Nanos,
    /// Mean gap in ns when the rate is constant and positive.
    const_gap_ns: Option<f64>,
    /// The rate is identically zero.
    silent: bool,
    // The cached block [blk_start, blk_end).
    blk_start: Nanos,
    blk_end: Nanos,
    /// Upper bound on the block, requests per ns.
    blk_hi: f64,
    /// Upper bound on the block, requests per s.
    blk_hi_s: f64,
    /// Lower bound on the block, requests per s.
    blk_lo_s: f64,
    /// Mean candidate gap in ns (1 / blk_hi), infinite when blk_hi == 0.
    blk_gap: f64,
    /// The rate is constant on the block: accept every candidate.
    blk_exact: bool,
}

impl ArrivalProcess {
    /// Arrivals for `rate` until `horizon`, with 1 s blocks (or the shortest
    /// random-pattern step if shorter, but at least 1 ms).
    pub fn new(rate: RateFn, horizon: Nanos) -> Self {
        let block = rate.min_step_ns().map_or(DEFAULT_BLOCK_NS, |s| {
            s.clamp(MIN_AUTO_BLOCK_NS, DEFAULT_BLOCK_NS)
        });
        Self::with_block(rate, horizon, block)
    }

    /// Arrivals for `rate` until `horizon`, bounding the rate per block of
    /// `block_ns` (at least 1 ns).
    pub fn with_block(rate: RateFn, horizon: Nanos, block_ns: Nanos) -> Self {
        let constant = rate.constant_rate();
        ArrivalProcess {
            const_gap_ns: constant
                .filter(|&r| r > 0.0)
                .map(|r| NANOS_PER_SEC as f64 / r),
            silent: constant.is_some_and(|r| r <= 0.0),
            rate,
            horizon,
            block_ns: block_ns.max(1),
            blk_start: 1,
            blk_end: 0, // empty: the first call loads a block
            blk_hi: 0.0,
            blk_hi_s: 0.0,
            blk_lo_s: 0.0,
            blk_gap: f64::INFINITY,
            blk_exact: true,
        }
    }

    /// Builds the rate function from `cfg` (drawing its random patterns from
    /// `rng`) and the process on top of it.
    pub fn from_config(cfg: &LoadConfig, horizon: Nanos, rng: &mut SimRng) -> Self {
        Self::new(RateFn::build(cfg, horizon, rng), horizon)
    }

    /// The rate function.
    pub fn rate(&self) -> &RateFn {
        &self.rate
    }

    /// The end of the arrival window (exclusive).
    pub fn horizon(&self) -> Nanos {
        self.horizon
    }

    /// The thinning block length.
    pub fn block_ns(&self) -> Nanos {
        self.block_ns
    }

    /// The first arrival at or after `now` (normally the previous arrival),
    /// or `None` if there is none before the horizon.
    #[inline]
    pub fn next_arrival(&mut self, now: Nanos, rng: &mut SimRng) -> Option<Nanos> {
        if now >= self.horizon {
            return None;
        }
        if let Some(gap) = self.const_gap_ns {
            let e: f64 = rng.sample(Exp1);
            let t = now.saturating_add((e * gap + 0.5) as Nanos);
            return (t < self.horizon).then_some(t);
        }
        if self.silent {
            return None;
        }
        self.thin(now, rng)
    }

    fn thin(&mut self, mut t: Nanos, rng: &mut SimRng) -> Option<Nanos> {
        // Exponential mass of the bounding process still to consume.
        let mut e: f64 = rng.sample(Exp1);
        loop {
            if t >= self.horizon {
                return None;
            }
            if t < self.blk_start || t >= self.blk_end {
                self.load_block(t);
            }
            if self.blk_hi <= 0.0 {
                t = self.blk_end; // no arrival can happen in this block
                continue;
            }
            let room = (self.blk_end - t) as f64;
            let gap = e * self.blk_gap;
            if gap >= room {
                e = (e - room * self.blk_hi).max(0.0);
                t = self.blk_end;
                continue;
            }
            let c = (t + (gap + 0.5) as Nanos).min(self.blk_end - 1);
            if self.blk_exact {
                return Some(c);
            }
            let x = rng.random::<f64>() * self.blk_hi_s;
            if x < self.blk_lo_s || x < self.rate.rate_at(c) {
                return Some(c);
            }
            t = c;
            e = rng.sample(Exp1);
        }
    }

    fn load_block(&mut self, t: Nanos) {
        let start = t - t % self.block_ns;
        let end = start.saturating_add(self.block_ns).min(self.horizon);
        let (lo, hi) = self.rate.raw_range(start, end);
        self.blk_start = start;
        self.blk_end = end;
        self.blk_exact = lo == hi;
        if self.blk_exact {
            self.blk_hi_s = hi;
            self.blk_lo_s = hi;
        } else {
            // A 1e-9 relative margin absorbs rounding in `rate_at`.
            self.blk_hi_s = hi * (1.0 + 1e-9);
            self.blk_lo_s = lo * (1.0 - 1e-9);
        }
        self.blk_hi = self.blk_hi_s / NANOS_PER_SEC as f64;
        self.blk_gap = if self.blk_hi > 0.0 {
            1.0 / self.blk_hi
        } else {
            f64::INFINITY
        };
    }
}
