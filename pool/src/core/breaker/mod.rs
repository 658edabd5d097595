//! The multi-level circuit breaker: one [`CircuitBreaker`] per
//! [`ErrorCategory`](crate::core::ErrorCategory) plus a global one, combined by [`MultiBreaker`].
//!
//! # Model
//!
//! A breaker is a three-state machine, sans-IO like the rest of [`core`](super):
//! every entry point takes the current time `now` ([`Nanos`](crate::core::Nanos)) as an argument.
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
//! category breakers in [`ErrorCategory::ALL`](crate::core::ErrorCategory::ALL) order; the first that refuses
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

mod circuit;
mod config;
mod multi;
mod multi_config;
mod window;

#[cfg(test)]
mod tests;

pub use circuit::{BreakerState, CallKind, CircuitBreaker};
pub use config::{BreakerConfig, MAX_COUNT_WINDOW, MAX_DURATION_MS, MAX_TIME_BUCKETS, Window};
pub use multi::{MultiBreaker, Permit, Tripped};
pub use multi_config::MultiBreakerConfig;
