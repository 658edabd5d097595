//! Random forest regression on histograms.

use linfa::ParamGuard;
use linfa::dataset::{AsSingleTargets, DatasetBase};
use linfa::traits::{Fit, PredictInplace};
use ndarray::{Array1, ArrayBase, Data, Ix2};
use poolcast::core::model::TreeEnsemble;
use rand::RngExt;
use rayon::prelude::*;

use super::TreeError;
use super::binning::Binned;
use super::common;
use super::grow::{FeaturePick, GrowConfig, Grower};
use super::hist::{GH, SplitRule};
use super::rng;

/// How many features each split considers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaxFeatures {
    /// Every feature (scikit-learn's regression default, `max_features=1.0`).
    All,
    /// `⌊√n_features⌋`, at least 1 (as scikit-learn).
    Sqrt,
    /// `⌊log2 n_features⌋`, at least 1.
    Log2,
    /// `⌊fraction × n_features⌋`, at least 1; `fraction` in `(0, 1]`.
    Fraction(f64),
    /// A fixed count, `1..=n_features`.
    Count(usize),
}

impl MaxFeatures {
    /// The number of features per split for `n` features.
    fn resolve(self, n: usize) -> Result<usize, TreeError> {
        let k = match self {
            MaxFeatures::All => n,
            MaxFeatures::Sqrt => (n as f64).sqrt().floor() as usize,
            MaxFeatures::Log2 => (n as f64).log2().floor() as usize,
            MaxFeatures::Fraction(f) => (f * n as f64).floor() as usize,
            MaxFeatures::Count(k) => {
                if k > n {
                    return Err(TreeError::param(
                        "max_features",
                        self,
                        "a count no larger than the number of features",
                    ));
                }
                k
            }
        };
        Ok(k.clamp(1, n))
    }
}

/// Checked random forest parameters (see [`RandomForestParams`] for each).
#[derive(Debug, Clone, PartialEq)]
pub struct RandomForestValidParams {
    n_trees: usize,
    max_depth: Option<usize>,
    max_leaves: Option<usize>,
    min_samples_leaf: usize,
    min_gain: f64,
    max_features: MaxFeatures,
    bootstrap: bool,
    max_bins: usize,
    seed: u64,
}

/// Random forest parameters, built linfa-style:
///
/// ```
/// use poolcast_models::trees::{MaxFeatures, RandomForestParams};
/// use ndarray::Array2;
///
/// let x = Array2::from_shape_fn((200, 3), |(i, j)| ((i * (j + 3)) % 17) as f64);
/// let y: Vec<f64> = x.rows().into_iter().map(|r| r[0] * 2.0 + r[1]).collect();
/// let forest = RandomForestParams::new()
///     .n_trees(20)
///     .max_depth(Some(6))
///     .max_features(MaxFeatures::All)
///     .seed(7)
///     .train(&x, &y)?;
/// let p = forest.try_predict(&x)?;
/// assert_eq!(p[0], forest.ensemble().predict(x.row(0).as_slice().unwrap()));
/// # Ok::<(), poolcast_models::trees::TreeError>(())
/// ```
///
/// Defaults follow scikit-learn's `RandomForestRegressor`: 100 trees,
/// unlimited depth and leaves, `min_samples_leaf = 1`, all features per
/// split, bootstrap on. The difference is binning: at most `max_bins` (255)
/// candidate thresholds per feature, as LightGBM. Unlimited depth grows
/// trees down to single rows, which costs `O(n log n)` nodes per tree; set
/// `max_depth` for large data.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomForestParams(RandomForestValidParams);

impl Default for RandomForestParams {
    fn default() -> Self {
        Self::new()
    }
}

impl RandomForestParams {
    /// The defaults (see the type's documentation).
    pub fn new() -> Self {
        RandomForestParams(RandomForestValidParams {
            n_trees: 100,
            max_depth: None,
            max_leaves: None,
            min_samples_leaf: 1,
            min_gain: 0.0,
            max_features: MaxFeatures::All,
            bootstrap: true,
            max_bins: 255,
            seed: 0,
        })
    }

    /// Number of trees, `>= 1`.
    pub fn n_trees(mut self, n: usize) -> Self {
        self.0.n_trees = n;
        self
    }

    /// Deepest level a leaf may sit at (root = 0), `>= 1`; `None` = unlimited.
    pub fn max_depth(mut self, d: Option<usize>) -> Self {
        self.0.max_depth = d;
        self
    }

    /// Most leaves per tree, `>= 2`; `None` = unlimited. With a limit,
    /// leaves are split best-first.
    pub fn max_leaves(mut self, m: Option<usize>) -> Self {
        self.0.max_leaves = m;
        self
    }

    /// Fewest training rows (bootstrap draws) in a leaf, `>= 1`.
    pub fn min_samples_leaf(mut self, m: usize) -> Self {
        self.0.min_samples_leaf = m;
        self
    }

    /// Least reduction of the (weighted) squared error to split, `>= 0`.
    pub fn min_gain(mut self, g: f64) -> Self {
        self.0.min_gain = g;
        self
    }

    /// Features tried per split.
    pub fn max_features(mut self, m: MaxFeatures) -> Self {
        self.0.max_features = m;
        self
    }

    /// Draw each tree's rows with replacement (`n` draws from `n` rows).
    pub fn bootstrap(mut self, b: bool) -> Self {
        self.0.bootstrap = b;
        self
    }

    /// Value bins per feature, `2..=255` (plus one for missing values).
    pub fn max_bins(mut self, b: usize) -> Self {
        self.0.max_bins = b;
        self
    }

    /// Seed of every random draw; the model depends only on it, not on the
    /// number of threads.
    pub fn seed(mut self, s: u64) -> Self {
        self.0.seed = s;
        self
    }

    /// Checks the parameters and trains on `x` (rows × features, `NaN` =
    /// missing) and `y`.
    ///
    /// # Errors
    /// [`TreeError::InvalidParam`] naming the field, or an input error
    /// (empty data, length mismatch, non-finite target).
    pub fn train<S: Data<Elem = f64>>(
        &self,
        x: &ArrayBase<S, Ix2>,
        y: &[f64],
    ) -> Result<RandomForest, TreeError> {
        self.check_ref()?.train(x, y)
    }
}

impl ParamGuard for RandomForestParams {
    type Checked = RandomForestValidParams;
    type Error = TreeError;

    fn check_ref(&self) -> Result<&Self::Checked, TreeError> {
        let p = &self.0;
        if p.n_trees == 0 {
            return Err(TreeError::param("n_trees", p.n_trees, ">= 1"));
        }
        if p.max_depth == Some(0) {
            return Err(TreeError::param(
                "max_depth",
                p.max_depth,
                "Some(d) with d >= 1, or None for unlimited",
            ));
        }
        if p.max_leaves.is_some_and(|m| m < 2) {
            return Err(TreeError::param(
                "max_leaves",
                p.max_leaves,
                "Some(m) with m >= 2, or None for unlimited",
            ));
        }
        if p.min_samples_leaf == 0 {
            return Err(TreeError::param(
                "min_samples_leaf",
                p.min_samples_leaf,
                ">= 1",
            ));
        }
        if !(p.min_gain.is_finite() && p.min_gain >= 0.0) {
            return Err(TreeError::param(
                "min_gain",
                p.min_gain,
                "a finite value >= 0",
            ));
        }
        match p.max_features {
            MaxFeatures::Fraction(f) if !(f > 0.0 && f <= 1.0) => {
                return Err(TreeError::param(
                    "max_features",
                    p.max_features,
                    "Fraction(f) with f in (0, 1]",
                ));
            }
            MaxFeatures::Count(0) => {
                return Err(TreeError::param(
                    "max_features",
                    p.max_features,
                    "Count(k) with k >= 1",
                ));
            }
            _ => {}
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

impl RandomForestValidParams {
    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.n_trees
    }
    /// Depth limit.
    pub fn max_depth(&self) -> Option<usize> {
        self.max_depth
    }
    /// Leaf limit.
    pub fn max_leaves(&self) -> Option<usize> {
        self.max_leaves
    }
    /// Fewest rows per leaf.
    pub fn min_samples_leaf(&self) -> usize {
        self.min_samples_leaf
    }
    /// Least gain per split.
    pub fn min_gain(&self) -> f64 {
        self.min_gain
    }
    /// Features per split.
    pub fn max_features(&self) -> MaxFeatures {
        self.max_features
    }
    /// Bootstrap on or off.
    pub fn bootstrap(&self) -> bool {
        self.bootstrap
    }
    /// Value bins per feature.
    pub fn max_bins(&self) -> usize {
        self.max_bins
    }
    /// Seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Trains on `x` and `y` (see [`RandomForestParams::train`]).
    ///
    /// Trees are grown in parallel (rayon); tree `t` draws from the stream
    /// (seed, t), so the forest is the same on any number of threads.
    ///
    /// # Errors
    /// As [`RandomForestParams::train`].
    pub fn train<S: Data<Elem = f64>>(
        &self,
        x: &ArrayBase<S, Ix2>,
        y: &[f64],
    ) -> Result<RandomForest, TreeError> {
        common::check_xy("training set", x, y)?;
        let (n, nf) = x.dim();
        let k = self.max_features.resolve(nf)?;
        let data = Binned::new(x, self.max_bins, self.seed);
        // Centring the target keeps the split gains' rounding small.
        let mean = y.iter().sum::<f64>() / n as f64;
        let features = if k >= nf {
            FeaturePick::All
        } else {
            FeaturePick::PerNode(k)
        };
        let cfg = GrowConfig {
            max_depth: self.max_depth,
            max_leaves: self.max_leaves,
            rule: SplitRule {
                min_leaf: self.min_samples_leaf as f64,
                min_gain: self.min_gain,
                lambda: 0.0,
            },
            features,
            parallel: false,
        };
        let grown: Vec<_> = (0..self.n_trees)
            .into_par_iter()
            .map(|t| {
                let mut rng = rng::stream(self.seed, rng::FOREST_TREE, t as u64);
                let (mut idx, mut gh): (Vec<u32>, Vec<GH>) = if self.bootstrap {
                    let mut counts = vec![0u32; n];
                    for _ in 0..n {
                        counts[rng.random_range(0..n)] += 1;
                    }
                    counts
                        .iter()
                        .enumerate()
                        .filter(|(_, c)| **c > 0)
                        .map(|(r, &c)| {
                            let w = f64::from(c);
                            (
                                r as u32,
                                GH {
                                    g: w * (y[r] - mean),
                                    h: w,
                                },
                            )
                        })
                        .unzip()
                } else {
                    (0..n)
                        .map(|r| {
                            (
                                r as u32,
                                GH {
                                    g: y[r] - mean,
                                    h: 1.0,
                                },
                            )
                        })
                        .unzip()
                };
                let identity = idx.len() == n;
                let tree = Grower::new(&data).grow(&mut idx, &mut gh, identity, &cfg, &mut rng);
                let value: Vec<f64> = tree
                    .nodes
                    .iter()
                    .map(|nd| mean + nd.sum.g / nd.sum.h)
                    .collect();
                let mut importance = vec![0.0; nf];
                tree.add_importance(&mut importance);
                (tree.to_flat(&data, &value), importance)
            })
            .collect();
        let mut importance = vec![0.0; nf];
        let mut trees = Vec::with_capacity(grown.len());
        for (t, imp) in grown {
            for (a, b) in importance.iter_mut().zip(imp) {
                *a += b;
            }
            trees.push(t);
        }
        let ensemble = TreeEnsemble::new(nf, 0.0, 1.0 / self.n_trees as f64, trees);
        Ok(RandomForest {
            ensemble,
            importance,
        })
    }
}

/// A trained random forest. Predictions go through its [`TreeEnsemble`], the
/// same evaluator the runtime uses.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomForest {
    ensemble: TreeEnsemble,
    importance: Vec<f64>,
}

impl RandomForest {
    /// The exportable ensemble (`base = 0`, `scale = 1 / n_trees`).
    pub fn ensemble(&self) -> &TreeEnsemble {
        &self.ensemble
    }

    /// Consumes the model, returning its ensemble.
    pub fn into_ensemble(self) -> TreeEnsemble {
        self.ensemble
    }

    /// Total gain (reduction of the bootstrap-weighted squared error) of
    /// each feature's splits, summed over trees; not normalised.
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

impl<D, T> Fit<ArrayBase<D, Ix2>, T, TreeError> for RandomForestValidParams
where
    D: Data<Elem = f64>,
    T: AsSingleTargets<Elem = f64>,
{
    type Object = RandomForest;

    fn fit(&self, dataset: &DatasetBase<ArrayBase<D, Ix2>, T>) -> Result<RandomForest, TreeError> {
        let y = dataset.as_single_targets();
        self.train(dataset.records(), &common::as_slice(&y))
    }
}

impl<D: Data<Elem = f64>> PredictInplace<ArrayBase<D, Ix2>, Array1<f64>> for RandomForest {
    /// Writes `NaN` everywhere if `x` has the wrong number of columns (this
    /// trait cannot return an error; use [`RandomForest::try_predict`]).
    fn predict_inplace(&self, x: &ArrayBase<D, Ix2>, y: &mut Array1<f64>) {
        common::predict_inplace(&self.ensemble, x, y);
    }

    fn default_target(&self, x: &ArrayBase<D, Ix2>) -> Array1<f64> {
        Array1::zeros(x.nrows())
    }
}
