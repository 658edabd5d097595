//! Histogram-based regression trees: a random forest and gradient boosting
//! that both export [`TreeEnsemble`](poolcast::core::model::TreeEnsemble),
//! the evaluator the runtime uses.
//!
//! ```
//! use linfa::prelude::*;
//! use ndarray::{Array1, Array2};
//! use poolcast_models::trees::{GradientBoostingParams, RandomForestParams, TreeError};
//!
//! let x = Array2::from_shape_fn((500, 4), |(i, j)| ((i * 31 + j * 17) % 97) as f64 / 97.0);
//! let y: Array1<f64> = x.rows().into_iter().map(|r| 3.0 * r[0] + r[1] * r[2]).collect();
//! let data = Dataset::new(x, y);
//!
//! let forest = RandomForestParams::new().n_trees(25).max_depth(Some(8)).fit(&data)?;
//! let gbm = GradientBoostingParams::new().n_rounds(50).fit(&data)?;
//! let p: Array1<f64> = gbm.predict(data.records());
//! // Every prediction is the exported ensemble's.
//! let row0 = data.records().row(0).to_vec();
//! assert_eq!(p[0], gbm.ensemble().predict(&row0));
//! assert!(forest.feature_importance()[0] > forest.feature_importance()[3]);
//! # Ok::<(), TreeError>(())
//! ```
//!
//! # How training works
//!
//! - `binning`: each feature is cut into at most 255 quantile bins (edges
//!   from ≤ 200 000 rows) plus a missing bin, stored as `u8` column-major.
//!   A bin's upper edge is a real feature value and becomes the exported
//!   threshold, so `x <= threshold` on raw data makes exactly the split the
//!   learner made on bins.
//! - `hist`: per node, sums of gradient and hessian (for a forest: the
//!   bootstrap-weighted centred target and weight) per bin; the split search
//!   tries sending missing values left and right. The root's histogram reads
//!   the columns in order; a child's reads a copy of the codes grouped 16
//!   features per row (one cache line per row per group instead of one per
//!   feature), gathering each batch of rows before updating the bins.
//! - `grow`: a tree over a row-index array partitioned in place; the child
//!   with fewer rows gets a fresh histogram, its sibling the parent's minus
//!   it. Best-first growth under a leaf limit, depth-first otherwise.
//! - The forest grows trees in parallel (tree `t` seeded from `(seed, t)`);
//!   boosting builds each histogram in parallel across features. Neither
//!   result depends on the number of threads.
//!
//! # Why hand-written
//!
//! linfa-trees 0.8 only classifies; no pure-Rust histogram forest or
//! boosting crate met the speed targets (see `models/bench/README.md`); and
//! the LightGBM bindings (`lightgbm3`) need CMake ≥ 3.28 and clang in CI.

mod binning;
mod boost;
mod common;
mod error;
mod forest;
mod grow;
mod hist;
mod rng;

pub use boost::{GradientBoosting, GradientBoostingParams, GradientBoostingValidParams};
pub use error::TreeError;
pub use forest::{MaxFeatures, RandomForest, RandomForestParams, RandomForestValidParams};
