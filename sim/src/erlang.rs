//! Queueing theory the simulator is validated against. The formulas live in
//! the pool core (the predictive policy sizes the pool with them); they are
//! re-exported here for the simulator's validation and reports.

pub use poolcast::core::erlang::{erlang_c, mmc_mean_wait, mmc_wait_quantile};
