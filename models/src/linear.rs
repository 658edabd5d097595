//! Linear forecasters on standardized features: OLS through linfa-linear,
//! ridge through the Gram matrix and a Cholesky solve from linfa-linalg.
//!
//! Missing values (`NaN`) are imputed with the training mean, i.e. 0 on the
//! standardized scale, which is what the runtime's
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

/// Per-column mean and standard deviation over the finite values.
fn scaler(x: &ArrayView2<f64>) -> (Vec<f64>, Vec<f64>) {
    let p = x.ncols();
    let (mut mean, mut std) = (vec![0.0; p], vec![1.0; p]);
    for j in 0..p {
        let col = x.column(j);
        let (mut s, mut n) = (0.0, 0usize);
        for &v in col {
            if v.is_finite() {
                s += v;
                n += 1;
            }
        }
        if n == 0 {
            continue;
        }
        let m = s / n as f64;
        let var = col
            .iter()
            .filter(|v| v.is_finite())
            .map(|v| (v - m).powi(2))
            .sum::<f64>()
            / n as f64;
        mean[j] = m;
        std[j] = if var > 1e-24 { var.sqrt() } else { 1.0 };
    }
    (mean, std)
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

/// Prepared training data: the standardized matrix and centered target.
pub struct LinearData {
    mean: Vec<f64>,
    std: Vec<f64>,
    y_mean: f64,
    z: Array2<f64>,
    yc: Array1<f64>,
    gram: Option<(Array2<f64>, Array1<f64>)>,
}

impl LinearData {
    /// Standardizes `x` and centers `y`.
    pub fn new(x: &ArrayView2<f64>, y: &[f64]) -> Self {
        let (mean, std) = scaler(x);
        let z = standardize(x, &mean, &std);
        let y_mean = y.iter().sum::<f64>() / y.len().max(1) as f64;
        let yc = y.iter().map(|v| v - y_mean).collect();
        LinearData {
            mean,
            std,
            y_mean,
            z,
            yc,
            gram: None,
        }
    }

    fn model(&self, coef: Vec<f64>) -> LinearModel {
        LinearModel {
            intercept: self.y_mean,
            coef,
            mean: self.mean.clone(),
            std: self.std.clone(),
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
        let strong = d.ridge(100.0).unwrap();
        assert!(
            strong.coef.iter().map(|c| c.abs()).sum::<f64>()
                < ols.coef.iter().map(|c| c.abs()).sum::<f64>()
        );
    }
}
