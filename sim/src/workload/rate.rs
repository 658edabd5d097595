//! Load patterns and the rate function they compose into.
//!
//! The instantaneous arrival rate is `base_rate × Π factor_i(t)`: every
//! [`Pattern`] contributes one multiplicative factor, so patterns compose (a
//! spike on top of a diurnal cycle with noise). Random patterns are drawn
//! once, deterministically, for the whole horizon when the [`RateFn`] is
//! built, so `rate_at` is a pure function of time.
//!
//! Time 0 is Monday 00:00 for the cyclical pattern (shift it with
//! `offset_s`).

use poolcast::core::{NANOS_PER_SEC, Nanos};
use rand::RngExt;
use rand_distr::{Exp1, StandardNormal};
use serde::{Deserialize, Serialize};

use super::{check, indexed, secs_to_ns};
use crate::config_error::{ConfigError, join};
use crate::rng::SimRng;

const HOUR_NS: Nanos = 3_600 * NANOS_PER_SEC;
const DAY_NS: Nanos = 24 * HOUR_NS;
const WEEK_NS: Nanos = 7 * DAY_NS;

/// At most this many steps (or Markov segments) are precomputed per random
/// pattern (128 MiB of `f64`). Longer horizons reuse the step sequence
/// cyclically; a Markov chain keeps its last state.
pub const MAX_PRECOMPUTED_STEPS: usize = 1 << 24;

/// The smallest `step_s` a piecewise pattern accepts (1 ms).
pub const MIN_STEP_S: f64 = 1e-3;

/// Relative slack added to bounds so that floating-point rounding in
/// `rate_at` can never exceed `upper_bound`.
const BOUND_SLACK: f64 = 1e-9;

/// The offered load: a base rate shaped by composable patterns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadConfig {
    /// Base arrival rate, requests per second (finite, >= 0).
    pub base_rate: f64,
    /// Multiplicative patterns applied to the base rate (none = steady).
    #[serde(default)]
    pub patterns: Vec<Pattern>,
}

/// No load (`base_rate` 0): what a scenario without a `load` table has.
impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig::steady(0.0)
    }
}

impl LoadConfig {
    /// A steady load of `base_rate` requests per second.
    pub fn steady(base_rate: f64) -> Self {
        LoadConfig {
            base_rate,
            patterns: Vec::new(),
        }
    }

    /// Adds a pattern (builder style).
    pub fn with(mut self, pattern: Pattern) -> Self {
        self.patterns.push(pattern);
        self
    }

    /// Checks every field; `path` is this config's own path (e.g. `load`).
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        check::non_negative(path, "base_rate", self.base_rate)?;
        for (i, p) in self.patterns.iter().enumerate() {
            p.validate(&indexed(path, "patterns", i))?;
        }
        Ok(())
    }
}

fn one() -> f64 {
    1.0
}
fn default_reversion() -> f64 {
    0.1
}
fn default_walk_min() -> f64 {
    0.25
}
fn default_walk_max() -> f64 {
    4.0
}
fn default_peak_hour() -> f64 {
    14.0
}
fn default_peak_day() -> f64 {
    2.0
}

/// One multiplicative factor of the load. In TOML, `kind` selects the
/// variant: `[[load.patterns]]` then `kind = "spike"`, `start_s = 600.0`, ...
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Pattern {
    /// A constant factor (`level`, default 1: no change).
    Steady {
        /// The constant factor (> 0).
        #[serde(default = "one")]
        level: f64,
    },
    /// A burst occupying `[start_s, start_s + duration_s)`: the factor rises
    /// linearly from 1 to `multiplier` over `rise_s`, holds, then falls
    /// linearly back to 1 over the last `fall_s` seconds of the window.
    /// A `multiplier` below 1 makes a dip.
    Spike {
        /// Start of the window, seconds from time 0 (>= 0).
        start_s: f64,
        /// Length of the whole window, rise and fall included (> 0).
        duration_s: f64,
        /// Peak factor (> 0).
        multiplier: f64,
        /// Linear rise time, seconds (>= 0, default 0: a step).
        #[serde(default)]
        rise_s: f64,
        /// Linear fall time, seconds (>= 0, default 0: a step).
        #[serde(default)]
        fall_s: f64,
    },
    /// A linear ramp of the factor from `from` (held before `start_s`) to
    /// `to` (held after `start_s + duration_s`).
    Gradual {
        /// Start of the ramp, seconds (>= 0).
        start_s: f64,
        /// Length of the ramp, seconds (> 0).
        duration_s: f64,
        /// Factor before and at the start of the ramp (> 0, default 1).
        #[serde(default = "one")]
        from: f64,
        /// Factor at the end of the ramp and afterwards (> 0).
        to: f64,
    },
    /// A mean-reverting random walk of the log factor (a discretized
    /// Ornstein–Uhlenbeck process), piecewise constant per step:
    /// `x[k+1] = (1 - reversion)·x[k] + sigma·N(0,1)`, clamped to
    /// `[ln min, ln max]`, factor `exp(x)`. Starts at factor 1.
    RandomWalk {
        /// Step length, seconds (>= 0.001).
        step_s: f64,
        /// Standard deviation of the log-factor increment per step (>= 0).
        sigma: f64,
        /// Fraction of the log factor pulled back toward 0 (factor 1) each
        /// step, in [0, 1] (default 0.1).
        #[serde(default = "default_reversion")]
        reversion: f64,
        /// Smallest factor (> 0, <= 1, default 0.25).
        #[serde(default = "default_walk_min")]
        min: f64,
        /// Largest factor (>= 1, default 4).
        #[serde(default = "default_walk_max")]
        max: f64,
    },
    /// A Markov-modulated factor: the chain stays in a state for an
    /// exponential time (mean `mean_dwell_s[i]`), then jumps uniformly to
    /// another state. Starts in `states[0]`.
    Markov {
        /// The factor of each state (each > 0; at least one state).
        states: Vec<f64>,
        /// Mean dwell time of each state, seconds (each > 0; same length as
        /// `states`).
        mean_dwell_s: Vec<f64>,
    },
    /// Diurnal and weekly seasonality. With `h` the hour of day and `d` the
    /// (fractional) day of week, Monday 00:00 = 0:
    /// `(1 + daily_amplitude·cos(2π(h − peak_hour)/24))
    ///  × (1 + weekly_amplitude·cos(2π(d − peak_day)/7))
    ///  × (weekend_factor on Saturday and Sunday, else 1)`.
    Cyclical {
        /// Relative daily swing, in [0, 1) (default 0).
        #[serde(default)]
        daily_amplitude: f64,
        /// Relative weekly swing, in [0, 1) (default 0).
        #[serde(default)]
        weekly_amplitude: f64,
        /// Hour of the daily peak, in [0, 24) (default 14).
        #[serde(default = "default_peak_hour")]
        peak_hour: f64,
        /// Day of the weekly peak, in [0, 7), 0 = Monday 00:00 (default 2).
        #[serde(default = "default_peak_day")]
        peak_day: f64,
        /// Factor applied on Saturday and Sunday (> 0, default 1).
        #[serde(default = "one")]
        weekend_factor: f64,
        /// Time of week at simulation time 0, seconds after Monday 00:00
        /// (>= 0, default 0).
        #[serde(default)]
        offset_s: f64,
    },
    /// Multiplicative lognormal noise with mean 1, `exp(sigma·Z − sigma²/2)`,
    /// drawn independently per step and piecewise constant.
    Noise {
        /// Standard deviation of the log factor (>= 0).
        sigma: f64,
        /// Step length, seconds (>= 0.001, default 1).
        #[serde(default = "one")]
        step_s: f64,
    },
}

impl Pattern {
    /// Checks every field; `path` is this pattern's own path (e.g.
    /// `load.patterns[1]`).
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        match self {
            Pattern::Steady { level } => check::positive(path, "level", *level),
            Pattern::Spike {
                start_s,
                duration_s,
                multiplier,
                rise_s,
                fall_s,
            } => {
                check::non_negative(path, "start_s", *start_s)?;
                check::positive(path, "duration_s", *duration_s)?;
                check::positive(path, "multiplier", *multiplier)?;
                check::non_negative(path, "rise_s", *rise_s)?;
                check::non_negative(path, "fall_s", *fall_s)?;
                if rise_s + fall_s > *duration_s {
                    return Err(ConfigError::new(
                        join(path, "duration_s"),
                        format!(
                            "expected duration_s >= rise_s + fall_s = {}, found {duration_s} \
                             (the window includes the rise and the fall)",
                            rise_s + fall_s
                        ),
                    ));
                }
                Ok(())
            }
            Pattern::Gradual {
                start_s,
                duration_s,
                from,
                to,
            } => {
                check::non_negative(path, "start_s", *start_s)?;
                check::positive(path, "duration_s", *duration_s)?;
                check::positive(path, "from", *from)?;
                check::positive(path, "to", *to)
            }
            Pattern::RandomWalk {
                step_s,
                sigma,
                reversion,
                min,
                max,
            } => {
                check::at_least(path, "step_s", *step_s, MIN_STEP_S)?;
                check::non_negative(path, "sigma", *sigma)?;
                check::in_range(path, "reversion", *reversion, 0.0, 1.0, true)?;
                if !(min.is_finite() && *min > 0.0 && *min <= 1.0) {
                    return Err(ConfigError::new(
                        join(path, "min"),
                        format!("expected a number in (0, 1] (the walk starts at 1), found {min}"),
                    ));
                }
                check::at_least(path, "max", *max, 1.0)
            }
            Pattern::Markov {
                states,
                mean_dwell_s,
            } => {
                if states.is_empty() {
                    return Err(ConfigError::new(
                        join(path, "states"),
                        "expected at least one state factor",
                    ));
                }
                for (i, s) in states.iter().enumerate() {
                    if !(s.is_finite() && *s > 0.0) {
                        return Err(ConfigError::new(
                            indexed(path, "states", i),
                            format!("expected a finite factor > 0, found {s}"),
                        ));
                    }
                }
                if mean_dwell_s.len() != states.len() {
                    return Err(ConfigError::new(
                        join(path, "mean_dwell_s"),
                        format!(
                            "expected one mean dwell time per state ({}), found {}",
                            states.len(),
                            mean_dwell_s.len()
                        ),
                    ));
                }
                for (i, d) in mean_dwell_s.iter().enumerate() {
                    if !(d.is_finite() && *d > 0.0) {
                        return Err(ConfigError::new(
                            indexed(path, "mean_dwell_s", i),
                            format!("expected a finite duration > 0 seconds, found {d}"),
                        ));
                    }
                }
                Ok(())
            }
            Pattern::Cyclical {
                daily_amplitude,
                weekly_amplitude,
                peak_hour,
                peak_day,
                weekend_factor,
                offset_s,
            } => {
                check::in_range(path, "daily_amplitude", *daily_amplitude, 0.0, 1.0, false)?;
                check::in_range(path, "weekly_amplitude", *weekly_amplitude, 0.0, 1.0, false)?;
                check::in_range(path, "peak_hour", *peak_hour, 0.0, 24.0, false)?;
                check::in_range(path, "peak_day", *peak_day, 0.0, 7.0, false)?;
                check::positive(path, "weekend_factor", *weekend_factor)?;
                check::non_negative(path, "offset_s", *offset_s)
            }
            Pattern::Noise { sigma, step_s } => {
                check::non_negative(path, "sigma", *sigma)?;
                check::at_least(path, "step_s", *step_s, MIN_STEP_S)
            }
        }
    }
}

/// A compiled, non-constant factor.
#[derive(Debug, Clone)]
enum Factor {
    /// Piecewise linear: 1 before `s`, rise to `m` at `r`, hold to `h`, fall
    /// to 1 at `e`.
    Spike {
        s: Nanos,
        r: Nanos,
        h: Nanos,
        e: Nanos,
        m: f64,
    },
    /// `from` before `s`, linear to `to` at `e`, `to` after.
    Gradual {
        s: Nanos,
        e: Nanos,
        from: f64,
        to: f64,
    },
    /// Piecewise constant on a regular grid; reused cyclically past the end.
    /// `iid_mean` is the mean of every step's value when the steps are
    /// drawn independently (noise), `None` when they are not (a random walk).
    Steps {
        step_ns: Nanos,
        values: Vec<f64>,
        min: f64,
        max: f64,
        iid_mean: Option<f64>,
    },
    /// Piecewise constant on irregular segments; `starts[0] == 0`; the last
    /// value holds forever.
    Segments {
        starts: Vec<Nanos>,
        values: Vec<f64>,
    },
    /// Diurnal and weekly seasonality.
    Cyclical(Cyclical),
}

#[derive(Debug, Clone)]
struct Cyclical {
    daily_amp: f64,
    weekly_amp: f64,
    peak_hour: f64,
    peak_day: f64,
    weekend: f64,
    offset_ns: Nanos,
}

impl Cyclical {
    #[inline]
    fn daily(&self, u: Nanos) -> f64 {
        if self.daily_amp == 0.0 {
            return 1.0;
        }
        let hour = (u % DAY_NS) as f64 / HOUR_NS as f64;
        1.0 + self.daily_amp * (std::f64::consts::TAU * (hour - self.peak_hour) / 24.0).cos()
    }

    #[inline]
    fn weekly(&self, u: Nanos) -> f64 {
        if self.weekly_amp == 0.0 {
            return 1.0;
        }
        let day = (u % WEEK_NS) as f64 / DAY_NS as f64;
        1.0 + self.weekly_amp * (std::f64::consts::TAU * (day - self.peak_day) / 7.0).cos()
    }

    #[inline]
    fn weekend(&self, u: Nanos) -> f64 {
        if (u % WEEK_NS) / DAY_NS >= 5 {
            self.weekend
        } else {
            1.0
        }
    }

    #[inline]
    fn value(&self, t: Nanos) -> f64 {
        let u = t.saturating_add(self.offset_ns);
        self.daily(u) * self.weekly(u) * self.weekend(u)
    }

    /// (min, max) over the integer times `[t0, t_last]`.
    fn range(&self, t0: Nanos, t_last: Nanos) -> (f64, f64) {
        let u0 = t0.saturating_add(self.offset_ns);
        let u1 = t_last.saturating_add(self.offset_ns);
        let span = (u1 - u0) as f64;
        let (dlo, dhi) = if self.daily_amp == 0.0 {
            (1.0, 1.0)
        } else {
            periodic_range(
                (u0 % DAY_NS) as f64 / HOUR_NS as f64,
                span / HOUR_NS as f64,
                24.0,
                self.peak_hour,
                self.daily_amp,
                self.daily(u0),
                self.daily(u1),
            )
        };
        let (wlo, whi) = if self.weekly_amp == 0.0 {
            (1.0, 1.0)
        } else {
            periodic_range(
                (u0 % WEEK_NS) as f64 / DAY_NS as f64,
                span / DAY_NS as f64,
                7.0,
                self.peak_day,
                self.weekly_amp,
                self.weekly(u0),
                self.weekly(u1),
            )
        };
        let (elo, ehi) = if self.weekend == 1.0 {
            (1.0, 1.0)
        } else {
            let (d0, d1) = (u0 / DAY_NS, u1 / DAY_NS);
            let (mut weekend, mut weekday) = (false, false);
            if d1 - d0 >= 6 {
                weekend = true;
                weekday = true;
            } else {
                for d in d0..=d1 {
                    if d % 7 >= 5 {
                        weekend = true;
                    } else {
                        weekday = true;
                    }
                }
            }
            match (weekend, weekday) {
                (true, true) => (self.weekend.min(1.0), self.weekend.max(1.0)),
                (true, false) => (self.weekend, self.weekend),
                _ => (1.0, 1.0),
            }
        };
        (dlo * wlo * elo, dhi * whi * ehi)
    }
}

/// (min, max) of `1 + amp·cos(2π(x − peak)/period)` for `x` in
/// `[x0, x0 + span]`, given its values `v0`, `v1` at both ends.
fn periodic_range(
    x0: f64,
    span: f64,
    period: f64,
    peak: f64,
    amp: f64,
    v0: f64,
    v1: f64,
) -> (f64, f64) {
    if span >= period {
        return (1.0 - amp, 1.0 + amp);
    }
    // Is some `x + k·period` inside [x0, x0 + span]?
    let hits = |x: f64| {
        let k = ((x0 - x) / period).ceil();
        x + k * period <= x0 + span
    };
    let hi = if hits(peak) { 1.0 + amp } else { v0.max(v1) };
    let lo = if hits(peak + period / 2.0) {
        1.0 - amp
    } else {
        v0.min(v1)
    };
    (lo, hi)
}

impl Factor {
    #[inline]
    fn value(&self, t: Nanos) -> f64 {
        match self {
            Factor::Spike { s, r, h, e, m } => spike_value(t, *s, *r, *h, *e, *m),
            Factor::Gradual { s, e, from, to } => gradual_value(t, *s, *e, *from, *to),
            Factor::Steps {
                step_ns, values, ..
            } => values[((t / step_ns) % values.len() as u64) as usize],
            Factor::Segments { starts, values } => {
                values[starts.partition_point(|&s| s <= t).saturating_sub(1)]
            }
            Factor::Cyclical(c) => c.value(t),
        }
    }

    /// The value at `t` as known at `now`: exact for the deterministic
    /// factors, and for random ones at times up to `now` or inside the step
    /// in force at `now`. Later steps of independent noise take their mean;
    /// a random walk or Markov state holds the value in force at `now`.
    fn foreseen(&self, t: Nanos, now: Nanos) -> f64 {
        match self {
            Factor::Steps {
                step_ns, iid_mean, ..
            } if t > now && t / step_ns != now / step_ns => {
                iid_mean.unwrap_or_else(|| self.value(now))
            }
            Factor::Segments { .. } if t > now => self.value(now),
            _ => self.value(t),
        }
    }

    /// (min, max) over the integer times `[t0, t_last]`, `t0 <= t_last`.
    fn range(&self, t0: Nanos, t_last: Nanos) -> (f64, f64) {
        match self {
            Factor::Spike { s, r, h, e, .. } => {
                candidates_range(|t| self.value(t), t0, t_last, &[*s, *r, *h, *e])
            }
            Factor::Gradual { s, e, .. } => {
                candidates_range(|t| self.value(t), t0, t_last, &[*s, *e])
            }
            Factor::Steps {
                step_ns,
                values,
                min,
                max,
                ..
            } => {
                let (i0, i1) = (t0 / step_ns, t_last / step_ns);
                let n = values.len() as u64;
                if i1 - i0 + 1 >= n {
                    return (*min, *max);
                }
                let mut lo = f64::INFINITY;
                let mut hi = f64::NEG_INFINITY;
                for i in i0..=i1 {
                    let v = values[(i % n) as usize];
                    lo = lo.min(v);
                    hi = hi.max(v);
                }
                (lo, hi)
            }
            Factor::Segments { starts, values } => {
                let a = starts.partition_point(|&s| s <= t0).saturating_sub(1);
                let b = starts.partition_point(|&s| s <= t_last).saturating_sub(1);
                values[a..=b]
                    .iter()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                        (lo.min(v), hi.max(v))
                    })
            }
            Factor::Cyclical(c) => c.range(t0, t_last),
        }
    }
}

#[inline]
fn spike_value(t: Nanos, s: Nanos, r: Nanos, h: Nanos, e: Nanos, m: f64) -> f64 {
    if t < s || t >= e {
        1.0
    } else if t < r {
        1.0 + (m - 1.0) * ((t - s) as f64 / (r - s) as f64)
    } else if t < h {
        m
    } else {
        m + (1.0 - m) * ((t - h) as f64 / (e - h) as f64)
    }
}

#[inline]
fn gradual_value(t: Nanos, s: Nanos, e: Nanos, from: f64, to: f64) -> f64 {
    if t < s {
        from
    } else if t >= e {
        to
    } else {
        from + (to - from) * ((t - s) as f64 / (e - s) as f64)
    }
}

/// (min, max) of a function that is linear between breakpoints (and may jump
/// at them) over the integer times `[t0, t_last]`: the extremes are at the
/// ends or on either side of a breakpoint.
fn candidates_range(
    f: impl Fn(Nanos) -> f64,
    t0: Nanos,
    t_last: Nanos,
    breaks: &[Nanos],
) -> (f64, f64) {
    let (a, b) = (f(t0), f(t_last));
    let (mut lo, mut hi) = (a.min(b), a.max(b));
    for &bp in breaks {
        for t in [bp.saturating_sub(1), bp] {
            if t0 <= t && t <= t_last {
                let v = f(t);
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
    }
    (lo, hi)
}

/// The instantaneous arrival rate, `base_rate × Π factor_i(t)`, compiled
/// from a [`LoadConfig`] with its random components drawn for the horizon.
#[derive(Debug, Clone)]
pub struct RateFn {
    /// `base_rate` times every constant factor.
    scale: f64,
    /// The time-varying factors.
    factors: Vec<Factor>,
}

impl RateFn {
    /// Compiles `cfg` for times in `[0, horizon_ns)`, drawing the random
    /// patterns from `rng` (in pattern order). `cfg` is expected to have
    /// passed [`LoadConfig::validate`]; out-of-range values are clamped.
    /// Patterns that are constant (a Steady level, a noise with `sigma = 0`,
    /// ...) are folded into one scale factor.
    pub fn build(cfg: &LoadConfig, horizon_ns: Nanos, rng: &mut SimRng) -> RateFn {
        let mut scale = cfg.base_rate.max(0.0);
        let mut factors = Vec::new();
        let horizon_ns = horizon_ns.max(1);
        for p in &cfg.patterns {
            match p {
                Pattern::Steady { level } => scale *= level.max(0.0),
                Pattern::Spike {
                    start_s,
                    duration_s,
                    multiplier,
                    rise_s,
                    fall_s,
                } => {
                    if *multiplier == 1.0 {
                        continue;
                    }
                    let s = secs_to_ns(*start_s);
                    let e = s.saturating_add(secs_to_ns(*duration_s).max(1));
                    let r = s.saturating_add(secs_to_ns(*rise_s)).min(e);
                    let h = e.saturating_sub(secs_to_ns(*fall_s)).max(r);
                    factors.push(Factor::Spike {
                        s,
                        r,
                        h,
                        e,
                        m: *multiplier,
                    });
                }
                Pattern::Gradual {
                    start_s,
                    duration_s,
                    from,
                    to,
                } => {
                    if from == to {
                        scale *= from;
                        continue;
                    }
                    let s = secs_to_ns(*start_s);
                    let e = s.saturating_add(secs_to_ns(*duration_s).max(1));
                    factors.push(Factor::Gradual {
                        s,
                        e,
                        from: *from,
                        to: *to,
                    });
                }
                Pattern::RandomWalk {
                    step_s,
                    sigma,
                    reversion,
                    min,
                    max,
                } => {
                    if *sigma == 0.0 {
                        continue; // stays at factor 1
                    }
                    let step_ns = secs_to_ns(step_s.max(MIN_STEP_S));
                    let (lmin, lmax) = (min.ln(), max.ln());
                    let keep = 1.0 - reversion.clamp(0.0, 1.0);
                    let mut x = 0.0f64.clamp(lmin, lmax);
                    let values = draw_steps(horizon_ns, step_ns, || {
                        let v = x.exp().clamp(*min, *max);
                        let z: f64 = rng.sample(StandardNormal);
                        x = (keep * x + sigma * z).clamp(lmin, lmax);
                        v
                    });
                    factors.push(steps(step_ns, values, None));
                }
                Pattern::Noise { sigma, step_s } => {
                    if *sigma == 0.0 {
                        continue;
                    }
                    let step_ns = secs_to_ns(step_s.max(MIN_STEP_S));
                    let shift = -0.5 * sigma * sigma;
                    let values = draw_steps(horizon_ns, step_ns, || {
                        let z: f64 = rng.sample(StandardNormal);
                        (sigma * z + shift).exp()
                    });
                    // exp(σZ − σ²/2) has mean exactly 1.
                    factors.push(steps(step_ns, values, Some(1.0)));
                }
                Pattern::Markov {
                    states,
                    mean_dwell_s,
                } => {
                    if states.is_empty() {
                        continue;
                    }
                    if states.len() == 1 || states.iter().all(|&s| s == states[0]) {
                        scale *= states[0];
                        continue;
                    }
                    let n = states.len();
                    let mut starts = Vec::new();
                    let mut values = Vec::new();
                    let (mut t, mut state) = (0u64, 0usize);
                    loop {
                        starts.push(t);
                        values.push(states[state]);
                        let dwell_s = mean_dwell_s.get(state).copied().unwrap_or(1.0);
                        let e: f64 = rng.sample(Exp1);
                        t = t.saturating_add(secs_to_ns(e * dwell_s).max(1));
                        if t >= horizon_ns || starts.len() >= MAX_PRECOMPUTED_STEPS {
                            break;
                        }
                        let j = rng.random_range(0..n - 1);
                        state = if j >= state { j + 1 } else { j };
                    }
                    factors.push(Factor::Segments { starts, values });
                }
                Pattern::Cyclical {
                    daily_amplitude,
                    weekly_amplitude,
                    peak_hour,
                    peak_day,
                    weekend_factor,
                    offset_s,
                } => {
                    if *daily_amplitude == 0.0 && *weekly_amplitude == 0.0 && *weekend_factor == 1.0
                    {
                        continue;
                    }
                    factors.push(Factor::Cyclical(Cyclical {
                        daily_amp: *daily_amplitude,
                        weekly_amp: *weekly_amplitude,
                        peak_hour: *peak_hour,
                        peak_day: *peak_day,
                        weekend: *weekend_factor,
                        offset_ns: secs_to_ns(*offset_s),
                    }));
                }
            }
        }
        RateFn { scale, factors }
    }

    /// A constant rate of `rate` requests per second.
    pub fn constant(rate: f64) -> RateFn {
        RateFn {
            scale: rate.max(0.0),
            factors: Vec::new(),
        }
    }

    /// The rate (requests per second) at time `t`.
    #[inline]
    pub fn rate_at(&self, t: Nanos) -> f64 {
        let mut r = self.scale;
        for f in &self.factors {
            r *= f.value(t);
        }
        r
    }

    /// The rate at `t` as a forecaster standing at `now` could know it at
    /// best: every deterministic pattern exactly, and the random ones only
    /// up to the step in force at `now`. Later steps of independent noise
    /// take their mean (1); random walks and Markov states hold their value
    /// at `now`. The simulator's forecastability ceiling uses it: no
    /// forecaster of the realised traffic can know more of its rate.
    pub fn foreseen_rate_at(&self, t: Nanos, now: Nanos) -> f64 {
        let mut r = self.scale;
        for f in &self.factors {
            r *= f.foreseen(t, now);
        }
        r
    }

    /// The mean of [`foreseen_rate_at`](Self::foreseen_rate_at) over
    /// `[t0, t1)` by the midpoint rule on `n` sub-intervals, as
    /// [`mean_rate`](Self::mean_rate) does for the true rate.
    pub fn foreseen_mean_rate(&self, now: Nanos, t0: Nanos, t1: Nanos, n: u32) -> f64 {
        midpoint_mean(t0, t1, n, |t| self.foreseen_rate_at(t, now))
    }

    /// `Some(rate)` when the rate never changes (no time-varying pattern).
    pub fn constant_rate(&self) -> Option<f64> {
        self.factors.is_empty().then_some(self.scale)
    }

    /// The shortest step of the piecewise-constant random patterns, if any:
    /// a natural block length for thinning.
    pub fn min_step_ns(&self) -> Option<Nanos> {
        self.factors
            .iter()
            .filter_map(|f| match f {
                Factor::Steps { step_ns, .. } => Some(*step_ns),
                _ => None,
            })
            .min()
    }

    /// (min, max) of the rate over `[t0, t1)` without slack (an empty
    /// interval is read as `[t0, t0 + 1)`). Both are exact extremes of the
    /// per-factor bounds, so `min == max` means the rate is constant there.
    pub(crate) fn raw_range(&self, t0: Nanos, t1: Nanos) -> (f64, f64) {
        let t_last = if t1 > t0 { t1 - 1 } else { t0 };
        let (mut lo, mut hi) = (self.scale, self.scale);
        for f in &self.factors {
            let (a, b) = f.range(t0, t_last);
            lo *= a;
            hi *= b;
        }
        (lo, hi)
    }

    /// A true upper bound of the rate on `[t0, t1)`: the product of per-factor
    /// maxima (analytic for spike, gradual and cyclical; the largest covered
    /// step for piecewise patterns), with a 1e-9 relative margin for
    /// rounding.
    pub fn upper_bound(&self, t0: Nanos, t1: Nanos) -> f64 {
        self.raw_range(t0, t1).1 * (1.0 + BOUND_SLACK)
    }

    /// A true lower bound of the rate on `[t0, t1)` (product of per-factor
    /// minima, less a 1e-9 relative margin).
    pub fn lower_bound(&self, t0: Nanos, t1: Nanos) -> f64 {
        self.raw_range(t0, t1).0 * (1.0 - BOUND_SLACK)
    }

    /// The mean rate over `[t0, t1)`, by the midpoint rule on `n` equal
    /// sub-intervals (`n >= 1`): for expected counts and offered-load checks.
    pub fn mean_rate(&self, t0: Nanos, t1: Nanos, n: u32) -> f64 {
        midpoint_mean(t0, t1, n, |t| self.rate_at(t))
    }
}

/// The mean of `f` over `[t0, t1)` by the midpoint rule on `n` (>= 1)
/// equal sub-intervals.
fn midpoint_mean(t0: Nanos, t1: Nanos, n: u32, f: impl Fn(Nanos) -> f64) -> f64 {
    let n = n.max(1) as u64;
    let len = t1.saturating_sub(t0);
    let sum: f64 = (0..n)
        .map(|i| f(t0 + (len as u128 * (2 * i as u128 + 1) / (2 * n as u128)) as u64))
        .sum();
    sum / n as f64
}

fn steps(step_ns: Nanos, values: Vec<f64>, iid_mean: Option<f64>) -> Factor {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Factor::Steps {
        step_ns,
        values,
        min,
        max,
        iid_mean,
    }
}

/// One value per step covering `[0, horizon_ns)`, capped at
/// [`MAX_PRECOMPUTED_STEPS`].
fn draw_steps(horizon_ns: Nanos, step_ns: Nanos, next: impl FnMut() -> f64) -> Vec<f64> {
    let n = horizon_ns
        .div_ceil(step_ns)
        .clamp(1, MAX_PRECOMPUTED_STEPS as u64) as usize;
    std::iter::repeat_with(next).take(n).collect()
}
