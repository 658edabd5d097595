//! Model selection on rolling-origin folds: every configuration of a
//! family is fitted on each fold's training part and scored on its
//! validation block; the configuration with the lowest pooled error is
//! chosen, then combined with persistence and the moving average by the
//! weights (and the gate, see [`crate::combine`]) that serve the pooled
//! blocks best. The exported model is the last fold's fit (trained on the
//! training set itself).

use ndarray::Array2;
use poolcast::core::artifact::{BlendGate, ModelBody, WeightedInput};

use crate::combine::{Columns, Combination, Weights, choose};
use crate::error::ModelError;
use crate::metrics::{Metrics, score};
use crate::split::{Fold, Split};
use crate::train::{Family, ModelResult, TrainConfig, fit_family, pick, predict_rows};

/// One fold's matrices and columns.
struct FoldData {
    xt: Array2<f64>,
    yt: Vec<f64>,
    bt: Vec<f64>,
    xv: Array2<f64>,
    yv: Vec<f64>,
    bv: Vec<f64>,
    sv: Vec<f64>,
    /// Training rows, validation rows.
    rows: [usize; 2],
}

/// The folds of one horizon, and their pooled validation blocks.
pub(crate) struct FoldSet {
    folds: Vec<FoldData>,
    /// Dataset rows of the pooled validation blocks, in fold order.
    pub index: Vec<usize>,
    /// The target on `index`.
    pub y: Vec<f64>,
    /// Persistence on `index`.
    base: Vec<f64>,
    /// Seasonal naive on `index`.
    seasonal: Vec<f64>,
    /// The moving average on `index`, and its input's name.
    ma: (String, Vec<f64>),
    /// The fold of each row of `index`.
    fold_of: Vec<usize>,
    /// Names of the inputs a gate may split on (every fold may learn
    /// from them).
    gate_names: Vec<String>,
    /// Their values on `index`, in the order of `gate_names`.
    gate_values: Vec<Vec<f64>>,
}

impl FoldSet {
    /// The folds of `split`, with target `y`, persistence `base`, the
    /// seasonal baseline `seasonal` and the moving average `ma` (named
    /// input, dataset column); `matrices` builds a fold's training and
    /// validation feature matrices (the fold's training rows decide the
    /// inputs a model may learn from); `gates` are the inputs a
    /// combination's gate may split on (dataset columns).
    pub fn new(
        split: &Split,
        y: &[f64],
        base: &[f64],
        seasonal: &[f64],
        ma: (&str, &[f64]),
        gates: &[(&str, &[f64])],
        matrices: impl Fn(&Fold) -> (Array2<f64>, Array2<f64>),
    ) -> FoldSet {
        let folds: Vec<FoldData> = split
            .folds
            .iter()
            .map(|f| {
                let (xt, xv) = matrices(f);
                FoldData {
                    xt,
                    yt: pick(y, &f.train),
                    bt: pick(base, &f.train),
                    xv,
                    yv: pick(y, &f.valid),
                    bv: pick(base, &f.valid),
                    sv: pick(seasonal, &f.valid),
                    rows: [f.train.len(), f.valid.len()],
                }
            })
            .collect();
        let index: Vec<usize> = split.folds.iter().flat_map(|f| f.valid.clone()).collect();
        let fold_of = split
            .folds
            .iter()
            .enumerate()
            .flat_map(|(k, f)| std::iter::repeat_n(k, f.valid.len()))
            .collect();
        FoldSet {
            y: pick(y, &index),
            base: pick(base, &index),
            seasonal: pick(seasonal, &index),
            ma: (ma.0.to_string(), pick(ma.1, &index)),
            fold_of,
            gate_names: gates.iter().map(|(name, _)| name.to_string()).collect(),
            gate_values: gates.iter().map(|(_, col)| pick(col, &index)).collect(),
            index,
            folds,
        }
    }

    /// Training and validation rows of each fold.
    pub fn rows(&self) -> Vec<[usize; 2]> {
        self.folds.iter().map(|f| f.rows).collect()
    }

    /// Per-fold scores, pooled scores and pooled predictions of a
    /// prediction per fold.
    fn score_folds(&self, per_fold: Vec<Vec<f64>>) -> (Vec<Metrics>, Metrics, Vec<f64>) {
        let folds = self
            .folds
            .iter()
            .zip(&per_fold)
            .map(|(f, p)| score(&f.yv, p, &f.bv, &f.sv))
            .collect();
        let pooled: Vec<f64> = per_fold.into_iter().flatten().collect();
        let m = score(&self.y, &pooled, &self.base, &self.seasonal);
        (folds, m, pooled)
    }

    /// A dataset column used as the forecast (a baseline), scored on the
    /// folds.
    pub fn score_column(&self, col: &[f64]) -> (Vec<Metrics>, Metrics, Vec<f64>) {
        let pooled = pick(col, &self.index);
        let mut at = 0;
        let per_fold = self
            .folds
            .iter()
            .map(|f| {
                at += f.rows[1];
                pooled[at - f.rows[1]..at].to_vec()
            })
            .collect();
        self.score_folds(per_fold)
    }

    /// Family `fam` (on the target, or on its change from persistence
    /// when `relative`) chosen and shrunk on the folds: its result with
    /// validation scores filled and test scores left for the caller, or
    /// `None` if no configuration could be fitted on every fold.
    ///
    /// # Errors
    /// A trainer error.
    pub fn fit(
        &self,
        fam: Family,
        relative: bool,
        cfg: &TrainConfig,
        names: &[String],
        base_name: &str,
    ) -> Result<Option<ModelResult>, ModelError> {
        let wrap = |body: ModelBody| {
            if relative {
                ModelBody::Relative {
                    base: base_name.to_string(),
                    inner: Box::new(body),
                }
            } else {
                body
            }
        };
        let minus =
            |y: &[f64], b: &[f64]| -> Vec<f64> { y.iter().zip(b).map(|(y, b)| y - b).collect() };
        // per fold, per configuration: the fitted model
        let mut fitted = Vec::with_capacity(self.folds.len());
        for f in &self.folds {
            let (ty, vy) = if relative {
                (minus(&f.yt, &f.bt), minus(&f.yv, &f.bv))
            } else {
                (f.yt.clone(), f.yv.clone())
            };
            fitted.push(fit_family(fam, cfg, &f.xt, &ty, &f.xv, &vy)?);
        }
        let n_cands = fitted.first().map_or(0, Vec::len);
        let mut chosen: Option<(usize, Vec<Vec<f64>>, f64)> = None;
        for c in 0..n_cands {
            let Some(per_fold) = self
                .folds
                .iter()
                .zip(&fitted)
                .map(|(f, cands)| {
                    let body = wrap(cands[c].body.clone()?);
                    Some(predict_rows(&body, names, &f.xv))
                })
                .collect::<Option<Vec<_>>>()
            else {
                continue;
            };
            let mae = mean_abs_error(&self.y, per_fold.iter().flatten());
            if chosen.as_ref().is_none_or(|(_, _, m)| mae < *m) {
                chosen = Some((c, per_fold, mae));
            }
        }
        let Some((c, per_fold, _)) = chosen else {
            return Ok(None);
        };
        let pooled: Vec<f64> = per_fold.iter().flatten().copied().collect();
        let cols = Columns {
            y: &self.y,
            model: &pooled,
            persistence: &self.base,
            ma: &self.ma.1,
            fold: &self.fold_of,
            n_folds: self.folds.len(),
        };
        let combo = choose(&cols, &self.gate_values);
        let combined: Vec<f64> = (0..pooled.len())
            .map(|r| combo.apply(&cols, &self.gate_values, r))
            .collect();
        let mut at = 0;
        let per_fold: Vec<Vec<f64>> = self
            .folds
            .iter()
            .map(|f| {
                at += f.rows[1];
                combined[at - f.rows[1]..at].to_vec()
            })
            .collect();
        let (folds, valid, oof) = self.score_folds(per_fold);
        let last = fitted.pop().and_then(|mut v| v.drain(..).nth(c));
        let Some(last) = last else { return Ok(None) };
        let Some(inner) = last.body.map(wrap) else {
            return Ok(None);
        };
        let name = if relative {
            format!("{} Δ {base_name}", last.name)
        } else {
            last.name
        };
        let (name, body, unshrunk) = self.combined_body(&combo, name, inner, base_name);
        let weight = combo.weights.model;
        Ok(Some(ModelResult {
            name,
            family: match fam {
                Family::Linear => "linear",
                Family::RandomForest => "random_forest",
                Family::GradientBoosting => "gradient_boosting",
            }
            .into(),
            valid,
            folds,
            test: Metrics::default(),
            shrink_weight: weight,
            unshrunk_test: None,
            train_seconds: last.secs,
            infer_us_per_row: 0.0,
            exportable: true,
            body: Some(body),
            unshrunk,
            oof,
        }))
    }

    /// The exported form of `inner` (named `name`) combined by `combo`:
    /// its name, its body and, unless it is the model alone, the model
    /// alone. Weight 1 on persistence is persistence itself; a model
    /// weighted against persistence only is a shrunk model, as before
    /// blends existed.
    fn combined_body(
        &self,
        combo: &Combination,
        name: String,
        inner: ModelBody,
        base_name: &str,
    ) -> (String, ModelBody, Option<ModelBody>) {
        let ma_name = &self.ma.0;
        let inputs = |w: &Weights| -> Vec<WeightedInput> {
            [(base_name, w.persistence()), (ma_name.as_str(), w.ma)]
                .into_iter()
                .filter(|(_, w)| *w > 0.0)
                .map(|(f, w)| WeightedInput {
                    feature: f.to_string(),
                    weight: w,
                })
                .collect()
        };
        let label = |w: &Weights| -> String {
            if w.ma > 0.0 {
                format!("~{:.2} + MA {:.2}", w.model, w.ma)
            } else {
                format!("~{:.2}", w.model)
            }
        };
        let w = &combo.weights;
        match &combo.gate {
            None if w.model >= 1.0 => (name, inner, None),
            None if w.model <= 0.0 && w.ma <= 0.0 => (
                // combined all the way to persistence: the row is persistence itself
                format!("{name} ~0 (persistence)"),
                ModelBody::Feature {
                    algorithm: "persistence".into(),
                    feature: base_name.to_string(),
                },
                Some(inner),
            ),
            None if w.model <= 0.0 && w.ma >= 1.0 => (
                format!("{name} ~0 (moving average)"),
                ModelBody::Feature {
                    algorithm: "moving_average".into(),
                    feature: ma_name.clone(),
                },
                Some(inner),
            ),
            None if w.ma <= 0.0 => (
                format!("{name} {}", label(w)),
                ModelBody::Shrunk {
                    base: base_name.to_string(),
                    weight: w.model,
                    inner: Box::new(inner.clone()),
                },
                Some(inner),
            ),
            None => (
                format!("{name} {}", label(w)),
                ModelBody::Blend {
                    weight: w.model,
                    inputs: inputs(w),
                    inner: Box::new(inner.clone()),
                    gate: None,
                },
                Some(inner),
            ),
            Some(g) => {
                let feature = self.gate_names[g.input].clone();
                (
                    format!(
                        "{name} {}, {} where {feature} > {:.4}",
                        label(w),
                        label(&g.weights),
                        g.threshold
                    ),
                    ModelBody::Blend {
                        weight: w.model,
                        inputs: inputs(w),
                        inner: Box::new(inner.clone()),
                        gate: Some(BlendGate {
                            feature,
                            threshold: g.threshold,
                            weight: g.weights.model,
                            inputs: inputs(&g.weights),
                        }),
                    },
                    Some(inner),
                )
            }
        }
    }
}

/// Mean absolute error of predictions `p` against `y`, row by row.
fn mean_abs_error(y: &[f64], p: impl IntoIterator<Item = impl std::borrow::Borrow<f64>>) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for (y, p) in y.iter().zip(p) {
        sum += (y - p.borrow()).abs();
        n += 1;
    }
    sum / n.max(1) as f64
}
