//! The forecast part of a run: features from the data runs, every model
//! family beside the baselines, the exported winner's test predictions,
//! residuals and permutation importance, as the report's plain inputs.

use poolcast::core::NANOS_PER_SEC;
use poolcast_models::dataset::FeatureDataset;
use poolcast_models::importance::permutation_importance;
use poolcast_models::metrics::Metrics;
use poolcast_models::train::TrainReport;
use poolcast_reports::{
    Estimate, ForecastSection, HeldOutInput, HorizonResult, Importance, ModelKind, ModelScore,
    ModelTiming, PredictionSeries, Scores,
};

/// Report scores from the trainer's metrics.
pub fn scores(m: &Metrics) -> Scores {
    Scores {
        n: m.n,
        accuracy: m.accuracy,
        mae: m.mae,
        rmse: m.rmse,
        mape: m.mape,
        r2: m.r2,
        bias: m.bias,
        within_10pct: m.within_10pct,
        skill_vs_persistence: m.skill_vs_persistence,
        skill_vs_seasonal: m.skill_vs_seasonal,
    }
}

/// The line a trained row or a baseline belongs to across horizons: the
/// family, marked `Δ` for the change-from-persistence form (the names
/// carry hyper-parameters and weights that differ by horizon); a
/// baseline's own name without its column.
fn series(m: &poolcast_models::train::ModelResult) -> String {
    if m.family == "baseline" {
        m.name.split(' ').next().unwrap_or(&m.name).to_string()
    } else if m.name.contains(" Δ ") {
        format!("{} Δ", m.family)
    } else {
        m.family.clone()
    }
}

/// Mean fold accuracy with its 95% interval over the folds (Student's t:
/// the folds' blocks are consecutive stretches of time, so this is a
/// guide to the spread, not an exact interval), when two or more folds
/// were scored.
fn fold_estimate(folds: &[Metrics]) -> Option<Estimate> {
    let acc: Vec<f64> = folds.iter().map(|f| f.accuracy).collect();
    let e = crate::stats::estimate(&acc);
    (acc.iter().filter(|a| a.is_finite()).count() >= 2).then_some(e)
}

/// The forecast section and the training timings (machine-dependent) of a
/// trained report. `importance_rows` caps the rows of the permutation
/// importance (0: none).
pub fn section(
    ds: &FeatureDataset,
    report: &TrainReport,
    export_horizon: u32,
    importance_rows: usize,
    seed: u64,
) -> (ForecastSection, Vec<ModelTiming>) {
    let mut timings = Vec::new();
    let horizons: Vec<HorizonResult> = report
        .horizons
        .iter()
        .map(|h| {
            for m in &h.models {
                if m.family != "baseline" {
                    timings.push(ModelTiming {
                        horizon: h.target.horizon,
                        model: m.name.clone(),
                        train_seconds: m.train_seconds,
                        infer_us_per_row: m.infer_us_per_row,
                    });
                }
            }
            HorizonResult {
                horizon: h.target.horizon,
                winner: h.winner.clone(),
                train_rows: h.train_rows,
                valid_rows: h.valid_rows,
                fold_rows: h.fold_rows.clone(),
                test_rows: h.test_rows,
                models: h
                    .models
                    .iter()
                    .map(|m| ModelScore {
                        name: m.name.clone(),
                        family: m.family.clone(),
                        kind: if m.family == "baseline" {
                            ModelKind::Baseline
                        } else {
                            ModelKind::Model
                        },
                        valid: scores(&m.valid),
                        test: scores(&m.test),
                        folds: m.folds.iter().map(|f| f.accuracy).collect(),
                        fold_accuracy: fold_estimate(&m.folds),
                        shrink_weight: m.shrink_weight,
                        unshrunk_test_accuracy: m.unshrunk_test.as_ref().map(|t| t.accuracy),
                        series: series(m),
                    })
                    .collect(),
                interval_level: h.calibration.nominal_coverage,
                interval_coverage: h.calibration.test_coverage,
                quantile_coverage: h
                    .calibration
                    .levels
                    .iter()
                    .zip(&h.calibration.test_level_coverage)
                    .map(|(&l, &c)| [l, c])
                    .collect(),
                quantiles_relative: h.calibration.relative,
                held_out: h
                    .held_out
                    .iter()
                    .map(|i| HeldOutInput {
                        name: i.name.clone(),
                        reason: i.reason.clone(),
                    })
                    .collect(),
                shuffled_control: h.shuffled_control.as_ref().map(scores),
                leakage_alarm: h.leakage_alarm,
            }
        })
        .collect();
    let exp = report
        .horizons
        .iter()
        .find(|h| h.target.horizon == export_horizon);
    let (series, residuals, importance, exported_model) = match exp {
        None => (None, Vec::new(), Vec::new(), String::new()),
        Some(h) => {
            let lo = h
                .calibration
                .residual_quantiles
                .first()
                .copied()
                .unwrap_or(0.0);
            let hi = h
                .calibration
                .residual_quantiles
                .last()
                .copied()
                .unwrap_or(0.0);
            let t = &ds.table;
            // The first test run, in time order (rows of a run are stored
            // in time order).
            let series = h.test_index.first().map(|&r0| {
                let run = (t.scenario[r0].clone(), t.replication[r0]);
                let mut s = PredictionSeries {
                    run: format!("{} replication {}", run.0, run.1),
                    level: h.calibration.nominal_coverage,
                    t_s: Vec::new(),
                    actual: Vec::new(),
                    predicted: Vec::new(),
                    lower: Vec::new(),
                    upper: Vec::new(),
                };
                for (k, &r) in h.test_index.iter().enumerate() {
                    if t.scenario[r] != run.0 || t.replication[r] != run.1 {
                        continue;
                    }
                    let p = h.winner_test_pred[k];
                    s.t_s.push(t.t_ns[r] as f64 / NANOS_PER_SEC as f64);
                    s.actual.push(h.test_y[k]);
                    s.predicted.push(p);
                    s.lower.push(p + lo);
                    s.upper.push(p + hi);
                }
                s
            });
            let residuals: Vec<f64> = h
                .test_y
                .iter()
                .zip(&h.winner_test_pred)
                .map(|(y, p)| y - p)
                .collect();
            let body = h
                .models
                .iter()
                .find(|m| m.name == h.winner)
                .and_then(|m| m.body.clone());
            let importance = match body {
                Some(b) if importance_rows > 0 => {
                    permutation_importance(ds, &b, &h.test_index, &h.test_y, importance_rows, seed)
                        .into_iter()
                        .map(|i| Importance {
                            feature: i.feature,
                            increase_mae: i.increase_mae,
                        })
                        .collect()
                }
                _ => Vec::new(),
            };
            (series, residuals, importance, h.winner.clone())
        }
    };
    let aggregate = report.config.aggregate.name();
    (
        ForecastSection {
            interval_s: report.interval_ns as f64 / NANOS_PER_SEC as f64,
            target: format!("{aggregate} demand (busy + waiting) over the next h intervals"),
            export_horizon,
            exported_model,
            n_features: report.n_features,
            horizons,
            series,
            residuals,
            importance,
        },
        timings,
    )
}
