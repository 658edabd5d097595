//! Which inputs a model may learn from, given the rows it trains on.
//!
//! Two kinds of feature tell time rather than traffic, and a model that
//! learns from them on rows that do not support it memorizes *when*
//! things happened and extrapolates:
//!
//! - **A run's age** (`history_len`). In a split in time every test row is
//!   older than every training row of its run, and a pool in production
//!   grows older than any training run, so the model only ever sees it
//!   beyond its training range.
//! - **Calendar features whose cycle the training rows do not cover.** On
//!   an hour-long run, `time_sec_of_day` is a clock: a tree learns "an
//!   outage at 900 s, a slow period at 1,800 s" and forecasts the test
//!   rows (all later) as the last regime it saw. Once the training rows
//!   cover every part of the cycle (a day for the time of day, a week for
//!   the day of the week, an hour for the minute), the feature describes
//!   a season the model has seen and is kept.
//!
//! A held-out input is held constant (0) in the matrices a learner fits
//! on, so no tree can split on it and a linear model's coefficient and
//! clip range for it are 0; the fitted model then ignores the live value,
//! and the artifact keeps the full input list the runtime computes.

use serde::Serialize;

use crate::dataset::FeatureDataset;

/// Parts of a cycle that must each hold a training row for the cycle to
/// count as covered.
const CYCLE_PARTS: u64 = 24;

/// The calendar cycles, in seconds.
const HOUR: u64 = 3_600;
const DAY: u64 = 86_400;
const WEEK: u64 = 604_800;

/// The calendar features with a cycle, and the cycle.
const CYCLES: [(&str, u64); 10] = [
    ("time_minute_of_hour", HOUR),
    ("time_hour_of_day", DAY),
    ("time_sec_of_day", DAY),
    ("time_day_sin", DAY),
    ("time_day_cos", DAY),
    ("time_day_of_week", WEEK),
    ("time_sec_of_week", WEEK),
    ("time_week_sin", WEEK),
    ("time_week_cos", WEEK),
    ("time_is_weekend", WEEK),
];

/// The feature that counts a run's snapshots.
const RUN_AGE: &str = "history_len";

/// The column the cycles' phases are read from.
const WEEK_CLOCK: &str = "time_sec_of_week";

/// Why an input is held out of training.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldOut {
    /// It counts the run's age.
    RunAge,
    /// The training rows cover less than one whole cycle (seconds).
    Uncovered(u64),
}

impl HeldOut {
    /// The reason in words.
    pub fn describe(self) -> String {
        match self {
            HeldOut::RunAge => {
                "the run's age: later rows are always older than any training row".into()
            }
            HeldOut::Uncovered(s) => format!(
                "the training rows cover less than a whole {}",
                cycle_name(s)
            ),
        }
    }
}

fn cycle_name(seconds: u64) -> &'static str {
    match seconds {
        HOUR => "hour",
        DAY => "day",
        _ => "week",
    }
}

/// Per input of `ds` (in column order): `None` if a model may learn from
/// it on `rows`, else why not.
pub fn held_out(ds: &FeatureDataset, rows: &[usize]) -> Vec<Option<HeldOut>> {
    let clock = ds
        .table
        .column_index(WEEK_CLOCK)
        .map(|i| &ds.table.columns[i]);
    let covered = |cycle: u64| -> bool {
        let Some(clock) = clock else { return false };
        let part = cycle / CYCLE_PARTS;
        let mut seen = [false; CYCLE_PARTS as usize];
        for &r in rows {
            let t = clock[r];
            if t.is_finite() && t >= 0.0 {
                // whole seconds suffice to place a row in a part of a cycle
                let phase = (t as u64) % cycle;
                seen[((phase / part) as usize).min(seen.len() - 1)] = true;
            }
        }
        seen.iter().all(|&s| s)
    };
    let covered = [HOUR, DAY, WEEK].map(|c| (c, covered(c)));
    ds.spec
        .names()
        .iter()
        .map(|name| {
            if *name == RUN_AGE {
                return Some(HeldOut::RunAge);
            }
            let (_, cycle) = CYCLES.iter().find(|(n, _)| n == name)?;
            let ok = covered.iter().any(|&(c, ok)| c == *cycle && ok);
            (!ok).then_some(HeldOut::Uncovered(*cycle))
        })
        .collect()
}

/// An input held out of training, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeldOutInput {
    /// The feature's name.
    pub name: String,
    /// Why, in words.
    pub reason: String,
}

/// The inputs held out of training on `rows`, in column order.
pub fn held_out_inputs(ds: &FeatureDataset, rows: &[usize]) -> Vec<HeldOutInput> {
    ds.spec
        .names()
        .iter()
        .zip(held_out(ds, rows))
        .filter_map(|(name, why)| {
            why.map(|w| HeldOutInput {
                name: (*name).to_string(),
                reason: w.describe(),
            })
        })
        .collect()
}

/// Whether a model may learn from each input on `rows` (the negation of
/// [`held_out`]).
pub fn usable(ds: &FeatureDataset, rows: &[usize]) -> Vec<bool> {
    held_out(ds, rows).iter().map(Option::is_none).collect()
}
