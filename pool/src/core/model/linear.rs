//! Linear models with their feature scaler:
//! `prediction = intercept + Σ coef[j] × (clip(x[j]) − mean[j]) / std[j]`.
//!
//! `mean` and `std` are the scaler's centre and scale (the trainer fits a
//! robust one: median and normal-consistent interquartile range). Missing
//! inputs (`NaN`) are replaced by the centre, i.e. they contribute
//! nothing; the feature set carries explicit presence flags so a linear
//! model can still learn what absence means. When `clip` is given, each
//! input is first held inside its bounds (the training range widened by
//! its width on each side), so one degenerate input (a queue of thousands
//! in a pool that never queued in training) cannot turn a prediction into
//! nonsense.

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
    /// Bounds `[lo, hi]` each input is clipped to before scaling (empty:
    /// no clipping; models exported before clipping existed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clip: Vec<[f64; 2]>,
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
        if !self.clip.is_empty() && self.clip.len() != n {
            return Err(format!(
                "linear model has {n} coefficients and {} clip bounds",
                self.clip.len()
            ));
        }
        if let Some(j) = self
            .clip
            .iter()
            .position(|[lo, hi]| !(lo.is_finite() && hi.is_finite() && lo <= hi))
        {
            return Err(format!(
                "feature {j}: clip bounds must be finite with lo ≤ hi"
            ));
        }
        Ok(())
    }

    /// Predicts one row (`NaN` inputs count as the training mean).
    #[inline]
    pub fn predict(&self, x: &[f64]) -> f64 {
        let mut y = self.intercept;
        let terms = x.iter().zip(&self.coef).zip(&self.mean).zip(&self.std);
        if self.clip.is_empty() {
            for (((&v, &c), &m), &s) in terms {
                if !v.is_nan() {
                    y += c * (v - m) / s;
                }
            }
        } else {
            for ((((&v, &c), &m), &s), &[lo, hi]) in terms.zip(&self.clip) {
                if !v.is_nan() {
                    y += c * (v.clamp(lo, hi) - m) / s;
                }
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
            clip: Vec::new(),
        };
        m.validate().unwrap();
        assert_eq!(m.predict(&[15.0, 3.0]), 1.0 + 2.0 - 3.0);
        assert_eq!(m.predict(&[f64::NAN, 3.0]), 1.0 - 3.0);
        let clipped = LinearModel {
            clip: vec![[0.0, 20.0], [-1.0, 1.0]],
            ..m.clone()
        };
        clipped.validate().unwrap();
        assert_eq!(clipped.predict(&[15.0, 0.5]), 1.0 + 2.0 - 0.5);
        assert_eq!(clipped.predict(&[1e9, 3.0]), 1.0 + 4.0 - 1.0);
        assert!(
            LinearModel {
                clip: vec![[1.0, 0.0], [0.0, 1.0]],
                ..m.clone()
            }
            .validate()
            .unwrap_err()
            .contains("feature 0")
        );
        let bad = LinearModel {
            std: vec![0.0, 1.0],
            ..m
        };
        assert!(bad.validate().unwrap_err().contains("feature 0"));
    }
}
