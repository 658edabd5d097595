//! # poolcast-sim
//!
//! A discrete-event simulator of a database connection pool. It drives the
//! very same sans-IO state machine (`poolcast::core`) that the runtime pool
//! uses, so what the workbench learns in simulation transfers to production.
//!
//! - [`kernel`]: integer-nanosecond clock, event queue with insertion-order
//!   ties;
//! - [`rng`]: independent seeded streams per (seed, scenario, replication,
//!   stream);
//! - [`valid_scenario`]: a scenario that passed validation, the only
//!   thing the engine runs;
//! - [`workload`]: load patterns, query classes, service times;
//! - [`failures`], [`database`]: what goes wrong and what slows down;
//! - [`engine`]: the driver; [`output`]: Parquet and `summary.json`;
//! - `statement_cache` (private): per-connection LRU caches of prepared
//!   statement patterns behind the affinity routing;
//! - [`erlang`]: the queueing theory the engine is validated against;
//! - [`foresight`]: the future demand the oracle policy sees.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

/// The one configuration error of the workspace (from the pool core).
pub use poolcast::core::config_error;
pub mod database;
pub mod engine;
pub mod erlang;
pub mod failures;
pub mod foresight;
pub mod kernel;
pub mod output;
pub mod rng;
pub mod scenario;
mod statement_cache;
pub mod summary;
pub mod valid_scenario;
pub mod workload;

pub use config_error::ConfigError;
pub use engine::{Engine, MemorySink, TelemetrySink};
pub use scenario::{Scenario, ScenarioFile};
pub use summary::Summary;
pub use valid_scenario::ValidScenario;
