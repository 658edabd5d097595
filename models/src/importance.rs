//! Permutation feature importance: how much a model's test error grows when
//! one feature's values are shuffled among the test rows, breaking its link
//! to the target while keeping its distribution.
//!
//! Computed on held-out rows, so it says what the model *uses* to predict
//! data it never saw. Correlated features (a lag and a rolling mean of the
//! same signal) share credit: shuffling one leaves the other, so both can
//! look unimportant. Read it as a ranking of reliance, not of causes.

use poolcast::core::artifact::{ModelBody, predict_body};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::dataset::FeatureDataset;

/// One feature's importance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Importance {
    /// The feature.
    pub feature: String,
    /// Test MAE with the feature shuffled minus the MAE without: positive
    /// means the model relies on it.
    pub increase_mae: f64,
}

fn mae(y: &[f64], p: &[f64]) -> f64 {
    y.iter().zip(p).map(|(a, b)| (a - b).abs()).sum::<f64>() / y.len().max(1) as f64
}

/// Permutation importance of every feature of `ds` for `model`, on at most
/// `max_rows` of the dataset rows `rows` (evenly spaced, so every part of
/// the test period counts) with targets `y` (aligned with `rows`). Sorted
/// by importance, largest first; ties by name. The same inputs give the
/// same output whatever the thread count.
pub fn permutation_importance(
    ds: &FeatureDataset,
    model: &ModelBody,
    rows: &[usize],
    y: &[f64],
    max_rows: usize,
    seed: u64,
) -> Vec<Importance> {
    let n = rows.len().min(y.len());
    if n == 0 || max_rows == 0 {
        return Vec::new();
    }
    let take = n.min(max_rows);
    let picked: Vec<usize> = (0..take).map(|k| k * n / take).collect();
    let names: Vec<String> = ds.spec.names().iter().map(|s| s.to_string()).collect();
    let p = ds.n_features();
    let x: Vec<Vec<f64>> = picked
        .iter()
        .map(|&k| (0..p).map(|j| ds.table.columns[j][rows[k]]).collect())
        .collect();
    let yy: Vec<f64> = picked.iter().map(|&k| y[k]).collect();
    let base_pred: Vec<f64> = x.iter().map(|r| predict_body(model, &names, r)).collect();
    let base = mae(&yy, &base_pred);
    let mut out: Vec<Importance> = (0..p)
        .into_par_iter()
        .map(|j| {
            let mut order: Vec<usize> = (0..take).collect();
            let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(
                seed ^ (j as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            );
            order.shuffle(&mut rng);
            let mut row = vec![0.0; p];
            let pred: Vec<f64> = (0..take)
                .map(|k| {
                    row.copy_from_slice(&x[k]);
                    row[j] = x[order[k]][j];
                    predict_body(model, &names, &row)
                })
                .collect();
            Importance {
                feature: names[j].clone(),
                increase_mae: mae(&yy, &pred) - base,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.increase_mae
            .total_cmp(&a.increase_mae)
            .then_with(|| a.feature.cmp(&b.feature))
    });
    out
}
