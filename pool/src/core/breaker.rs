//! The multi-level circuit breaker: one [`CircuitBreaker`] per
//! [`ErrorCategory`] plus a global one, combined by [`MultiBreaker`].
//!
//! # Model
//!
//! A breaker is a three-state machine, sans-IO like the rest of [`core`](super):
//! every entry point takes the current time `now` ([`Nanos`]) as an argument.
//!
//! - **Closed**: every call is permitted and its outcome goes into a sliding
//!   [`Window`]. After each recorded *failure* the breaker trips when
//!   `(calls >= min_calls && failures / calls >= failure_rate)` or
//!   `failures >= failure_count` (an unset threshold never fires).
//! - **Open** `{ until }`: every call is refused until `until = trip time +
//!   open duration`. The move to half-open is lazy: it happens in the first
//!   [`state`](CircuitBreaker::state), [`try_call`](CircuitBreaker::try_call)
//!   or [`record`](CircuitBreaker::record) with `now >= until`.
//!   [`next_transition`](CircuitBreaker::next_transition) tells a driver that
//!   wants a timer when that is.
//! - **HalfOpen**: only probe calls ([`CallKind::Probe`]) are permitted, at
//!   most `half_open_probes` outstanding at once. Once `half_open_probes`
//!   probes have succeeded the breaker closes with an empty window. A failed
//!   probe reopens it for `open duration * open_backoff` (capped at
//!   `max_open_ms`); the duration goes back to `open_ms` once it closes.
//!
//! Calls recorded while the breaker is open are stragglers that started before
//! it opened: they are ignored. Calls recorded in half-open with a
//! [`CallKind::Normal`] permit started before the breaker opened and are
//! ignored too. A probe's outcome counts in whichever half-open phase it is
//! recorded in; recording (or [`cancel`](CircuitBreaker::cancel)ling) a probe
//! always frees its slot, so at most `half_open_probes` probes are ever in
//! flight. A disabled breaker permits every call and never trips.
//!
//! # Windows
//!
//! - [`Window::Count`] holds the last `size` recorded calls (a ring buffer with
//!   a running failure count).
//! - [`Window::Time`] holds `buckets` ring buckets of width
//!   `length_ns / buckets`, aligned to multiples of the width. Recording at
//!   `now` evicts the buckets that fell out of the window, so a failure older
//!   than `length_ns` never counts and one younger than `length_ns - width`
//!   always does.
//!
//! Both are allocated once in [`CircuitBreaker::new`]; the hot path
//! ([`MultiBreaker::try_acquire`], [`MultiBreaker::record`]) never allocates.
//!
//! # Multi-level
//!
//! [`MultiBreaker::try_acquire`] asks the global breaker first, then the
//! category breakers in [`ErrorCategory::ALL`] order; the first that refuses
//! is named in the error, and probe slots taken from the others in that call
//! are given back. [`MultiBreaker::record`] records every call in every
//! enabled breaker: a failure in the breaker of its category (and in the
//! global one if that category is listed in
//! [`MultiBreakerConfig::trips_global`]), a success in the others.
//!
//! # Configuration
//!
//! In TOML, durations are milliseconds; a table only needs the fields it
//! changes, the others keep that category's defaults (see
//! [`BreakerConfig::for_category`]):
//!
//! ```toml
//! [breaker]
//! trips_global = ["connection", "timeout", "transaction", "security"]
//! [breaker.connection]
//! failure_rate = 0.1
//! window = { kind = "time", length_ms = 60000, buckets = 60 }
//! [breaker.global]
//! window = { kind = "count", size = 100 }
//! ```
//!
//! # Example
//!
//! ```
//! use poolcast::core::breaker::{MultiBreaker, MultiBreakerConfig, Tripped};
//! use poolcast::core::{ErrorCategory, NANOS_PER_MS, NANOS_PER_SEC};
//!
//! let cfg = MultiBreakerConfig::default();
//! cfg.validate().expect("the defaults are valid");
//! let mut breakers = MultiBreaker::new(&cfg);
//!
//! // 15 successes, then 5 connection failures: 5 of 20 calls in the 30 s
//! // window is the connection breaker's 0.25 failure rate, so it trips;
//! // the global breaker (rate 0.5) stays closed.
//! for i in 0..20 {
//!     let now = i * NANOS_PER_MS;
//!     let permit = breakers.try_acquire(now).expect("closed");
//!     let failure = (i >= 15).then_some(ErrorCategory::Connection);
//!     breakers.record(now, permit, failure);
//! }
//! let now = 20 * NANOS_PER_MS;
//! assert_eq!(
//!     breakers.try_acquire(now),
//!     Err(Tripped::Category(ErrorCategory::Connection))
//! );
//! let (categories, global) = breakers.states(now);
//! assert_eq!(categories, [2, 0, 0, 0, 0]);
//! assert_eq!(global, 0);
//!
//! // It stays open for 30 s after the trip, then lets one probe through.
//! let reopen = 19 * NANOS_PER_MS + 30 * NANOS_PER_SEC;
//! assert_eq!(breakers.next_transition(), Some(reopen));
//! let probe = breakers.try_acquire(reopen).expect("a probe slot");
//! assert!(probe.is_probe());
//! assert!(breakers.try_acquire(reopen).is_err()); // one probe at a time
//!
//! // The probe succeeds: the breaker closes.
//! breakers.record(reopen + NANOS_PER_MS, probe, None);
//! assert_eq!(breakers.states(reopen + NANOS_PER_MS), ([0; 5], 0));
//! ```

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::telemetry::{BreakerCode, ErrorCategory};
use super::{NANOS_PER_MS, Nanos};

/// Largest accepted [`Window::Count`] size (calls).
pub const MAX_COUNT_WINDOW: u32 = 1 << 20;
/// Largest accepted number of [`Window::Time`] buckets.
pub const MAX_TIME_BUCKETS: u32 = 1 << 16;
/// Largest accepted duration in milliseconds (about 31.7 years).
pub const MAX_DURATION_MS: f64 = 1.0e12;

/// Converts milliseconds to nanoseconds, rounding; negative or NaN gives 0
/// and values beyond `u64` saturate.
fn ms_to_nanos(ms: f64) -> Nanos {
    if ms.is_nan() || ms <= 0.0 {
        return 0;
    }
    // `as` saturates at u64::MAX for large finite values and infinity.
    (ms * NANOS_PER_MS as f64).round() as Nanos
}

/// Whether `ms` is a finite duration in `[0, MAX_DURATION_MS]`.
fn valid_duration_ms(ms: f64) -> bool {
    ms.is_finite() && (0.0..=MAX_DURATION_MS).contains(&ms)
}

/// Serde for a [`Nanos`] field written as milliseconds (integer or float).
mod ms_as_nanos {
    use serde::de::Error as _;

    use super::*;

    pub(super) fn serialize<S: Serializer>(ns: &Nanos, s: S) -> Result<S::Ok, S::Error> {
        if ns.is_multiple_of(NANOS_PER_MS) {
            s.serialize_u64(ns / NANOS_PER_MS)
        } else {
            s.serialize_f64(*ns as f64 / NANOS_PER_MS as f64)
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Nanos, D::Error> {
        let ms = f64::deserialize(d)?;
        if !valid_duration_ms(ms) {
            return Err(D::Error::custom(format!(
                "length_ms: expected a finite number of milliseconds in [0, {MAX_DURATION_MS:e}], got {ms}"
            )));
        }
        Ok(ms_to_nanos(ms))
    }
}

/// The sliding window a breaker counts calls and failures in.
///
/// Serde shape (internally tagged by `kind`; the time length is written in
/// milliseconds as `length_ms` and held in nanoseconds):
/// `{ kind = "count", size = 20 }` or
/// `{ kind = "time", length_ms = 30000, buckets = 30 }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Window {
    /// The last `size` recorded calls.
    Count {
        /// Number of calls held (`1..=MAX_COUNT_WINDOW`).
        size: u32,
    },
    /// The calls recorded in the last `length_ns`, in `buckets` ring buckets
    /// aligned to multiples of `length_ns / buckets`.
    Time {
        /// Window length in nanoseconds (serde: `length_ms`, milliseconds).
        #[serde(rename = "length_ms", with = "ms_as_nanos")]
        length_ns: Nanos,
        /// Number of buckets (`1..=MAX_TIME_BUCKETS`, at most `length_ns`).
        buckets: u32,
    },
}

impl Window {
    /// A time window of `length_ms` milliseconds in `buckets` buckets.
    pub fn time_ms(length_ms: u64, buckets: u32) -> Self {
        Window::Time {
            length_ns: length_ms.saturating_mul(NANOS_PER_MS),
            buckets,
        }
    }
}

/// Configuration of one [`CircuitBreaker`].
///
/// Durations are milliseconds (`f64`). Deserializing fills missing fields
/// from [`BreakerConfig::default`] (the global breaker's defaults); inside a
/// [`MultiBreakerConfig`] a category table is filled from
/// [`BreakerConfig::for_category`] instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Whether the breaker is active. A disabled breaker permits every call
    /// and never trips.
    pub enabled: bool,
    /// The window calls and failures are counted in.
    pub window: Window,
    /// The failure-rate threshold only applies once the window holds at
    /// least this many calls.
    pub min_calls: u32,
    /// Trip when `failures / calls >= failure_rate`, in `(0, 1]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_rate: Option<f64>,
    /// Trip when the window holds at least this many failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_count: Option<u32>,
    /// How long the breaker stays open after tripping, in milliseconds.
    pub open_ms: f64,
    /// Multiplier (`>= 1`) applied to the open duration after each failed
    /// half-open probe; reset to `open_ms` once the breaker closes.
    pub open_backoff: f64,
    /// Cap on the open duration, in milliseconds (`>= open_ms`).
    pub max_open_ms: f64,
    /// Probe calls permitted at once in half-open; this many successful
    /// probes close the breaker.
    pub half_open_probes: u32,
}

impl Default for BreakerConfig {
    /// The global breaker's defaults: enabled, a 30 s time window in 30
    /// buckets, trip at a failure rate of 0.5 once 20 calls are in the window,
    /// open 30 s (doubling per failed probe up to 300 s), 1 probe.
    fn default() -> Self {
        BreakerConfig {
            enabled: true,
            window: Window::time_ms(30_000, 30),
            min_calls: 20,
            failure_rate: Some(0.5),
            failure_count: None,
            open_ms: 30_000.0,
            open_backoff: 2.0,
            max_open_ms: 300_000.0,
            half_open_probes: 1,
        }
    }
}

impl BreakerConfig {
    /// The default breaker of a failure category: like
    /// [`BreakerConfig::default`] (30 s window, at least 20 calls) with a
    /// failure-rate threshold of 0.25 (connection, timeout) or 0.5 (query,
    /// transaction); security trips on an absolute 3 failures. The query
    /// breaker is disabled: client errors (syntax, constraints) should not
    /// trip unless configured to.
    pub fn for_category(category: ErrorCategory) -> Self {
        // Rates, not absolute counts: a count threshold that suits 10
        // requests/s sheds most of the traffic at 1,000 requests/s (the
        // seed's 3/5/10/5/3 counts did exactly that in the quickstart).
        // Authentication failures are rare and serious, so security keeps
        // an absolute count.
        let (failure_rate, failure_count) = match category {
            ErrorCategory::Connection => (Some(0.25), None),
            ErrorCategory::Timeout => (Some(0.25), None),
            ErrorCategory::Query => (Some(0.5), None),
            ErrorCategory::Transaction => (Some(0.5), None),
            ErrorCategory::Security => (None, Some(3)),
        };
        BreakerConfig {
            enabled: category != ErrorCategory::Query,
            failure_rate,
            failure_count,
            ..BreakerConfig::default()
        }
    }

    /// Checks the configuration; `path` prefixes the field names in the
    /// error (e.g. `"breaker.connection"` gives
    /// `"breaker.connection.failure_rate"`).
    pub fn validate(&self, path: &str) -> Result<(), BreakerConfigError> {
        let err = |field: &str, message: String| {
            Err(BreakerConfigError {
                path: if path.is_empty() {
                    field.to_string()
                } else {
                    format!("{path}.{field}")
                },
                message,
            })
        };

        match self.window {
            Window::Count { size } => {
                if !(1..=MAX_COUNT_WINDOW).contains(&size) {
                    return err(
                        "window.size",
                        format!("expected a window of 1..={MAX_COUNT_WINDOW} calls, got {size}"),
                    );
                }
                if self.failure_rate.is_some() && self.min_calls > size {
                    return err(
                        "min_calls",
                        format!(
                            "expected at most window.size ({size}) so the failure rate can apply, got {}",
                            self.min_calls
                        ),
                    );
                }
                if let Some(count) = self.failure_count
                    && count > size
                {
                    return err(
                        "failure_count",
                        format!(
                            "expected at most window.size ({size}) so the count can be reached, got {count}"
                        ),
                    );
                }
            }
            Window::Time { length_ns, buckets } => {
                if length_ns == 0 {
                    return err(
                        "window.length_ms",
                        "expected a positive window length in milliseconds, got 0".to_string(),
                    );
                }
                if !(1..=MAX_TIME_BUCKETS).contains(&buckets) {
                    return err(
                        "window.buckets",
                        format!("expected 1..={MAX_TIME_BUCKETS} buckets, got {buckets}"),
                    );
                }
                if u64::from(buckets) > length_ns {
                    return err(
                        "window.buckets",
                        format!(
                            "expected at most one bucket per nanosecond of window length ({length_ns} ns), got {buckets}"
                        ),
                    );
                }
            }
        }

        if let Some(rate) = self.failure_rate
            && !(rate > 0.0 && rate <= 1.0)
        {
            return err(
                "failure_rate",
                format!("expected a failure rate in (0, 1], got {rate}"),
            );
        }
        if self.failure_count == Some(0) {
            return err(
                "failure_count",
                "expected a failure count of at least 1, got 0".to_string(),
            );
        }
        if self.enabled && self.failure_rate.is_none() && self.failure_count.is_none() {
            return err(
                "failure_rate",
                "expected failure_rate or failure_count (or both) to be set on an enabled breaker"
                    .to_string(),
            );
        }
        if !valid_duration_ms(self.open_ms) {
            return err(
                "open_ms",
                format!(
                    "expected a finite duration in [0, {MAX_DURATION_MS:e}] ms, got {}",
                    self.open_ms
                ),
            );
        }
        if !(self.open_backoff.is_finite() && self.open_backoff >= 1.0) {
            return err(
                "open_backoff",
                format!(
                    "expected a finite multiplier >= 1, got {}",
                    self.open_backoff
                ),
            );
        }
        if !valid_duration_ms(self.max_open_ms) {
            return err(
                "max_open_ms",
                format!(
                    "expected a finite duration in [0, {MAX_DURATION_MS:e}] ms, got {}",
                    self.max_open_ms
                ),
            );
        }
        if self.max_open_ms < self.open_ms {
            return err(
                "max_open_ms",
                format!(
                    "expected at least open_ms ({}), got {}",
                    self.open_ms, self.max_open_ms
                ),
            );
        }
        if self.half_open_probes == 0 {
            return err(
                "half_open_probes",
                "expected at least 1 probe, got 0".to_string(),
            );
        }
        Ok(())
    }
}

/// A rejected breaker configuration: the field path and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct BreakerConfigError {
    /// Dotted path of the offending field, e.g.
    /// `"breaker.connection.failure_rate"`.
    pub path: String,
    /// What was expected and what was found.
    pub message: String,
}

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

/// Ring of the last `size` outcomes with a running failure count.
#[derive(Debug, Clone)]
struct CountWindow {
    ring: Box<[bool]>,
    next: usize,
    len: u64,
    failures: u64,
}

impl CountWindow {
    fn new(size: u32) -> Self {
        let size = size.clamp(1, MAX_COUNT_WINDOW) as usize;
        CountWindow {
            ring: vec![false; size].into_boxed_slice(),
            next: 0,
            len: 0,
            failures: 0,
        }
    }

    fn push(&mut self, failed: bool) {
        let cap = self.ring.len();
        if let Some(slot) = self.ring.get_mut(self.next) {
            if self.len as usize == cap {
                if *slot {
                    self.failures -= 1;
                }
            } else {
                self.len += 1;
            }
            *slot = failed;
            if failed {
                self.failures += 1;
            }
        }
        self.next += 1;
        if self.next >= cap {
            self.next = 0;
        }
    }

    /// Pushes `n` successes, as `n` calls of [`push(false)`](Self::push).
    fn push_successes(&mut self, n: u64) {
        let cap = self.ring.len();
        if n >= cap as u64 {
            // Every slot is overwritten; the ring ends where `n` pushes
            // would leave it.
            self.ring.fill(false);
            self.len = cap as u64;
            self.failures = 0;
            self.next = ((self.next as u64 + n) % cap as u64) as usize;
            return;
        }
        for _ in 0..n {
            self.push(false);
        }
    }

    fn clear(&mut self) {
        // Slots past `len` are never read, so the ring needs no wipe.
        self.next = 0;
        self.len = 0;
        self.failures = 0;
    }
}

/// Calls and failures in one time bucket.
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    calls: u64,
    failures: u64,
}

/// Ring of time buckets aligned to multiples of `width`.
#[derive(Debug, Clone)]
struct TimeWindow {
    width: Nanos,
    buckets: Box<[Bucket]>,
    /// Index (`now / width`) of the newest bucket.
    head: u64,
    /// `head % buckets.len()`, cached: the hot path does no division.
    head_slot: usize,
    /// Start of the bucket after the newest one: calls before it land in
    /// the newest bucket without any arithmetic.
    next_edge: Nanos,
    calls: u64,
    failures: u64,
}

impl TimeWindow {
    fn new(length_ns: Nanos, buckets: u32) -> Self {
        let n = buckets.clamp(1, MAX_TIME_BUCKETS);
        TimeWindow {
            width: (length_ns / u64::from(n)).max(1),
            buckets: vec![Bucket::default(); n as usize].into_boxed_slice(),
            head: 0,
            head_slot: 0,
            next_edge: (length_ns / u64::from(n)).max(1),
            calls: 0,
            failures: 0,
        }
    }

    /// Evicts the buckets older than the window ending at `now`. Time that
    /// goes backwards is treated as the newest bucket.
    #[inline]
    fn advance(&mut self, now: Nanos) {
        if now < self.next_edge {
            return;
        }
        let epoch = now / self.width;
        if epoch <= self.head {
            return;
        }
        let n = self.buckets.len() as u64;
        if epoch - self.head >= n {
            self.clear();
        } else {
            for e in self.head + 1..=epoch {
                if let Some(b) = self.buckets.get_mut((e % n) as usize) {
                    self.calls -= b.calls;
                    self.failures -= b.failures;
                    *b = Bucket::default();
                }
            }
        }
        self.head = epoch;
        self.head_slot = (epoch % n) as usize;
        self.next_edge = epoch.saturating_add(1).saturating_mul(self.width);
    }

    #[inline]
    fn push(&mut self, now: Nanos, failed: bool) {
        self.advance(now);
        if let Some(b) = self.buckets.get_mut(self.head_slot) {
            b.calls += 1;
            self.calls += 1;
            if failed {
                b.failures += 1;
                self.failures += 1;
            }
        }
    }

    /// Adds `n` successes to the newest bucket, as `n` calls of
    /// [`push`](Self::push) at a time inside it would.
    fn push_successes(&mut self, n: u64) {
        if let Some(b) = self.buckets.get_mut(self.head_slot) {
            b.calls += n;
            self.calls += n;
        }
    }

    fn clear(&mut self) {
        self.buckets.fill(Bucket::default());
        self.calls = 0;
        self.failures = 0;
    }
}

#[derive(Debug, Clone)]
enum WindowState {
    Count(CountWindow),
    Time(TimeWindow),
}

impl WindowState {
    fn new(window: Window) -> Self {
        match window {
            Window::Count { size } => WindowState::Count(CountWindow::new(size)),
            Window::Time { length_ns, buckets } => {
                WindowState::Time(TimeWindow::new(length_ns, buckets))
            }
        }
    }

    /// Records one call; returns `(calls, failures)` in the window.
    #[inline]
    fn push(&mut self, now: Nanos, failed: bool) -> (u64, u64) {
        match self {
            WindowState::Count(w) => {
                w.push(failed);
                (w.len, w.failures)
            }
            WindowState::Time(w) => {
                w.push(now, failed);
                (w.calls, w.failures)
            }
        }
    }

    /// Until when successes recorded from `now` on all land where one
    /// recorded at `now` would: the end of the newest bucket of a time
    /// window (after moving it to `now`), forever for a count window.
    #[inline]
    fn same_bucket_until(&mut self, now: Nanos) -> Nanos {
        match self {
            WindowState::Count(_) => Nanos::MAX,
            WindowState::Time(w) => {
                w.advance(now);
                w.next_edge
            }
        }
    }

    fn push_successes(&mut self, n: u64) {
        match self {
            WindowState::Count(w) => w.push_successes(n),
            WindowState::Time(w) => w.push_successes(n),
        }
    }

    fn counts(&mut self, now: Nanos) -> (u64, u64) {
        match self {
            WindowState::Count(w) => (w.len, w.failures),
            WindowState::Time(w) => {
                w.advance(now);
                (w.calls, w.failures)
            }
        }
    }

    fn clear(&mut self) {
        match self {
            WindowState::Count(w) => w.clear(),
            WindowState::Time(w) => w.clear(),
        }
    }
}

/// One circuit breaker (see the [module docs](self) for the semantics).
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
        let open_base = ms_to_nanos(cfg.open_ms);
        let open_max = ms_to_nanos(cfg.max_open_ms).max(open_base);
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
    fn refresh(&mut self, now: Nanos) {
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
    fn is_closed(&self) -> bool {
        !self.cfg.enabled || self.state == BreakerState::Closed
    }

    /// For a success batch starting at `now` (see [`MultiBreaker::record`]):
    /// `None` when this breaker is enabled and not closed (its successes
    /// are not plain window pushes), otherwise until when a success lands
    /// in the same window bucket as one at `now`.
    #[inline]
    fn batch_until(&mut self, now: Nanos) -> Option<Nanos> {
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
    fn record_successes(&mut self, n: u64) {
        if self.cfg.enabled && n > 0 {
            debug_assert!(self.state == BreakerState::Closed);
            self.window.push_successes(n);
        }
    }

    fn should_trip(&self, calls: u64, failures: u64) -> bool {
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

    fn open(&mut self, now: Nanos) {
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

    fn bit(self) -> u8 {
        match self {
            Tripped::Category(c) => 1 << c.index(),
            Tripped::Global => GLOBAL_BIT,
        }
    }
}

const GLOBAL_BIT: u8 = 1 << ErrorCategory::COUNT;

/// Configuration of a [`MultiBreaker`] (the `[breaker]` table).
///
/// Missing category tables take [`BreakerConfig::for_category`]; a category
/// table that is present only needs the fields it changes, the others keep
/// that category's defaults. `global` defaults to [`BreakerConfig::default`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MultiBreakerConfig {
    /// Breaker for connection failures (default: failure rate 0.25 once 20
    /// calls are in a 30 s window).
    #[serde(deserialize_with = "de_connection")]
    pub connection: BreakerConfig,
    /// Breaker for timeouts (default: failure rate 0.25, 20 calls, 30 s).
    #[serde(deserialize_with = "de_timeout")]
    pub timeout: BreakerConfig,
    /// Breaker for query errors (default: disabled; failure rate 0.5 once
    /// enabled).
    #[serde(deserialize_with = "de_query")]
    pub query: BreakerConfig,
    /// Breaker for aborted transactions (default: failure rate 0.5, 20
    /// calls, 30 s).
    #[serde(deserialize_with = "de_transaction")]
    pub transaction: BreakerConfig,
    /// Breaker for authentication failures (default: 3 failures in 30 s).
    #[serde(deserialize_with = "de_security")]
    pub security: BreakerConfig,
    /// The global breaker over every call (default: failure rate 0.5 once
    /// 20 calls are in a 30 s window).
    pub global: BreakerConfig,
    /// Categories whose failures count as failures of the global breaker;
    /// failures of other categories count there as successes. Default: all
    /// but `query`.
    pub trips_global: Vec<ErrorCategory>,
}

impl Default for MultiBreakerConfig {
    fn default() -> Self {
        MultiBreakerConfig {
            connection: BreakerConfig::for_category(ErrorCategory::Connection),
            timeout: BreakerConfig::for_category(ErrorCategory::Timeout),
            query: BreakerConfig::for_category(ErrorCategory::Query),
            transaction: BreakerConfig::for_category(ErrorCategory::Transaction),
            security: BreakerConfig::for_category(ErrorCategory::Security),
            global: BreakerConfig::default(),
            trips_global: ErrorCategory::ALL
                .into_iter()
                .filter(|&c| c != ErrorCategory::Query)
                .collect(),
        }
    }
}

impl MultiBreakerConfig {
    /// The breaker configuration of `category`.
    pub fn category(&self, category: ErrorCategory) -> &BreakerConfig {
        match category {
            ErrorCategory::Connection => &self.connection,
            ErrorCategory::Timeout => &self.timeout,
            ErrorCategory::Query => &self.query,
            ErrorCategory::Transaction => &self.transaction,
            ErrorCategory::Security => &self.security,
        }
    }

    /// The breaker configuration of `category`, mutably.
    pub fn category_mut(&mut self, category: ErrorCategory) -> &mut BreakerConfig {
        match category {
            ErrorCategory::Connection => &mut self.connection,
            ErrorCategory::Timeout => &mut self.timeout,
            ErrorCategory::Query => &mut self.query,
            ErrorCategory::Transaction => &mut self.transaction,
            ErrorCategory::Security => &mut self.security,
        }
    }

    /// Whether failures of `category` count toward the global breaker.
    pub fn counts_toward_global(&self, category: ErrorCategory) -> bool {
        self.trips_global.contains(&category)
    }

    /// Checks every breaker; errors name `breaker.<category>.<field>` or
    /// `breaker.global.<field>`.
    pub fn validate(&self) -> Result<(), BreakerConfigError> {
        for category in ErrorCategory::ALL {
            self.category(category)
                .validate(&format!("breaker.{}", category.name()))?;
        }
        self.global.validate("breaker.global")
    }
}

/// A partial [`BreakerConfig`]: the fields a TOML table sets.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BreakerPatch {
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    window: Option<Window>,
    #[serde(default)]
    min_calls: Option<u32>,
    #[serde(default, deserialize_with = "present")]
    failure_rate: Option<Option<f64>>,
    #[serde(default, deserialize_with = "present")]
    failure_count: Option<Option<u32>>,
    #[serde(default)]
    open_ms: Option<f64>,
    #[serde(default)]
    open_backoff: Option<f64>,
    #[serde(default)]
    max_open_ms: Option<f64>,
    #[serde(default)]
    half_open_probes: Option<u32>,
}

/// Tells a field that is present (possibly `null`) from a missing one.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

impl BreakerPatch {
    fn apply(self, mut cfg: BreakerConfig) -> BreakerConfig {
        if let Some(v) = self.enabled {
            cfg.enabled = v;
        }
        if let Some(v) = self.window {
            cfg.window = v;
        }
        if let Some(v) = self.min_calls {
            cfg.min_calls = v;
        }
        if let Some(v) = self.failure_rate {
            cfg.failure_rate = v;
        }
        if let Some(v) = self.failure_count {
            cfg.failure_count = v;
        }
        if let Some(v) = self.open_ms {
            cfg.open_ms = v;
        }
        if let Some(v) = self.open_backoff {
            cfg.open_backoff = v;
        }
        if let Some(v) = self.max_open_ms {
            cfg.max_open_ms = v;
        }
        if let Some(v) = self.half_open_probes {
            cfg.half_open_probes = v;
        }
        cfg
    }
}

fn de_category<'de, D: Deserializer<'de>>(
    d: D,
    category: ErrorCategory,
) -> Result<BreakerConfig, D::Error> {
    Ok(BreakerPatch::deserialize(d)?.apply(BreakerConfig::for_category(category)))
}

fn de_connection<'de, D: Deserializer<'de>>(d: D) -> Result<BreakerConfig, D::Error> {
    de_category(d, ErrorCategory::Connection)
}

fn de_timeout<'de, D: Deserializer<'de>>(d: D) -> Result<BreakerConfig, D::Error> {
    de_category(d, ErrorCategory::Timeout)
}

fn de_query<'de, D: Deserializer<'de>>(d: D) -> Result<BreakerConfig, D::Error> {
    de_category(d, ErrorCategory::Query)
}

fn de_transaction<'de, D: Deserializer<'de>>(d: D) -> Result<BreakerConfig, D::Error> {
    de_category(d, ErrorCategory::Transaction)
}

fn de_security<'de, D: Deserializer<'de>>(d: D) -> Result<BreakerConfig, D::Error> {
    de_category(d, ErrorCategory::Security)
}

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

    fn kind(self, which: Tripped) -> CallKind {
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
    categories: [CircuitBreaker; ErrorCategory::COUNT],
    global: CircuitBreaker,
    trips_global: [bool; ErrorCategory::COUNT],
    batch: SuccessBatch,
    /// Every breaker is closed (or disabled): a call is permitted without
    /// asking each. Only recording a call or a reset changes a closed
    /// breaker's state, and both update this.
    all_closed: bool,
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

    fn breaker_mut(&mut self, which: Tripped) -> &mut CircuitBreaker {
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
    fn record_success_unbatched(&mut self, now: Nanos) {
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
    fn flush(&mut self) {
        let n = std::mem::take(&mut self.batch.count);
        if n > 0 {
            for b in &mut self.categories {
                b.record_successes(n);
            }
            self.global.record_successes(n);
        }
    }

    fn record_each(&mut self, now: Nanos, permit: Permit, failure: Option<ErrorCategory>) {
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::core::NANOS_PER_SEC;

    const MS: Nanos = NANOS_PER_MS;
    const SEC: Nanos = NANOS_PER_SEC;

    fn count_cfg(size: u32) -> BreakerConfig {
        BreakerConfig {
            enabled: true,
            window: Window::Count { size },
            min_calls: 0,
            failure_rate: None,
            failure_count: None,
            open_ms: 1_000.0,
            open_backoff: 2.0,
            max_open_ms: 3_000.0,
            half_open_probes: 1,
        }
    }

    fn tripped_breaker(cfg: BreakerConfig, at: Nanos) -> CircuitBreaker {
        let mut b = CircuitBreaker::new(cfg);
        for _ in 0..1_000 {
            if b.state(at) != BreakerState::Closed {
                break;
            }
            b.record(at, CallKind::Normal, true);
        }
        assert!(matches!(b.state(at), BreakerState::Open { .. }));
        b
    }

    #[test]
    fn state_codes() {
        assert_eq!(BreakerState::Closed.code(), 0);
        assert_eq!(BreakerState::HalfOpen.code(), 1);
        assert_eq!(BreakerState::Open { until: 5 }.code(), 2);
    }

    #[test]
    fn count_window_trips_by_rate_after_min_calls() {
        let cfg = BreakerConfig {
            min_calls: 10,
            failure_rate: Some(0.5),
            ..count_cfg(10)
        };
        cfg.validate("b").unwrap();
        let mut b = CircuitBreaker::new(cfg);
        // 100% failures, but fewer than min_calls: no trip.
        for i in 0..4 {
            b.record(i, CallKind::Normal, true);
        }
        assert_eq!(b.state(4), BreakerState::Closed);
        for i in 4..9 {
            b.record(i, CallKind::Normal, false);
        }
        assert_eq!(b.counts(9), (9, 4));
        assert_eq!(b.state(9), BreakerState::Closed);
        // 10th call, 5th failure: rate 0.5 with 10 calls.
        b.record(9, CallKind::Normal, true);
        assert_eq!(b.state(9), BreakerState::Open { until: 9 + SEC });
        assert_eq!(b.trips(), 1);
    }

    #[test]
    fn count_window_slides() {
        let cfg = BreakerConfig {
            failure_count: Some(3),
            ..count_cfg(4)
        };
        let mut b = CircuitBreaker::new(cfg);
        // f s s f s f: the first failure has slid out when the third arrives.
        for (i, failed) in [true, false, false, true, false, true]
            .into_iter()
            .enumerate()
        {
            b.record(i as Nanos, CallKind::Normal, failed);
        }
        assert_eq!(b.counts(6), (4, 2));
        assert_eq!(b.state(6), BreakerState::Closed);
        b.record(7, CallKind::Normal, true);
        assert_eq!(b.state(7), BreakerState::Open { until: 7 + SEC });
    }

    #[test]
    fn absolute_count_trips() {
        let cfg = BreakerConfig {
            failure_count: Some(3),
            ..count_cfg(100)
        };
        let mut b = CircuitBreaker::new(cfg);
        for t in 0..50 {
            b.record(t, CallKind::Normal, false);
        }
        b.record(50, CallKind::Normal, true);
        b.record(51, CallKind::Normal, false);
        b.record(52, CallKind::Normal, true);
        assert_eq!(b.state(52), BreakerState::Closed);
        b.record(53, CallKind::Normal, true);
        assert_eq!(b.state(53), BreakerState::Open { until: 53 + SEC });
        assert_eq!(b.try_call(54), Err(53 + SEC));
    }

    #[test]
    fn successes_never_trip() {
        let cfg = BreakerConfig {
            failure_rate: Some(0.01),
            failure_count: Some(1),
            ..count_cfg(10)
        };
        let mut b = CircuitBreaker::new(cfg);
        for t in 0..100 {
            b.record(t, CallKind::Normal, false);
        }
        assert_eq!(b.state(100), BreakerState::Closed);
    }

    #[test]
    fn time_window_evicts_old_failures() {
        let cfg = BreakerConfig {
            window: Window::time_ms(10_000, 10),
            failure_count: Some(3),
            ..count_cfg(1)
        };
        cfg.validate("b").unwrap();
        let mut b = CircuitBreaker::new(cfg);
        b.record(0, CallKind::Normal, true);
        b.record(SEC, CallKind::Normal, true);
        assert_eq!(b.counts(SEC), (2, 2));
        // The first failure is 10 s old at 10 s: evicted.
        assert_eq!(b.counts(10 * SEC), (1, 1));
        // Both are out of the window by 11.5 s.
        b.record(11 * SEC + 500 * MS, CallKind::Normal, true);
        assert_eq!(b.counts(11 * SEC + 500 * MS), (1, 1));
        assert_eq!(b.state(11 * SEC + 500 * MS), BreakerState::Closed);
        b.record(12 * SEC, CallKind::Normal, true);
        assert_eq!(b.state(12 * SEC), BreakerState::Closed);
        b.record(13 * SEC, CallKind::Normal, true);
        assert_eq!(
            b.state(13 * SEC),
            BreakerState::Open {
                until: 13 * SEC + SEC
            }
        );
    }

    #[test]
    fn time_window_long_gap_clears_everything() {
        let cfg = BreakerConfig {
            window: Window::time_ms(1_000, 4),
            failure_count: Some(2),
            ..count_cfg(1)
        };
        let mut b = CircuitBreaker::new(cfg);
        b.record(100 * MS, CallKind::Normal, true);
        b.record(200 * MS, CallKind::Normal, false);
        assert_eq!(b.counts(300 * MS), (2, 1));
        assert_eq!(b.counts(3_600 * SEC), (0, 0));
        b.record(3_600 * SEC, CallKind::Normal, true);
        assert_eq!(b.state(3_600 * SEC), BreakerState::Closed);
    }

    #[test]
    fn time_going_backwards_does_not_panic() {
        let cfg = BreakerConfig {
            window: Window::time_ms(1_000, 10),
            failure_count: Some(3),
            ..count_cfg(1)
        };
        let mut b = CircuitBreaker::new(cfg);
        b.record(5 * SEC, CallKind::Normal, true);
        b.record(SEC, CallKind::Normal, true);
        assert_eq!(b.counts(SEC), (2, 2));
        b.record(0, CallKind::Normal, true);
        assert!(matches!(b.state(0), BreakerState::Open { .. }));
    }

    #[test]
    fn open_then_half_open() {
        let cfg = BreakerConfig {
            failure_count: Some(1),
            ..count_cfg(5)
        };
        let mut b = CircuitBreaker::new(cfg);
        b.record(10, CallKind::Normal, true);
        let until = 10 + SEC;
        assert_eq!(b.next_transition(), Some(until));
        assert_eq!(b.state(until - 1), BreakerState::Open { until });
        assert_eq!(b.try_call(until - 1), Err(until));
        assert_eq!(b.state(until), BreakerState::HalfOpen);
        assert_eq!(b.next_transition(), None);
        assert_eq!(b.try_call(until), Ok(CallKind::Probe));
    }

    #[test]
    fn stragglers_are_ignored() {
        let cfg = BreakerConfig {
            failure_count: Some(1),
            ..count_cfg(5)
        };
        let mut b = CircuitBreaker::new(cfg);
        assert_eq!(b.try_call(0), Ok(CallKind::Normal));
        b.record(0, CallKind::Normal, true);
        // While open: successes and failures change nothing.
        b.record(MS, CallKind::Normal, false);
        b.record(2 * MS, CallKind::Normal, true);
        assert_eq!(b.state(2 * MS), BreakerState::Open { until: SEC });
        // Half-open: Normal outcomes neither close nor reopen it.
        assert_eq!(b.state(SEC), BreakerState::HalfOpen);
        b.record(SEC, CallKind::Normal, false);
        assert_eq!(b.state(SEC), BreakerState::HalfOpen);
        b.record(SEC, CallKind::Normal, true);
        assert_eq!(b.state(SEC), BreakerState::HalfOpen);
        assert_eq!(b.trips(), 1);
    }

    #[test]
    fn probe_limit_is_enforced() {
        let cfg = BreakerConfig {
            failure_count: Some(1),
            half_open_probes: 2,
            ..count_cfg(5)
        };
        let mut b = tripped_breaker(cfg, 0);
        let t = SEC;
        assert_eq!(b.try_call(t), Ok(CallKind::Probe));
        assert_eq!(b.try_call(t), Ok(CallKind::Probe));
        assert_eq!(b.try_call(t), Err(t));
        assert_eq!(b.try_call(t + 5), Err(t + 5));
        assert_eq!(b.probes_outstanding(), 2);
        b.record(t + 10, CallKind::Probe, false);
        assert_eq!(b.state(t + 10), BreakerState::HalfOpen);
        assert_eq!(b.try_call(t + 10), Ok(CallKind::Probe));
        assert_eq!(b.try_call(t + 10), Err(t + 10));
        // Cancelling frees a slot without counting an outcome.
        b.cancel(CallKind::Probe);
        assert_eq!(b.probes_outstanding(), 1);
        assert_eq!(b.try_call(t + 11), Ok(CallKind::Probe));
    }

    #[test]
    fn closes_after_n_successful_probes() {
        let cfg = BreakerConfig {
            failure_count: Some(2),
            half_open_probes: 3,
            ..count_cfg(5)
        };
        let mut b = tripped_breaker(cfg, 0);
        let t = SEC;
        for i in 0..3 {
            assert_eq!(b.try_call(t + i), Ok(CallKind::Probe));
        }
        b.record(t + 10, CallKind::Probe, false);
        b.record(t + 11, CallKind::Probe, false);
        assert_eq!(b.state(t + 11), BreakerState::HalfOpen);
        b.record(t + 12, CallKind::Probe, false);
        assert_eq!(b.state(t + 12), BreakerState::Closed);
        assert_eq!(b.probes_outstanding(), 0);
        // The window was cleared: one failure is not enough.
        assert_eq!(b.counts(t + 12), (0, 0));
        b.record(t + 13, CallKind::Normal, true);
        assert_eq!(b.state(t + 13), BreakerState::Closed);
        b.record(t + 14, CallKind::Normal, true);
        assert_eq!(
            b.state(t + 14),
            BreakerState::Open {
                until: t + 14 + SEC
            }
        );
    }

    #[test]
    fn reopens_with_backoff_and_cap() {
        let cfg = BreakerConfig {
            failure_count: Some(1),
            ..count_cfg(5)
        };
        // open 1 s, backoff 2, cap 3 s.
        let mut b = CircuitBreaker::new(cfg);
        b.record(0, CallKind::Normal, true);
        let mut t = SEC;
        assert_eq!(b.state(t - 1), BreakerState::Open { until: t });
        for expected in [2 * SEC, 3 * SEC, 3 * SEC] {
            assert_eq!(b.try_call(t), Ok(CallKind::Probe));
            b.record(t, CallKind::Probe, true);
            assert_eq!(
                b.state(t),
                BreakerState::Open {
                    until: t + expected
                }
            );
            t += expected;
        }
        assert_eq!(b.try_call(t), Ok(CallKind::Probe));
        b.record(t, CallKind::Probe, false);
        assert_eq!(b.state(t), BreakerState::Closed);
        // The backoff resets once closed.
        b.record(t + 1, CallKind::Normal, true);
        assert_eq!(b.state(t + 1), BreakerState::Open { until: t + 1 + SEC });
        assert_eq!(b.trips(), 5);
    }

    #[test]
    fn disabled_breaker_permits_and_never_trips() {
        let cfg = BreakerConfig {
            enabled: false,
            failure_count: Some(1),
            ..count_cfg(5)
        };
        let mut b = CircuitBreaker::new(cfg);
        for t in 0..100 {
            assert_eq!(b.try_call(t), Ok(CallKind::Normal));
            b.record(t, CallKind::Normal, true);
        }
        assert_eq!(b.state(100), BreakerState::Closed);
        assert_eq!(b.next_transition(), None);
    }

    #[test]
    fn reset_closes() {
        let cfg = BreakerConfig {
            failure_count: Some(1),
            ..count_cfg(5)
        };
        let mut b = tripped_breaker(cfg, 0);
        b.reset();
        assert_eq!(b.state(0), BreakerState::Closed);
        assert_eq!(b.counts(0), (0, 0));
        assert_eq!(b.try_call(0), Ok(CallKind::Normal));
    }

    #[test]
    fn invalid_config_does_not_panic() {
        for window in [
            Window::Count { size: 0 },
            Window::Time {
                length_ns: 0,
                buckets: 0,
            },
            Window::Time {
                length_ns: 3,
                buckets: 10,
            },
            Window::Count { size: u32::MAX },
        ] {
            let cfg = BreakerConfig {
                window,
                min_calls: 7,
                failure_rate: Some(f64::NAN),
                failure_count: Some(0),
                open_ms: f64::NAN,
                open_backoff: f64::NAN,
                max_open_ms: -1.0,
                half_open_probes: 0,
                ..count_cfg(1)
            };
            assert!(cfg.validate("b").is_err());
            let mut b = CircuitBreaker::new(cfg);
            for t in 0..20 {
                if let Ok(kind) = b.try_call(t) {
                    b.record(t, kind, t % 3 == 0);
                }
                assert!(b.state(t).code() <= 2);
            }
        }
    }

    fn failure(m: &mut MultiBreaker, now: Nanos, category: Option<ErrorCategory>) {
        let permit = m.try_acquire(now).expect("permitted");
        m.record(now, permit, category);
    }

    #[test]
    fn categories_are_isolated() {
        let mut cfg = MultiBreakerConfig::default();
        cfg.timeout.failure_rate = None;
        cfg.timeout.failure_count = Some(8);
        let mut m = MultiBreaker::new(&cfg);
        for i in 0..7 {
            failure(&mut m, i * MS, Some(ErrorCategory::Timeout));
        }
        assert_eq!(m.states(7 * MS), ([0; 5], 0));
        failure(&mut m, 7 * MS, Some(ErrorCategory::Timeout));
        let (codes, global) = m.states(8 * MS);
        assert_eq!(codes[ErrorCategory::Timeout.index()], 2);
        assert_eq!(codes[ErrorCategory::Connection.index()], 0);
        assert_eq!(codes.iter().filter(|&&c| c != 0).count(), 1);
        // 8 calls are fewer than the global min_calls of 20.
        assert_eq!(global, 0);
        assert_eq!(
            m.try_acquire(8 * MS),
            Err(Tripped::Category(ErrorCategory::Timeout))
        );
        assert_eq!(
            m.state_of(8 * MS, Tripped::Category(ErrorCategory::Timeout)),
            BreakerState::Open {
                until: 7 * MS + 30 * SEC
            }
        );
        assert_eq!(m.next_transition(), Some(7 * MS + 30 * SEC));
        assert_eq!(
            m.breaker(Tripped::Category(ErrorCategory::Connection))
                .trips(),
            0
        );
    }

    #[test]
    fn query_breaker_is_disabled_by_default() {
        let cfg = MultiBreakerConfig::default();
        assert!(!cfg.query.enabled);
        assert!(!cfg.counts_toward_global(ErrorCategory::Query));
        let mut m = MultiBreaker::new(&cfg);
        for i in 0..100 {
            failure(&mut m, i * MS, Some(ErrorCategory::Query));
        }
        // Query errors trip neither their breaker nor the global one.
        assert_eq!(m.states(100 * MS), ([0; 5], 0));
        assert!(m.try_acquire(100 * MS).is_ok());
    }

    #[test]
    fn query_breaker_enabled_partially() {
        let mut cfg = MultiBreakerConfig::default();
        cfg.query.enabled = true;
        cfg.query.failure_rate = None;
        cfg.query.failure_count = Some(15);
        cfg.validate().unwrap();
        let mut m = MultiBreaker::new(&cfg);
        for i in 0..15 {
            failure(&mut m, i * MS, Some(ErrorCategory::Query));
        }
        assert_eq!(
            m.try_acquire(15 * MS),
            Err(Tripped::Category(ErrorCategory::Query))
        );
    }

    #[test]
    fn global_trips_on_mixed_categories() {
        let mut cfg = MultiBreakerConfig::default();
        for c in ErrorCategory::ALL {
            cfg.category_mut(c).failure_count = Some(1_000);
        }
        cfg.validate().unwrap();
        let mut m = MultiBreaker::new(&cfg);
        let mixed = [
            ErrorCategory::Connection,
            ErrorCategory::Timeout,
            ErrorCategory::Transaction,
            ErrorCategory::Security,
        ];
        for i in 0..19u64 {
            let category = (i % 2 == 1).then(|| mixed[(i / 2) as usize % mixed.len()]);
            failure(&mut m, i * MS, category);
        }
        // 19 calls, 9 failures: below min_calls.
        assert_eq!(m.states(19 * MS), ([0; 5], 0));
        // 20 calls, 10 failures: rate 0.5.
        failure(&mut m, 19 * MS, Some(ErrorCategory::Security));
        assert_eq!(m.states(19 * MS), ([0; 5], 2));
        assert_eq!(m.try_acquire(20 * MS), Err(Tripped::Global));
        // Half-open after 30 s; a successful probe closes it.
        let t = 19 * MS + 30 * SEC;
        assert_eq!(m.state_of(t, Tripped::Global), BreakerState::HalfOpen);
        let probe = m.try_acquire(t).unwrap();
        assert!(probe.is_probe_for(Tripped::Global));
        assert!(!probe.is_probe_for(Tripped::Category(ErrorCategory::Connection)));
        assert_eq!(m.try_acquire(t), Err(Tripped::Global));
        m.record(t, probe, None);
        assert_eq!(m.states(t), ([0; 5], 0));
    }

    #[test]
    fn query_failures_are_global_successes() {
        let mut cfg = MultiBreakerConfig::default();
        cfg.global.failure_rate = None;
        cfg.global.failure_count = Some(2);
        let mut m = MultiBreaker::new(&cfg);
        failure(&mut m, 0, Some(ErrorCategory::Connection));
        failure(&mut m, 1, Some(ErrorCategory::Query));
        assert_eq!(m.breaker(Tripped::Global).config().failure_count, Some(2));
        assert_eq!(m.states(2).1, 0);
        failure(&mut m, 2, Some(ErrorCategory::Timeout));
        assert_eq!(m.states(3).1, 2);
    }

    #[test]
    fn try_acquire_does_not_leak_probe_slots() {
        let cfg = MultiBreakerConfig {
            global: BreakerConfig {
                failure_count: Some(1),
                ..count_cfg(10)
            },
            connection: BreakerConfig {
                failure_count: Some(1),
                open_ms: 10_000.0,
                max_open_ms: 10_000.0,
                ..count_cfg(10)
            },
            ..MultiBreakerConfig::default()
        };
        cfg.validate().unwrap();
        let mut m = MultiBreaker::new(&cfg);
        failure(&mut m, 0, Some(ErrorCategory::Connection));
        assert_eq!(m.try_acquire(1), Err(Tripped::Global));
        // At 2 s the global breaker is half-open, the connection one open.
        for i in 0..5 {
            let t = 2 * SEC + i;
            assert_eq!(
                m.try_acquire(t),
                Err(Tripped::Category(ErrorCategory::Connection))
            );
            assert_eq!(m.breaker(Tripped::Global).probes_outstanding(), 0);
        }
        assert_eq!(m.states(2 * SEC), ([2, 0, 0, 0, 0], 1));
        // At 10 s both are half-open: one call probes both.
        let t = 10 * SEC;
        let permit = m.try_acquire(t).unwrap();
        assert!(permit.is_probe_for(Tripped::Global));
        assert!(permit.is_probe_for(Tripped::Category(ErrorCategory::Connection)));
        assert_eq!(m.try_acquire(t), Err(Tripped::Global));
        m.record(t + MS, permit, None);
        assert_eq!(m.states(t + MS), ([0; 5], 0));
    }

    #[test]
    fn category_rejection_returns_global_slot_when_category_slots_full() {
        let cfg = MultiBreakerConfig {
            global: BreakerConfig {
                failure_count: Some(1),
                half_open_probes: 2,
                ..count_cfg(10)
            },
            timeout: BreakerConfig {
                failure_count: Some(1),
                ..count_cfg(10)
            },
            ..MultiBreakerConfig::default()
        };
        let mut m = MultiBreaker::new(&cfg);
        failure(&mut m, 0, Some(ErrorCategory::Timeout));
        let t = SEC;
        let first = m.try_acquire(t).unwrap();
        assert!(first.is_probe_for(Tripped::Global));
        assert!(first.is_probe_for(Tripped::Category(ErrorCategory::Timeout)));
        // Global has a second slot, timeout does not: rejected, slot returned.
        assert_eq!(
            m.try_acquire(t),
            Err(Tripped::Category(ErrorCategory::Timeout))
        );
        assert_eq!(m.breaker(Tripped::Global).probes_outstanding(), 1);
        m.cancel(first);
        assert_eq!(m.breaker(Tripped::Global).probes_outstanding(), 0);
        assert_eq!(
            m.breaker(Tripped::Category(ErrorCategory::Timeout))
                .probes_outstanding(),
            0
        );
        // A failed probe reopens both with backoff.
        let probe = m.try_acquire(t).unwrap();
        m.record(t, probe, Some(ErrorCategory::Timeout));
        assert_eq!(
            m.state_of(t, Tripped::Global),
            BreakerState::Open { until: t + 2 * SEC }
        );
        m.reset();
        assert_eq!(m.states(t), ([0; 5], 0));
    }

    #[test]
    fn defaults_are_valid_and_documented() {
        let cfg = MultiBreakerConfig::default();
        cfg.validate().unwrap();
        let counts: Vec<_> = ErrorCategory::ALL
            .iter()
            .map(|&c| cfg.category(c).failure_count)
            .collect();
        assert_eq!(counts, [None, None, None, None, Some(3)]);
        let rates: Vec<_> = ErrorCategory::ALL
            .iter()
            .map(|&c| cfg.category(c).failure_rate)
            .collect();
        assert_eq!(rates, [Some(0.25), Some(0.25), Some(0.5), Some(0.5), None]);
        assert_eq!(cfg.global.failure_rate, Some(0.5));
        assert_eq!(cfg.global.min_calls, 20);
        assert_eq!(cfg.global.window, Window::time_ms(30_000, 30));
        BreakerConfig::default().validate("").unwrap();
    }

    #[test]
    fn validation_names_the_path() {
        let check = |cfg: MultiBreakerConfig, path: &str, needle: &str| {
            let err = cfg.validate().unwrap_err();
            assert_eq!(err.path, path, "{err}");
            assert!(err.message.contains(needle), "{err}");
            assert!(err.to_string().starts_with(&format!("{path}: ")));
        };
        let base = MultiBreakerConfig::default;

        let mut c = base();
        c.connection.failure_rate = Some(1.5);
        check(c, "breaker.connection.failure_rate", "(0, 1]");
        let mut c = base();
        c.timeout.failure_rate = Some(0.0);
        check(c, "breaker.timeout.failure_rate", "(0, 1]");
        let mut c = base();
        c.timeout.failure_rate = Some(f64::NAN);
        check(c, "breaker.timeout.failure_rate", "(0, 1]");
        let mut c = base();
        c.global.window = Window::Count { size: 0 };
        check(c, "breaker.global.window.size", "got 0");
        let mut c = base();
        c.global.window = Window::Count { size: 10 };
        check(c, "breaker.global.min_calls", "window.size");
        let mut c = base();
        c.security.window = Window::Count { size: 2 };
        check(c, "breaker.security.failure_count", "window.size");
        let mut c = base();
        c.transaction.window = Window::time_ms(1_000, 0);
        check(c, "breaker.transaction.window.buckets", "got 0");
        let mut c = base();
        c.transaction.window = Window::time_ms(0, 10);
        check(c, "breaker.transaction.window.length_ms", "positive");
        let mut c = base();
        c.query.half_open_probes = 0;
        check(c, "breaker.query.half_open_probes", "at least 1");
        let mut c = base();
        c.connection.open_ms = -1.0;
        check(c, "breaker.connection.open_ms", "finite duration");
        let mut c = base();
        c.connection.open_ms = f64::NAN;
        check(c, "breaker.connection.open_ms", "finite duration");
        let mut c = base();
        c.global.max_open_ms = f64::INFINITY;
        check(c, "breaker.global.max_open_ms", "finite duration");
        let mut c = base();
        c.global.max_open_ms = 10.0;
        check(c, "breaker.global.max_open_ms", "open_ms");
        let mut c = base();
        c.global.open_backoff = 0.5;
        check(c, "breaker.global.open_backoff", ">= 1");
        let mut c = base();
        c.timeout.failure_rate = None;
        c.timeout.failure_count = None;
        check(c, "breaker.timeout.failure_rate", "failure_count");
        let mut c = base();
        c.timeout.failure_count = Some(0);
        check(c, "breaker.timeout.failure_count", "at least 1");

        // A disabled breaker needs no threshold.
        let mut c = base();
        c.query.failure_rate = None;
        c.query.failure_count = None;
        c.validate().unwrap();
    }

    fn prop_cfg(probes: u32, window: Window) -> BreakerConfig {
        BreakerConfig {
            window,
            min_calls: 4,
            failure_rate: Some(0.5),
            failure_count: Some(3),
            half_open_probes: probes,
            ..count_cfg(8)
        }
    }

    proptest! {
        #[test]
        fn probes_never_exceed_limit(
            probes in 1u32..4,
            time_window in any::<bool>(),
            ops in proptest::collection::vec((0u64..1_500_000_000, 0u8..4, any::<bool>()), 1..300),
        ) {
            let window = if time_window {
                Window::time_ms(2_000, 4)
            } else {
                Window::Count { size: 8 }
            };
            let cfg = prop_cfg(probes, window);
            prop_assert!(cfg.validate("p").is_ok());
            let mut b = CircuitBreaker::new(cfg);
            let mut in_flight: Vec<CallKind> = Vec::new();
            let mut now: Nanos = 0;
            for (dt, op, failed) in ops {
                now += dt;
                match op {
                    0 | 1 => {
                        if let Ok(kind) = b.try_call(now) {
                            in_flight.push(kind);
                        }
                    }
                    2 => {
                        if !in_flight.is_empty() {
                            let kind = in_flight.remove(0);
                            b.record(now, kind, failed);
                        }
                    }
                    _ => {
                        if let Some(kind) = in_flight.pop() {
                            b.record(now, kind, failed);
                        }
                    }
                }
                let out = in_flight.iter().filter(|&&k| k == CallKind::Probe).count();
                prop_assert!(out <= probes as usize);
                prop_assert_eq!(out, b.probes_outstanding() as usize);
                let state = b.state(now);
                prop_assert!(state.code() <= 2);
                if let BreakerState::Open { until } = state {
                    prop_assert!(until > now);
                    prop_assert!(until - now <= 3 * SEC);
                }
            }
        }

        /// Batching successes is invisible: a `MultiBreaker` that batches
        /// them agrees at every step with one that records every call
        /// breaker by breaker, on mixed windows and disabled breakers.
        #[test]
        fn batched_successes_match_recording_each_call(
            windows in proptest::collection::vec((0u8..3, 1u32..6), 6),
            ops in proptest::collection::vec((0u64..400_000_000, 0u8..10, 0u8..6), 1..400),
        ) {
            let mut cfg = MultiBreakerConfig::default();
            let make = |(kind, n): (u8, u32)| match kind {
                0 => BreakerConfig {
                    enabled: false,
                    ..count_cfg(n)
                },
                1 => prop_cfg(1 + n % 2, Window::Count { size: 3 + n }),
                // Bucket widths of 15 to 90 ms.
                _ => prop_cfg(1 + n % 2, Window::time_ms(30 * u64::from(n), 1 + n % 3)),
            };
            for (i, c) in ErrorCategory::ALL.into_iter().enumerate() {
                *cfg.category_mut(c) = make(windows[i]);
            }
            cfg.global = make(windows[5]);
            prop_assert!(cfg.validate().is_ok());
            let mut batched = MultiBreaker::new(&cfg);
            let mut each = MultiBreaker::new(&cfg);
            let mut in_flight: Vec<Permit> = Vec::new();
            let mut now: Nanos = 0;
            let whiches = ErrorCategory::ALL
                .map(Tripped::Category)
                .into_iter()
                .chain([Tripped::Global]);
            for (dt, op, cat) in ops {
                // Mostly calls close together (long batches, often right on
                // a bucket edge: whole milliseconds), sometimes a jump.
                now += if op == 9 { dt } else { (dt % 3) * MS };
                match op {
                    0..=2 => {
                        let a = batched.try_acquire(now);
                        prop_assert_eq!(a, each.try_acquire(now));
                        if let Ok(p) = a {
                            in_flight.push(p);
                        }
                    }
                    3..=7 if !in_flight.is_empty() => {
                        let p = in_flight.remove(0);
                        // Failures are rare, so batches grow.
                        let failure = if op == 7 {
                            ErrorCategory::from_index(usize::from(cat))
                        } else {
                            None
                        };
                        batched.record(now, p, failure);
                        each.record_each(now, p, failure);
                    }
                    8 if cat == 0 => {
                        batched.reset();
                        each.reset();
                    }
                    _ => {}
                }
                prop_assert_eq!(batched.states(now), each.states(now));
                prop_assert_eq!(batched.next_transition(), each.next_transition());
                // The try_acquire shortcut holds exactly when every breaker
                // is closed or disabled.
                let closed = batched
                    .categories
                    .iter()
                    .chain(std::iter::once(&batched.global))
                    .all(CircuitBreaker::is_closed);
                prop_assert_eq!(batched.all_closed, closed);
                // Read the counts of a copy, so the batch itself keeps growing.
                let mut copy = batched.clone();
                for which in whiches.clone() {
                    prop_assert_eq!(copy.counts(now, which), each.counts(now, which));
                    prop_assert_eq!(batched.breaker(which).trips(), each.breaker(which).trips());
                }
            }
        }

        #[test]
        fn multi_breaker_states_stay_valid(
            ops in proptest::collection::vec((0u64..800_000_000, 0u8..7, any::<bool>()), 1..300),
        ) {
            let mut cfg = MultiBreakerConfig::default();
            for c in ErrorCategory::ALL {
                *cfg.category_mut(c) = BreakerConfig {
                    failure_rate: None,
                    failure_count: Some(2),
                    half_open_probes: 2,
                    ..count_cfg(8)
                };
            }
            cfg.global = prop_cfg(1, Window::time_ms(2_000, 8));
            prop_assert!(cfg.validate().is_ok());
            let mut m = MultiBreaker::new(&cfg);
            let mut in_flight: Vec<Permit> = Vec::new();
            let mut now: Nanos = 0;
            for (dt, op, flag) in ops {
                now += dt;
                if op < 2 || in_flight.is_empty() {
                    if let Ok(permit) = m.try_acquire(now) {
                        in_flight.push(permit);
                    }
                } else {
                    let permit = in_flight.remove(0);
                    let failure = if flag {
                        ErrorCategory::from_index(usize::from(op - 2))
                    } else {
                        None
                    };
                    m.record(now, permit, failure);
                }
                let (codes, global) = m.states(now);
                prop_assert!(codes.iter().all(|&c| c <= 2) && global <= 2);
                for which in ErrorCategory::ALL
                    .map(Tripped::Category)
                    .into_iter()
                    .chain([Tripped::Global])
                {
                    let out = in_flight.iter().filter(|p| p.is_probe_for(which)).count();
                    let limit = m.breaker(which).config().half_open_probes as usize;
                    prop_assert!(out <= limit);
                    prop_assert_eq!(out, m.breaker(which).probes_outstanding() as usize);
                }
            }
        }
    }
}
