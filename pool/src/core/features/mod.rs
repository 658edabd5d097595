//! The feature definition: one streaming extractor over [`Snapshot`]s that
//! the runtime pool calls online and the offline pipeline calls over
//! telemetry Parquet, so training and serving cannot disagree.
//!
//! Push one snapshot, get the feature vector for "now" (the end of that
//! snapshot's interval):
//!
//! ```
//! use poolcast::core::features::{FeatureConfig, FeatureSpec};
//! use poolcast::core::Snapshot;
//!
//! let spec = FeatureSpec::new(FeatureConfig::default(), 60_000_000_000).unwrap();
//! assert!(spec.len() >= 120);
//! let mut fx = spec.extractor(0); // sim time 0 is Monday 00:00
//! let mut row = vec![0.0; spec.len()];
//! fx.push(&Snapshot { t_ns: 60_000_000_000, interval_ns: 60_000_000_000, ..Snapshot::default() }, &mut row);
//! assert_eq!(row[spec.index("time_minute_of_hour").unwrap()], 1.0);
//! ```
//!
//! Families, in output order (see `poolcast features --list`):
//! - **time** — hour, minute, weekday, seconds in day/week, their sin/cos,
//!   weekend flag, interval length;
//! - **pool**, **traffic**, **errors**, **system** — every field of the
//!   newest snapshot, plus ratios (utilization, class shares, error rate);
//!   optional telemetry is `NaN` with a `*_present` flag, never a silent 0;
//! - **history** — for the rolled signals (`demand_mean`, `arrivals_total`,
//!   `pool_waiting_mean`, `demand_max`, `errors_total`): lags, first
//!   differences, rolling mean/std/min/max/slope per window, EWMAs; for
//!   `demand_mean`, seasonal values (the same time one season ago, and
//!   `k` intervals after it); the run length so far.
//!
//! History never crosses a run: the offline pipeline builds one extractor
//! per run, and [`FeatureExtractor::reset`] forgets everything. Values a
//! short history cannot give yet (a lag beyond the start, a std of one
//! value) are `NaN`.

mod raw;
mod window;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use self::raw::{Getter, RawFeature, raw_features};
use self::window::{Ring, SignalHistory, WINDOW_STATS};
use super::config_error::{ConfigError, join};
use super::{NANOS_PER_SEC, Nanos, Snapshot};

/// Bumped whenever a feature's computation changes without its name or
/// definition text changing; it is part of [`FeatureSpec::hash`].
pub const FEATURE_DEFINITION_VERSION: u32 = 1;

const DAY_S: u64 = 86_400;
const WEEK_S: u64 = 7 * DAY_S;

/// The tunable part of the definition (all in intervals unless named `_s`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeatureConfig {
    /// Rolling windows, in intervals (default 30, 60, 120).
    pub windows: Vec<u32>,
    /// Lags, in intervals (default 1, 2, 3, 5, 10).
    pub lags: Vec<u32>,
    /// EWMA spans, in intervals: `alpha = 2 / (span + 1)` (default 5, 20, 60).
    pub ewma_spans: Vec<u32>,
    /// Seasons for the seasonal values of `demand_mean`, in seconds
    /// (default one day and one week). Each must be a multiple of the
    /// interval.
    pub seasons_s: Vec<u64>,
    /// Offsets after "the same time one season ago", in intervals
    /// (default 0, 5, 15, 30, 60: the default horizons).
    pub season_ahead: Vec<u32>,
    /// Scale-free features of `demand_mean` and `arrivals_total` (default
    /// on): the distance from each rolling mean and each rolling slope,
    /// relative to the mean. They read the same at any level, so a model
    /// that learned from them still applies when the load grows past
    /// anything in training. Not serialized when off, so artifacts from
    /// before they existed keep their definition hash.
    #[serde(skip_serializing_if = "is_false")]
    pub scale_free: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Signals (the first of [`ROLLED`]) with scale-free features.
const SCALE_FREE: usize = 2;

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig {
            windows: vec![30, 60, 120],
            lags: vec![1, 2, 3, 5, 10],
            ewma_spans: vec![5, 20, 60],
            seasons_s: vec![DAY_S, WEEK_S],
            season_ahead: vec![0, 5, 15, 30, 60],
            scale_free: true,
        }
    }
}

/// The most history one extractor keeps for a season (2^21 intervals, 16 MB).
const MAX_SEASON_INTERVALS: u64 = 1 << 21;

impl FeatureConfig {
    fn check(&self, interval_ns: Nanos) -> Result<Vec<usize>, ConfigError> {
        let err =
            |field: &str, message: String| Err(ConfigError::new(join("features", field), message));
        if interval_ns == 0 {
            return err("interval", "the interval must be > 0".into());
        }
        for (field, list, lo, hi) in [
            ("windows", &self.windows, 2, 100_000),
            ("lags", &self.lags, 1, 100_000),
            ("ewma_spans", &self.ewma_spans, 1, 100_000),
            ("season_ahead", &self.season_ahead, 0, 100_000),
        ] {
            if let Some(v) = list.iter().find(|&&v| v < lo || v > hi) {
                return err(field, format!("{v} is outside [{lo}, {hi}]"));
            }
            let mut sorted = list.clone();
            sorted.sort_unstable();
            sorted.dedup();
            if sorted.len() != list.len() {
                return err(field, "values must be distinct".into());
            }
        }
        let mut lens = Vec::new();
        for &s in &self.seasons_s {
            let ns = u128::from(s) * u128::from(NANOS_PER_SEC);
            if s == 0 || ns % u128::from(interval_ns) != 0 {
                return err(
                    "seasons_s",
                    format!(
                        "season {s} s is not a positive multiple of the {interval_ns} ns interval"
                    ),
                );
            }
            let n = (ns / u128::from(interval_ns)) as u64;
            if n > MAX_SEASON_INTERVALS {
                return err(
                    "seasons_s",
                    format!(
                        "season {s} s spans {n} intervals; at most {MAX_SEASON_INTERVALS} are kept"
                    ),
                );
            }
            let ahead = self.season_ahead.iter().copied().max().unwrap_or(0);
            if u64::from(ahead) >= n {
                return err(
                    "season_ahead",
                    format!("offset {ahead} reaches past season {s} s ({n} intervals)"),
                );
            }
            lens.push(n as usize);
        }
        Ok(lens)
    }
}

/// One feature's name and meaning.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeatureDef {
    /// Stable column name.
    pub name: String,
    /// Family: time, pool, traffic, errors, system or history.
    pub family: &'static str,
    /// What the value is.
    pub definition: String,
}

/// The signals with a history, in output order.
const ROLLED: [(&str, &str); 5] = [
    ("demand_mean", "demand_mean"),
    ("arrivals_total", "arrivals_total"),
    ("pool_waiting_mean", "pool_waiting_mean"),
    ("demand_max", "demand_max"),
    ("errors_total", "errors_total"),
];

/// The signals that get lags and a first difference (the first ROLLED ones).
const LAGGED: usize = 3;

const TIME: [(&str, &str); 11] = [
    ("time_hour_of_day", "hour of day in [0, 24), fractional"),
    (
        "time_minute_of_hour",
        "minute of hour in [0, 60), fractional",
    ),
    ("time_day_of_week", "day of week, 0 = Monday … 6 = Sunday"),
    ("time_sec_of_day", "seconds since midnight"),
    ("time_sec_of_week", "seconds since Monday 00:00"),
    ("time_day_sin", "sin(2π · sec_of_day / 86400)"),
    ("time_day_cos", "cos(2π · sec_of_day / 86400)"),
    ("time_week_sin", "sin(2π · sec_of_week / 604800)"),
    ("time_week_cos", "cos(2π · sec_of_week / 604800)"),
    ("time_is_weekend", "1 on Saturday and Sunday, else 0"),
    (
        "time_interval_s",
        "length of the telemetry interval in seconds",
    ),
];

/// A resolved feature definition for one interval length: names, meanings
/// and the version hash.
#[derive(Debug, Clone)]
pub struct FeatureSpec {
    config: FeatureConfig,
    interval_ns: Nanos,
    season_lens: Vec<usize>,
    defs: Vec<FeatureDef>,
    raw: Vec<Getter>,
    hash: String,
}

fn season_label(s: u64) -> String {
    if s.is_multiple_of(WEEK_S) {
        format!("{}w", s / WEEK_S)
    } else if s.is_multiple_of(DAY_S) {
        format!("{}d", s / DAY_S)
    } else if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else {
        format!("{s}s")
    }
}

impl FeatureSpec {
    /// Resolves `config` for telemetry at `interval_ns`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the field (`features.<field>`) when a window, lag or span
    /// is out of range or a season is not a multiple of the interval.
    pub fn new(config: FeatureConfig, interval_ns: Nanos) -> Result<Self, ConfigError> {
        let season_lens = config.check(interval_ns)?;
        let mut defs = Vec::new();
        let def = |name: String, family: &'static str, definition: String| FeatureDef {
            name,
            family,
            definition,
        };
        for (n, d) in TIME {
            defs.push(def(n.into(), "time", d.into()));
        }
        let raw: Vec<RawFeature> = raw_features();
        let getters = raw.iter().map(|r| r.get).collect();
        for r in raw {
            defs.push(def(r.name, r.family, r.definition));
        }
        for (k, (sig, _)) in ROLLED.iter().enumerate() {
            if k < LAGGED {
                for &l in &config.lags {
                    defs.push(def(
                        format!("{sig}_lag{l}"),
                        "history",
                        format!("{sig} {l} interval(s) ago (NaN before the run had them)"),
                    ));
                }
                defs.push(def(
                    format!("{sig}_diff1"),
                    "history",
                    format!("{sig} − {sig}_lag1"),
                ));
            }
            for &w in &config.windows {
                for stat in WINDOW_STATS {
                    let what = match stat {
                        "std" => "sample standard deviation (NaN with < 2 values)",
                        "slope" => "least-squares slope per interval (NaN with < 2 values)",
                        "mean" => "mean",
                        "min" => "minimum",
                        _ => "maximum",
                    };
                    defs.push(def(
                        format!("{sig}_roll{w}_{stat}"),
                        "history",
                        format!(
                            "{what} of {sig} over the last {w} intervals (fewer at a run's start)"
                        ),
                    ));
                }
            }
            for &s in &config.ewma_spans {
                defs.push(def(
                    format!("{sig}_ewma{s}"),
                    "history",
                    format!("EWMA of {sig}, alpha = 2/({s}+1), started at the run's first value"),
                ));
            }
        }
        for &s in &config.seasons_s {
            for &k in &config.season_ahead {
                let label = season_label(s);
                defs.push(def(
                    format!("demand_mean_season{label}_ahead{k}"),
                    "history",
                    format!(
                        "demand_mean one season ({s} s) ago plus {k} interval(s): the seasonal-naive \
                         value for horizon {k} (NaN until the run is that long)"
                    ),
                ));
            }
        }
        defs.push(def(
            "history_len".into(),
            "history",
            "snapshots seen in this run, including this one".into(),
        ));
        if config.scale_free {
            for (sig, _) in &ROLLED[..SCALE_FREE] {
                for &w in &config.windows {
                    defs.push(def(
                        format!("{sig}_rel{w}"),
                        "history",
                        format!(
                            "({sig} − {sig}_roll{w}_mean) / max({sig}_roll{w}_mean, 1): the \
                             distance from the rolling mean, scale-free"
                        ),
                    ));
                    defs.push(def(
                        format!("{sig}_slope{w}_rel"),
                        "history",
                        format!(
                            "{sig}_roll{w}_slope × {w} / max({sig}_roll{w}_mean, 1): the change \
                             over the window relative to its mean, scale-free"
                        ),
                    ));
                }
            }
        }

        let mut h = Sha256::new();
        h.update(format!("poolcast-features v{FEATURE_DEFINITION_VERSION}\n"));
        h.update(serde_json::to_string(&config).unwrap_or_default());
        h.update("\n");
        for d in &defs {
            h.update(format!("{}\t{}\t{}\n", d.name, d.family, d.definition));
        }
        let hash = format!("{:x}", h.finalize());
        Ok(FeatureSpec {
            config,
            interval_ns,
            season_lens,
            defs,
            raw: getters,
            hash,
        })
    }

    /// Number of features.
    pub fn len(&self) -> usize {
        self.defs.len()
    }

    /// Always false: a spec has the time and raw families at least.
    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }

    /// Every feature in output order.
    pub fn defs(&self) -> &[FeatureDef] {
        &self.defs
    }

    /// Feature names in output order.
    pub fn names(&self) -> Vec<&str> {
        self.defs.iter().map(|d| d.name.as_str()).collect()
    }

    /// Position of a named feature.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.defs.iter().position(|d| d.name == name)
    }

    /// SHA-256 (hex) of the definition: version, config, names and
    /// definitions. The interval is not part of it (artifacts record the
    /// interval separately).
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The configuration this spec resolves.
    pub fn config(&self) -> &FeatureConfig {
        &self.config
    }

    /// The telemetry interval this spec was resolved for.
    pub fn interval_ns(&self) -> Nanos {
        self.interval_ns
    }

    /// A fresh extractor. `clock_offset_ns` maps snapshot time onto the
    /// week clock: `t_ns + clock_offset_ns` is nanoseconds since some Monday
    /// 00:00 (0 in the simulator; the runtime pool derives it from the wall
    /// clock at start).
    pub fn extractor(&self, clock_offset_ns: Nanos) -> FeatureExtractor {
        let max_lag = self.config.lags.iter().copied().max().unwrap_or(1).max(1);
        FeatureExtractor {
            spec: self.clone(),
            clock_offset_ns,
            signals: ROLLED
                .iter()
                .enumerate()
                .map(|(k, _)| {
                    let lag = if k < LAGGED { max_lag } else { 0 };
                    SignalHistory::new(&self.config.windows, lag, &self.config.ewma_spans)
                })
                .collect(),
            seasons: self.season_lens.iter().map(|&n| Ring::new(n + 1)).collect(),
            seen: 0,
        }
    }
}

/// Streaming feature extraction for one run (one pool's telemetry).
#[derive(Debug, Clone)]
pub struct FeatureExtractor {
    spec: FeatureSpec,
    clock_offset_ns: Nanos,
    signals: Vec<SignalHistory>,
    seasons: Vec<Ring>,
    seen: u64,
}

impl FeatureExtractor {
    /// The definition this extractor computes.
    pub fn spec(&self) -> &FeatureSpec {
        &self.spec
    }

    /// Forgets all history (a new run starts).
    pub fn reset(&mut self) {
        self.signals.iter_mut().for_each(SignalHistory::clear);
        self.seasons.iter_mut().for_each(Ring::clear);
        self.seen = 0;
    }

    /// Feeds the next snapshot of the run and writes the features for the
    /// end of its interval into `out`.
    ///
    /// # Panics
    /// If `out.len() != spec.len()` (a caller bug, not input).
    pub fn push(&mut self, s: &Snapshot, out: &mut [f64]) {
        assert_eq!(out.len(), self.spec.len(), "feature buffer length");
        let mut o = 0usize;
        // time
        let week_ns = WEEK_S * NANOS_PER_SEC;
        let tw = (s.t_ns % week_ns + self.clock_offset_ns % week_ns) % week_ns;
        let sec_week = tw as f64 / 1e9;
        let day = (tw / (DAY_S * NANOS_PER_SEC)) as f64;
        let sec_day = (tw % (DAY_S * NANOS_PER_SEC)) as f64 / 1e9;
        let tau = std::f64::consts::TAU;
        let time = [
            sec_day / 3600.0,
            (sec_day % 3600.0) / 60.0,
            day,
            sec_day,
            sec_week,
            (tau * sec_day / DAY_S as f64).sin(),
            (tau * sec_day / DAY_S as f64).cos(),
            (tau * sec_week / WEEK_S as f64).sin(),
            (tau * sec_week / WEEK_S as f64).cos(),
            if day >= 5.0 { 1.0 } else { 0.0 },
            s.interval_ns as f64 / 1e9,
        ];
        out[..time.len()].copy_from_slice(&time);
        o += time.len();
        // raw
        for g in &self.spec.raw {
            out[o] = g.read(s);
            o += 1;
        }
        // history
        let errors_total = f64::from(s.errors.iter().sum::<u32>());
        let values = [
            s.demand_mean(),
            f64::from(s.arrivals_total()),
            s.waiting_mean,
            f64::from(s.demand_max),
            errors_total,
        ];
        let cfg = &self.spec.config;
        let nw = cfg.windows.len() * WINDOW_STATS.len();
        let mut window_at = [0usize; SCALE_FREE];
        for (k, h) in self.signals.iter_mut().enumerate() {
            h.push(values[k]);
            if k < LAGGED {
                for &l in &cfg.lags {
                    out[o] = h.lag(l);
                    o += 1;
                }
                out[o] = values[k] - h.lag(1);
                o += 1;
            }
            if let Some(at) = window_at.get_mut(k) {
                *at = o;
            }
            h.write_windows(&mut out[o..o + nw]);
            o += nw;
            h.write_ewma(&mut out[o..o + cfg.ewma_spans.len()]);
            o += cfg.ewma_spans.len();
        }
        for (ring, &n) in self.seasons.iter_mut().zip(&self.spec.season_lens) {
            ring.push(values[0]);
            for &k in &cfg.season_ahead {
                // one season ago is `n` pushes before now; `k` after that
                out[o] = ring.ago(n - k as usize);
                o += 1;
            }
        }
        self.seen += 1;
        out[o] = self.seen as f64;
        o += 1;
        if cfg.scale_free {
            let stats = WINDOW_STATS.len();
            for (k, &at) in window_at.iter().enumerate() {
                for (i, &w) in cfg.windows.iter().enumerate() {
                    let mean = out[at + i * stats];
                    let slope = out[at + i * stats + stats - 1];
                    let scale = mean.max(1.0);
                    out[o] = (values[k] - mean) / scale;
                    out[o + 1] = slope * f64::from(w) / scale;
                    o += 2;
                }
            }
        }
        debug_assert_eq!(o, out.len());
    }

    /// Like [`FeatureExtractor::push`], returning a new vector.
    pub fn push_vec(&mut self, s: &Snapshot) -> Vec<f64> {
        let mut out = vec![0.0; self.spec.len()];
        self.push(s, &mut out);
        out
    }
}

#[cfg(test)]
mod tests;
