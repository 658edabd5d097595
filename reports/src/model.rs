//! The input model: everything a report shows, as plain serializable data.
//!
//! The runner fills a [`RunReport`] and passes it to [`crate::render`]. The
//! types hold values only (no poolcast types), so the report can be written
//! to JSON beside the run and rendered again later. Every `f64` may be NaN or
//! infinite and every vector may be empty: the renderers show "n/a" or
//! "no data" instead of failing. Fractions (accuracy, rates, coverage, skill)
//! are stored as fractions (`0.9` = 90%).

use serde::{Deserialize, Serialize};

/// Everything one run of an experiment reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunReport {
    /// Identity and provenance of the run.
    pub meta: Meta,
    /// Forecast accuracy; `None` when the run trained no model.
    pub forecast: Option<ForecastSection>,
    /// Closed-loop policy comparison; `None` when the run compared none.
    pub policies: Option<PolicySection>,
    /// Threshold tuning; `None` when the run tuned nothing.
    pub tuning: Option<TuningSection>,
    /// The seed's claims and what the run measured for each.
    pub claims: Vec<Claim>,
    /// Machine-dependent measurements (wall time, latency). The only part of
    /// the report that may change between two runs of the same manifest.
    pub timings: Timings,
}

/// Identity and provenance of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    /// Experiment name (from the manifest).
    pub experiment: String,
    /// One-paragraph description of the experiment.
    pub description: String,
    /// Identifier of this run (its directory name).
    pub run_id: String,
    /// Hash of the manifest the run was made from.
    pub manifest_hash: String,
    /// Git revision of the code that made the run.
    pub git_revision: String,
    /// Crate name and version pairs, in the order to show them.
    pub versions: Vec<(String, String)>,
    /// Master seed of the run.
    pub seed: u64,
    /// One bullet each: how the data was made, split and evaluated.
    pub procedure: Vec<String>,
    /// The scenarios the run simulated.
    pub scenarios: Vec<ScenarioInfo>,
}

/// One simulated scenario and what it was used for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioInfo {
    /// Scenario name.
    pub name: String,
    /// What the scenario served for: `"data"`, `"tuning"` or `"evaluation"`.
    pub role: String,
    /// Replication indices simulated.
    pub replications: Vec<u32>,
    /// Whether the forecaster saw this scenario's data in training.
    pub seen_in_training: bool,
    /// Human description of the scenario.
    pub description: String,
}

/// Forecast accuracy of the trained models and the baselines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForecastSection {
    /// Length of one telemetry interval, in seconds.
    pub interval_s: f64,
    /// What is forecast, e.g. "mean demand (busy + waiting) over the next h intervals".
    pub target: String,
    /// Horizon (in intervals) of the exported model.
    pub export_horizon: u32,
    /// Name of the exported model.
    pub exported_model: String,
    /// Number of features the models see.
    #[serde(default)]
    pub n_features: usize,
    /// Results per horizon, ascending horizon.
    pub horizons: Vec<HorizonResult>,
    /// The exported model's predictions on the test rows of one run.
    pub series: Option<PredictionSeries>,
    /// The exported model's test residuals `y − ŷ`.
    pub residuals: Vec<f64>,
    /// Permutation importance on test, sorted by `increase_mae` descending.
    pub importance: Vec<Importance>,
}

/// Models and baselines scored at one horizon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HorizonResult {
    /// Forecast horizon, in intervals.
    pub horizon: u32,
    /// Name of the model selected on validation.
    pub winner: String,
    /// Rows in the training split.
    pub train_rows: usize,
    /// Rows in the validation split (all folds' blocks).
    pub valid_rows: usize,
    /// Training and validation rows of each rolling-origin fold, oldest
    /// origin first.
    #[serde(default)]
    pub fold_rows: Vec<[usize; 2]>,
    /// Rows in the test split.
    pub test_rows: usize,
    /// Models then baselines, in the order given.
    pub models: Vec<ModelScore>,
    /// Nominal coverage of the prediction interval, e.g. `0.9`.
    pub interval_level: f64,
    /// Coverage of the prediction interval measured on test.
    pub interval_coverage: Option<f64>,
    /// One-sided coverage on test of each calibrated quantile: `[level,
    /// share of test rows at or below the forecast plus that level's
    /// residual quantile]` (the exported model's; the predictive policy
    /// sizes from these quantiles).
    #[serde(default)]
    pub quantile_coverage: Vec<[f64; 2]>,
    /// The quantiles were calibrated on residuals relative to the forecast
    /// (they scale with the load), chosen over absolute ones on the folds.
    #[serde(default)]
    pub quantiles_relative: bool,
    /// Inputs held out of training on this horizon's training rows, and
    /// why (they tell time, not traffic, on those rows).
    #[serde(default)]
    pub held_out: Vec<HeldOutInput>,
    /// Test scores of a model trained on shuffled targets.
    pub shuffled_control: Option<Scores>,
    /// Whether the shuffled control showed skill (a sign of leakage).
    pub leakage_alarm: bool,
}

/// An input the models were not allowed to learn from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeldOutInput {
    /// The feature's name.
    pub name: String,
    /// Why, in words.
    pub reason: String,
}

/// Whether a scored predictor is a trained model or a baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// A trained model.
    Model,
    /// A baseline (persistence, seasonal naive, …).
    Baseline,
    /// A simulator-only reference that reads what no forecaster can (the
    /// true arrival rate): the forecastability ceiling, never selected or
    /// exported.
    Reference,
}

/// Validation and test scores of one model or baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelScore {
    /// Model name, e.g. `"gbm"`.
    pub name: String,
    /// Model family, e.g. `"gradient boosting"`.
    pub family: String,
    /// Model or baseline.
    pub kind: ModelKind,
    /// Scores on the validation split (the rolling-origin folds'
    /// validation blocks, pooled).
    pub valid: Scores,
    /// Scores on the test split.
    pub test: Scores,
    /// Accuracy on each rolling-origin fold's validation block, oldest
    /// origin first (NaN where nothing could be scored).
    #[serde(default, deserialize_with = "nans_if_null")]
    pub folds: Vec<f64>,
    /// Mean fold accuracy with its 95% interval over the folds (none with
    /// fewer than two scored folds).
    #[serde(default)]
    pub fold_accuracy: Option<Estimate>,
    /// The model's weight against persistence chosen on the folds (1:
    /// not shrunk).
    #[serde(default = "one")]
    pub shrink_weight: f64,
    /// Test accuracy before shrinkage, when shrunk.
    #[serde(default)]
    pub unshrunk_test_accuracy: Option<f64>,
    /// The line this row belongs to across horizons (a family and its
    /// form, e.g. `linear Δ`; a baseline's name), whose hyper-parameters
    /// and shrinkage weight may differ by horizon; empty: the name.
    #[serde(default)]
    pub series: String,
}

impl ModelScore {
    /// The line this row belongs to across horizons.
    pub fn series(&self) -> &str {
        if self.series.is_empty() {
            &self.name
        } else {
            &self.series
        }
    }
}

fn one() -> f64 {
    1.0
}

/// A list of numbers JSON wrote with `null`s (NaN) reads back with NaNs.
fn nans_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    Ok(Vec::<Option<f64>>::deserialize(d)?
        .into_iter()
        .map(|v| v.unwrap_or(f64::NAN))
        .collect())
}

/// A number JSON wrote as `null` (serde_json's NaN) reads back as NaN,
/// so a score nothing could be computed for survives a cached step.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// Point-forecast scores on one split (NaN where no row could be scored,
/// e.g. a seasonal baseline whose season is longer than the data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scores {
    /// Rows scored.
    pub n: usize,
    /// `1 − WAPE` (fraction).
    #[serde(deserialize_with = "nan_if_null")]
    pub accuracy: f64,
    /// Mean absolute error, in target units.
    #[serde(deserialize_with = "nan_if_null")]
    pub mae: f64,
    /// Root mean squared error, in target units.
    #[serde(deserialize_with = "nan_if_null")]
    pub rmse: f64,
    /// Mean absolute percentage error (fraction), when defined.
    pub mape: Option<f64>,
    /// Coefficient of determination.
    #[serde(deserialize_with = "nan_if_null")]
    pub r2: f64,
    /// Mean of `ŷ − y`, in target units.
    #[serde(deserialize_with = "nan_if_null")]
    pub bias: f64,
    /// Fraction of predictions within ±10% of the actual value.
    #[serde(deserialize_with = "nan_if_null")]
    pub within_10pct: f64,
    /// Skill against persistence: `1 − MAE / MAE_persistence` (fraction).
    pub skill_vs_persistence: Option<f64>,
    /// Skill against the seasonal naive baseline (fraction).
    pub skill_vs_seasonal: Option<f64>,
}

/// Predictions of the exported model over time, with the interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictionSeries {
    /// Which run (scenario/replication) the rows come from.
    pub run: String,
    /// Nominal coverage of `lower..upper`.
    pub level: f64,
    /// Time of each row, in simulated seconds.
    pub t_s: Vec<f64>,
    /// Actual target values.
    pub actual: Vec<f64>,
    /// Predicted values.
    pub predicted: Vec<f64>,
    /// Lower bound of the prediction interval.
    pub lower: Vec<f64>,
    /// Upper bound of the prediction interval.
    pub upper: Vec<f64>,
}

/// Permutation importance of one feature on test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Importance {
    /// Feature name.
    pub feature: String,
    /// Increase of the test MAE when the feature is permuted.
    pub increase_mae: f64,
}

/// Closed-loop comparison of scaling policies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySection {
    /// Replications per scenario and policy.
    pub replications: u32,
    /// Policy the claims compare against.
    pub baseline: String,
    /// Results per scenario.
    pub scenarios: Vec<PolicyScenario>,
}

/// The policies' results on one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyScenario {
    /// Scenario name.
    pub scenario: String,
    /// Whether the forecaster saw this scenario's data in training.
    pub seen_in_training: bool,
    /// One row per policy, in manifest order.
    pub rows: Vec<PolicyRow>,
    /// Acquire-wait CDF, one per policy.
    pub wait_cdf: Vec<WaitCdf>,
    /// Pool size and demand over time, one per policy (replication 0).
    pub size_series: Vec<SizeSeries>,
    /// What the learned model adds: `predictive` − `predictive-naive`,
    /// paired by replication (absent unless both were evaluated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_contribution: Option<Contribution>,
    /// What a perfect forecaster adds: `predictive-ideal` −
    /// `predictive-naive`, paired by replication (absent unless both were
    /// evaluated); the model's share of it is what it captures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ideal_contribution: Option<Contribution>,
}

/// The paired difference of two policies over replications (the same
/// requests in each), `a − b`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contribution {
    /// The policy measured.
    pub a: String,
    /// The policy it is measured against.
    pub b: String,
    /// Connection-seconds of `a` minus `b`'s.
    pub connection_seconds: Estimate,
    /// Mean acquire wait of `a` minus `b`'s, ms.
    pub wait_mean_ms: Estimate,
}

/// Below this share of the reference policy's connection-seconds, a
/// change in cost is too small to act on, even where its interval
/// excludes 0 (a deterministic replay gives intervals of no width).
pub const NEGLIGIBLE_COST_SHARE: f64 = 0.001;

/// Below this share of the reference policy's mean acquire wait (or
/// [`NEGLIGIBLE_WAIT_MS`], whichever is larger), a change in wait is too
/// small to act on.
pub const NEGLIGIBLE_WAIT_SHARE: f64 = 0.01;

/// The smallest change in mean acquire wait worth stating, ms (1 ns:
/// anything below is rounding).
pub const NEGLIGIBLE_WAIT_MS: f64 = 1e-6;

/// How a [`Contribution`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Neither interval excludes 0.
    NotMeasurable,
    /// An interval excludes 0, but every such change is below the
    /// negligible shares of the reference policy's cost and wait.
    Negligible,
    /// A change whose interval excludes 0 and that is large enough to act
    /// on.
    Material,
}

impl PolicyScenario {
    /// The row of `policy`, if it was evaluated here.
    pub fn row(&self, policy: &str) -> Option<&PolicyRow> {
        self.rows.iter().find(|r| r.policy == policy)
    }

    /// How `c` (a contribution measured in this scenario) reads against
    /// its reference policy's row.
    pub fn effect(&self, c: &Contribution) -> Effect {
        c.effect(self.row(&c.b))
    }

    /// The share of a perfect forecaster's connection-seconds change that
    /// the model achieves (`model_contribution / ideal_contribution`, both
    /// against `predictive-naive`), when both were evaluated and the
    /// perfect forecaster's change in connection-seconds is material (its
    /// interval excludes 0 and it is not negligible).
    pub fn captured(&self) -> Option<f64> {
        let (m, i) = (
            self.model_contribution.as_ref()?,
            self.ideal_contribution.as_ref()?,
        );
        let e = &i.connection_seconds;
        let base = self.row(&i.b).map(|r| r.connection_seconds.mean);
        // `+ 0.0` turns a −0 (the model added exactly nothing) into 0
        cost_is_material(e, base).then(|| m.connection_seconds.mean / e.mean + 0.0)
    }
}

/// Whether an interval excludes 0.
fn excludes_zero(e: &Estimate) -> bool {
    e.lo > 0.0 || e.hi < 0.0
}

/// Whether a change in connection-seconds excludes 0 and is at least
/// [`NEGLIGIBLE_COST_SHARE`] of `base` (the reference's connection-seconds,
/// when known).
pub fn cost_is_material(e: &Estimate, base: Option<f64>) -> bool {
    excludes_zero(e) && base.is_none_or(|b| e.mean.abs() >= NEGLIGIBLE_COST_SHARE * b.abs())
}

/// Whether a change in mean wait excludes 0 and is not negligible next to
/// `base` (the reference's mean wait, ms, when known).
pub fn wait_is_material(e: &Estimate, base: Option<f64>) -> bool {
    let floor = base.map_or(NEGLIGIBLE_WAIT_MS, |b| {
        (NEGLIGIBLE_WAIT_SHARE * b.abs()).max(NEGLIGIBLE_WAIT_MS)
    });
    excludes_zero(e) && e.mean.abs() >= floor
}

impl Contribution {
    /// Whether either interval excludes 0.
    pub fn significant(&self) -> bool {
        excludes_zero(&self.connection_seconds) || excludes_zero(&self.wait_mean_ms)
    }

    /// Whether the change in connection-seconds and the change in mean
    /// wait are each material against `base`, the row of the policy the
    /// contribution is measured against (without it, only the 1-ns wait
    /// floor applies).
    pub fn material(&self, base: Option<&PolicyRow>) -> (bool, bool) {
        (
            cost_is_material(
                &self.connection_seconds,
                base.map(|r| r.connection_seconds.mean),
            ),
            wait_is_material(&self.wait_mean_ms, base.map(|r| r.wait_mean_ms.mean)),
        )
    }

    /// How the contribution reads against `base` (see
    /// [`Contribution::material`]).
    pub fn effect(&self, base: Option<&PolicyRow>) -> Effect {
        match self.material(base) {
            _ if !self.significant() => Effect::NotMeasurable,
            (false, false) => Effect::Negligible,
            _ => Effect::Material,
        }
    }
}

/// A mean with its 95% confidence interval over replications.
///
/// With one replication, `lo == hi == mean`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Estimate {
    /// Mean over replications.
    pub mean: f64,
    /// Lower end of the 95% confidence interval.
    pub lo: f64,
    /// Upper end of the 95% confidence interval.
    pub hi: f64,
}

/// One policy's results on one scenario, each a mean over replications.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRow {
    /// Policy name.
    pub policy: String,
    /// Replications averaged.
    pub replications: u32,
    /// Mean acquire wait, ms.
    pub wait_mean_ms: Estimate,
    /// Median acquire wait, ms.
    pub wait_p50_ms: Estimate,
    /// 95th percentile acquire wait, ms.
    pub wait_p95_ms: Estimate,
    /// 99th percentile acquire wait, ms.
    pub wait_p99_ms: Estimate,
    /// Mean latency from arrival to the end of the request, ms.
    pub latency_mean_ms: Estimate,
    /// Requests completed per simulated second.
    pub throughput_rps: Estimate,
    /// Acquire timeouts.
    pub timeouts: Estimate,
    /// Failed requests.
    pub errors: Estimate,
    /// Requests rejected by a breaker.
    pub rejected: Estimate,
    /// `(errors + rejected) / requests` (fraction).
    pub error_rate: Estimate,
    /// Errors per failure category, in the order given.
    pub errors_by_category: Vec<(String, Estimate)>,
    /// Connection-seconds held open (the cost).
    pub connection_seconds: Estimate,
    /// Mean pool size.
    pub mean_size: Estimate,
    /// Resize decisions taken.
    pub scale_events: Estimate,
    /// Statement-cache hit rate (fraction), when measured.
    pub cache_hit_rate: Option<Estimate>,
}

/// Empirical CDF of acquire waits for one policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitCdf {
    /// Policy name.
    pub policy: String,
    /// Wait values, ms, ascending.
    pub wait_ms: Vec<f64>,
    /// Fraction of grants with wait ≤ `wait_ms` (monotone).
    pub fraction: Vec<f64>,
}

/// Pool size and demand over time for one policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizeSeries {
    /// Policy name.
    pub policy: String,
    /// Time of each interval, simulated seconds.
    pub t_s: Vec<f64>,
    /// Pool size.
    pub size: Vec<f64>,
    /// Demand (busy + waiting).
    pub demand: Vec<f64>,
}

/// Threshold tuning of one policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TuningSection {
    /// The policy whose thresholds were tuned.
    pub policy: String,
    /// The objective, e.g. "minimize connection_seconds".
    pub objective: String,
    /// Constraints, e.g. "wait_p95_ms ≤ 50".
    pub constraints: Vec<String>,
    /// Scenarios the candidates were evaluated on.
    pub scenarios: Vec<String>,
    /// Replications per candidate and scenario.
    pub replications: u32,
    /// The tuned parameter paths, in order.
    pub parameters: Vec<String>,
    /// Every candidate evaluated.
    pub candidates: Vec<Candidate>,
    /// Index into `candidates` of the chosen one.
    pub chosen: Option<usize>,
    /// Index into `candidates` of the runner-up.
    pub runner_up: Option<usize>,
    /// Remark on the outcome, e.g. that no candidate met every constraint.
    pub note: String,
}

/// One tuning candidate and what it measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Candidate {
    /// Parameter path and value pairs.
    pub params: Vec<(String, String)>,
    /// Metric name and value pairs.
    pub metrics: Vec<(String, f64)>,
    /// Whether every constraint was met.
    pub feasible: bool,
    /// Objective value.
    pub objective: f64,
}

/// Whether a claim held in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The measurement supports the claim.
    Holds,
    /// The measurement contradicts the claim.
    DoesNotHold,
    /// The run did not measure what the claim needs.
    NotMeasured,
}

/// A claim of the seed and what this run measured for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    /// Short name of the claim.
    pub name: String,
    /// What the seed said.
    pub seed_claim: String,
    /// What the run measured.
    pub measured: String,
    /// The verdict.
    pub verdict: Verdict,
    /// How it was measured.
    pub procedure: String,
}

/// Machine-dependent measurements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Timings {
    /// Wall time of each pipeline step.
    pub steps: Vec<StepTiming>,
    /// Training and inference time per model.
    pub models: Vec<ModelTiming>,
    /// Other machine-measured lines, e.g. "prediction latency 12.3 µs".
    pub notes: Vec<String>,
    /// Claims whose measurement is a wall-clock time on this machine
    /// (prediction latency, training time).
    #[serde(default)]
    pub claims: Vec<Claim>,
}

/// Wall time of one pipeline step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepTiming {
    /// Step name.
    pub name: String,
    /// Wall seconds.
    pub seconds: f64,
    /// Whether the step's output was reused from an earlier run.
    pub reused: bool,
}

/// Training and inference time of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelTiming {
    /// Horizon, in intervals.
    pub horizon: u32,
    /// Model name.
    pub model: String,
    /// Wall seconds to train.
    pub train_seconds: f64,
    /// Inference time per row, µs.
    pub infer_us_per_row: f64,
}

#[cfg(test)]
mod scores_json {
    use super::Scores;

    /// A score nothing could be computed for (NaN, written `null`) reads
    /// back as NaN: a cached training step must load again.
    #[test]
    fn nan_scores_survive_a_json_round_trip() {
        let s = Scores {
            n: 3,
            accuracy: f64::NAN,
            mae: 1.5,
            rmse: f64::NAN,
            mape: None,
            r2: f64::NAN,
            bias: 0.0,
            within_10pct: 0.0,
            skill_vs_persistence: None,
            skill_vs_seasonal: None,
        };
        let text = serde_json::to_string(&s).unwrap();
        assert!(text.contains("\"accuracy\":null"), "{text}");
        let back: Scores = serde_json::from_str(&text).unwrap();
        assert!(back.accuracy.is_nan() && back.rmse.is_nan() && back.r2.is_nan());
        assert_eq!(back.mae, 1.5);
    }
}
