//! One breaker's configuration: [`BreakerConfig`] and its [`Window`].

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::core::telemetry::ErrorCategory;
use crate::core::{NANOS_PER_MS, Nanos};

/// Largest accepted [`Window::Count`] size (calls).
pub const MAX_COUNT_WINDOW: u32 = 1 << 20;
/// Largest accepted number of [`Window::Time`] buckets.
pub const MAX_TIME_BUCKETS: u32 = 1 << 16;
/// Largest accepted duration in milliseconds (about 31.7 years).
pub const MAX_DURATION_MS: f64 = 1.0e12;

use crate::core::config_error::ConfigError;
use crate::core::units::ms_to_ns;

/// Whether `ms` is a finite duration in `[0, MAX_DURATION_MS]`.
pub(super) fn valid_duration_ms(ms: f64) -> bool {
    ms.is_finite() && (0.0..=MAX_DURATION_MS).contains(&ms)
}

/// Serde for a [`Nanos`] field written as milliseconds (integer or float).
pub(super) mod ms_as_nanos {
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
        Ok(ms_to_ns(ms))
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

/// Configuration of one [`CircuitBreaker`](super::CircuitBreaker).
///
/// Durations are milliseconds (`f64`). Deserializing fills missing fields
/// from [`BreakerConfig::default`] (the global breaker's defaults); inside a
/// [`MultiBreakerConfig`](super::MultiBreakerConfig) a category table is filled from
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
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        let err = |field: &str, message: String| {
            Err(ConfigError {
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
