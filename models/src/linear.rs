//! Linear forecasters on standardized features: OLS through linfa-linear,
//! ridge through the Gram matrix and a Cholesky solve from linfa-linalg.
//!
//! Features are scaled robustly (median, interquartile range) and the
//! model clips each input to its training range widened by its width (see
//! [`column_scale`]). Missing values (`NaN`) are imputed with the centre,
//! i.e. 0 on the scaled axis, which is what the runtime's
//! [`LinearModel::predict`] does. Ridge is solved from `ZᵀZ` (one
//! matrix product, shared by every penalty of the grid) rather than by
//! refitting a QR per penalty: the grid costs one pass over the data.

use linfa::Dataset;
use linfa::traits::Fit;
use linfa_linalg::cholesky::SolveC;
use linfa_linear::LinearRegression;
use ndarray::{Array1, Array2, ArrayView2, Axis};
use poolcast::core::model::LinearModel;

use crate::error::ModelError;
use crate::metrics::quantile;

/// Interquartile range of a standard normal: IQR / 1.349 estimates σ.
const IQR_PER_SIGMA: f64 = 1.348_979_500_392_163_3;

/// The scaler of one column: centre, scale and clip bounds.
struct ColumnScale {
    centre: f64,
    scale: f64,
    clip: [f64; 2],
}

/// A robust scaler of the finite values of one column: centre the median,
/// scale the normal-consistent interquartile range (the standard deviation
/// where the IQR is 0, as in a mostly-zero count; 1 if that is 0 too), so
/// a few extreme rows (one run's queue of thousands) do not set the scale
/// of everything else. Clip bounds are the range widened by its width on
/// each side: inside them the model may extrapolate, beyond them it is
/// held.
fn column_scale(col: impl Iterator<Item = f64>) -> ColumnScale {
    let mut v: Vec<f64> = col.filter(|v| v.is_finite()).collect();
    if v.is_empty() {
        return ColumnScale {
            centre: 0.0,
            scale: 1.0,
            clip: [0.0, 0.0],
        };
    }
    let centre = quantile(&mut v, 0.5);
    let iqr = quantile(&mut v, 0.75) - quantile(&mut v, 0.25);
    let (lo, hi) = (v[0], v[v.len() - 1]);
    let scale = if iqr > 1e-12 {
        iqr / IQR_PER_SIGMA
    } else {
        let m = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64;
        if var > 1e-24 { var.sqrt() } else { 1.0 }
    };
    let w = hi - lo;
    ColumnScale {
        centre,
        scale,
        clip: [lo - w, hi + w],
    }
}

/// Per-column centre, scale and clip bounds.
fn scaler(x: &ArrayView2<f64>) -> (Vec<f64>, Vec<f64>, Vec<[f64; 2]>) {
    let cols: Vec<ColumnScale> = x
        .axis_iter(Axis(1))
        .map(|c| column_scale(c.iter().copied()))
        .collect();
    (
        cols.iter().map(|c| c.centre).collect(),
        cols.iter().map(|c| c.scale).collect(),
        cols.iter().map(|c| c.clip).collect(),
    )
}

fn standardize(x: &ArrayView2<f64>, mean: &[f64], std: &[f64]) -> Array2<f64> {
    let mut z = x.to_owned();
    for (j, mut col) in z.axis_iter_mut(Axis(1)).enumerate() {
        for v in col.iter_mut() {
            *v = if v.is_finite() {
                (*v - mean[j]) / std[j]
            } else {
                0.0
            };
        }
    }
    z
}

/// Prepared training data: the scaled matrix, centred on its column means
/// for the fit (the robust centre is the median, so the intercept is
/// recovered from those means), and the centred target.
pub struct LinearData {
    mean: Vec<f64>,
    std: Vec<f64>,
    clip: Vec<[f64; 2]>,
    y_mean: f64,
    /// Column means of the scaled matrix (subtracted from `z`).
    z_mean: Vec<f64>,
    z: Array2<f64>,
    yc: Array1<f64>,
    gram: Option<(Array2<f64>, Array1<f64>)>,
}

impl LinearData {
    /// Standardizes `x` and centers `y`.
    pub fn new(x: &ArrayView2<f64>, y: &[f64]) -> Self {
        let (mean, std, clip) = scaler(x);
        let mut z = standardize(x, &mean, &std);
        let z_mean: Vec<f64> = z
            .mean_axis(Axis(0))
            .map_or_else(|| vec![0.0; z.ncols()], |m| m.to_vec());
        for (mut col, m) in z.axis_iter_mut(Axis(1)).zip(&z_mean) {
            col.mapv_inplace(|v| v - m);
        }
        let y_mean = y.iter().sum::<f64>() / y.len().max(1) as f64;
        let yc = y.iter().map(|v| v - y_mean).collect();
        LinearData {
            mean,
            std,
            clip,
            y_mean,
            z_mean,
            z,
            yc,
            gram: None,
        }
    }

    fn model(&self, coef: Vec<f64>) -> LinearModel {
        let shift: f64 = coef.iter().zip(&self.z_mean).map(|(c, m)| c * m).sum();
        LinearModel {
            intercept: self.y_mean - shift,
            coef,
            mean: self.mean.clone(),
            std: self.std.clone(),
            clip: self.clip.clone(),
        }
    }

    /// Ordinary least squares (linfa-linear, QR). Constant columns get a
    /// zero coefficient.
    ///
    /// # Errors
    /// The solver fails or returns non-finite coefficients (collinear
    /// features); the caller reports OLS as failed.
    pub fn ols(&self) -> Result<LinearModel, ModelError> {
        let keep: Vec<usize> = (0..self.z.ncols())
            .filter(|&j| self.z.column(j).iter().any(|v| *v != 0.0))
            .collect();
        let zk = self.z.select(Axis(1), &keep);
        let fit = LinearRegression::new()
            .with_intercept(false)
            .fit(&Dataset::new(zk, self.yc.clone()))
            .map_err(|e| ModelError::Train {
                model: "ols".into(),
                message: e.to_string(),
            })?;
        let mut coef = vec![0.0; self.z.ncols()];
        for (k, &j) in keep.iter().enumerate() {
            coef[j] = fit.params()[k];
        }
        if coef.iter().any(|c| !c.is_finite()) {
            return Err(ModelError::Train {
                model: "ols".into(),
                message: "non-finite coefficients (collinear features)".into(),
            });
        }
        Ok(self.model(coef))
    }

    /// Ridge with penalty `alpha · n` on the standardized scale.
    ///
    /// # Errors
    /// The Cholesky solve fails (cannot for `alpha > 0` on finite data).
    pub fn ridge(&mut self, alpha: f64) -> Result<LinearModel, ModelError> {
        let (g, b) = self
            .gram
            .get_or_insert_with(|| (self.z.t().dot(&self.z), self.z.t().dot(&self.yc)));
        let n = self.z.nrows() as f64;
        let mut a = g.clone();
        for j in 0..a.nrows() {
            a[[j, j]] += alpha * n;
        }
        let rhs = b.clone().insert_axis(Axis(1));
        let sol = a.solvec(&rhs).map_err(|e| ModelError::Train {
            model: format!("ridge({alpha})"),
            message: e.to_string(),
        })?;
        Ok(self.model(sol.column(0).to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ols_and_ridge_recover_a_linear_function() {
        let n = 400;
        let x = Array2::from_shape_fn((n, 3), |(i, j)| {
            ((i * (j + 3) * 7919) % 1000) as f64 / 100.0
        });
        let y: Vec<f64> = x
            .rows()
            .into_iter()
            .map(|r| 5.0 + 2.0 * r[0] - 0.5 * r[1])
            .collect();
        let mut d = LinearData::new(&x.view(), &y);
        let ols = d.ols().unwrap();
        let ridge = d.ridge(1e-6).unwrap();
        for (i, r) in x.rows().into_iter().enumerate().take(20) {
            let row = r.to_vec();
            assert!((ols.predict(&row) - y[i]).abs() < 1e-8);
            assert!((ridge.predict(&row) - y[i]).abs() < 1e-3);
        }
        // an input far outside the training range is held at the clip
        // bound (the range widened by its width), not extrapolated
        let far = ridge.predict(&[1e9, 0.0, 0.0]);
        let hi = ridge.clip[0][1];
        assert!(hi > 9.0 && hi < 30.0, "{hi}");
        assert_eq!(far, ridge.predict(&[hi, 0.0, 0.0]));
        assert!(far.abs() < 100.0, "{far}");
        let strong = d.ridge(100.0).unwrap();
        assert!(
            strong.coef.iter().map(|c| c.abs()).sum::<f64>()
                < ols.coef.iter().map(|c| c.abs()).sum::<f64>()
        );
    }
}
