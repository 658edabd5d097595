//! Workloads: what arrives, when, and how long it holds a connection.
//!
//! - [`rate`]: load patterns (steady, spike, gradual, random walk, Markov,
//!   cyclical, noise) composed multiplicatively into a [`RateFn`], with true
//!   per-interval upper bounds;
//! - [`arrivals`]: a non-homogeneous Poisson process drawn from a [`RateFn`]
//!   by thinning with piecewise bounds ([`ArrivalProcess`]);
//! - [`service`]: service-time distributions ([`ServiceDist`]) compiled once
//!   into a [`ServiceSampler`];
//! - [`classes`]: the query-class mix ([`ClassMix`]) and its compiled
//!   [`MixSampler`] (class, hold time, statement pattern).
//!
//! Configuration types are plain serde structs that read from TOML
//! (`kind = "..."` selects an enum variant), use seconds for times in load
//! patterns and milliseconds for service times, refuse unknown fields, and
//! have a `validate(path)` that names the offending field.

pub mod arrivals;
pub mod classes;
pub mod rate;
pub mod service;
#[cfg(test)]
mod tests;

pub use arrivals::{ArrivalProcess, DEFAULT_BLOCK_NS};
pub use classes::{ClassMix, ClassSpec, HoldSample, MixSampler, pattern_hash};
pub use rate::{LoadConfig, Pattern, RateFn};
pub use service::{ServiceDist, ServiceSampler};

use crate::config_error::{ConfigError, join};

/// `parent.field[i]`.
pub(crate) fn indexed(parent: &str, field: &str, i: usize) -> String {
    format!("{}[{i}]", join(parent, field))
}

/// Small checks shared by the `validate` methods. Each takes the path of the
/// value's parent and the field name, and reports `parent.field`.
pub(crate) mod check {
    use super::{ConfigError, join};

    /// A finite number strictly greater than zero.
    pub fn positive(parent: &str, field: &str, v: f64) -> Result<(), ConfigError> {
        if v.is_finite() && v > 0.0 {
            Ok(())
        } else {
            Err(ConfigError::new(
                join(parent, field),
                format!("expected a finite number > 0, found {v}"),
            ))
        }
    }

    /// A finite number greater than or equal to zero.
    pub fn non_negative(parent: &str, field: &str, v: f64) -> Result<(), ConfigError> {
        if v.is_finite() && v >= 0.0 {
            Ok(())
        } else {
            Err(ConfigError::new(
                join(parent, field),
                format!("expected a finite number >= 0, found {v}"),
            ))
        }
    }

    /// A finite number at least `min`.
    pub fn at_least(parent: &str, field: &str, v: f64, min: f64) -> Result<(), ConfigError> {
        if v.is_finite() && v >= min {
            Ok(())
        } else {
            Err(ConfigError::new(
                join(parent, field),
                format!("expected a finite number >= {min}, found {v}"),
            ))
        }
    }

    /// A number in `[lo, hi)` (or `[lo, hi]` when `hi_inclusive`).
    pub fn in_range(
        parent: &str,
        field: &str,
        v: f64,
        lo: f64,
        hi: f64,
        hi_inclusive: bool,
    ) -> Result<(), ConfigError> {
        let ok = v >= lo && if hi_inclusive { v <= hi } else { v < hi };
        if ok {
            Ok(())
        } else {
            let close = if hi_inclusive { ']' } else { ')' };
            Err(ConfigError::new(
                join(parent, field),
                format!("expected a number in [{lo}, {hi}{close}, found {v}"),
            ))
        }
    }
}

/// Seconds (as written in a load pattern) to nanoseconds, rounded; negative
/// and NaN map to 0, huge values saturate.
pub(crate) fn secs_to_ns(s: f64) -> poolcast::core::Nanos {
    (s * 1e9).round() as poolcast::core::Nanos
}

/// Milliseconds (as written in a service distribution) to nanoseconds,
/// rounded; negative and NaN map to 0, huge values saturate.
pub(crate) fn ms_to_ns(ms: f64) -> poolcast::core::Nanos {
    (ms * 1e6).round() as poolcast::core::Nanos
}
