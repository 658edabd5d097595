//! # poolcast
//!
//! A database connection pool that provisions ahead of demand.
//!
//! The crate is built like quinn-proto: [`core`] is a pure state machine with
//! no async and no I/O. Every entry point takes the current time as an
//! argument and the machine answers with actions for its driver. The same
//! code runs under a test clock, the discrete-event simulator
//! (`poolcast-sim`) and, behind the `runtime` feature, tokio.
//!
//! ```
//! use poolcast::core::pool::{PoolConfig, PoolCore, Action};
//!
//! let cfg = PoolConfig { min_idle: 0, max_size: 2, initial_size: 0, ..PoolConfig::default() };
//! let mut pool = PoolCore::new(cfg, 0).expect("valid config");
//! pool.acquire(0, 7); // request 7 asks for a connection at t = 0
//! // No connection exists yet, so the pool asks its driver to create one.
//! assert!(matches!(pool.poll_action(), Some(Action::Create { .. })));
//! ```
#![warn(missing_docs)]

pub mod core;
#[cfg(feature = "runtime")]
pub mod runtime;
