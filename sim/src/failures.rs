//! Failure injection: a rate per failure category, outage windows (the
//! database is down: creations and statements fail) and degradation windows
//! (statements slow down), plus error bursts that raise one category's rate
//! for a while.

use poolcast::core::{ErrorCategory, NANOS_PER_MS, Nanos};
use serde::{Deserialize, Serialize};

use crate::config_error::{ConfigError, join};
use crate::workload::{ms_to_ns, secs_to_ns};

/// A time window in seconds from the start of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    /// Start, in seconds.
    pub start_s: f64,
    /// Length, in seconds.
    pub duration_s: f64,
}

/// A window in which statements run slower.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Degradation {
    /// Start, in seconds.
    pub start_s: f64,
    /// Length, in seconds.
    pub duration_s: f64,
    /// Hold times are multiplied by this (≥ 1 slows down).
    pub latency_multiplier: f64,
}

/// A window in which one category fails at a different rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBurst {
    /// Start, in seconds.
    pub start_s: f64,
    /// Length, in seconds.
    pub duration_s: f64,
    /// The category.
    pub category: ErrorCategory,
    /// Its rate inside the window (a probability in \[0, 1\]).
    pub rate: f64,
}

/// Failure injection settings (`[failures]` in a scenario).
///
/// Rates are probabilities per event: `connection_rate` and
/// `security_rate` per connection creation; `query_rate`, `timeout_rate`
/// and `transaction_rate` per request (the last only for requests of more
/// than one statement).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct FailureConfig {
    /// A creation fails with a connection error.
    pub connection_rate: f64,
    /// A creation fails authentication (security category).
    pub security_rate: f64,
    /// A request fails with a query error part-way through its hold.
    pub query_rate: f64,
    /// A request's statement hangs until `statement_timeout_ms`.
    pub timeout_rate: f64,
    /// A multi-statement request aborts (serialization failure, deadlock).
    pub transaction_rate: f64,
    /// Statements running longer are cancelled with a timeout error.
    pub statement_timeout_ms: Option<f64>,
    /// Time a statement on a dead connection takes to fail, in ms.
    pub dead_connection_error_ms: Option<f64>,
    /// Database outages.
    pub outages: Vec<WindowSpec>,
    /// Latency degradations.
    pub degradations: Vec<Degradation>,
    /// Error bursts.
    pub bursts: Vec<ErrorBurst>,
}

fn check_prob(path: &str, field: &str, v: f64) -> Result<(), ConfigError> {
    if v.is_finite() && (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(ConfigError::new(
            join(path, field),
            format!("expected a probability in [0, 1], got {v}"),
        ))
    }
}

fn check_window(path: &str, start: f64, duration: f64) -> Result<(), ConfigError> {
    if !(start.is_finite() && start >= 0.0) {
        return Err(ConfigError::new(
            join(path, "start_s"),
            "expected seconds ≥ 0",
        ));
    }
    if !(duration.is_finite() && duration > 0.0) {
        return Err(ConfigError::new(
            join(path, "duration_s"),
            "expected seconds > 0",
        ));
    }
    Ok(())
}

impl FailureConfig {
    /// Checks every rate and window.
    ///
    /// # Errors
    /// The field's path under `path` and what was expected.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        check_prob(path, "connection_rate", self.connection_rate)?;
        check_prob(path, "security_rate", self.security_rate)?;
        if self.connection_rate + self.security_rate > 1.0 {
            return Err(ConfigError::new(
                join(path, "security_rate"),
                "connection_rate + security_rate must not exceed 1",
            ));
        }
        check_prob(path, "query_rate", self.query_rate)?;
        check_prob(path, "timeout_rate", self.timeout_rate)?;
        check_prob(path, "transaction_rate", self.transaction_rate)?;
        if self.query_rate + self.timeout_rate + self.transaction_rate > 1.0 {
            return Err(ConfigError::new(
                join(path, "query_rate"),
                "query_rate + timeout_rate + transaction_rate must not exceed 1",
            ));
        }
        if let Some(t) = self.statement_timeout_ms
            && !(t.is_finite() && t > 0.0)
        {
            return Err(ConfigError::new(
                join(path, "statement_timeout_ms"),
                "expected ms > 0",
            ));
        }
        if self.timeout_rate > 0.0 && self.statement_timeout_ms.is_none() {
            return Err(ConfigError::new(
                join(path, "statement_timeout_ms"),
                "timeout_rate > 0 needs statement_timeout_ms (how long a hung statement runs)",
            ));
        }
        if let Some(t) = self.dead_connection_error_ms
            && !(t.is_finite() && t >= 0.0)
        {
            return Err(ConfigError::new(
                join(path, "dead_connection_error_ms"),
                "expected ms ≥ 0",
            ));
        }
        for (i, w) in self.outages.iter().enumerate() {
            check_window(&format!("{path}.outages[{i}]"), w.start_s, w.duration_s)?;
        }
        for (i, d) in self.degradations.iter().enumerate() {
            let p = format!("{path}.degradations[{i}]");
            check_window(&p, d.start_s, d.duration_s)?;
            if !(d.latency_multiplier.is_finite() && d.latency_multiplier > 0.0) {
                return Err(ConfigError::new(
                    join(&p, "latency_multiplier"),
                    "expected a number > 0",
                ));
            }
        }
        for (i, b) in self.bursts.iter().enumerate() {
            let p = format!("{path}.bursts[{i}]");
            check_window(&p, b.start_s, b.duration_s)?;
            check_prob(&p, "rate", b.rate)?;
        }
        Ok(())
    }
}

/// Compiled failure timeline, queried by the engine.
#[derive(Debug, Clone)]
pub struct Failures {
    /// Per-category base rates, indexed by `ErrorCategory::index`.
    /// Connection and security apply to creations, the rest to requests.
    base: [f64; ErrorCategory::COUNT],
    statement_timeout: Option<Nanos>,
    dead_error: Nanos,
    outages: Vec<(Nanos, Nanos)>,
    degradations: Vec<(Nanos, Nanos, f64)>,
    bursts: Vec<(Nanos, Nanos, ErrorCategory, f64)>,
}

impl Failures {
    /// Compiles a validated config.
    pub fn new(cfg: &FailureConfig) -> Self {
        let mut base = [0.0; ErrorCategory::COUNT];
        base[ErrorCategory::Connection.index()] = cfg.connection_rate;
        base[ErrorCategory::Security.index()] = cfg.security_rate;
        base[ErrorCategory::Query.index()] = cfg.query_rate;
        base[ErrorCategory::Timeout.index()] = cfg.timeout_rate;
        base[ErrorCategory::Transaction.index()] = cfg.transaction_rate;
        Failures {
            base,
            statement_timeout: cfg.statement_timeout_ms.map(ms_to_ns),
            dead_error: cfg.dead_connection_error_ms.map_or(NANOS_PER_MS, ms_to_ns),
            outages: cfg
                .outages
                .iter()
                .map(|w| (secs_to_ns(w.start_s), secs_to_ns(w.start_s + w.duration_s)))
                .collect(),
            degradations: cfg
                .degradations
                .iter()
                .map(|d| {
                    (
                        secs_to_ns(d.start_s),
                        secs_to_ns(d.start_s + d.duration_s),
                        d.latency_multiplier,
                    )
                })
                .collect(),
            bursts: cfg
                .bursts
                .iter()
                .map(|b| {
                    (
                        secs_to_ns(b.start_s),
                        secs_to_ns(b.start_s + b.duration_s),
                        b.category,
                        b.rate,
                    )
                })
                .collect(),
        }
    }

    /// Whether the database is down at `t`.
    #[inline]
    pub fn in_outage(&self, t: Nanos) -> bool {
        self.outages.iter().any(|&(a, b)| t >= a && t < b)
    }

    /// How many outages have started by `t` (a connection opened in an
    /// earlier epoch is dead once a later outage began).
    #[inline]
    pub fn outage_epoch(&self, t: Nanos) -> u32 {
        self.outages.iter().filter(|&&(a, _)| t >= a).count() as u32
    }

    /// Hold-time multiplier at `t` (product of active degradations).
    #[inline]
    pub fn latency_multiplier(&self, t: Nanos) -> f64 {
        self.degradations
            .iter()
            .filter(|&&(a, b, _)| t >= a && t < b)
            .map(|d| d.2)
            .product()
    }

    /// The rate of `cat` at `t`, bursts included.
    #[inline]
    pub fn rate(&self, cat: ErrorCategory, t: Nanos) -> f64 {
        let mut r = self.base[cat.index()];
        for &(a, b, c, rate) in &self.bursts {
            if c == cat && t >= a && t < b {
                r = rate;
            }
        }
        r
    }

    /// Statement timeout, if any.
    pub fn statement_timeout(&self) -> Option<Nanos> {
        self.statement_timeout
    }

    /// Time for a statement on a dead connection to fail.
    pub fn dead_error(&self) -> Nanos {
        self.dead_error
    }

    /// Whether nothing is ever injected (fast path).
    pub fn is_none(&self) -> bool {
        self.base.iter().all(|&r| r == 0.0)
            && self.statement_timeout.is_none()
            && self.outages.is_empty()
            && self.degradations.is_empty()
            && self.bursts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_bursts() {
        let cfg = FailureConfig {
            query_rate: 0.01,
            outages: vec![WindowSpec {
                start_s: 10.0,
                duration_s: 5.0,
            }],
            degradations: vec![Degradation {
                start_s: 0.0,
                duration_s: 2.0,
                latency_multiplier: 3.0,
            }],
            bursts: vec![ErrorBurst {
                start_s: 20.0,
                duration_s: 1.0,
                category: ErrorCategory::Query,
                rate: 0.5,
            }],
            ..Default::default()
        };
        cfg.validate("failures").unwrap();
        let f = Failures::new(&cfg);
        assert!(!f.in_outage(secs_to_ns(9.99)));
        assert!(f.in_outage(secs_to_ns(10.0)));
        assert!(!f.in_outage(secs_to_ns(15.0)));
        assert_eq!(f.outage_epoch(secs_to_ns(5.0)), 0);
        assert_eq!(f.outage_epoch(secs_to_ns(16.0)), 1);
        assert_eq!(f.latency_multiplier(secs_to_ns(1.0)), 3.0);
        assert_eq!(f.latency_multiplier(secs_to_ns(2.0)), 1.0);
        assert_eq!(f.rate(ErrorCategory::Query, secs_to_ns(20.5)), 0.5);
        assert_eq!(f.rate(ErrorCategory::Query, secs_to_ns(21.5)), 0.01);
        assert!(!f.is_none());
    }

    #[test]
    fn validation_names_fields() {
        let bad = FailureConfig {
            query_rate: -0.1,
            ..Default::default()
        };
        assert_eq!(
            bad.validate("failures").unwrap_err().path,
            "failures.query_rate"
        );
        let bad = FailureConfig {
            timeout_rate: 0.1,
            ..Default::default()
        };
        assert_eq!(
            bad.validate("failures").unwrap_err().path,
            "failures.statement_timeout_ms"
        );
        let bad = FailureConfig {
            outages: vec![WindowSpec {
                start_s: 1.0,
                duration_s: 0.0,
            }],
            ..Default::default()
        };
        assert_eq!(
            bad.validate("f").unwrap_err().path,
            "f.outages[0].duration_s"
        );
    }
}
