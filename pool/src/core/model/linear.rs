//! Linear models with their feature scaler:
//! `prediction = intercept + Σ coef[j] × (x[j] − mean[j]) / std[j]`.
//!
//! Missing inputs (`NaN`) are replaced by the training mean, i.e. they
//! contribute nothing; the feature set carries explicit presence flags so
//! a linear model can still learn what absence means.

use serde::{Deserialize, Serialize};

/// A standardized linear model (OLS or ridge).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearModel {
    /// Intercept in target units.
    pub intercept: f64,
    /// One coefficient per feature, on the standardized scale.
    pub coef: Vec<f64>,
    /// Training mean per feature.
    pub mean: Vec<f64>,
    /// Training standard deviation per feature (1 where it was 0).
    pub std: Vec<f64>,
}

impl LinearModel {
    /// Number of input features.
    pub fn n_features(&self) -> usize {
        self.coef.len()
    }

    /// Checks lengths agree and every number is finite with `std > 0`.
    ///
    /// # Errors
    /// A message naming the first bad entry.
    pub fn validate(&self) -> Result<(), String> {
        let n = self.coef.len();
        if self.mean.len() != n || self.std.len() != n {
            return Err(format!(
                "linear model has {n} coefficients, {} means and {} standard deviations",
                self.mean.len(),
                self.std.len()
            ));
        }
        if !self.intercept.is_finite() {
            return Err("intercept is not finite".into());
        }
        for j in 0..n {
            if !self.coef[j].is_finite() || !self.mean[j].is_finite() {
                return Err(format!("feature {j}: coefficient or mean is not finite"));
            }
            if !(self.std[j].is_finite() && self.std[j] > 0.0) {
                return Err(format!("feature {j}: standard deviation must be > 0"));
            }
        }
        Ok(())
    }

    /// Predicts one row (`NaN` inputs count as the training mean).
    #[inline]
    pub fn predict(&self, x: &[f64]) -> f64 {
        let mut y = self.intercept;
        for (((&v, &c), &m), &s) in x.iter().zip(&self.coef).zip(&self.mean).zip(&self.std) {
            if !v.is_nan() {
                y += c * (v - m) / s;
            }
        }
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicts_on_the_standardized_scale_and_ignores_missing() {
        let m = LinearModel {
            intercept: 1.0,
            coef: vec![2.0, -1.0],
            mean: vec![10.0, 0.0],
            std: vec![5.0, 1.0],
        };
        m.validate().unwrap();
        assert_eq!(m.predict(&[15.0, 3.0]), 1.0 + 2.0 - 3.0);
        assert_eq!(m.predict(&[f64::NAN, 3.0]), 1.0 - 3.0);
        let bad = LinearModel {
            std: vec![0.0, 1.0],
            ..m
        };
        assert!(bad.validate().unwrap_err().contains("feature 0"));
    }
}
