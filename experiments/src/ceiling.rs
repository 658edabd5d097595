//! The forecastability ceiling of simulated data: two reference forecasts
//! that read the simulator's own arrival-rate function, scored on the same
//! rows and metrics as the models.
//!
//! - `rate oracle (future rate known)` knows the rate the arrivals will
//!   follow over the whole horizon, noise draws included. What it misses is
//!   only the randomness of arrivals and service times (and queueing the
//!   rate does not show): the accuracy no forecaster can beat by much.
//! - `rate oracle (shape + current step known)` knows every deterministic
//!   pattern (cycles, ramps, spikes) exactly and the random ones up to the
//!   step in force now; later noise steps take their mean. It is what a
//!   perfect learner of the workload's shape could reach, since future
//!   noise draws are unknowable by construction.
//!
//! Each maps the mean rate over the target window to demand by one factor
//! (Little's law: demand ≈ rate × mean hold), fitted by least squares on
//! the training rows, and is scored on validation and test like any model.
//! They are references, not forecasters: the runtime has no rate function.

use std::collections::HashMap;

use poolcast::core::Nanos;
use poolcast::core::artifact::Aggregate;
use poolcast_models::dataset::{FeatureDataset, seasonal_column};
use poolcast_models::metrics::score;
use poolcast_models::train::TrainReport;
use poolcast_reports::{ForecastSection, ModelKind, ModelScore};
use poolcast_sim::workload::RateFn;
use poolcast_sim::workload::demand::run_rate;

use crate::forecast::scores;
use crate::manifest::Manifest;

/// Midpoint-rule sub-samples of the rate per interval of the window.
const SAMPLES_PER_INTERVAL: u32 = 6;

/// The two references.
#[derive(Clone, Copy)]
enum Oracle {
    FutureRate,
    ShapeAndStep,
}

impl Oracle {
    fn name(self) -> &'static str {
        match self {
            Oracle::FutureRate => "rate oracle (future rate known)",
            Oracle::ShapeAndStep => "rate oracle (shape + current step known)",
        }
    }

    /// Mean rate over `[now, now + len)` as this oracle knows it.
    fn mean_rate(self, rate: &RateFn, now: Nanos, len: Nanos, n: u32) -> f64 {
        match self {
            Oracle::FutureRate => rate.mean_rate(now, now + len, n),
            Oracle::ShapeAndStep => rate.foreseen_mean_rate(now, now, now + len, n),
        }
    }
}

/// Appends the references to every mean-demand horizon of `fs`, when every
/// row of the dataset comes from a scenario of `m` (simulated data); else
/// leaves `fs` as it is.
pub fn add_references(
    fs: &mut ForecastSection,
    ds: &FeatureDataset,
    rep: &TrainReport,
    m: &Manifest,
) {
    let t = &ds.table;
    let mut rates: HashMap<(&str, u32), RateFn> = HashMap::new();
    for (s, &r) in t.scenario.iter().zip(&t.replication) {
        if rates.contains_key(&(s.as_str(), r)) {
            continue;
        }
        let Some(sc) = m.scenarios.iter().find(|sc| &sc.name == s) else {
            return; // not simulated from this manifest: no rate to read
        };
        if sc.replay.is_some() {
            return; // a replayed trace has no rate function
        }
        rates.insert((s.as_str(), r), run_rate(sc, m.body.experiment.seed, r));
    }
    for h in &rep.horizons {
        if h.target.aggregate != Aggregate::Mean {
            continue;
        }
        let Some(out) = fs
            .horizons
            .iter_mut()
            .find(|o| o.horizon == h.target.horizon)
        else {
            continue;
        };
        let col = |name: &str| t.column_index(name).map(|i| &t.columns[i]);
        let (Some(y), Some(persist), Some(seasonal)) = (
            col(&h.target.column()),
            col("demand_mean"),
            col(&seasonal_column(h.target)),
        ) else {
            continue;
        };
        let len = h.target.horizon as Nanos * ds.interval_ns;
        let n = SAMPLES_PER_INTERVAL * h.target.horizon;
        for oracle in [Oracle::FutureRate, Oracle::ShapeAndStep] {
            // The window's mean rate, for the scored rows only.
            let mut x = vec![f64::NAN; t.rows()];
            for &i in h
                .train_index
                .iter()
                .chain(&h.valid_index)
                .chain(&h.oof_index)
                .chain(&h.test_index)
            {
                let rate = &rates[&(t.scenario[i].as_str(), t.replication[i])];
                x[i] = oracle.mean_rate(rate, t.t_ns[i], len, n);
            }
            // Least squares through the origin on the training rows.
            let (sxy, sxx) = h
                .train_index
                .iter()
                .fold((0.0, 0.0), |(a, b), &i| (a + x[i] * y[i], b + x[i] * x[i]));
            let c = if sxx > 0.0 { sxy / sxx } else { 0.0 };
            let on = |rows: &[usize]| {
                let pick = |v: &[f64]| rows.iter().map(|&i| v[i]).collect::<Vec<f64>>();
                let pred: Vec<f64> = rows.iter().map(|&i| c * x[i]).collect();
                scores(&score(&pick(y), &pred, &pick(persist), &pick(seasonal)))
            };
            out.models.push(ModelScore {
                name: oracle.name().into(),
                family: "simulator reference".into(),
                kind: ModelKind::Reference,
                valid: on(&h.oof_index),
                test: on(&h.test_index),
                folds: Vec::new(),
                fold_accuracy: None,
                shrink_weight: 1.0,
                unshrunk_test_accuracy: None,
                series: String::new(),
            });
        }
    }
}
