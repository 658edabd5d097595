//! Service-time distributions, configured in milliseconds and sampled in
//! nanoseconds.
//!
//! A [`ServiceDist`] is configuration; [`ServiceDist::sampler`] compiles it
//! once into a [`ServiceSampler`] whose `sample` does no set-up work.

use poolcast::core::{NANOS_PER_MS, Nanos};
use rand::RngExt;
use rand_distr::{Distribution, Exp1, Gamma, LogNormal};
use serde::{Deserialize, Serialize};

use super::{check, indexed, ms_to_ns};
use crate::config_error::{ConfigError, join};
use crate::rng::SimRng;

/// A service-time distribution. In TOML, `kind` selects the variant:
/// `service = { kind = "lognormal", mean_ms = 4.0, cv = 1.5 }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ServiceDist {
    /// Exponential with the given mean.
    Exponential {
        /// Mean, milliseconds (> 0).
        mean_ms: f64,
    },
    /// Lognormal parametrized by its (linear-space) mean and coefficient of
    /// variation (standard deviation / mean).
    Lognormal {
        /// Mean, milliseconds (> 0).
        mean_ms: f64,
        /// Coefficient of variation (>= 0; 0 is deterministic).
        cv: f64,
    },
    /// Gamma with the given mean and shape (cv = 1/√shape).
    Gamma {
        /// Mean, milliseconds (> 0).
        mean_ms: f64,
        /// Shape parameter k (> 0); scale is `mean_ms / k`.
        shape: f64,
    },
    /// Always the same value.
    Deterministic {
        /// The value, milliseconds (>= 0).
        ms: f64,
    },
    /// Uniform resampling of observed values (for example from a trace).
    Empirical {
        /// The observations, milliseconds (each >= 0; at least one).
        samples_ms: Vec<f64>,
    },
}

impl ServiceDist {
    /// An empirical distribution over `samples_ms` (milliseconds).
    pub fn from_samples(samples_ms: impl IntoIterator<Item = f64>) -> Self {
        ServiceDist::Empirical {
            samples_ms: samples_ms.into_iter().collect(),
        }
    }

    /// An empirical distribution over durations in nanoseconds (for example
    /// hold times read from a trace).
    pub fn from_nanos(samples_ns: impl IntoIterator<Item = Nanos>) -> Self {
        Self::from_samples(
            samples_ns
                .into_iter()
                .map(|ns| ns as f64 / NANOS_PER_MS as f64),
        )
    }

    /// Checks every field; `path` is this distribution's own path (e.g.
    /// `mix.classes[0].service`).
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        match self {
            ServiceDist::Exponential { mean_ms } => check::positive(path, "mean_ms", *mean_ms),
            ServiceDist::Lognormal { mean_ms, cv } => {
                check::positive(path, "mean_ms", *mean_ms)?;
                check::non_negative(path, "cv", *cv)
            }
            ServiceDist::Gamma { mean_ms, shape } => {
                check::positive(path, "mean_ms", *mean_ms)?;
                check::positive(path, "shape", *shape)
            }
            ServiceDist::Deterministic { ms } => check::non_negative(path, "ms", *ms),
            ServiceDist::Empirical { samples_ms } => {
                if samples_ms.is_empty() {
                    return Err(ConfigError::new(
                        join(path, "samples_ms"),
                        "expected at least one sample (milliseconds)",
                    ));
                }
                for (i, v) in samples_ms.iter().enumerate() {
                    if !(v.is_finite() && *v >= 0.0) {
                        return Err(ConfigError::new(
                            indexed(path, "samples_ms", i),
                            format!("expected a finite duration >= 0 ms, found {v}"),
                        ));
                    }
                }
                Ok(())
            }
        }
    }

    /// The mean, milliseconds.
    pub fn mean_ms(&self) -> f64 {
        match self {
            ServiceDist::Exponential { mean_ms }
            | ServiceDist::Lognormal { mean_ms, .. }
            | ServiceDist::Gamma { mean_ms, .. } => *mean_ms,
            ServiceDist::Deterministic { ms } => *ms,
            ServiceDist::Empirical { samples_ms } => {
                if samples_ms.is_empty() {
                    0.0
                } else {
                    samples_ms.iter().sum::<f64>() / samples_ms.len() as f64
                }
            }
        }
    }

    /// The mean, nanoseconds.
    pub fn mean_ns(&self) -> f64 {
        self.mean_ms() * NANOS_PER_MS as f64
    }

    /// Compiles the distribution into a sampler; `path` names it in errors
    /// (as in [`ServiceDist::validate`]).
    ///
    /// # Errors
    /// As [`ServiceDist::validate`], or when the parameters, converted to
    /// nanoseconds, make no distribution (a mean too large to represent).
    pub fn sampler(&self, path: &str) -> Result<ServiceSampler, ConfigError> {
        self.validate(path)?;
        let unusable = |e: &dyn std::fmt::Display| {
            ConfigError::new(path, format!("not a usable distribution: {e}"))
        };
        let kind = match self {
            ServiceDist::Exponential { mean_ms } => Kind::Exp(mean_ms * NANOS_PER_MS as f64),
            ServiceDist::Lognormal { mean_ms, cv } if *cv == 0.0 => Kind::Const(ms_to_ns(*mean_ms)),
            ServiceDist::Lognormal { mean_ms, cv } => Kind::LogNormal(
                LogNormal::from_mean_cv(mean_ms * NANOS_PER_MS as f64, *cv)
                    .map_err(|e| unusable(&e))?,
            ),
            ServiceDist::Gamma { mean_ms, shape } => Kind::Gamma(
                Gamma::new(*shape, mean_ms * NANOS_PER_MS as f64 / shape)
                    .map_err(|e| unusable(&e))?,
            ),
            ServiceDist::Deterministic { ms } => Kind::Const(ms_to_ns(*ms)),
            // `validate` refused an empty sample list.
            ServiceDist::Empirical { samples_ms } => {
                Kind::Empirical(samples_ms.iter().map(|&ms| ms_to_ns(ms)).collect())
            }
        };
        let mean_ns = match &kind {
            Kind::Empirical(v) => v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64,
            _ => self.mean_ns(),
        };
        Ok(ServiceSampler { kind, mean_ns })
    }
}

/// Rounds a non-negative nanosecond sample. `f64::round` is a libm call
/// on baseline x86-64; adding one half and truncating is the same for
/// non-negative values and inlines (`as` saturates, NaN becomes 0).
#[inline]
fn round_ns(x: f64) -> Nanos {
    (x + 0.5) as Nanos
}

#[derive(Debug, Clone)]
enum Kind {
    /// Exponential with this mean (ns).
    Exp(f64),
    LogNormal(LogNormal<f64>),
    Gamma(Gamma<f64>),
    Const(Nanos),
    Empirical(Box<[Nanos]>),
}

/// A compiled [`ServiceDist`]: draws values in nanoseconds.
#[derive(Debug, Clone)]
pub struct ServiceSampler {
    kind: Kind,
    mean_ns: f64,
}

impl ServiceSampler {
    /// Draws one value, nanoseconds (rounded to the nearest ns).
    #[inline]
    pub fn sample(&self, rng: &mut SimRng) -> Nanos {
        match &self.kind {
            Kind::Exp(mean) => {
                let e: f64 = rng.sample(Exp1);
                round_ns(e * mean)
            }
            Kind::LogNormal(d) => round_ns(d.sample(rng)),
            Kind::Gamma(d) => round_ns(d.sample(rng)),
            Kind::Const(v) => *v,
            Kind::Empirical(v) => v[rng.random_range(0..v.len())],
        }
    }

    /// The mean, nanoseconds.
    pub fn mean_ns(&self) -> f64 {
        self.mean_ns
    }
}
