//! Forecast accuracy, always beside the naive baselines.
//!
//! The headline is `accuracy = 1 − WAPE` with `WAPE = Σ|y − ŷ| / Σ|y|`.
//! Skill is `1 − MAE(model) / MAE(baseline)` on the rows where the
//! baseline is defined: positive means better than the baseline.

use serde::Serialize;

/// Scores of one prediction vector.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Metrics {
    /// Rows scored.
    pub n: usize,
    /// 1 − WAPE.
    pub accuracy: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// Root mean squared error.
    pub rmse: f64,
    /// Mean absolute percentage error over rows with `y > 0` (`None` if none).
    pub mape: Option<f64>,
    /// Coefficient of determination.
    pub r2: f64,
    /// Mean of `ŷ − y` (positive: over-forecasts).
    pub bias: f64,
    /// Share of rows with `|ŷ − y| ≤ 10% · |y|`.
    pub within_10pct: f64,
    /// Skill against persistence.
    pub skill_vs_persistence: Option<f64>,
    /// Skill against seasonal naive (rows where it is defined).
    pub skill_vs_seasonal: Option<f64>,
    /// Rows where seasonal naive is defined.
    pub seasonal_rows: usize,
}

fn mae(y: &[f64], p: &[f64], rows: impl Iterator<Item = usize> + Clone) -> Option<f64> {
    let n = rows.clone().count();
    (n > 0).then(|| rows.map(|i| (y[i] - p[i]).abs()).sum::<f64>() / n as f64)
}

/// Scores `pred` against `y`; `persistence` and `seasonal` are the baseline
/// predictions for the same rows (`NaN` where undefined).
pub fn score(y: &[f64], pred: &[f64], persistence: &[f64], seasonal: &[f64]) -> Metrics {
    let n = y.len();
    if n == 0 {
        return Metrics::default();
    }
    let (mut abs, mut sq, mut tot, mut bias, mut within) = (0.0, 0.0, 0.0, 0.0, 0usize);
    let (mut ape, mut ape_n) = (0.0, 0usize);
    let mean = y.iter().sum::<f64>() / n as f64;
    let mut ss_tot = 0.0;
    for i in 0..n {
        let e = pred[i] - y[i];
        abs += e.abs();
        sq += e * e;
        tot += y[i].abs();
        bias += e;
        ss_tot += (y[i] - mean).powi(2);
        if e.abs() <= 0.1 * y[i].abs() {
            within += 1;
        }
        if y[i] > 0.0 {
            ape += e.abs() / y[i];
            ape_n += 1;
        }
    }
    let all = 0..n;
    let m = abs / n as f64;
    let skill_p = mae(
        y,
        persistence,
        all.clone().filter(|&i| !persistence[i].is_nan()),
    )
    .filter(|b| *b > 0.0)
    .and_then(|b| {
        mae(y, pred, all.clone().filter(|&i| !persistence[i].is_nan())).map(|a| 1.0 - a / b)
    });
    let seasonal_ok = all.clone().filter(|&i| !seasonal[i].is_nan());
    let skill_s = mae(y, seasonal, seasonal_ok.clone())
        .filter(|b| *b > 0.0)
        .and_then(|b| mae(y, pred, seasonal_ok.clone()).map(|a| 1.0 - a / b));
    Metrics {
        n,
        accuracy: if tot > 0.0 { 1.0 - abs / tot } else { f64::NAN },
        mae: m,
        rmse: (sq / n as f64).sqrt(),
        mape: (ape_n > 0).then(|| ape / ape_n as f64),
        r2: if ss_tot > 0.0 {
            1.0 - sq / ss_tot
        } else {
            f64::NAN
        },
        bias: bias / n as f64,
        within_10pct: within as f64 / n as f64,
        skill_vs_persistence: skill_p,
        skill_vs_seasonal: skill_s,
        seasonal_rows: seasonal_ok.count(),
    }
}

/// The `q` quantile (linear interpolation) of `v`, which it sorts.
pub fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_and_baseline_forecasts_score_as_expected() {
        let y = [10.0, 20.0, 30.0, 40.0];
        let persist = [8.0, 10.0, 20.0, 30.0];
        let seasonal = [f64::NAN, 19.0, 33.0, f64::NAN];
        let m = score(&y, &y, &persist, &seasonal);
        assert_eq!(m.accuracy, 1.0);
        assert_eq!(m.r2, 1.0);
        assert_eq!(m.skill_vs_persistence, Some(1.0));
        assert_eq!(m.skill_vs_seasonal, Some(1.0));
        assert_eq!(m.seasonal_rows, 2);
        let m = score(&y, &persist, &persist, &seasonal);
        assert_eq!(m.skill_vs_persistence, Some(0.0));
        assert_eq!(m.accuracy, 1.0 - 32.0 / 100.0);
        assert_eq!(m.bias, -8.0);
        assert_eq!(m.within_10pct, 0.0);
        assert!(m.r2 < 1.0);
    }

    #[test]
    fn quantiles_interpolate() {
        let mut v = vec![3.0, 1.0, 2.0, 4.0];
        assert_eq!(quantile(&mut v, 0.5), 2.5);
        assert_eq!(quantile(&mut v, 0.0), 1.0);
        assert_eq!(quantile(&mut v, 1.0), 4.0);
    }
}
