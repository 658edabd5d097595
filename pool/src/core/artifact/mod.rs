//! The model artifact: a versioned, checksummed JSON file that carries a
//! trained forecaster from the workbench to the runtime pool, which
//! evaluates it with no ML library.
//!
//! ```text
//! { "format": "poolcast-model", "version": 1, "checksum": "<sha256>",
//!   "features": { "hash", "config", "names" }, "interval_ns",
//!   "target": { "signal", "aggregate", "horizon" },
//!   "model": { "kind": "linear" | "trees" | "feature", ... },
//!   "calibration": { "levels", "residual_quantiles", "coverage" },
//!   "thresholds": { ... }, "provenance": { ... } }
//! ```
//!
//! The checksum is the SHA-256 of the artifact serialized with an empty
//! `checksum`, so any edit to a number, a name or a threshold is caught.
//! [`ModelArtifact::from_json`] refuses a foreign format, another version, a
//! bad checksum, a feature definition this build does not compute the same
//! way, and a malformed model, each with its own [`ArtifactError`].

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Nanos;
use super::features::{FeatureConfig, FeatureSpec};
use super::model::{LinearModel, TreeEnsemble};

/// The `format` field of every artifact.
pub const ARTIFACT_FORMAT: &str = "poolcast-model";
/// The artifact version this build reads and writes.
pub const ARTIFACT_VERSION: u32 = 1;

/// What the model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    /// Mean of `demand_mean` over the next `horizon` intervals.
    Mean,
    /// Max of `demand_max` over the next `horizon` intervals.
    Peak,
}

impl Aggregate {
    /// `mean` or `peak`.
    pub fn name(self) -> &'static str {
        match self {
            Aggregate::Mean => "mean",
            Aggregate::Peak => "peak",
        }
    }
}

/// The target definition: demand (busy + waiting) aggregated over the next
/// `horizon` intervals, strictly after the features' interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Mean or peak.
    pub aggregate: Aggregate,
    /// Horizon in intervals (≥ 1).
    pub horizon: u32,
}

impl Target {
    /// Column name of the target, e.g. `target_mean_h15`.
    pub fn column(&self) -> String {
        format!("target_{}_h{}", self.aggregate.name(), self.horizon)
    }
}

/// The model itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelBody {
    /// A standardized linear model (OLS or ridge).
    Linear {
        /// Trainer that produced it (`ols`, `ridge`).
        algorithm: String,
        /// Coefficients and scaler.
        linear: LinearModel,
    },
    /// A tree ensemble (random forest or gradient boosting).
    Trees {
        /// Trainer that produced it (`random_forest`, `gradient_boosting`).
        algorithm: String,
        /// The flat trees.
        ensemble: TreeEnsemble,
    },
    /// One feature passed through (a baseline that won: persistence reads
    /// `demand_mean`, seasonal naive a seasonal column, moving average a
    /// rolling mean).
    Feature {
        /// Baseline name (`persistence`, `seasonal_naive`, `moving_average`).
        algorithm: String,
        /// The feature's name.
        feature: String,
    },
    /// A model of the change from one input (persistence's level): the
    /// forecast is that input plus `inner`'s prediction, so a level the
    /// training data never reached does not cap the forecast (a tree
    /// cannot predict above the largest target it saw).
    Relative {
        /// The input added back (`demand_mean` for a mean target).
        base: String,
        /// The model of the change: a linear model or trees.
        inner: Box<ModelBody>,
    },
    /// A model shrunk towards one input (persistence's level): the
    /// forecast is `base + weight · (inner − base)`, with the weight
    /// chosen on the training folds, so a model that forecasts worse than
    /// persistence there is pulled back to it.
    Shrunk {
        /// The input shrunk towards (`demand_mean` for a mean target).
        base: String,
        /// The model's weight, in `(0, 1)`.
        weight: f64,
        /// The model: linear, trees, or relative.
        inner: Box<ModelBody>,
    },
    /// A combination of the model with baseline forecasts that are
    /// inputs (persistence's level, the moving average):
    /// `weight · inner + Σ wᵢ · inputᵢ`, the weights non-negative and summing to 1,
    /// chosen on the training folds. Shrinkage towards persistence is
    /// the case of one input; a weight on the moving average smooths a
    /// noisy level the model cannot.
    Blend {
        /// The model's weight, in `[0, 1]`.
        weight: f64,
        /// The inputs blended in, with their weights.
        inputs: Vec<WeightedInput>,
        /// The model: linear, trees, or relative.
        inner: Box<ModelBody>,
        /// Other weights for the rows of a regime one input marks.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        gate: Option<BlendGate>,
    },
}

/// The regime of a [`ModelBody::Blend`] with weights of its own: where
/// `feature` exceeds `threshold` (errors rising, a burst of arrivals),
/// the forecast is `weight · inner + Σ wᵢ · inputᵢ` with these weights;
/// elsewhere (a missing input included) with the blend's own. Chosen on
/// the training folds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlendGate {
    /// The input that marks the regime.
    pub feature: String,
    /// The threshold it must exceed.
    pub threshold: f64,
    /// The model's weight there.
    pub weight: f64,
    /// The inputs' weights there.
    pub inputs: Vec<WeightedInput>,
}

/// One input of a [`ModelBody::Blend`] with its weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightedInput {
    /// The input (a baseline forecast: `demand_mean`, a rolling mean).
    pub feature: String,
    /// Its weight, in `[0, 1]`.
    pub weight: f64,
}

impl ModelBody {
    /// The trainer's name.
    pub fn algorithm(&self) -> &str {
        match self {
            ModelBody::Linear { algorithm, .. }
            | ModelBody::Trees { algorithm, .. }
            | ModelBody::Feature { algorithm, .. } => algorithm,
            ModelBody::Relative { inner, .. }
            | ModelBody::Shrunk { inner, .. }
            | ModelBody::Blend { inner, .. } => inner.algorithm(),
        }
    }
}

/// Prediction intervals from validation residuals (`actual − predicted`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    /// Quantile levels in (0, 1), increasing (e.g. 0.05, 0.5, 0.95).
    pub levels: Vec<f64>,
    /// Residual quantile at each level.
    pub residual_quantiles: Vec<f64>,
    /// Share of test rows inside `[lowest, highest]` level (reported, not
    /// used).
    pub test_coverage: Option<f64>,
    /// The nominal coverage of that interval (highest − lowest level).
    pub nominal_coverage: f64,
    /// Share of test rows at or below the forecast plus each level's
    /// residual quantile (one-sided coverage, nominally the level itself;
    /// reported, not used).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test_level_coverage: Vec<f64>,
    /// The quantiles are of the residual relative to the forecast,
    /// `(actual − predicted) / max(predicted, 1)` (errors that grow with
    /// the load), not of the residual itself.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub relative: bool,
}

impl Calibration {
    /// What to add to a forecast of `value` for its quantile at `level`:
    /// the residual quantile there, times `max(value, 1)` when relative.
    pub fn offset(&self, value: f64, level: f64) -> f64 {
        let q = self.residual_at(level);
        if self.relative { q * value.max(1.0) } else { q }
    }

    /// The residual quantile at `level`, interpolated linearly between the
    /// calibrated levels and held at the outermost ones beyond them (0
    /// with no levels).
    pub fn residual_at(&self, level: f64) -> f64 {
        let (l, q) = (&self.levels, &self.residual_quantiles);
        let (Some(&first), Some(&last)) = (l.first(), l.last()) else {
            return 0.0;
        };
        if level <= first {
            return q[0];
        }
        if level >= last {
            return q[q.len() - 1];
        }
        let i = l.partition_point(|&x| x <= level).clamp(1, l.len() - 1);
        let t = (level - l[i - 1]) / (l[i] - l[i - 1]);
        q[i - 1] + t * (q[i] - q[i - 1])
    }
}

/// Where the artifact came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Provenance {
    /// `poolcast-models <version>` or similar.
    pub created_by: String,
    /// SHA-256 of the resolved manifest, when a manifest drove training.
    pub manifest_hash: Option<String>,
    /// SHA-256 over the training features file(s).
    pub dataset_fingerprint: String,
    /// Rows used to fit (train split).
    pub train_rows: u64,
    /// Test-set metrics of this model (and its baselines), by name.
    pub metrics: BTreeMap<String, f64>,
}

/// A trained forecaster, ready to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelArtifact {
    /// Always [`ARTIFACT_FORMAT`].
    pub format: String,
    /// Always [`ARTIFACT_VERSION`] for this build.
    pub version: u32,
    /// SHA-256 hex of the artifact serialized with this field empty.
    pub checksum: String,
    /// The feature definition the model was trained on.
    pub features: ArtifactFeatures,
    /// Telemetry interval the model expects.
    pub interval_ns: Nanos,
    /// What it predicts.
    pub target: Target,
    /// The model.
    pub model: ModelBody,
    /// Its prediction intervals.
    pub calibration: Calibration,
    /// Tuned scaler and breaker thresholds, by name (filled by tuning).
    #[serde(default)]
    pub thresholds: BTreeMap<String, f64>,
    /// The training range `[min, max]` of each input that measures the
    /// traffic's level (the `traffic` family, `demand_mean`,
    /// `demand_max`), in `features.names` order; `None` for an input not
    /// checked or constant in training. Empty in artifacts written
    /// before it existed (nothing is checked then). The predictive policy
    /// hands the pool to its fallback while a live input is far outside
    /// its range: the model would be extrapolating.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_ranges: Vec<Option<[f64; 2]>>,
    /// Where it came from.
    #[serde(default)]
    pub provenance: Provenance,
}

/// The feature part of an artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactFeatures {
    /// [`FeatureSpec::hash`] at training time.
    pub hash: String,
    /// The configuration to rebuild the spec with.
    #[serde(deserialize_with = "features_before_scale_free")]
    pub config: FeatureConfig,
    /// Feature names in model input order.
    pub names: Vec<String>,
}

/// An artifact's feature configuration: one written before scale-free
/// features existed (no `scale_free` field) was trained without them, while
/// a manifest that leaves the field out gets them (the default).
fn features_before_scale_free<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<FeatureConfig, D::Error> {
    let mut v = serde_json::Value::deserialize(d)?;
    if let Some(o) = v.as_object_mut() {
        o.entry("scale_free")
            .or_insert(serde_json::Value::Bool(false));
    }
    serde_json::from_value(v).map_err(serde::de::Error::custom)
}

/// Why an artifact was refused.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The file could not be read.
    #[error("cannot read model artifact {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Not valid artifact JSON.
    #[error("model artifact {path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What was wrong, with line and column.
        message: String,
    },
    /// A different file format.
    #[error("model artifact {path}: format is `{found}`, expected `{ARTIFACT_FORMAT}`")]
    Format {
        /// The file.
        path: String,
        /// The format found.
        found: String,
    },
    /// Another artifact version.
    #[error(
        "model artifact {path}: version {found}, this build reads version {ARTIFACT_VERSION}; re-export the model with this build's `poolcast export`"
    )]
    Version {
        /// The file.
        path: String,
        /// The version found.
        found: u32,
    },
    /// The content does not match its checksum.
    #[error(
        "model artifact {path}: checksum mismatch (file says {expected}, content hashes to {actual}); the file was edited or truncated, re-export it"
    )]
    Checksum {
        /// The file.
        path: String,
        /// The checksum in the file.
        expected: String,
        /// The checksum of the content.
        actual: String,
    },
    /// The feature definition differs from this build's.
    #[error(
        "model artifact {path}: feature definition mismatch ({detail}); the model was trained on features this build computes differently, retrain it"
    )]
    Features {
        /// The file.
        path: String,
        /// What differs.
        detail: String,
    },
    /// The model or calibration is malformed.
    #[error("model artifact {path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl ModelArtifact {
    /// SHA-256 of this artifact serialized with an empty checksum.
    pub fn compute_checksum(&self) -> String {
        let mut body = self.clone();
        body.checksum.clear();
        let json = serde_json::to_vec(&body).unwrap_or_default();
        format!("{:x}", Sha256::digest(&json))
    }

    /// Sets `checksum` and renders pretty JSON. Non-finite metrics (a MAPE
    /// with no defined value) are dropped first: JSON has no NaN.
    pub fn to_json(&mut self) -> String {
        self.provenance.metrics.retain(|_, v| v.is_finite());
        self.checksum = self.compute_checksum();
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Parses and verifies an artifact; `origin` names it in errors.
    ///
    /// # Errors
    /// Every [`ArtifactError`] but `Io`.
    pub fn from_json(text: &str, origin: &str) -> Result<(Self, FeatureSpec), ArtifactError> {
        let path = origin.to_string();
        // Check format and version before the full schema so an artifact of
        // another version is named as such, not as a schema error.
        let head: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ArtifactError::Parse {
                path: path.clone(),
                message: e.to_string(),
            })?;
        let format = head.get("format").and_then(|v| v.as_str()).unwrap_or("");
        if format != ARTIFACT_FORMAT {
            return Err(ArtifactError::Format {
                path,
                found: format.to_string(),
            });
        }
        let version = head.get("version").and_then(|v| v.as_u64()).unwrap_or(0);
        if version != u64::from(ARTIFACT_VERSION) {
            return Err(ArtifactError::Version {
                path,
                found: version as u32,
            });
        }
        let art: ModelArtifact =
            serde_json::from_value(head).map_err(|e| ArtifactError::Parse {
                path: path.clone(),
                message: e.to_string(),
            })?;
        let actual = art.compute_checksum();
        if actual != art.checksum {
            return Err(ArtifactError::Checksum {
                path,
                expected: art.checksum.clone(),
                actual,
            });
        }
        let spec = art.verify().map_err(|e| match e {
            Verify::Features(detail) => ArtifactError::Features {
                path: path.clone(),
                detail,
            },
            Verify::Invalid(message) => ArtifactError::Invalid {
                path: path.clone(),
                message,
            },
        })?;
        Ok((art, spec))
    }

    /// Reads, parses and verifies an artifact file.
    ///
    /// # Errors
    /// Any [`ArtifactError`], naming the file.
    pub fn load(path: &Path) -> Result<(Self, FeatureSpec), ArtifactError> {
        let text = std::fs::read_to_string(path).map_err(|source| ArtifactError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&text, &path.display().to_string())
    }

    fn verify(&self) -> Result<FeatureSpec, Verify> {
        let spec = FeatureSpec::new(self.features.config.clone(), self.interval_ns)
            .map_err(|e| Verify::Features(e.to_string()))?;
        if spec.hash() != self.features.hash {
            return Err(Verify::Features(format!(
                "artifact hash {}, this build {}",
                self.features.hash,
                spec.hash()
            )));
        }
        for (i, n) in self.features.names.iter().enumerate() {
            if spec.index(n).is_none() {
                return Err(Verify::Features(format!(
                    "input {i} `{n}` is not a feature of this build"
                )));
            }
        }
        if self.target.horizon == 0 {
            return Err(Verify::Invalid("target.horizon must be ≥ 1".into()));
        }
        let n = self.features.names.len();
        check_body(&self.model, &self.features.names).map_err(Verify::Invalid)?;
        if !self.input_ranges.is_empty() && self.input_ranges.len() != n {
            return Err(Verify::Invalid(format!(
                "input_ranges has {} entries for {n} inputs",
                self.input_ranges.len()
            )));
        }
        if let Some(i) = self
            .input_ranges
            .iter()
            .position(|r| r.is_some_and(|[lo, hi]| !(lo.is_finite() && hi.is_finite() && lo <= hi)))
        {
            return Err(Verify::Invalid(format!(
                "input_ranges[{i}] (`{}`): expected finite [min, max] with min ≤ max",
                self.features.names[i]
            )));
        }
        let c = &self.calibration;
        if c.levels.len() != c.residual_quantiles.len() {
            return Err(Verify::Invalid(
                "calibration levels and quantiles differ in length".into(),
            ));
        }
        if c.levels.windows(2).any(|w| w[0] >= w[1])
            || c.levels.iter().any(|l| !(*l > 0.0 && *l < 1.0))
            || c.residual_quantiles.iter().any(|q| !q.is_finite())
            || c.residual_quantiles.windows(2).any(|w| w[0] > w[1])
        {
            return Err(Verify::Invalid(
                "calibration levels must increase inside (0, 1) with finite, non-decreasing quantiles".into(),
            ));
        }
        Ok(spec)
    }
}

/// Checks a model body against the artifact's input names.
fn check_body(body: &ModelBody, names: &[String]) -> Result<(), String> {
    let n = names.len();
    match body {
        ModelBody::Linear { linear, .. } => {
            linear.validate()?;
            if linear.n_features() != n {
                return Err(format!(
                    "linear model has {} coefficients for {n} features",
                    linear.n_features()
                ));
            }
        }
        ModelBody::Trees { ensemble, .. } => {
            ensemble.validate()?;
            if ensemble.n_features != n {
                return Err(format!(
                    "ensemble expects {} features, the artifact names {n}",
                    ensemble.n_features
                ));
            }
        }
        ModelBody::Feature { feature, .. } => {
            if !names.contains(feature) {
                return Err(format!("feature `{feature}` is not among the inputs"));
            }
        }
        ModelBody::Relative { base, inner } => {
            if !names.contains(base) {
                return Err(format!("relative base `{base}` is not among the inputs"));
            }
            if matches!(
                **inner,
                ModelBody::Relative { .. }
                    | ModelBody::Feature { .. }
                    | ModelBody::Shrunk { .. }
                    | ModelBody::Blend { .. }
            ) {
                return Err("a relative model's inner model must be linear or trees".into());
            }
            check_body(inner, names)?;
        }
        ModelBody::Shrunk {
            base,
            weight,
            inner,
        } => {
            if !names.contains(base) {
                return Err(format!("shrinkage base `{base}` is not among the inputs"));
            }
            if !(weight.is_finite() && *weight > 0.0 && *weight < 1.0) {
                return Err(format!(
                    "shrinkage weight {weight}: expected a number strictly between 0 and 1"
                ));
            }
            check_inner(inner, names, "a shrunk model")?;
        }
        ModelBody::Blend {
            weight,
            inputs,
            inner,
            gate,
        } => {
            check_weights(*weight, inputs, names, "blend")?;
            if let Some(g) = gate {
                if !names.contains(&g.feature) {
                    return Err(format!(
                        "blend gate input `{}` is not among the inputs",
                        g.feature
                    ));
                }
                if !g.threshold.is_finite() {
                    return Err(format!(
                        "blend gate threshold {}: expected a finite number",
                        g.threshold
                    ));
                }
                check_weights(g.weight, &g.inputs, names, "blend gate")?;
            }
            check_inner(inner, names, "a blend")?;
        }
    }
    Ok(())
}

/// Checks a blend's weights (`what` names them): each in `[0, 1]`, every
/// input among `names`, the sum 1.
fn check_weights(
    weight: f64,
    inputs: &[WeightedInput],
    names: &[String],
    what: &str,
) -> Result<(), String> {
    let ok = |w: f64| w.is_finite() && (0.0..=1.0).contains(&w);
    if !ok(weight) {
        return Err(format!(
            "{what} weight {weight}: expected a number in [0, 1]"
        ));
    }
    let mut sum = weight;
    for i in inputs {
        if !names.contains(&i.feature) {
            return Err(format!(
                "{what} input `{}` is not among the inputs",
                i.feature
            ));
        }
        if !ok(i.weight) {
            return Err(format!(
                "{what} weight {} of `{}`: expected a number in [0, 1]",
                i.weight, i.feature
            ));
        }
        sum += i.weight;
    }
    if (sum - 1.0).abs() > 1e-9 {
        return Err(format!("{what} weights sum to {sum}: expected 1"));
    }
    Ok(())
}

/// Checks the model inside a shrunk model or a blend (`what`): linear,
/// trees or relative.
fn check_inner(inner: &ModelBody, names: &[String], what: &str) -> Result<(), String> {
    if !matches!(
        inner,
        ModelBody::Linear { .. } | ModelBody::Trees { .. } | ModelBody::Relative { .. }
    ) {
        return Err(format!(
            "{what}'s inner model must be linear, trees or relative"
        ));
    }
    check_body(inner, names)
}

enum Verify {
    Features(String),
    Invalid(String),
}

/// A point forecast with its calibrated interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Forecast {
    /// Point prediction of the target (demand, in connections).
    pub value: f64,
    /// Lower end of the calibrated interval.
    pub lower: f64,
    /// Upper end of the calibrated interval.
    pub upper: f64,
}

/// An artifact plus a feature extractor: push snapshots, get forecasts.
#[derive(Debug, Clone)]
pub struct Forecaster {
    artifact: ModelArtifact,
    extractor: super::features::FeatureExtractor,
    row: Vec<f64>,
    inputs: Vec<usize>,
    x: Vec<f64>,
}

impl Forecaster {
    /// Builds a forecaster from a verified artifact and its spec (as
    /// returned by [`ModelArtifact::load`]).
    pub fn new(artifact: ModelArtifact, spec: &FeatureSpec, clock_offset_ns: Nanos) -> Self {
        let inputs = artifact
            .features
            .names
            .iter()
            .map(|n| spec.index(n).unwrap_or(0))
            .collect::<Vec<_>>();
        Forecaster {
            extractor: spec.extractor(clock_offset_ns),
            row: vec![0.0; spec.len()],
            x: vec![0.0; inputs.len()],
            inputs,
            artifact,
        }
    }

    /// The artifact in use.
    pub fn artifact(&self) -> &ModelArtifact {
        &self.artifact
    }

    /// The demand at quantile `level` of a forecast of `value`: the value
    /// plus the calibrated residual quantile there, never below 0.
    pub fn quantile(&self, value: f64, level: f64) -> f64 {
        (value + self.artifact.calibration.offset(value, level)).max(0.0)
    }

    /// Feeds the newest snapshot and forecasts the target for the intervals
    /// after it.
    pub fn push(&mut self, snap: &super::Snapshot) -> Forecast {
        self.extractor.push(snap, &mut self.row);
        for (x, &i) in self.x.iter_mut().zip(&self.inputs) {
            *x = self.row[i];
        }
        let value = predict_body(&self.artifact.model, &self.artifact.features.names, &self.x);
        let c = &self.artifact.calibration;
        let (lo, hi) = match (c.levels.first(), c.levels.last()) {
            (Some(&l), Some(&h)) => (c.offset(value, l), c.offset(value, h)),
            _ => (0.0, 0.0),
        };
        Forecast {
            value,
            lower: (value + lo).max(0.0),
            upper: (value + hi).max(0.0),
        }
    }

    /// The checked input of the newest [`Forecaster::push`] furthest
    /// outside its training range, if any is more than `slack` × the
    /// range's width past either end: `(name, value, min, max)`.
    pub fn outside_training(&self, slack: f64) -> Option<(&str, f64, f64, f64)> {
        let mut worst: Option<(usize, f64)> = None;
        for (i, (r, &x)) in self.artifact.input_ranges.iter().zip(&self.x).enumerate() {
            let (Some([lo, hi]), true) = (r, x.is_finite()) else {
                continue;
            };
            let width = (hi - lo).max(f64::MIN_POSITIVE);
            let d = if x < *lo {
                (lo - x) / width
            } else if x > *hi {
                (x - hi) / width
            } else {
                0.0
            };
            if d > slack && worst.is_none_or(|(_, w)| d > w) {
                worst = Some((i, d));
            }
        }
        worst.and_then(|(i, _)| {
            let [lo, hi] = self.artifact.input_ranges[i]?;
            Some((self.artifact.features.names[i].as_str(), self.x[i], lo, hi))
        })
    }

    /// Forgets history (the pool restarted).
    pub fn reset(&mut self) {
        self.extractor.reset();
    }
}

/// Evaluates a model on one input row (inputs in the artifact's order).
/// A passthrough feature that is `NaN` (not enough history yet) predicts
/// `NaN`, which callers treat as "no forecast".
pub fn predict_body(model: &ModelBody, names: &[String], x: &[f64]) -> f64 {
    match model {
        ModelBody::Linear { linear, .. } => linear.predict(x),
        ModelBody::Trees { ensemble, .. } => ensemble.predict(x),
        ModelBody::Feature { feature, .. } => input(names, x, feature),
        ModelBody::Relative { base, inner } => {
            predict_body(inner, names, x) + input(names, x, base)
        }
        ModelBody::Shrunk {
            base,
            weight,
            inner,
        } => {
            let b = input(names, x, base);
            b + weight * (predict_body(inner, names, x) - b)
        }
        ModelBody::Blend {
            weight,
            inputs,
            inner,
            gate,
        } => {
            // NaN compares false: a missing gate input takes the blend's
            // own weights
            let (weight, inputs) = match gate {
                Some(g) if input(names, x, &g.feature) > g.threshold => (&g.weight, &g.inputs),
                _ => (weight, inputs),
            };
            let mut v = if *weight > 0.0 {
                weight * predict_body(inner, names, x)
            } else {
                0.0
            };
            for i in inputs.iter().filter(|i| i.weight > 0.0) {
                v += i.weight * input(names, x, &i.feature);
            }
            v
        }
    }
}

/// The value of input `name` in row `x` (`NaN` if it is not an input).
fn input(names: &[String], x: &[f64], name: &str) -> f64 {
    names
        .iter()
        .position(|n| n == name)
        .map_or(f64::NAN, |i| x[i])
}

#[cfg(test)]
mod tests;
