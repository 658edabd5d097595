//! Walk-forward splits in time, with a gap, rolling-origin folds, and an
//! optional scenario hold-out.
//!
//! Inside every run the rows are cut in time order into train, validation
//! and test, with `gap` rows dropped at each cut (the gap is the horizon,
//! so no training target overlaps a validation or test interval). Runs
//! named in `holdout_scenarios` go to the test set whole, and the other
//! runs are cut into train and validation only. Rows with a missing target
//! are in no set.
//!
//! Model selection does not rest on the one validation block: `folds`
//! walk the origin forward. Fold `k` of `K` validates on the block of
//! validation length that ends `K − 1 − k` blocks before the validation
//! set's end and trains on every row of the run up to `gap` rows before
//! that block (an expanding window). The last fold is the train and
//! validation sets themselves. A fold whose training part would be shorter
//! than its validation block is left out in that run.

use serde::{Deserialize, Serialize};

use crate::error::ModelError;

/// How rows are split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SplitConfig {
    /// Share of each run's rows for training (default 0.6).
    pub train: f64,
    /// Share for validation (default 0.2); the rest (minus gaps) is test.
    pub valid: f64,
    /// Scenarios whose runs are test data only.
    pub holdout_scenarios: Vec<String>,
    /// Rolling-origin folds for model selection (default 3; 1 is the
    /// validation set alone).
    pub folds: usize,
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig {
            train: 0.6,
            valid: 0.2,
            holdout_scenarios: Vec::new(),
            folds: 3,
        }
    }
}

/// Row indices of each set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Split {
    /// Training rows.
    pub train: Vec<usize>,
    /// Validation rows (model selection, early stopping, calibration).
    pub valid: Vec<usize>,
    /// Test rows, scored once.
    pub test: Vec<usize>,
    /// Rolling-origin folds, oldest origin first; the last is
    /// `(train, valid)`.
    pub folds: Vec<Fold>,
}

/// One walk-forward fold: train on `train`, score on `valid`, which lies
/// after it in time (with the gap between).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fold {
    /// Training rows.
    pub train: Vec<usize>,
    /// Validation rows.
    pub valid: Vec<usize>,
}

impl SplitConfig {
    /// Checks the shares.
    ///
    /// # Errors
    /// Names the field.
    pub fn validate(&self) -> Result<(), ModelError> {
        let ok = |v: f64| v.is_finite() && v > 0.0 && v < 1.0;
        if !ok(self.train) {
            return Err(ModelError::Input(
                "split.train: expected a share in (0, 1)".into(),
            ));
        }
        if !ok(self.valid) || self.train + self.valid >= 1.0 && self.holdout_scenarios.is_empty() {
            return Err(ModelError::Input(
                "split.valid: expected a share in (0, 1) with train + valid < 1 (the rest is test)"
                    .into(),
            ));
        }
        if self.folds == 0 || self.folds > 20 {
            return Err(ModelError::Input(
                "split.folds: expected 1 to 20 rolling-origin folds".into(),
            ));
        }
        Ok(())
    }

    /// Splits rows keyed by run (`run_of[i]`, rows of a run contiguous and in
    /// time order) whose target is defined where `has_target[i]`.
    ///
    /// # Errors
    /// A set comes out empty (too little data for the shares and gap).
    pub fn split(
        &self,
        scenario_of: &[String],
        run_of: &[(String, u32)],
        has_target: &[bool],
        gap: usize,
    ) -> Result<Split, ModelError> {
        self.validate()?;
        let mut s = Split {
            folds: vec![Fold::default(); self.folds],
            ..Split::default()
        };
        let mut start = 0;
        while start < run_of.len() {
            let mut end = start;
            while end < run_of.len() && run_of[end] == run_of[start] {
                end += 1;
            }
            let rows: Vec<usize> = (start..end).filter(|&i| has_target[i]).collect();
            let n = rows.len();
            if self.holdout_scenarios.contains(&scenario_of[start]) {
                s.test.extend(rows);
            } else if self.holdout_scenarios.is_empty() {
                let a = (n as f64 * self.train) as usize;
                let b = a + gap + (n as f64 * self.valid) as usize;
                s.train.extend(rows.iter().take(a));
                s.valid
                    .extend(rows.iter().skip(a + gap).take(b.saturating_sub(a + gap)));
                s.test.extend(rows.iter().skip(b + gap));
                self.add_folds(&mut s.folds, &rows, a, b.min(n), gap);
            } else {
                let share = self.train / (self.train + self.valid);
                let a = (n as f64 * share) as usize;
                s.train.extend(rows.iter().take(a));
                s.valid.extend(rows.iter().skip(a + gap));
                self.add_folds(&mut s.folds, &rows, a, n, gap);
            }
            start = end;
        }
        s.folds
            .retain(|f| !f.train.is_empty() && !f.valid.is_empty());
        for (name, set) in [("train", &s.train), ("valid", &s.valid), ("test", &s.test)] {
            if set.is_empty() {
                return Err(ModelError::Input(format!(
                    "the {name} set is empty: too few rows for the split shares and a gap of {gap} intervals \
                     (simulate longer runs, or name a hold-out scenario that exists)"
                )));
            }
        }
        Ok(s)
    }

    /// Adds one run's part of every fold: its validation rows are
    /// `rows[a + gap..end]`, so each fold's block has that length and the
    /// training part ends `gap` rows before the block.
    fn add_folds(&self, folds: &mut [Fold], rows: &[usize], a: usize, end: usize, gap: usize) {
        let v = end.saturating_sub(a + gap);
        if v == 0 {
            return;
        }
        let k_max = folds.len() - 1;
        for (k, fold) in folds.iter_mut().enumerate() {
            let shift = (k_max - k) * v;
            let Some(train_end) = a.checked_sub(shift) else {
                continue;
            };
            if k < k_max && train_end < v {
                continue;
            }
            let start = train_end + gap;
            fold.train.extend(&rows[..train_end]);
            fold.valid.extend(&rows[start..start + v]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_each_run_in_time_with_gaps_and_no_overlap() {
        let runs: Vec<(String, u32)> = (0..200)
            .map(|i| ("a".to_string(), (i / 100) as u32))
            .collect();
        let sc: Vec<String> = runs.iter().map(|r| r.0.clone()).collect();
        let has = vec![true; 200];
        let s = SplitConfig::default().split(&sc, &runs, &has, 5).unwrap();
        assert_eq!(s.train.len(), 120);
        assert_eq!(s.valid.len(), 40);
        assert_eq!(s.test.len(), 2 * (100 - 60 - 5 - 20 - 5));
        // within run 0: train < valid < test with gaps of 5
        assert_eq!(s.train[59], 59);
        assert_eq!(s.valid[0], 65);
        assert_eq!(s.test[0], 90);
        // three folds: validation blocks of 20 ending at 85, 65 and 45
        assert_eq!(s.folds.len(), 3);
        assert_eq!(s.folds[2].train, s.train);
        assert_eq!(s.folds[2].valid, s.valid);
        assert_eq!(s.folds[1].train.len(), 2 * 40);
        assert_eq!(s.folds[1].valid[0], 45);
        assert_eq!(s.folds[0].train.len(), 2 * 20);
        assert_eq!(s.folds[0].valid[..2], [25, 26]);
        for f in &s.folds {
            // every validation row lies at least the gap after the run's
            // last training row
            for &v in &f.valid {
                let run = v / 100;
                let last = f.train.iter().filter(|&&t| t / 100 == run).max().unwrap();
                assert!(v >= last + 1 + 5, "{v} after {last}");
            }
        }
    }

    #[test]
    fn a_fold_whose_training_part_is_too_short_is_left_out() {
        let runs: Vec<(String, u32)> = (0..100).map(|_| ("a".to_string(), 0)).collect();
        let sc: Vec<String> = runs.iter().map(|r| r.0.clone()).collect();
        let cfg = SplitConfig {
            folds: 5,
            ..Default::default()
        };
        let s = cfg.split(&sc, &runs, &[true; 100], 5).unwrap();
        // train 60, blocks of 20: origins at 60, 40, 20 (0 and −20 left out)
        assert_eq!(s.folds.len(), 3);
        assert_eq!(s.folds[0].train.len(), 20);
        let e = SplitConfig {
            folds: 0,
            ..Default::default()
        }
        .split(&sc, &runs, &[true; 100], 5)
        .unwrap_err();
        assert!(e.to_string().contains("split.folds"), "{e}");
    }

    #[test]
    fn holdout_scenarios_are_test_only() {
        let runs: Vec<(String, u32)> = (0..100)
            .map(|i| (if i < 50 { "a" } else { "b" }.to_string(), 0))
            .collect();
        let sc: Vec<String> = runs.iter().map(|r| r.0.clone()).collect();
        let cfg = SplitConfig {
            holdout_scenarios: vec!["b".into()],
            ..Default::default()
        };
        let s = cfg.split(&sc, &runs, &[true; 100], 2).unwrap();
        assert!(s.test.iter().all(|&i| i >= 50) && s.test.len() == 50);
        assert!(s.train.iter().chain(&s.valid).all(|&i| i < 50));
        let e = SplitConfig::default()
            .split(&sc[..5], &runs[..5], &[true; 5], 10)
            .unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
    }
}
