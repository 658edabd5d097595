//! # poolcast-models
//!
//! Dataset builder, trainers, baselines, evaluation and export. This crate
//! is filled by the models issue; for now it only re-exports the telemetry
//! contract it will consume so the dependency direction is fixed.

pub use poolcast::core::Snapshot;
