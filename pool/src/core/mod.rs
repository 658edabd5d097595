//! The sans-IO core: telemetry types, the pool state machine, scaling
//! policies and the multi-level circuit breaker. No async and no I/O: time is
//! always an argument ([`Nanos`]).

pub mod affinity;
pub mod artifact;
pub mod breaker;
pub mod config_error;
pub mod erlang;
pub mod features;
pub mod histogram;
pub mod interval;
pub mod model;
pub mod policy;
pub mod pool;
pub mod settings;
pub mod sqlstate;
pub mod telemetry;
pub mod units;

/// Time in integer nanoseconds since an epoch chosen by the driver (the
/// simulation start, or the runtime pool's start).
pub type Nanos = u64;

/// Nanoseconds per millisecond.
pub const NANOS_PER_MS: u64 = 1_000_000;
/// Nanoseconds per second.
pub const NANOS_PER_SEC: u64 = 1_000_000_000;

pub use telemetry::{ErrorCategory, Outcome, QueryClass, RequestRecord, Snapshot};
