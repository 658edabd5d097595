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
//!   [`MixSampler`] (class, hold time, statement pattern);
//! - [`replay`]: a recorded trace as the workload ([`ReplayConfig`]);
//! - [`demand`]: the requests of one run, synthetic or replayed
//!   ([`demand::Demand`]), which the engine and the oracle both draw.
//!
//! Configuration types are plain serde structs that read from TOML
//! (`kind = "..."` selects an enum variant), use seconds for times in load
//! patterns and milliseconds for service times, refuse unknown fields, and
//! have a `validate(path)` that names the offending field.

pub mod arrivals;
pub mod classes;
pub mod closed_loop;
pub mod demand;
pub mod rate;
pub mod replay;
pub mod service;
#[cfg(test)]
mod tests;
mod trace_stream;

pub use arrivals::{ArrivalProcess, DEFAULT_BLOCK_NS};
pub use classes::{ClassMix, ClassSpec, HoldSample, MixSampler, pattern_hash};
pub use rate::{LoadConfig, Pattern, RateFn};
pub use replay::{RecordedWaits, ReplayConfig, ReplayStream, ReplayTrace, TraceInfo};
pub use service::{ServiceDist, ServiceSampler};

use crate::config_error::join;

/// `parent.field[i]`.
pub(crate) fn indexed(parent: &str, field: &str, i: usize) -> String {
    format!("{}[{i}]", join(parent, field))
}

pub(crate) use crate::config_error::check;

/// Seconds (load patterns) and milliseconds (service distributions) to
/// nanoseconds.
pub(crate) use poolcast::core::units::{ms_to_ns, secs_to_ns};
