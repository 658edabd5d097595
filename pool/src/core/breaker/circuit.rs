//! [`CircuitBreaker`]: one breaker's state machine.

use super::config::BreakerConfig;
use super::window::{CountWindow, WindowState};
use crate::core::Nanos;
use crate::core::telemetry::BreakerCode;
use crate::core::units::ms_to_ns;

/// The state of one breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Calls are permitted and counted.
    Closed,
    /// Calls are refused until `until`.
    Open {
        /// The instant the breaker becomes half-open.
        until: Nanos,
    },
    /// Only a limited number of probe calls are permitted.
    HalfOpen,
}

impl BreakerState {
    /// The telemetry code: 0 closed, 1 half-open, 2 open.
    pub fn code(&self) -> BreakerCode {
        match self {
            BreakerState::Closed => 0,
            BreakerState::HalfOpen => 1,
            BreakerState::Open { .. } => 2,
        }
    }
}

/// How a permitted call was let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallKind {
    /// An ordinary call (breaker closed or disabled).
    Normal,
    /// A half-open probe; it holds a probe slot until recorded or cancelled.
    Probe,
}

/// One circuit breaker (see the [module docs](super) for the semantics).
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    cfg: BreakerConfig,
    window: WindowState,
    state: BreakerState,
    open_base: Nanos,
    open_max: Nanos,
    open_cur: Nanos,
    probe_limit: u32,
    probes_out: u32,
    probe_successes: u32,
    trips: u64,
}

impl CircuitBreaker {
    /// A closed breaker. `cfg` is assumed validated
    /// ([`BreakerConfig::validate`]); an invalid one does not panic but is
    /// clamped (window size and buckets to at least 1, probes to at least 1,
    /// bad durations to 0). A disabled breaker allocates no window.
    pub fn new(cfg: BreakerConfig) -> Self {
        let window = if cfg.enabled {
            WindowState::new(cfg.window)
        } else {
            WindowState::Count(CountWindow::new(1))
        };
        let open_base = ms_to_ns(cfg.open_ms);
        let open_max = ms_to_ns(cfg.max_open_ms).max(open_base);
        CircuitBreaker {
            probe_limit: cfg.half_open_probes.max(1),
            cfg,
            window,
            state: BreakerState::Closed,
            open_base,
            open_max,
            open_cur: open_base,
            probes_out: 0,
            probe_successes: 0,
            trips: 0,
        }
    }

    /// The configuration this breaker was built from.
    pub fn config(&self) -> &BreakerConfig {
        &self.cfg
    }

    /// Moves Open to HalfOpen once `now >= until`.
    #[inline]
    pub(super) fn refresh(&mut self, now: Nanos) {
        if let BreakerState::Open { until } = self.state
            && now >= until
        {
            self.state = BreakerState::HalfOpen;
            self.probe_successes = 0;
        }
    }

    /// The state at `now` (moving Open to HalfOpen when its time is up).
    pub fn state(&mut self, now: Nanos) -> BreakerState {
        if !self.cfg.enabled {
            return BreakerState::Closed;
        }
        self.refresh(now);
        self.state
    }

    /// Asks to start a call at `now`: `Ok(Normal)` when closed (or disabled),
    /// `Ok(Probe)` when half-open with a free probe slot (the slot is held
    /// until [`record`](Self::record) or [`cancel`](Self::cancel)).
    /// `Err(until)` when open, `Err(now)` when half-open with every probe slot
    /// taken.
    #[inline]
    pub fn try_call(&mut self, now: Nanos) -> Result<CallKind, Nanos> {
        if !self.cfg.enabled {
            return Ok(CallKind::Normal);
        }
        self.refresh(now);
        match self.state {
            BreakerState::Closed => Ok(CallKind::Normal),
            BreakerState::Open { until } => Err(until),
            BreakerState::HalfOpen => {
                if self.probes_out < self.probe_limit {
                    self.probes_out += 1;
                    Ok(CallKind::Probe)
                } else {
                    Err(now)
                }
            }
        }
    }

    /// Gives back the probe slot of a call that was permitted but will never
    /// be recorded (e.g. cancelled before it ran). A no-op for `Normal`.
    #[inline]
    pub fn cancel(&mut self, kind: CallKind) {
        if kind == CallKind::Probe {
            self.probes_out = self.probes_out.saturating_sub(1);
        }
    }

    /// Records the outcome of a call permitted as `kind`, finishing at `now`.
    #[inline]
    pub fn record(&mut self, now: Nanos, kind: CallKind, failed: bool) {
        if !self.cfg.enabled {
            return;
        }
        self.cancel(kind);
        self.refresh(now);
        match self.state {
            BreakerState::Closed => {
                let (calls, failures) = self.window.push(now, failed);
                if failed && self.should_trip(calls, failures) {
                    self.open_cur = self.open_base;
                    self.open(now);
                }
            }
            // Stragglers that started before the breaker opened.
            BreakerState::Open { .. } => {}
            BreakerState::HalfOpen => {
                if kind != CallKind::Probe {
                    // Started before the breaker opened.
                } else if failed {
                    let next = (self.open_cur as f64 * self.cfg.open_backoff) as Nanos;
                    self.open_cur = next.max(self.open_cur).min(self.open_max);
                    self.open(now);
                } else {
                    self.probe_successes += 1;
                    if self.probe_successes >= self.probe_limit {
                        self.state = BreakerState::Closed;
                        self.window.clear();
                        self.open_cur = self.open_base;
                        self.probe_successes = 0;
                    }
                }
            }
        }
    }

    /// Disabled, or closed.
    pub(super) fn is_closed(&self) -> bool {
        !self.cfg.enabled || self.state == BreakerState::Closed
    }

    /// For a success batch starting at `now` (see [`MultiBreaker::record`]):
    /// `None` when this breaker is enabled and not closed (its successes
    /// are not plain window pushes), otherwise until when a success lands
    /// in the same window bucket as one at `now`.
    #[inline]
    pub(super) fn batch_until(&mut self, now: Nanos) -> Option<Nanos> {
        if !self.cfg.enabled {
            return Some(Nanos::MAX);
        }
        match self.state {
            BreakerState::Closed => Some(self.window.same_bucket_until(now)),
            _ => None,
        }
    }

    /// Records `n` successes of normal calls batched while this breaker was
    /// closed (exactly what `n` calls of [`record`](Self::record) would
    /// have done then).
    pub(super) fn record_successes(&mut self, n: u64) {
        if self.cfg.enabled && n > 0 {
            debug_assert!(self.state == BreakerState::Closed);
            self.window.push_successes(n);
        }
    }

    pub(super) fn should_trip(&self, calls: u64, failures: u64) -> bool {
        let by_count = self
            .cfg
            .failure_count
            .is_some_and(|n| failures >= u64::from(n));
        let by_rate = self.cfg.failure_rate.is_some_and(|rate| {
            calls > 0
                && calls >= u64::from(self.cfg.min_calls)
                && failures as f64 / calls as f64 >= rate
        });
        by_count || by_rate
    }

    pub(super) fn open(&mut self, now: Nanos) {
        self.state = BreakerState::Open {
            until: now.saturating_add(self.open_cur),
        };
        self.probe_successes = 0;
        self.trips += 1;
    }

    /// When the breaker leaves Open, if it is open (for drivers that want a
    /// timer). May be in the past if no call has looked at the state since.
    pub fn next_transition(&self) -> Option<Nanos> {
        match self.state {
            BreakerState::Open { until } if self.cfg.enabled => Some(until),
            _ => None,
        }
    }

    /// Back to Closed with an empty window, no probes out and the base open
    /// duration. The trip counter is kept.
    pub fn reset(&mut self) {
        self.state = BreakerState::Closed;
        self.window.clear();
        self.open_cur = self.open_base;
        self.probes_out = 0;
        self.probe_successes = 0;
    }

    /// `(calls, failures)` in the window at `now`.
    pub fn counts(&mut self, now: Nanos) -> (u64, u64) {
        self.window.counts(now)
    }

    /// Probe calls permitted and not yet recorded or cancelled.
    pub fn probes_outstanding(&self) -> u32 {
        self.probes_out
    }

    /// How many times the breaker has opened (trips from Closed and failed
    /// probes).
    pub fn trips(&self) -> u64 {
        self.trips
    }
}
