//! Training and honest comparison: every model family and every baseline,
//! per horizon, on a walk-forward split; hyper-parameters chosen on
//! validation; the test set scored once; a shuffled-target control that
//! must show no skill.

use std::time::Instant;

use ndarray::{Array2, Axis};
use poolcast::core::artifact::{
    ARTIFACT_FORMAT, ARTIFACT_VERSION, Aggregate, ArtifactFeatures, Calibration, ModelArtifact,
    ModelBody, Provenance, Target, predict_body,
};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::dataset::{FeatureDataset, seasonal_column};
use crate::error::ModelError;
use crate::folds::FoldSet;
use crate::inputs::{HeldOutInput, held_out_inputs, usable as usable_on};
use crate::linear::LinearData;
use crate::metrics::{Metrics, quantile, score};
use crate::split::{Split, SplitConfig};
use crate::trees::{GradientBoostingParams, MaxFeatures, RandomForestParams};

/// A model family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// OLS and ridge.
    Linear,
    /// Random forest.
    RandomForest,
    /// Gradient boosting.
    GradientBoosting,
}

/// One random-forest grid point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForestGrid {
    /// Trees.
    pub n_trees: usize,
    /// Depth limit.
    pub max_depth: usize,
    /// Share of features tried per split.
    pub max_features: f64,
}

/// One gradient-boosting grid point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoostGrid {
    /// Maximum rounds (early stopping on validation may stop sooner).
    pub rounds: usize,
    /// Learning rate.
    pub learning_rate: f64,
    /// Leaves per tree.
    pub max_leaves: usize,
}

/// What to train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Horizons to train (default: all of the dataset's).
    pub horizons: Vec<u32>,
    /// Mean or peak demand.
    pub aggregate: Aggregate,
    /// Families to train.
    pub families: Vec<Family>,
    /// Ridge penalties (OLS is always tried).
    pub ridge_alphas: Vec<f64>,
    /// Forest grid.
    pub forest: Vec<ForestGrid>,
    /// Boosting grid.
    pub boosting: Vec<BoostGrid>,
    /// Early-stopping patience for boosting, in rounds.
    pub early_stopping_rounds: usize,
    /// The split.
    pub split: SplitConfig,
    /// Seed of the learners and the shuffled control.
    pub seed: u64,
    /// Quantile levels of the calibrated residuals (lowest and highest give
    /// the interval the runtime uses; the predictive policy's `risk`
    /// interpolates between them).
    pub levels: Vec<f64>,
    /// Train the winner's family on shuffled targets as a leakage alarm.
    pub shuffled_control: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            horizons: Vec::new(),
            aggregate: Aggregate::Mean,
            families: vec![
                Family::Linear,
                Family::RandomForest,
                Family::GradientBoosting,
            ],
            ridge_alphas: vec![1e-4, 1e-2, 1.0],
            forest: vec![ForestGrid {
                n_trees: 100,
                max_depth: 10,
                max_features: 0.33,
            }],
            boosting: vec![
                BoostGrid {
                    rounds: 500,
                    learning_rate: 0.05,
                    max_leaves: 31,
                },
                BoostGrid {
                    rounds: 500,
                    learning_rate: 0.1,
                    max_leaves: 15,
                },
            ],
            early_stopping_rounds: 30,
            split: SplitConfig::default(),
            seed: 42,
            levels: vec![0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95],
            shuffled_control: true,
        }
    }
}

/// One model's result at one horizon.
#[derive(Debug, Clone, Serialize)]
pub struct ModelResult {
    /// Display name with the chosen hyper-parameters.
    pub name: String,
    /// `baseline`, `linear`, `random_forest`, `gradient_boosting`.
    pub family: String,
    /// Scores on the pooled validation blocks of the rolling-origin folds
    /// (model selection, shrinkage and calibration).
    pub valid: Metrics,
    /// Scores on each fold's validation block, oldest origin first.
    pub folds: Vec<Metrics>,
    /// Test scores (scored once, after selection).
    pub test: Metrics,
    /// Weight of the model against persistence chosen on the folds (1: the
    /// model alone; 0: persistence).
    pub shrink_weight: f64,
    /// Test scores of the model before shrinkage (when shrunk).
    pub unshrunk_test: Option<Metrics>,
    /// Training seconds of the chosen configuration.
    pub train_seconds: f64,
    /// Single-threaded inference time per row, from the exported form.
    pub infer_us_per_row: f64,
    /// Whether `poolcast export` can ship it (seasonal naive cannot).
    pub exportable: bool,
    /// The model (not serialized).
    #[serde(skip)]
    pub body: Option<ModelBody>,
    /// The model before shrinkage, when shrunk (not serialized).
    #[serde(skip)]
    pub unshrunk: Option<ModelBody>,
    /// Out-of-fold predictions, aligned with the folds' pooled validation
    /// rows (not serialized).
    #[serde(skip)]
    pub oof: Vec<f64>,
}

/// All results at one horizon.
#[derive(Debug, Clone, Serialize)]
pub struct HorizonReport {
    /// The target.
    pub target: Target,
    /// Row counts.
    pub train_rows: usize,
    /// Validation rows (all folds' blocks).
    pub valid_rows: usize,
    /// Rows of each rolling-origin fold: training, validation.
    pub fold_rows: Vec<[usize; 2]>,
    /// Test rows.
    pub test_rows: usize,
    /// Baselines first, then the trained families.
    pub models: Vec<ModelResult>,
    /// The exportable model with the best validation accuracy.
    pub winner: String,
    /// The winner's calibration (validation residual quantiles, test coverage).
    pub calibration: Calibration,
    /// Inputs held out of fitting on the training rows, and why (see
    /// [`crate::inputs`]).
    pub held_out: Vec<HeldOutInput>,
    /// Test scores of the winner's family trained on shuffled targets.
    pub shuffled_control: Option<Metrics>,
    /// True when the shuffled control shows skill over persistence (> 0.05):
    /// something leaks.
    pub leakage_alarm: bool,
    /// Dataset rows of the training set, in order (not serialized).
    #[serde(skip)]
    pub train_index: Vec<usize>,
    /// Dataset rows of the validation set, in order (not serialized).
    #[serde(skip)]
    pub valid_index: Vec<usize>,
    /// Dataset rows of the folds' pooled validation blocks, in fold order
    /// (not serialized).
    #[serde(skip)]
    pub oof_index: Vec<usize>,
    /// Dataset rows of the test set, in order (not serialized).
    #[serde(skip)]
    pub test_index: Vec<usize>,
    /// The test targets, aligned with `test_index` (not serialized).
    #[serde(skip)]
    pub test_y: Vec<f64>,
    /// The winner's test predictions, aligned with `test_index` (not
    /// serialized).
    #[serde(skip)]
    pub winner_test_pred: Vec<f64>,
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    /// Features used.
    pub n_features: usize,
    /// Feature definition hash.
    pub features_hash: String,
    /// Telemetry interval.
    pub interval_ns: u64,
    /// Fingerprint of the dataset.
    pub dataset_fingerprint: String,
    /// The settings.
    pub config: TrainConfig,
    /// Per horizon.
    pub horizons: Vec<HorizonReport>,
}

/// The feature matrix of `rows`, every input as it is.
pub(crate) fn matrix(ds: &FeatureDataset, rows: &[usize]) -> Array2<f64> {
    let all = vec![true; ds.n_features()];
    masked_matrix(ds, rows, &all)
}

/// The feature matrix of `rows`, with each input not `usable` held at 0
/// (see [`crate::inputs`]): the matrix a learner fits on.
pub(crate) fn masked_matrix(ds: &FeatureDataset, rows: &[usize], usable: &[bool]) -> Array2<f64> {
    let p = ds.n_features();
    let mut x = Array2::zeros((rows.len(), p));
    for (j, mut col) in x.axis_iter_mut(Axis(1)).enumerate() {
        if !usable.get(j).copied().unwrap_or(true) {
            continue;
        }
        let src = &ds.table.columns[j];
        for (v, &i) in col.iter_mut().zip(rows) {
            *v = src[i];
        }
    }
    x
}

pub(crate) fn pick(col: &[f64], rows: &[usize]) -> Vec<f64> {
    rows.iter().map(|&i| col[i]).collect()
}

pub(crate) fn predict_rows(body: &ModelBody, names: &[String], x: &Array2<f64>) -> Vec<f64> {
    x.rows()
        .into_iter()
        .map(|r| predict_body(body, names, r.as_slice().unwrap_or(&r.to_vec())))
        .collect()
}

/// Trains and compares everything `cfg` asks for.
///
/// # Errors
/// A horizon the dataset lacks, a split that leaves a set empty, or a
/// trainer error.
pub fn train(
    ds: &FeatureDataset,
    fingerprint: &str,
    cfg: &TrainConfig,
) -> Result<TrainReport, ModelError> {
    let horizons = if cfg.horizons.is_empty() {
        ds.config.horizons.clone()
    } else {
        cfg.horizons.clone()
    };
    let names: Vec<String> = ds.spec.names().iter().map(|s| s.to_string()).collect();
    let col = |name: &str| -> Result<&Vec<f64>, ModelError> {
        ds.table
            .column_index(name)
            .map(|i| &ds.table.columns[i])
            .ok_or_else(|| ModelError::Input(format!("the features file has no column `{name}`")))
    };
    let runs: Vec<(String, u32)> = ds
        .table
        .scenario
        .iter()
        .cloned()
        .zip(ds.table.replication.iter().copied())
        .collect();
    let w0 = ds.config.features.windows.first().copied().unwrap_or(30);
    let mut reports = Vec::new();
    for &h in &horizons {
        let target = Target {
            aggregate: cfg.aggregate,
            horizon: h,
        };
        let y_all = col(&target.column())?;
        let has: Vec<bool> = y_all.iter().map(|v| v.is_finite()).collect();
        let split: Split = cfg
            .split
            .split(&ds.table.scenario, &runs, &has, h as usize)?;
        // Inputs that tell time rather than traffic on these training
        // rows are held out of fitting (the test rows keep their values:
        // the fitted models ignore them, as the runtime's will).
        let usable = usable_on(ds, &split.train);
        let (xt, xv, xs) = (
            masked_matrix(ds, &split.train, &usable),
            masked_matrix(ds, &split.valid, &usable),
            matrix(ds, &split.test),
        );
        let (yt, yv, ys) = (
            pick(y_all, &split.train),
            pick(y_all, &split.valid),
            pick(y_all, &split.test),
        );
        let (persist_name, ma_name) = match cfg.aggregate {
            Aggregate::Mean => (
                "demand_mean".to_string(),
                format!("demand_mean_roll{w0}_mean"),
            ),
            Aggregate::Peak => (
                "demand_max".to_string(),
                format!("demand_max_roll{w0}_mean"),
            ),
        };
        let seasonal = col(&seasonal_column(target))?;
        let ps = pick(col(&persist_name)?, &split.test);
        let ss = pick(seasonal, &split.test);
        let base = col(&persist_name)?;
        // a combination's gate may split on any input every fold may
        // learn from
        let fold_usable: Vec<Vec<bool>> = split
            .folds
            .iter()
            .map(|f| usable_on(ds, &f.train))
            .collect();
        let gates: Vec<(&str, &[f64])> = names
            .iter()
            .enumerate()
            .filter(|(j, _)| {
                fold_usable
                    .iter()
                    .all(|u| u.get(*j).copied().unwrap_or(true))
            })
            .filter_map(|(_, n)| Some((n.as_str(), col(n).ok()?.as_slice())))
            .collect();
        let folds = FoldSet::new(
            &split,
            y_all,
            base,
            seasonal,
            (ma_name.as_str(), col(&ma_name)?),
            &gates,
            |f| {
                let usable = usable_on(ds, &f.train);
                (
                    masked_matrix(ds, &f.train, &usable),
                    masked_matrix(ds, &f.valid, &usable),
                )
            },
        );
        let mut models = Vec::new();
        // ---- baselines ----
        for (label, feature) in [
            ("persistence", persist_name.clone()),
            ("moving_average", ma_name.clone()),
        ] {
            let c = col(&feature)?;
            let (folds_m, v, oof) = folds.score_column(c);
            models.push(ModelResult {
                name: format!("{label} ({feature})"),
                family: "baseline".into(),
                valid: v,
                folds: folds_m,
                test: score(&ys, &pick(c, &split.test), &ps, &ss),
                shrink_weight: 1.0,
                unshrunk_test: None,
                train_seconds: 0.0,
                infer_us_per_row: 0.0,
                exportable: true,
                body: Some(ModelBody::Feature {
                    algorithm: label.into(),
                    feature,
                }),
                unshrunk: None,
                oof,
            });
        }
        {
            let (folds_m, v, oof) = folds.score_column(seasonal);
            models.push(ModelResult {
                name: format!("seasonal_naive ({} s)", ds.config.season_s),
                family: "baseline".into(),
                valid: v,
                folds: folds_m,
                test: score(&ys, &ss, &ps, &ss),
                shrink_weight: 1.0,
                unshrunk_test: None,
                train_seconds: 0.0,
                infer_us_per_row: 0.0,
                exportable: false,
                body: None,
                unshrunk: None,
                oof,
            });
        }
        // ---- trained families: choose on the folds, score test once ----
        // Each family twice: on the target itself, and on its change from
        // persistence (added back at prediction), so a level the training
        // rows never reached does not cap the forecast. Both rows are
        // kept: every report records the comparison. Each is then shrunk
        // towards persistence by the weight that serves the folds best
        // (weight 0 is persistence itself, so on the folds no row is worse
        // than persistence).
        let mut best_family: Option<(Family, usize)> = None;
        for &fam in &cfg.families {
            for relative in [false, true] {
                let Some(mut m) = folds.fit(fam, relative, cfg, &names, &persist_name)? else {
                    continue;
                };
                let body = m.body.clone().unwrap_or_else(|| unreachable!());
                let t0 = Instant::now();
                let ps_ = predict_rows(&body, &names, &xs);
                m.infer_us_per_row = t0.elapsed().as_secs_f64() * 1e6 / ys.len().max(1) as f64;
                m.test = score(&ys, &ps_, &ps, &ss);
                if let Some(raw) = &m.unshrunk {
                    m.unshrunk_test = Some(score(&ys, &predict_rows(raw, &names, &xs), &ps, &ss));
                }
                models.push(m);
                let k = models.len() - 1;
                if best_family.is_none_or(|(_, b)| models[k].valid.mae < models[b].valid.mae) {
                    best_family = Some((fam, k));
                }
            }
        }
        // ---- winner: best validation MAE among exportable models ----
        let wi = (0..models.len())
            .filter(|&i| models[i].exportable)
            .min_by(|&a, &b| models[a].valid.mae.total_cmp(&models[b].valid.mae))
            .ok_or_else(|| ModelError::Input("no model could be trained".into()))?;
        let body = models[wi]
            .body
            .clone()
            .ok_or_else(|| ModelError::Input("winner has no body".into()))?;
        let oof: Vec<(f64, f64)> = folds
            .y
            .iter()
            .copied()
            .zip(models[wi].oof.iter().copied())
            .collect();
        let pred_s = predict_rows(&body, &names, &xs);
        let calibration = calibrate(
            &cfg.levels,
            &oof,
            folds.rows().last().map_or(0, |f| f[1]),
            ys.iter().copied().zip(pred_s.iter().copied()),
        );
        // ---- shuffled-target control ----
        let shuffled_control = match (cfg.shuffled_control, best_family) {
            (true, Some((fam, _))) => Some(shuffled(
                fam, cfg, &xt, &yt, &xv, &yv, &xs, &ys, &ps, &ss, &names,
            )?),
            _ => None,
        };
        let leakage_alarm = shuffled_control
            .as_ref()
            .is_some_and(|m| m.skill_vs_persistence.is_some_and(|s| s > 0.05));
        reports.push(HorizonReport {
            target,
            train_rows: split.train.len(),
            valid_rows: folds.y.len(),
            fold_rows: folds.rows(),
            test_rows: split.test.len(),
            winner: models[wi].name.clone(),
            models,
            calibration,
            held_out: held_out_inputs(ds, &split.train),
            shuffled_control,
            leakage_alarm,
            test_index: split.test.clone(),
            train_index: split.train,
            valid_index: split.valid,
            oof_index: folds.index.clone(),
            test_y: ys.clone(),
            winner_test_pred: pred_s,
        });
    }
    Ok(TrainReport {
        n_features: ds.n_features(),
        features_hash: ds.spec.hash().to_string(),
        interval_ns: ds.interval_ns,
        dataset_fingerprint: fingerprint.to_string(),
        config: cfg.clone(),
        horizons: reports,
    })
}

fn fit_forest(
    g: &ForestGrid,
    n_trees: usize,
    seed: u64,
    x: &Array2<f64>,
    y: &[f64],
) -> Result<crate::trees::RandomForest, ModelError> {
    RandomForestParams::new()
        .n_trees(n_trees)
        .max_depth(Some(g.max_depth))
        .max_features(MaxFeatures::Fraction(g.max_features))
        .seed(seed)
        .train(x, y)
        .map_err(|e| ModelError::Train {
            model: "random_forest".into(),
            message: e.to_string(),
        })
}

fn fit_boost(
    g: &BoostGrid,
    cfg: &TrainConfig,
    x: &Array2<f64>,
    y: &[f64],
    xv: &Array2<f64>,
    yv: &[f64],
) -> Result<crate::trees::GradientBoosting, ModelError> {
    GradientBoostingParams::new()
        .n_rounds(g.rounds)
        .learning_rate(g.learning_rate)
        .max_leaves(g.max_leaves)
        .early_stopping_rounds(Some(cfg.early_stopping_rounds))
        .seed(cfg.seed)
        .train_with_validation(x, y, xv, yv)
        .map_err(|e| ModelError::Train {
            model: "gradient_boosting".into(),
            message: e.to_string(),
        })
}

/// The calibrated quantiles of a model: the quantiles at `levels` of its
/// residuals on the folds' validation blocks (`oof`: actual, predicted),
/// either as they are or relative to the forecast (`(actual − predicted)
/// / max(predicted, 1)`, for errors that grow with the load), whichever
/// covers the last fold's block (its final `last` rows) better when
/// calibrated on the blocks before it; then the share of test rows inside
/// the outermost two and at or below each level's quantile.
fn calibrate(
    levels: &[f64],
    oof: &[(f64, f64)],
    last: usize,
    test: impl Iterator<Item = (f64, f64)>,
) -> Calibration {
    let quantiles = |rows: &[(f64, f64)], relative: bool| -> Calibration {
        let mut r: Vec<f64> = rows
            .iter()
            .map(|&(y, p)| (y - p) / if relative { p.max(1.0) } else { 1.0 })
            .collect();
        Calibration {
            levels: levels.to_vec(),
            residual_quantiles: levels.iter().map(|&l| quantile(&mut r, l)).collect(),
            relative,
            nominal_coverage: levels.last().unwrap_or(&1.0) - levels.first().unwrap_or(&0.0),
            ..Calibration::default()
        }
    };
    let miss = |c: &Calibration, rows: &[(f64, f64)]| -> f64 {
        let (n, k) = (rows.len().max(1) as f64, levels.len().max(1) as f64);
        levels
            .iter()
            .map(|&l| {
                let below = rows
                    .iter()
                    .filter(|&&(y, p)| y <= p + c.offset(p, l))
                    .count();
                (below as f64 / n - l).abs()
            })
            .sum::<f64>()
            / k
    };
    let relative = last > 0 && last < oof.len() && {
        let (early, late) = oof.split_at(oof.len() - last);
        miss(&quantiles(early, true), late) < miss(&quantiles(early, false), late)
    };
    let mut c = quantiles(oof, relative);
    let (mut n, mut inside) = (0usize, 0usize);
    let mut below = vec![0usize; levels.len()];
    let (l0, l1) = (
        levels.first().copied().unwrap_or(0.0),
        levels.last().copied().unwrap_or(1.0),
    );
    for (y, p) in test {
        n += 1;
        inside += usize::from(y >= p + c.offset(p, l0) && y <= p + c.offset(p, l1));
        for (b, &l) in below.iter_mut().zip(levels) {
            *b += usize::from(y <= p + c.offset(p, l));
        }
    }
    c.test_coverage = Some(inside as f64 / n.max(1) as f64);
    c.test_level_coverage = below.iter().map(|&b| b as f64 / n.max(1) as f64).collect();
    c
}

/// One configuration of a family, fitted (or not: OLS on a singular
/// design).
pub(crate) struct Candidate {
    /// Display name with the hyper-parameters.
    pub name: String,
    /// The model, when it could be fitted.
    pub body: Option<ModelBody>,
    /// Training seconds.
    pub secs: f64,
}

/// Every configuration of family `fam` fitted on `(xt, yt)` (gradient
/// boosting stops early on `(xv, yv)`), in the same order whatever the
/// data, so the candidates of several folds line up.
pub(crate) fn fit_family(
    fam: Family,
    cfg: &TrainConfig,
    xt: &Array2<f64>,
    yt: &[f64],
    xv: &Array2<f64>,
    yv: &[f64],
) -> Result<Vec<Candidate>, ModelError> {
    let mut cands = Vec::new();
    match fam {
        Family::Linear => {
            let t0 = Instant::now();
            let mut ld = LinearData::new(&xt.view(), yt);
            cands.push(Candidate {
                name: "ols".into(),
                body: ld.ols().ok().map(|m| ModelBody::Linear {
                    algorithm: "ols".into(),
                    linear: m,
                }),
                secs: t0.elapsed().as_secs_f64(),
            });
            for &a in &cfg.ridge_alphas {
                let t0 = Instant::now();
                let m = ld.ridge(a)?;
                cands.push(Candidate {
                    name: format!("ridge(alpha={a})"),
                    body: Some(ModelBody::Linear {
                        algorithm: "ridge".into(),
                        linear: m,
                    }),
                    secs: t0.elapsed().as_secs_f64(),
                });
            }
        }
        Family::RandomForest => {
            for g in &cfg.forest {
                let t0 = Instant::now();
                let f = fit_forest(g, g.n_trees, cfg.seed, xt, yt)?;
                cands.push(Candidate {
                    name: format!(
                        "random_forest(trees={}, depth={}, features={})",
                        g.n_trees, g.max_depth, g.max_features
                    ),
                    body: Some(ModelBody::Trees {
                        algorithm: "random_forest".into(),
                        ensemble: f.into_ensemble(),
                    }),
                    secs: t0.elapsed().as_secs_f64(),
                });
            }
        }
        Family::GradientBoosting => {
            for g in &cfg.boosting {
                let t0 = Instant::now();
                let b = fit_boost(g, cfg, xt, yt, xv, yv)?;
                let rounds = b.n_trees();
                cands.push(Candidate {
                    name: format!(
                        "gradient_boosting(lr={}, leaves={}, rounds={rounds})",
                        g.learning_rate, g.max_leaves
                    ),
                    body: Some(ModelBody::Trees {
                        algorithm: "gradient_boosting".into(),
                        ensemble: b.into_ensemble(),
                    }),
                    secs: t0.elapsed().as_secs_f64(),
                });
            }
        }
    }
    Ok(cands)
}

#[allow(clippy::too_many_arguments)]
fn shuffled(
    fam: Family,
    cfg: &TrainConfig,
    xt: &Array2<f64>,
    yt: &[f64],
    xv: &Array2<f64>,
    yv: &[f64],
    xs: &Array2<f64>,
    ys: &[f64],
    ps: &[f64],
    ss: &[f64],
    names: &[String],
) -> Result<Metrics, ModelError> {
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(cfg.seed ^ 0x5eed);
    let mut y = yt.to_vec();
    y.shuffle(&mut rng);
    let mut yvs = yv.to_vec();
    yvs.shuffle(&mut rng);
    let body = match fam {
        Family::Linear => {
            let m = LinearData::new(&xt.view(), &y)
                .ridge(cfg.ridge_alphas.first().copied().unwrap_or(1.0))?;
            ModelBody::Linear {
                algorithm: "ridge".into(),
                linear: m,
            }
        }
        Family::RandomForest => {
            let g = cfg
                .forest
                .first()
                .ok_or_else(|| ModelError::Input("empty forest grid".into()))?;
            let f = fit_forest(g, g.n_trees.min(30), cfg.seed, xt, &y)?;
            ModelBody::Trees {
                algorithm: "random_forest".into(),
                ensemble: f.into_ensemble(),
            }
        }
        Family::GradientBoosting => {
            let g = cfg
                .boosting
                .first()
                .ok_or_else(|| ModelError::Input("empty boosting grid".into()))?;
            let b = fit_boost(g, cfg, xt, &y, xv, &yvs)?;
            ModelBody::Trees {
                algorithm: "gradient_boosting".into(),
                ensemble: b.into_ensemble(),
            }
        }
    };
    Ok(score(ys, &predict_rows(&body, names, xs), ps, ss))
}

impl TrainReport {
    /// The report of horizon `h`.
    fn horizon(&self, h: u32) -> Result<&HorizonReport, ModelError> {
        self.horizons
            .iter()
            .find(|r| r.target.horizon == h)
            .ok_or_else(|| {
                ModelError::Input(format!(
                    "no trained horizon {h} (trained: {:?})",
                    self.horizons
                        .iter()
                        .map(|r| r.target.horizon)
                        .collect::<Vec<_>>()
                ))
            })
    }

    /// The artifact of the winner at horizon `h`.
    ///
    /// # Errors
    /// No report for `h`.
    pub fn artifact(
        &self,
        ds: &FeatureDataset,
        h: u32,
        manifest_hash: Option<String>,
    ) -> Result<ModelArtifact, ModelError> {
        let r = self.horizon(h)?;
        let w = r
            .models
            .iter()
            .find(|m| m.name == r.winner)
            .and_then(|m| m.body.clone().map(|b| (m, b)))
            .ok_or_else(|| ModelError::Input("the winner has no model".into()))?;
        self.artifact_of(ds, r, w, r.calibration.clone(), manifest_hash)
    }

    /// The artifact of the best exportable baseline at horizon `h` (the
    /// lowest validation MAE among them), calibrated as the winner is (its
    /// residuals on the folds' validation blocks): the forecaster of the `predictive-naive`
    /// policy, the same machinery without a learned model.
    ///
    /// # Errors
    /// No report for `h`, or no exportable baseline.
    pub fn baseline_artifact(
        &self,
        ds: &FeatureDataset,
        h: u32,
        manifest_hash: Option<String>,
    ) -> Result<ModelArtifact, ModelError> {
        let r = self.horizon(h)?;
        let b = r
            .models
            .iter()
            .filter(|m| m.family == "baseline" && m.exportable)
            .filter_map(|m| m.body.clone().map(|b| (m, b)))
            .min_by(|a, b| a.0.valid.mae.total_cmp(&b.0.valid.mae))
            .ok_or_else(|| ModelError::Input("no exportable baseline".into()))?;
        let names: Vec<String> = ds.spec.names().iter().map(|s| s.to_string()).collect();
        let y = ds
            .table
            .column_index(&r.target.column())
            .map(|i| &ds.table.columns[i])
            .ok_or_else(|| ModelError::Input("the features have no target column".into()))?;
        // The folds' predictions were kept when the baseline was scored;
        // only the test rows are predicted here.
        let oof: Vec<(f64, f64)> = r
            .oof_index
            .iter()
            .map(|&i| y[i])
            .zip(b.0.oof.iter().copied())
            .collect();
        let test = r.test_index.iter().map(|&i| y[i]).zip(predict_rows(
            &b.1,
            &names,
            &matrix(ds, &r.test_index),
        ));
        let last = r.fold_rows.last().map_or(0, |f| f[1]);
        let calibration = calibrate(&self.config.levels, &oof, last, test);
        self.artifact_of(ds, r, b, calibration, manifest_hash)
    }

    /// The artifact of model `w` of horizon report `r`.
    fn artifact_of(
        &self,
        ds: &FeatureDataset,
        r: &HorizonReport,
        w: (&ModelResult, ModelBody),
        calibration: Calibration,
        manifest_hash: Option<String>,
    ) -> Result<ModelArtifact, ModelError> {
        let mut metrics = std::collections::BTreeMap::new();
        for m in &r.models {
            let key = m
                .name
                .split(' ')
                .next()
                .unwrap_or(&m.name)
                .split('(')
                .next()
                .unwrap_or("")
                .to_string();
            metrics.insert(format!("{key}.test_accuracy"), m.test.accuracy);
            metrics.insert(format!("{key}.test_mae"), m.test.mae);
        }
        metrics.insert("winner.test_r2".into(), w.0.test.r2);
        if let Some(s) = w.0.test.skill_vs_persistence {
            metrics.insert("winner.skill_vs_persistence".into(), s);
        }
        if let Some(s) = w.0.test.skill_vs_seasonal {
            metrics.insert("winner.skill_vs_seasonal".into(), s);
        }
        let mut art = ModelArtifact {
            format: ARTIFACT_FORMAT.into(),
            version: ARTIFACT_VERSION,
            checksum: String::new(),
            features: ArtifactFeatures {
                hash: ds.spec.hash().to_string(),
                config: ds.config.features.clone(),
                names: ds.spec.names().iter().map(|s| s.to_string()).collect(),
            },
            interval_ns: ds.interval_ns,
            target: r.target,
            model: w.1,
            calibration,
            thresholds: Default::default(),
            input_ranges: input_ranges(ds, r.train_index.iter().chain(&r.valid_index)),
            provenance: Provenance {
                created_by: format!("poolcast-models {}", env!("CARGO_PKG_VERSION")),
                manifest_hash,
                dataset_fingerprint: self.dataset_fingerprint.clone(),
                train_rows: r.train_rows as u64,
                metrics,
            },
        };
        art.checksum = art.compute_checksum();
        Ok(art)
    }
}

/// Whether the predictive policy checks a feature against its training
/// range: the traffic's level (arrivals, completions, class shares and
/// service times, demand), not the pool's own state (another policy sizes
/// it differently) nor the clock (a model trained on hours of a day has
/// not seen the others, which says nothing about the traffic).
fn range_checked(def: &poolcast::core::features::FeatureDef) -> bool {
    def.family == "traffic" || def.name == "demand_mean" || def.name == "demand_max"
}

/// `[min, max]` over `rows` of each range-checked feature that varies in
/// them, in the spec's order (the artifact's inputs).
fn input_ranges<'a>(
    ds: &FeatureDataset,
    rows: impl Iterator<Item = &'a usize> + Clone,
) -> Vec<Option<[f64; 2]>> {
    ds.spec
        .defs()
        .iter()
        .map(|d| {
            if !range_checked(d) {
                return None;
            }
            let col = &ds.table.columns[ds.table.column_index(&d.name)?];
            let (lo, hi) = rows
                .clone()
                .map(|&i| col[i])
                .filter(|v| v.is_finite())
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                    (lo.min(v), hi.max(v))
                });
            (lo.is_finite() && hi > lo).then_some([lo, hi])
        })
        .collect()
}
