//! A model combined with the baselines on the folds: the weights of the
//! model, persistence and the moving average that serve the pooled
//! validation blocks best (weights `0, 0.1, …, 1` summing to 1), and
//! where a regime needs other weights, a gate: one input against a
//! threshold splits the rows, and the rows above it get weights of
//! their own. Errors rising or a burst of arrivals are where persistence
//! follows the load and the moving average lags; calm rows are where the
//! moving average's smoothing wins; one set of weights for both serves
//! neither.
//!
//! Weight 1 on persistence is persistence itself, so on the folds the
//! combination is never worse than persistence, nor than the moving
//! average, nor than the model alone. A gate is searched among the
//! inputs every fold may learn from, at a few quantiles of each, and is
//! kept only if it also wins when each fold's gate and weights are chosen
//! on the other folds (leave one fold out): a split that fits the folds
//! by chance is not exported.

use rayon::prelude::*;

/// Steps of the weight grid (weights `0, 1/N, …, 1`).
const STEPS: u32 = 10;

/// Quantiles of an input tried as gate thresholds.
const GATE_QUANTILES: [f64; 5] = [0.5, 0.75, 0.9, 0.95, 0.98];

/// Fewest rows on either side of a gate: this many, or 1% of the rows.
const GATE_MIN_ROWS: usize = 30;

/// The weights of the model and the moving average; persistence has the
/// rest.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Weights {
    /// The model's weight.
    pub model: f64,
    /// The moving average's weight.
    pub ma: f64,
}

impl Weights {
    /// Persistence's weight.
    pub fn persistence(&self) -> f64 {
        (1.0 - self.model - self.ma).max(0.0)
    }

    /// The combined forecast of one row.
    pub fn apply(&self, model: f64, persistence: f64, ma: f64) -> f64 {
        let mut v = self.persistence() * persistence;
        if self.model > 0.0 {
            v += self.model * model;
        }
        if self.ma > 0.0 {
            v += self.ma * ma;
        }
        v
    }
}

/// The regime with weights of its own.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Gate {
    /// Index of the input among the candidates.
    pub input: usize,
    /// Rows whose input exceeds it are in the regime.
    pub threshold: f64,
    /// The weights there.
    pub weights: Weights,
}

/// A chosen combination.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Combination {
    /// The weights of every row outside the gate's regime.
    pub weights: Weights,
    /// The regime, if one earned its place.
    pub gate: Option<Gate>,
}

impl Combination {
    /// The combined forecast of pooled row `r`.
    pub fn apply(&self, cols: &Columns<'_>, gates: &[Vec<f64>], r: usize) -> f64 {
        let w = match &self.gate {
            Some(g) if gates[g.input][r] > g.threshold => g.weights,
            _ => self.weights,
        };
        w.apply(cols.model[r], cols.persistence[r], cols.ma[r])
    }
}

/// The pooled validation rows the combination is chosen on.
pub(crate) struct Columns<'a> {
    /// The target.
    pub y: &'a [f64],
    /// The model's out-of-fold predictions.
    pub model: &'a [f64],
    /// Persistence.
    pub persistence: &'a [f64],
    /// The moving average.
    pub ma: &'a [f64],
    /// The fold of each row.
    pub fold: &'a [usize],
    /// Folds.
    pub n_folds: usize,
}

/// The grid, the model's weight falling and the moving average's rising,
/// so a tie goes to the larger model weight (as shrinkage's did).
fn grid() -> Vec<Weights> {
    let mut g = Vec::new();
    for m in (0..=STEPS).rev() {
        for a in 0..=(STEPS - m) {
            g.push(Weights {
                model: f64::from(m) / f64::from(STEPS),
                ma: f64::from(a) / f64::from(STEPS),
            });
        }
    }
    g
}

/// The grid point with the smallest error in `sums` (the first on ties),
/// and that error.
fn argmin(sums: &[f64]) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    for (g, &e) in sums.iter().enumerate() {
        if e < best.1 {
            best = (g, e);
        }
    }
    best
}

/// Absolute errors per fold and grid point, summed over `rows`.
struct FoldSums {
    /// `[fold][grid point]`.
    sums: Vec<Vec<f64>>,
}

impl FoldSums {
    fn zero(n_folds: usize, n_grid: usize) -> FoldSums {
        FoldSums {
            sums: vec![vec![0.0; n_grid]; n_folds],
        }
    }

    /// Sums over every fold but `skip` (none when `skip` is out of range).
    fn without(&self, skip: usize) -> Vec<f64> {
        let mut out = vec![0.0; self.sums.first().map_or(0, Vec::len)];
        for (k, s) in self.sums.iter().enumerate() {
            if k != skip {
                for (o, v) in out.iter_mut().zip(s) {
                    *o += v;
                }
            }
        }
        out
    }

    /// `self − other`, fold by fold.
    fn minus(&self, other: &FoldSums) -> FoldSums {
        FoldSums {
            sums: self
                .sums
                .iter()
                .zip(&other.sums)
                .map(|(a, b)| a.iter().zip(b).map(|(a, b)| a - b).collect())
                .collect(),
        }
    }
}

/// One gate tried: its error on all folds and, per left-out fold, the
/// weights chosen on the other folds and its error there.
struct Tried {
    input: usize,
    threshold: f64,
    /// Error on all folds, and the grid points above and below.
    all: (f64, usize, usize),
    /// Per left-out fold: error on the other folds, and on the left-out
    /// fold of the weights chosen on the others.
    lofo: Vec<(f64, f64)>,
}

/// Chooses the combination of the model's out-of-fold predictions with
/// persistence and the moving average, and a gate among `gates` (each a
/// candidate input's values on the pooled rows) if one wins with each
/// fold left out in turn.
pub(crate) fn choose(cols: &Columns<'_>, gates: &[Vec<f64>]) -> Combination {
    let grid = grid();
    let n = cols.y.len();
    let ng = grid.len();
    // errors[r * ng + g]: row r's absolute error at grid point g
    let errors: Vec<f64> = (0..n)
        .flat_map(|r| {
            grid.iter().map(move |w| {
                (cols.y[r] - w.apply(cols.model[r], cols.persistence[r], cols.ma[r])).abs()
            })
        })
        .collect();
    let mut total = FoldSums::zero(cols.n_folds, ng);
    for r in 0..n {
        for (s, e) in total.sums[cols.fold[r]]
            .iter_mut()
            .zip(&errors[r * ng..(r + 1) * ng])
        {
            *s += e;
        }
    }
    let (g_all, e_all) = argmin(&total.without(usize::MAX));
    let plain = Combination {
        weights: grid[g_all],
        gate: None,
    };
    if cols.n_folds < 2 || n == 0 {
        return plain;
    }
    // leave one fold out, without a gate
    let lofo_plain: f64 = (0..cols.n_folds)
        .map(|k| total.sums[k][argmin(&total.without(k)).0])
        .sum();
    let min_rows = GATE_MIN_ROWS.max(n / 100);
    let tried: Vec<Vec<Tried>> = gates
        .par_iter()
        .enumerate()
        .map(|(i, values)| try_input(i, values, &errors, &total, cols, ng, min_rows))
        .collect();
    // the best gate on all folds, and per left-out fold the best on the
    // others (the first on ties: inputs and thresholds in order)
    let mut best_all: Option<&Tried> = None;
    let mut best_lofo: Vec<Option<&Tried>> = vec![None; cols.n_folds];
    for t in tried.iter().flatten() {
        if best_all.is_none_or(|b| t.all.0 < b.all.0) {
            best_all = Some(t);
        }
        for (k, slot) in best_lofo.iter_mut().enumerate() {
            if slot.is_none_or(|b| t.lofo[k].0 < b.lofo[k].0) {
                *slot = Some(t);
            }
        }
    }
    let lofo_gated: Option<f64> = best_lofo
        .iter()
        .enumerate()
        .map(|(k, t)| t.map(|t| t.lofo[k].1))
        .sum();
    match (best_all, lofo_gated) {
        (Some(t), Some(lg)) if t.all.0 < e_all && lg < lofo_plain => Combination {
            weights: grid[t.all.2],
            gate: Some(Gate {
                input: t.input,
                threshold: t.threshold,
                weights: grid[t.all.1],
            }),
        },
        _ => plain,
    }
}

/// Every threshold of candidate input `i` (values on the pooled rows)
/// with enough rows on both sides, scored on all folds and with each
/// fold left out.
fn try_input(
    i: usize,
    values: &[f64],
    errors: &[f64],
    total: &FoldSums,
    cols: &Columns<'_>,
    ng: usize,
    min_rows: usize,
) -> Vec<Tried> {
    let n = values.len();
    let mut finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.len() < 2 * min_rows {
        return Vec::new();
    }
    finite.sort_by(f64::total_cmp);
    let mut thresholds: Vec<f64> = GATE_QUANTILES
        .iter()
        .map(|q| finite[((finite.len() - 1) as f64 * q) as usize])
        .collect();
    thresholds.dedup();
    // rows by value, largest first, so each threshold's "above" sums grow
    // from the previous one's
    let mut order: Vec<usize> = (0..n).filter(|&r| values[r].is_finite()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
    let mut above = FoldSums::zero(cols.n_folds, ng);
    let mut at = 0;
    let mut out = Vec::new();
    for &t in thresholds.iter().rev() {
        while at < order.len() && values[order[at]] > t {
            let r = order[at];
            for (s, e) in above.sums[cols.fold[r]]
                .iter_mut()
                .zip(&errors[r * ng..(r + 1) * ng])
            {
                *s += e;
            }
            at += 1;
        }
        if at < min_rows || n - at < min_rows {
            continue;
        }
        let below = total.minus(&above);
        let (ga, ea) = argmin(&above.without(usize::MAX));
        let (gb, eb) = argmin(&below.without(usize::MAX));
        let lofo = (0..cols.n_folds)
            .map(|k| {
                let (ga, ea) = argmin(&above.without(k));
                let (gb, eb) = argmin(&below.without(k));
                (ea + eb, above.sums[k][ga] + below.sums[k][gb])
            })
            .collect();
        out.push(Tried {
            input: i,
            threshold: t,
            all: (ea + eb, ga, gb),
            lofo,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Calm rows where the moving average is exact and a regime (marked
    /// by the second input) where persistence is: the gate finds the
    /// regime and each side weights its own baseline.
    #[test]
    fn a_gate_gives_a_regime_its_own_weights() {
        let n = 900;
        let mut y = Vec::new();
        let (mut p, mut ma, mut model) = (Vec::new(), Vec::new(), Vec::new());
        let mut noise = Vec::new();
        let mut marker = Vec::new();
        for r in 0..n {
            let regime = r % 10 == 0;
            let level = 10.0 + (r as f64 * 0.37).sin();
            y.push(level);
            if regime {
                p.push(level);
                ma.push(level + 8.0);
            } else {
                p.push(level + if r % 2 == 0 { 2.0 } else { -2.0 });
                ma.push(level);
            }
            model.push(level + 3.0);
            noise.push((r as f64 * 1.7).cos());
            marker.push(if regime { 1.0 } else { 0.0 });
        }
        let fold: Vec<usize> = (0..n).map(|r| r * 3 / n).collect();
        let cols = Columns {
            y: &y,
            model: &model,
            persistence: &p,
            ma: &ma,
            fold: &fold,
            n_folds: 3,
        };
        let c = choose(&cols, &[noise, marker]);
        let g = c.gate.expect("the regime earns a gate");
        assert_eq!(g.input, 1);
        assert_eq!(
            g.weights,
            Weights {
                model: 0.0,
                ma: 0.0
            }
        );
        assert_eq!(
            c.weights,
            Weights {
                model: 0.0,
                ma: 1.0
            }
        );
    }

    /// An input unrelated to the errors earns no gate, and the weights are
    /// those that serve the pooled rows best.
    #[test]
    fn noise_earns_no_gate() {
        let n = 600;
        let y: Vec<f64> = (0..n).map(|r| 5.0 + (r as f64 * 0.1).sin()).collect();
        let p: Vec<f64> = y.iter().map(|v| v + 1.0).collect();
        let model: Vec<f64> = y.iter().map(|v| v - 1.0).collect();
        let ma: Vec<f64> = y.iter().map(|v| v + 3.0).collect();
        let noise: Vec<f64> = (0..n).map(|r| ((r * 7919) % 101) as f64).collect();
        let fold: Vec<usize> = (0..n).map(|r| r * 3 / n).collect();
        let cols = Columns {
            y: &y,
            model: &model,
            persistence: &p,
            ma: &ma,
            fold: &fold,
            n_folds: 3,
        };
        let c = choose(&cols, &[noise]);
        assert!(c.gate.is_none());
        // half model (−1) and half persistence (+1) is exact
        assert_eq!(
            c.weights,
            Weights {
                model: 0.5,
                ma: 0.0
            }
        );
    }
}
