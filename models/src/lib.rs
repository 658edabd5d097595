//! # poolcast-models
//!
//! The offline half of forecasting: telemetry Parquet → features Parquet
//! (the core's extractor, run per run) → walk-forward split → linear, random
//! forest and gradient boosting beside persistence, moving-average and
//! seasonal-naive baselines → a checksummed model artifact the runtime
//! loads with no ML library.
//!
//! - [`dataset`]: discover runs, build and read the features Parquet;
//! - [`split`]: walk-forward splits with a gap, rolling-origin folds,
//!   scenario hold-out;
//! - [`metrics`]: accuracy = 1 − WAPE, MAE, RMSE, MAPE, R², bias, skill;
//! - [`inputs`]: which inputs a model may learn from on its training
//!   rows (not the run's age, nor a calendar cycle they do not cover);
//! - [`linear`], [`trees`]: the trainers;
//! - [`train`]: selection on the folds, shrinkage towards persistence,
//!   test scored once, calibration,
//!   the shuffled-target leakage alarm, and the artifact.
#![warn(missing_docs)]
// `unsafe_code` is denied by the workspace lints; not `forbid` here, as
// ndarray's `s!` macro expands to an `allow(unsafe_code)` of its own.
#![deny(unsafe_code)]

mod combine;
pub mod dataset;
pub mod error;
mod folds;
pub mod importance;
pub mod inputs;
pub mod linear;
pub mod metrics;
pub mod split;
pub mod train;
pub mod trees;

pub use error::ModelError;
