//! [`MultiBreaker`]: one breaker per failure category plus a global one.

use super::circuit::{BreakerState, CallKind, CircuitBreaker};
use super::multi_config::MultiBreakerConfig;
use crate::core::Nanos;
use crate::core::telemetry::{BreakerCode, ErrorCategory};

/// Which breaker of a [`MultiBreaker`]: a category's or the global one. As an
/// error from [`MultiBreaker::try_acquire`], the breaker that refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Tripped {
    /// The breaker of this failure category.
    #[error("the {} circuit breaker is open", .0.name())]
    Category(ErrorCategory),
    /// The global breaker.
    #[error("the global circuit breaker is open")]
    Global,
}

impl Tripped {
    /// The category, or `None` for the global breaker.
    pub fn category(self) -> Option<ErrorCategory> {
        match self {
            Tripped::Category(c) => Some(c),
            Tripped::Global => None,
        }
    }

    pub(super) fn bit(self) -> u8 {
        match self {
            Tripped::Category(c) => 1 << c.index(),
            Tripped::Global => GLOBAL_BIT,
        }
    }
}

const GLOBAL_BIT: u8 = 1 << ErrorCategory::COUNT;

/// What [`MultiBreaker::try_acquire`] handed out: which breakers gave the
/// call a half-open probe slot. Pass it back to [`MultiBreaker::record`] (or
/// [`MultiBreaker::cancel`]) exactly once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Permit {
    probes: u8,
}

impl Permit {
    /// Whether any breaker let this call through as a probe.
    pub fn is_probe(self) -> bool {
        self.probes != 0
    }

    /// Whether breaker `which` let this call through as a probe.
    pub fn is_probe_for(self, which: Tripped) -> bool {
        self.probes & which.bit() != 0
    }

    pub(super) fn kind(self, which: Tripped) -> CallKind {
        if self.is_probe_for(which) {
            CallKind::Probe
        } else {
            CallKind::Normal
        }
    }
}

/// One breaker per [`ErrorCategory`] plus a global one.
///
/// Successes are batched: a success recorded while every breaker is closed
/// only bumps a counter, and the batch is pushed into the windows (in one
/// step per breaker) before anything that could observe or change them —
/// a failure, a probe, a time past the current window bucket, a reset.
/// Every breaker then holds exactly what recording each success on its own
/// would have given it, so this is invisible from outside; it makes the
/// common case (a success with every breaker closed) cost a comparison
/// instead of one window update per breaker.
#[derive(Debug, Clone)]
pub struct MultiBreaker {
    pub(super) categories: [CircuitBreaker; ErrorCategory::COUNT],
    pub(super) global: CircuitBreaker,
    trips_global: [bool; ErrorCategory::COUNT],
    batch: SuccessBatch,
    /// Every breaker is closed (or disabled): a call is permitted without
    /// asking each. Only recording a call or a reset changes a closed
    /// breaker's state, and both update this.
    pub(super) all_closed: bool,
}

/// Successes recorded while every breaker was closed and not yet pushed
/// into the windows.
#[derive(Debug, Clone, Copy, Default)]
struct SuccessBatch {
    /// How many.
    count: u64,
    /// Successes before this time land in the same bucket of every time
    /// window as the first of the batch.
    until: Nanos,
}

impl MultiBreaker {
    /// All breakers closed. `cfg` is assumed validated
    /// ([`MultiBreakerConfig::validate`]).
    pub fn new(cfg: &MultiBreakerConfig) -> Self {
        MultiBreaker {
            categories: ErrorCategory::ALL.map(|c| CircuitBreaker::new(cfg.category(c).clone())),
            global: CircuitBreaker::new(cfg.global.clone()),
            trips_global: ErrorCategory::ALL.map(|c| cfg.counts_toward_global(c)),
            batch: SuccessBatch::default(),
            all_closed: true,
        }
    }

    /// The breaker `which`. Its window may not hold the latest successes
    /// yet (they are batched); read the counts with
    /// [`counts`](Self::counts).
    pub fn breaker(&self, which: Tripped) -> &CircuitBreaker {
        match which {
            Tripped::Category(c) => &self.categories[c.index()],
            Tripped::Global => &self.global,
        }
    }

    pub(super) fn breaker_mut(&mut self, which: Tripped) -> &mut CircuitBreaker {
        match which {
            Tripped::Category(c) => &mut self.categories[c.index()],
            Tripped::Global => &mut self.global,
        }
    }

    /// Asks every breaker to permit a call at `now`: the global one first,
    /// then the categories in [`ErrorCategory::ALL`] order. The first that is
    /// open (or half-open with no free probe slot) is returned as the error,
    /// and the probe slots taken from the others in this call are given back.
    #[inline]
    pub fn try_acquire(&mut self, now: Nanos) -> Result<Permit, Tripped> {
        if self.all_closed {
            return Ok(Permit::default());
        }
        let mut permit = Permit::default();
        match self.global.try_call(now) {
            Ok(CallKind::Probe) => permit.probes |= GLOBAL_BIT,
            Ok(CallKind::Normal) => {}
            Err(_) => return Err(Tripped::Global),
        }
        for category in ErrorCategory::ALL {
            match self.categories[category.index()].try_call(now) {
                Ok(CallKind::Probe) => permit.probes |= Tripped::Category(category).bit(),
                Ok(CallKind::Normal) => {}
                Err(_) => {
                    self.cancel(permit);
                    return Err(Tripped::Category(category));
                }
            }
        }
        Ok(permit)
    }

    /// Probe calls let through and not yet reported back, over every
    /// breaker.
    pub fn probes_outstanding(&self) -> u32 {
        self.global.probes_outstanding()
            + self
                .categories
                .iter()
                .map(CircuitBreaker::probes_outstanding)
                .sum::<u32>()
    }

    /// Gives back the probe slots of a permit whose call will never be
    /// recorded.
    pub fn cancel(&mut self, permit: Permit) {
        self.global.cancel(permit.kind(Tripped::Global));
        for category in ErrorCategory::ALL {
            let which = Tripped::Category(category);
            self.categories[category.index()].cancel(permit.kind(which));
        }
    }

    /// Records a call that finished at `now`: `failure` is its error
    /// category, `None` for a success. The failure goes to its category's
    /// breaker (and to the global one if that category counts toward it);
    /// every other enabled breaker records a success.
    #[inline]
    pub fn record(&mut self, now: Nanos, permit: Permit, failure: Option<ErrorCategory>) {
        if failure.is_none() && permit.probes == 0 {
            if self.batch.count > 0 && now < self.batch.until {
                self.batch.count += 1;
                return;
            }
            self.record_success_unbatched(now);
            return;
        }
        self.flush();
        self.record_each(now, permit, failure);
    }

    /// A success of a normal call that does not join the running batch:
    /// flushes that batch and starts a new one when every breaker is
    /// closed, or records it breaker by breaker.
    #[cold]
    pub(super) fn record_success_unbatched(&mut self, now: Nanos) {
        self.flush();
        let mut until = Nanos::MAX;
        for b in self
            .categories
            .iter_mut()
            .chain(std::iter::once(&mut self.global))
        {
            match b.batch_until(now) {
                Some(t) => until = until.min(t),
                None => {
                    self.record_each(now, Permit::default(), None);
                    return;
                }
            }
        }
        self.batch = SuccessBatch { count: 1, until };
    }

    /// Pushes the batched successes into every window.
    #[inline]
    pub(super) fn flush(&mut self) {
        let n = std::mem::take(&mut self.batch.count);
        if n > 0 {
            for b in &mut self.categories {
                b.record_successes(n);
            }
            self.global.record_successes(n);
        }
    }

    pub(super) fn record_each(
        &mut self,
        now: Nanos,
        permit: Permit,
        failure: Option<ErrorCategory>,
    ) {
        for category in ErrorCategory::ALL {
            let which = Tripped::Category(category);
            self.categories[category.index()].record(
                now,
                permit.kind(which),
                failure == Some(category),
            );
        }
        let global_failed = failure.is_some_and(|c| self.trips_global[c.index()]);
        self.global
            .record(now, permit.kind(Tripped::Global), global_failed);
        self.all_closed = self
            .categories
            .iter()
            .chain(std::iter::once(&self.global))
            .all(CircuitBreaker::is_closed);
    }

    /// State codes (0 closed, 1 half-open, 2 open) of the category breakers,
    /// indexed by [`ErrorCategory::index`], and of the global breaker.
    pub fn states(&mut self, now: Nanos) -> ([BreakerCode; ErrorCategory::COUNT], BreakerCode) {
        let mut codes = [0; ErrorCategory::COUNT];
        for (code, breaker) in codes.iter_mut().zip(self.categories.iter_mut()) {
            *code = breaker.state(now).code();
        }
        (codes, self.global.state(now).code())
    }

    /// The state of breaker `which` at `now`.
    pub fn state_of(&mut self, now: Nanos, which: Tripped) -> BreakerState {
        self.breaker_mut(which).state(now)
    }

    /// The earliest instant an open breaker becomes half-open, if any is
    /// open.
    pub fn next_transition(&self) -> Option<Nanos> {
        self.categories
            .iter()
            .chain(std::iter::once(&self.global))
            .filter_map(CircuitBreaker::next_transition)
            .min()
    }

    /// Resets every breaker (see [`CircuitBreaker::reset`]).
    pub fn reset(&mut self) {
        self.batch = SuccessBatch::default();
        self.all_closed = true;
        for breaker in &mut self.categories {
            breaker.reset();
        }
        self.global.reset();
    }

    /// `(calls, failures)` in the window of breaker `which` at `now`
    /// (batched successes included).
    pub fn counts(&mut self, now: Nanos, which: Tripped) -> (u64, u64) {
        self.flush();
        self.breaker_mut(which).counts(now)
    }
}
