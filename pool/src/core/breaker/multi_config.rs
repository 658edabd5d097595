//! [`MultiBreakerConfig`]: the `[breaker]` table.

use serde::{Deserialize, Deserializer, Serialize};

use super::config::{BreakerConfig, Window};
use crate::core::config_error::ConfigError;
use crate::core::telemetry::ErrorCategory;

/// Configuration of a [`MultiBreaker`](super::MultiBreaker) (the `[breaker]` table).
///
/// Missing category tables take [`BreakerConfig::for_category`]; a category
/// table that is present only needs the fields it changes, the others keep
/// that category's defaults. `global` defaults to [`BreakerConfig::default`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MultiBreakerConfig {
    /// Breaker for connection failures (default: failure rate 0.25 once 20
    /// calls are in a 30 s window).
    #[serde(deserialize_with = "de_connection")]
    pub connection: BreakerConfig,
    /// Breaker for timeouts (default: failure rate 0.25, 20 calls, 30 s).
    #[serde(deserialize_with = "de_timeout")]
    pub timeout: BreakerConfig,
    /// Breaker for query errors (default: disabled; failure rate 0.5 once
    /// enabled).
    #[serde(deserialize_with = "de_query")]
    pub query: BreakerConfig,
    /// Breaker for aborted transactions (default: failure rate 0.5, 20
    /// calls, 30 s).
    #[serde(deserialize_with = "de_transaction")]
    pub transaction: BreakerConfig,
    /// Breaker for authentication failures (default: 3 failures in 30 s).
    #[serde(deserialize_with = "de_security")]
    pub security: BreakerConfig,
    /// The global breaker over every call (default: failure rate 0.5 once
    /// 20 calls are in a 30 s window).
    pub global: BreakerConfig,
    /// Categories whose failures count as failures of the global breaker;
    /// failures of other categories count there as successes. Default: all
    /// but `query`.
    pub trips_global: Vec<ErrorCategory>,
}

impl Default for MultiBreakerConfig {
    fn default() -> Self {
        MultiBreakerConfig {
            connection: BreakerConfig::for_category(ErrorCategory::Connection),
            timeout: BreakerConfig::for_category(ErrorCategory::Timeout),
            query: BreakerConfig::for_category(ErrorCategory::Query),
            transaction: BreakerConfig::for_category(ErrorCategory::Transaction),
            security: BreakerConfig::for_category(ErrorCategory::Security),
            global: BreakerConfig::default(),
            trips_global: ErrorCategory::ALL
                .into_iter()
                .filter(|&c| c != ErrorCategory::Query)
                .collect(),
        }
    }
}

impl MultiBreakerConfig {
    /// The breaker configuration of `category`.
    pub fn category(&self, category: ErrorCategory) -> &BreakerConfig {
        match category {
            ErrorCategory::Connection => &self.connection,
            ErrorCategory::Timeout => &self.timeout,
            ErrorCategory::Query => &self.query,
            ErrorCategory::Transaction => &self.transaction,
            ErrorCategory::Security => &self.security,
        }
    }

    /// The breaker configuration of `category`, mutably.
    pub fn category_mut(&mut self, category: ErrorCategory) -> &mut BreakerConfig {
        match category {
            ErrorCategory::Connection => &mut self.connection,
            ErrorCategory::Timeout => &mut self.timeout,
            ErrorCategory::Query => &mut self.query,
            ErrorCategory::Transaction => &mut self.transaction,
            ErrorCategory::Security => &mut self.security,
        }
    }

    /// Whether failures of `category` count toward the global breaker.
    pub fn counts_toward_global(&self, category: ErrorCategory) -> bool {
        self.trips_global.contains(&category)
    }

    /// Checks every breaker; errors name `breaker.<category>.<field>` or
    /// `breaker.global.<field>`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for category in ErrorCategory::ALL {
            self.category(category)
                .validate(&format!("breaker.{}", category.name()))?;
        }
        self.global.validate("breaker.global")
    }
}

/// A partial [`BreakerConfig`]: the fields a TOML table sets.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BreakerPatch {
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    window: Option<Window>,
    #[serde(default)]
    min_calls: Option<u32>,
    #[serde(default, deserialize_with = "present")]
    failure_rate: Option<Option<f64>>,
    #[serde(default, deserialize_with = "present")]
    failure_count: Option<Option<u32>>,
    #[serde(default)]
    open_ms: Option<f64>,
    #[serde(default)]
    open_backoff: Option<f64>,
    #[serde(default)]
    max_open_ms: Option<f64>,
    #[serde(default)]
    half_open_probes: Option<u32>,
}

/// Tells a field that is present (possibly `null`) from a missing one.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

impl BreakerPatch {
    fn apply(self, mut cfg: BreakerConfig) -> BreakerConfig {
        if let Some(v) = self.enabled {
            cfg.enabled = v;
        }
        if let Some(v) = self.window {
            cfg.window = v;
        }
        if let Some(v) = self.min_calls {
            cfg.min_calls = v;
        }
        if let Some(v) = self.failure_rate {
            cfg.failure_rate = v;
        }
        if let Some(v) = self.failure_count {
            cfg.failure_count = v;
        }
        if let Some(v) = self.open_ms {
            cfg.open_ms = v;
        }
        if let Some(v) = self.open_backoff {
            cfg.open_backoff = v;
        }
        if let Some(v) = self.max_open_ms {
            cfg.max_open_ms = v;
        }
        if let Some(v) = self.half_open_probes {
            cfg.half_open_probes = v;
        }
        cfg
    }
}

fn de_category<'de, D: Deserializer<'de>>(
    d: D,
    category: ErrorCategory,
) -> Result<BreakerConfig, D::Error> {
    Ok(BreakerPatch::deserialize(d)?.apply(BreakerConfig::for_category(category)))
}

fn de_connection<'de, D: Deserializer<'de>>(d: D) -> Result<BreakerConfig, D::Error> {
    de_category(d, ErrorCategory::Connection)
}

fn de_timeout<'de, D: Deserializer<'de>>(d: D) -> Result<BreakerConfig, D::Error> {
    de_category(d, ErrorCategory::Timeout)
}

fn de_query<'de, D: Deserializer<'de>>(d: D) -> Result<BreakerConfig, D::Error> {
    de_category(d, ErrorCategory::Query)
}

fn de_transaction<'de, D: Deserializer<'de>>(d: D) -> Result<BreakerConfig, D::Error> {
    de_category(d, ErrorCategory::Transaction)
}

fn de_security<'de, D: Deserializer<'de>>(d: D) -> Result<BreakerConfig, D::Error> {
    de_category(d, ErrorCategory::Security)
}
