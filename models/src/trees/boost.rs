//! Gradient boosting (squared error) on histograms, leaf-wise like LightGBM.

use linfa::ParamGuard;
use linfa::dataset::{AsSingleTargets, DatasetBase};
use linfa::traits::{Fit, PredictInplace};
use ndarray::{Array1, ArrayBase, Data, Ix2};
use poolcast::core::model::{FlatTree, TreeEnsemble};
use rayon::prelude::*;

use super::TreeError;
use super::binning::Binned;
use super::common;
use super::grow::{FeaturePick, GrowConfig, Grower};
use super::hist::{GH, SplitRule};
use super::rng;

/// Checked boosting parameters (see [`GradientBoostingParams`] for each).
#[derive(Debug, Clone, PartialEq)]
pub struct GradientBoostingValidParams {
    n_rounds: usize,
    learning_rate: f64,
    max_leaves: usize,
    max_depth: Option<usize>,
    min_samples_leaf: usize,
    lambda: f64,
    min_gain: f64,
    subsample: f64,
    feature_fraction: f64,
    early_stopping_rounds: Option<usize>,
    max_bins: usize,
    seed: u64,
}

/// Gradient boosting parameters, built linfa-style:
///
/// ```
/// use poolcast_models::trees::GradientBoostingParams;
/// use ndarray::Array2;
///
/// let x = Array2::from_shape_fn((400, 2), |(i, j)| ((i * (j + 5)) % 23) as f64);
/// let y: Vec<f64> = x.rows().into_iter().map(|r| (r[0] - 11.0).abs() + r[1]).collect();
/// let (xt, yt) = (x.slice(ndarray::s![..300, ..]), &y[..300]);
/// let (xv, yv) = (x.slice(ndarray::s![300.., ..]), &y[300..]);
/// let gbm = GradientBoostingParams::new()
///     .n_rounds(200)
///     .min_samples_leaf(5)
///     .early_stopping_rounds(Some(10))
///     .train_with_validation(&xt, yt, &xv, yv)?;
/// assert!(gbm.n_trees() <= 200);
/// # Ok::<(), poolcast_models::trees::TreeError>(())
/// ```
///
/// Defaults follow LightGBM's `LGBMRegressor`: 100 rounds, learning rate
/// 0.1, 31 leaves grown best-first, unlimited depth, `min_samples_leaf =
/// 20`, no L2 penalty, no row or feature sampling, 255 bins.
#[derive(Debug, Clone, PartialEq)]
pub struct GradientBoostingParams(GradientBoostingValidParams);

impl Default for GradientBoostingParams {
    fn default() -> Self {
        Self::new()
    }
}

impl GradientBoostingParams {
    /// The defaults (see the type's documentation).
    pub fn new() -> Self {
        GradientBoostingParams(GradientBoostingValidParams {
            n_rounds: 100,
            learning_rate: 0.1,
            max_leaves: 31,
            max_depth: None,
            min_samples_leaf: 20,
            lambda: 0.0,
            min_gain: 0.0,
            subsample: 1.0,
            feature_fraction: 1.0,
            early_stopping_rounds: None,
            max_bins: 255,
            seed: 0,
        })
    }

    /// Boosting rounds (trees), `>= 1`.
    pub fn n_rounds(mut self, n: usize) -> Self {
        self.0.n_rounds = n;
        self
    }

    /// Shrinkage of every tree, finite and `> 0`.
    pub fn learning_rate(mut self, lr: f64) -> Self {
        self.0.learning_rate = lr;
        self
    }

    /// Most leaves per tree, `>= 2`.
    pub fn max_leaves(mut self, m: usize) -> Self {
        self.0.max_leaves = m;
        self
    }

    /// Deepest level a leaf may sit at (root = 0), `>= 1`; `None` = unlimited.
    pub fn max_depth(mut self, d: Option<usize>) -> Self {
        self.0.max_depth = d;
        self
    }

    /// Fewest rows in a leaf, `>= 1`.
    pub fn min_samples_leaf(mut self, m: usize) -> Self {
        self.0.min_samples_leaf = m;
        self
    }

    /// L2 penalty on leaf values, finite and `>= 0`.
    pub fn lambda(mut self, l: f64) -> Self {
        self.0.lambda = l;
        self
    }

    /// Least gain to split, finite and `>= 0`.
    pub fn min_gain(mut self, g: f64) -> Self {
        self.0.min_gain = g;
        self
    }

    /// Fraction of rows drawn (without replacement) for each round, `(0, 1]`.
    pub fn subsample(mut self, f: f64) -> Self {
        self.0.subsample = f;
        self
    }

    /// Fraction of features drawn for each tree, `(0, 1]`.
    pub fn feature_fraction(mut self, f: f64) -> Self {
        self.0.feature_fraction = f;
        self
    }

    /// Stop when the validation RMSE has not improved for this many rounds
    /// and keep the trees up to the best round; `>= 1`, `None` = off. Needs
    /// [`GradientBoostingParams::train_with_validation`].
    pub fn early_stopping_rounds(mut self, p: Option<usize>) -> Self {
        self.0.early_stopping_rounds = p;
        self
    }

    /// Value bins per feature, `2..=255` (plus one for missing values).
    pub fn max_bins(mut self, b: usize) -> Self {
        self.0.max_bins = b;
        self
    }

    /// Seed of the row and feature sampling; the model depends only on it,
    /// not on the number of threads.
    pub fn seed(mut self, s: u64) -> Self {
        self.0.seed = s;
        self
    }

    /// Checks the parameters and trains on `x` (rows × features, `NaN` =
    /// missing) and `y`.
    ///
    /// # Errors
    /// [`TreeError::InvalidParam`] naming the field, an input error, or
    /// [`TreeError::NoValidationSet`] if early stopping is on.
    pub fn train<S: Data<Elem = f64>>(
        &self,
        x: &ArrayBase<S, Ix2>,
        y: &[f64],
    ) -> Result<GradientBoosting, TreeError> {
        self.check_ref()?.train(x, y)
    }

    /// Trains on `x`, `y`, scoring every round on `x_val`, `y_val`; with
    /// early stopping on, keeps the trees up to the best round.
    ///
    /// # Errors
    /// As [`GradientBoostingParams::train`], and input errors on the
    /// validation set.
    pub fn train_with_validation<S: Data<Elem = f64>, V: Data<Elem = f64>>(
        &self,
        x: &ArrayBase<S, Ix2>,
        y: &[f64],
        x_val: &ArrayBase<V, Ix2>,
        y_val: &[f64],
    ) -> Result<GradientBoosting, TreeError> {
        self.check_ref()?.train_with_validation(x, y, x_val, y_val)
    }
}

impl ParamGuard for GradientBoostingParams {
    type Checked = GradientBoostingValidParams;
    type Error = TreeError;

    fn check_ref(&self) -> Result<&Self::Checked, TreeError> {
        let p = &self.0;
        if p.n_rounds == 0 {
            return Err(TreeError::param("n_rounds", p.n_rounds, ">= 1"));
        }
        if !(p.learning_rate.is_finite() && p.learning_rate > 0.0) {
            return Err(TreeError::param(
                "learning_rate",
                p.learning_rate,
                "a finite value > 0",
            ));
        }
        if p.max_leaves < 2 {
            return Err(TreeError::param("max_leaves", p.max_leaves, ">= 2"));
        }
        if p.max_depth == Some(0) {
            return Err(TreeError::param(
                "max_depth",
                p.max_depth,
                "Some(d) with d >= 1, or None for unlimited",
            ));
        }
        if p.min_samples_leaf == 0 {
            return Err(TreeError::param(
                "min_samples_leaf",
                p.min_samples_leaf,
                ">= 1",
            ));
        }
        if !(p.lambda.is_finite() && p.lambda >= 0.0) {
            return Err(TreeError::param("lambda", p.lambda, "a finite value >= 0"));
        }
        if !(p.min_gain.is_finite() && p.min_gain >= 0.0) {
            return Err(TreeError::param(
                "min_gain",
                p.min_gain,
                "a finite value >= 0",
            ));
        }
        if !(p.subsample > 0.0 && p.subsample <= 1.0) {
            return Err(TreeError::param("subsample", p.subsample, "(0, 1]"));
        }
        if !(p.feature_fraction > 0.0 && p.feature_fraction <= 1.0) {
            return Err(TreeError::param(
                "feature_fraction",
                p.feature_fraction,
                "(0, 1]",
            ));
        }
        if p.early_stopping_rounds == Some(0) {
            return Err(TreeError::param(
                "early_stopping_rounds",
                p.early_stopping_rounds,
                "Some(p) with p >= 1, or None for off",
            ));
        }
        if !(2..=255).contains(&p.max_bins) {
            return Err(TreeError::param("max_bins", p.max_bins, "2..=255"));
        }
        Ok(p)
    }

    fn check(self) -> Result<Self::Checked, TreeError> {
        self.check_ref()?;
        Ok(self.0)
    }
}

/// What training produced, including the running training predictions
/// (kept for tests).
struct Trained {
    model: GradientBoosting,
    /// `Σ trees(x)` per training row, in tree order, over the trees kept
    /// only when no early stopping truncated them.
    #[cfg_attr(not(test), allow(dead_code))]
    train_sum: Vec<f64>,
}

impl GradientBoostingValidParams {
    /// Rounds.
    pub fn n_rounds(&self) -> usize {
        self.n_rounds
    }
    /// Learning rate.
    pub fn learning_rate(&self) -> f64 {
        self.learning_rate
    }
    /// Leaf limit.
    pub fn max_leaves(&self) -> usize {
        self.max_leaves
    }
    /// Depth limit.
    pub fn max_depth(&self) -> Option<usize> {
        self.max_depth
    }
    /// Fewest rows per leaf.
    pub fn min_samples_leaf(&self) -> usize {
        self.min_samples_leaf
    }
    /// L2 penalty.
    pub fn lambda(&self) -> f64 {
        self.lambda
    }
    /// Least gain per split.
    pub fn min_gain(&self) -> f64 {
        self.min_gain
    }
    /// Row fraction per round.
    pub fn subsample(&self) -> f64 {
        self.subsample
    }
    /// Feature fraction per tree.
    pub fn feature_fraction(&self) -> f64 {
        self.feature_fraction
    }
    /// Early stopping patience.
    pub fn early_stopping_rounds(&self) -> Option<usize> {
        self.early_stopping_rounds
    }
    /// Value bins per feature.
    pub fn max_bins(&self) -> usize {
        self.max_bins
    }
    /// Seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// See [`GradientBoostingParams::train`].
    ///
    /// # Errors
    /// As [`GradientBoostingParams::train`].
    pub fn train<S: Data<Elem = f64>>(
        &self,
        x: &ArrayBase<S, Ix2>,
        y: &[f64],
    ) -> Result<GradientBoosting, TreeError> {
        if self.early_stopping_rounds.is_some() {
            return Err(TreeError::NoValidationSet);
        }
        common::check_xy("training set", x, y)?;
        Ok(self.train_inner(x, y, None).model)
    }

    /// See [`GradientBoostingParams::train_with_validation`].
    ///
    /// # Errors
    /// As [`GradientBoostingParams::train_with_validation`].
    pub fn train_with_validation<S: Data<Elem = f64>, V: Data<Elem = f64>>(
        &self,
        x: &ArrayBase<S, Ix2>,
        y: &[f64],
        x_val: &ArrayBase<V, Ix2>,
        y_val: &[f64],
    ) -> Result<GradientBoosting, TreeError> {
        common::check_xy("training set", x, y)?;
        common::check_xy("validation set", x_val, y_val)?;
        if x_val.ncols() != x.ncols() {
            return Err(TreeError::FeatureMismatch {
                what: "the validation set",
                got: x_val.ncols(),
                expected: x.ncols(),
            });
        }
        // Row-major copy: each validation row is evaluated tree by tree.
        let rows: Vec<f64> = x_val.iter().copied().collect();
        Ok(self.train_inner(x, y, Some((&rows, y_val))).model)
    }

    /// The boosting loop. Inputs are checked; `val` is a row-major
    /// validation matrix and its target.
    fn train_inner<S: Data<Elem = f64>>(
        &self,
        x: &ArrayBase<S, Ix2>,
        y: &[f64],
        val: Option<(&[f64], &[f64])>,
    ) -> Trained {
        let (n, nf) = x.dim();
        let data = Binned::new(x, self.max_bins, self.seed);
        let base = y.iter().sum::<f64>() / n as f64;
        // Σ tree outputs per row, accumulated in tree order exactly as
        // `TreeEnsemble::predict` does, so `base + sum` is its prediction.
        let mut train_sum = vec![0.0; n];
        let mut val_sum = val.map(|(_, yv)| vec![0.0; yv.len()]);
        let mut grower = Grower::new(&data);
        let mut idx: Vec<u32> = Vec::with_capacity(n);
        let mut gh: Vec<GH> = Vec::with_capacity(n);
        let mut mask = vec![true; nf];
        let n_sub = ((self.subsample * n as f64).round() as usize).clamp(1, n);
        let n_feat = ((self.feature_fraction * nf as f64).round() as usize).clamp(1, nf);
        let mut trees: Vec<FlatTree> = Vec::new();
        let mut gains: Vec<Vec<(u32, f64)>> = Vec::new();
        let mut valid_rmse = Vec::new();
        let mut best: Option<(f64, usize)> = None;
        for round in 0..self.n_rounds {
            let mut rng = rng::stream(self.seed, rng::BOOST_ROUND, round as u64);
            idx.clear();
            if n_sub < n {
                let mut s = rng::sample_without_replacement(&mut rng, n, n_sub);
                s.sort_unstable();
                idx.extend(s);
            } else {
                idx.extend(0..n as u32);
            }
            let identity = idx.len() == n;
            gh.clear();
            gh.extend(idx.iter().map(|&r| GH {
                g: (base + train_sum[r as usize]) - y[r as usize],
                h: 1.0,
            }));
            if n_feat < nf {
                mask.fill(false);
                for f in rng::sample_without_replacement(&mut rng, nf, n_feat) {
                    mask[f as usize] = true;
                }
            }
            let cfg = GrowConfig {
                max_depth: self.max_depth,
                max_leaves: Some(self.max_leaves),
                rule: SplitRule {
                    min_leaf: self.min_samples_leaf as f64,
                    min_gain: self.min_gain,
                    lambda: self.lambda,
                },
                features: if n_feat < nf {
                    FeaturePick::Mask(&mask)
                } else {
                    FeaturePick::All
                },
                parallel: true,
            };
            let grown = grower.grow(&mut idx, &mut gh, identity, &cfg, &mut rng);
            let value: Vec<f64> = grown
                .nodes
                .iter()
                .map(|nd| -self.learning_rate * nd.sum.g / (nd.sum.h + self.lambda))
                .collect();
            if identity {
                for &(leaf, start, end) in &grown.leaves {
                    let v = value[leaf as usize];
                    for &r in &idx[start..end] {
                        train_sum[r as usize] += v;
                    }
                }
            } else {
                train_sum.par_iter_mut().enumerate().for_each(|(r, s)| {
                    *s += value[grown.leaf_of_row(&data, r) as usize];
                });
            }
            let tree = grown.to_flat(&data, &value);
            gains.push(
                grown
                    .nodes
                    .iter()
                    .filter_map(|nd| nd.split.map(|s| (s.feature, s.gain)))
                    .collect(),
            );
            if let (Some((rows, yv)), Some(vs)) = (val, val_sum.as_mut()) {
                vs.par_iter_mut().enumerate().for_each(|(j, s)| {
                    *s += tree.predict(&rows[j * nf..(j + 1) * nf]);
                });
                let sse: f64 = vs
                    .iter()
                    .zip(yv)
                    .map(|(s, t)| {
                        let e = base + s - t;
                        e * e
                    })
                    .sum();
                let rmse = (sse / yv.len() as f64).sqrt();
                valid_rmse.push(rmse);
                trees.push(tree);
                if best.is_none_or(|(b, _)| rmse < b) {
                    best = Some((rmse, round + 1));
                }
                if let (Some(patience), Some((_, kept))) = (self.early_stopping_rounds, best)
                    && round + 1 - kept >= patience
                {
                    break;
                }
            } else {
                trees.push(tree);
            }
        }
        let mut best_round = None;
        if self.early_stopping_rounds.is_some()
            && let Some((_, kept)) = best
        {
            trees.truncate(kept);
            gains.truncate(kept);
            best_round = Some(kept);
        }
        let mut importance = vec![0.0; nf];
        for (f, g) in gains.iter().flatten() {
            importance[*f as usize] += g;
        }
        Trained {
            model: GradientBoosting {
                ensemble: TreeEnsemble::new(nf, base, 1.0, trees),
                importance,
                best_round,
                valid_rmse,
            },
            train_sum,
        }
    }
}

/// A trained boosted ensemble. Predictions go through its [`TreeEnsemble`].
#[derive(Debug, Clone, PartialEq)]
pub struct GradientBoosting {
    ensemble: TreeEnsemble,
    importance: Vec<f64>,
    best_round: Option<usize>,
    valid_rmse: Vec<f64>,
}

impl GradientBoosting {
    /// The exportable ensemble (`base` = training mean, `scale = 1`, the
    /// learning rate folded into the leaves).
    pub fn ensemble(&self) -> &TreeEnsemble {
        &self.ensemble
    }

    /// Consumes the model, returning its ensemble.
    pub fn into_ensemble(self) -> TreeEnsemble {
        self.ensemble
    }

    /// Number of trees kept.
    pub fn n_trees(&self) -> usize {
        self.ensemble.trees.len()
    }

    /// With early stopping: the number of rounds kept (the best validation
    /// RMSE); `None` otherwise.
    pub fn best_round(&self) -> Option<usize> {
        self.best_round
    }

    /// Validation RMSE after each round trained (empty without a
    /// validation set); may run past [`GradientBoosting::best_round`].
    pub fn validation_rmse(&self) -> &[f64] {
        &self.valid_rmse
    }

    /// Total gain (reduction of the regularised squared-error objective) of
    /// each feature's splits over the trees kept; not normalised.
    pub fn feature_importance(&self) -> &[f64] {
        &self.importance
    }

    /// Predicts every row of `x` (rayon over rows).
    ///
    /// # Errors
    /// [`TreeError::FeatureMismatch`] if `x` has the wrong number of columns.
    pub fn try_predict<S: Data<Elem = f64>>(
        &self,
        x: &ArrayBase<S, Ix2>,
    ) -> Result<Array1<f64>, TreeError> {
        common::try_predict(&self.ensemble, x)
    }
}

impl<D, T> Fit<ArrayBase<D, Ix2>, T, TreeError> for GradientBoostingValidParams
where
    D: Data<Elem = f64>,
    T: AsSingleTargets<Elem = f64>,
{
    type Object = GradientBoosting;

    /// Trains without a validation set, so early stopping must be off.
    fn fit(
        &self,
        dataset: &DatasetBase<ArrayBase<D, Ix2>, T>,
    ) -> Result<GradientBoosting, TreeError> {
        let y = dataset.as_single_targets();
        self.train(dataset.records(), &common::as_slice(&y))
    }
}

impl<D: Data<Elem = f64>> PredictInplace<ArrayBase<D, Ix2>, Array1<f64>> for GradientBoosting {
    /// Writes `NaN` everywhere if `x` has the wrong number of columns (this
    /// trait cannot return an error; use [`GradientBoosting::try_predict`]).
    fn predict_inplace(&self, x: &ArrayBase<D, Ix2>, y: &mut Array1<f64>) {
        common::predict_inplace(&self.ensemble, x, y);
    }

    fn default_target(&self, x: &ArrayBase<D, Ix2>) -> Array1<f64> {
        Array1::zeros(x.nrows())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn data(n: usize) -> (Array2<f64>, Vec<f64>) {
        let x = Array2::from_shape_fn((n, 3), |(i, j)| {
            let u = rng::splitmix64((i * 3 + j) as u64) as f64 / u64::MAX as f64;
            if j == 2 && u < 0.15 { f64::NAN } else { u }
        });
        let y = (0..n)
            .map(|i| {
                let r = x.row(i);
                (6.0 * r[0]).sin() + r[1] * r[1] + if r[2].is_nan() { 1.0 } else { r[2] }
            })
            .collect();
        (x, y)
    }

    #[test]
    fn running_training_predictions_equal_the_exported_ensemble_bit_for_bit() {
        let (x, y) = data(4000);
        for subsample in [1.0, 0.7] {
            let p = GradientBoostingParams::new()
                .n_rounds(30)
                .subsample(subsample)
                .feature_fraction(0.67)
                .check()
                .unwrap();
            let t = p.train_inner(&x, &y, None);
            let e = t.model.ensemble();
            e.validate().unwrap();
            for (r, s) in t.train_sum.iter().enumerate() {
                let want = e.predict(x.row(r).as_slice().unwrap());
                assert_eq!((e.base + s).to_bits(), want.to_bits(), "row {r}");
            }
        }
    }
}
