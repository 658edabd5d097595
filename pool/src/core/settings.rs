//! `pool.toml`: the runtime pool's configuration in human units, as the
//! workbench exports it after tuning and as a service writes it by hand.
//!
//! ```toml
//! [pool]                     # sizes and timeouts (HikariCP's names where they fit)
//! min_size = 2
//! max_size = 20
//! min_idle = 1
//! acquire_timeout_ms = 5000
//! idle_timeout_s = 120
//! max_lifetime_s = 1800
//! health_check = "always"    # or "never", or { after_idle_ms = 500 }
//!
//! [controller]               # the scaling loop
//! interval_s = 1.0
//! max_step_up = 8
//!
//! [policy]                   # static, reactive, adaptive or predictive
//! kind = "predictive"
//! artifact = "artifact.json" # relative to this file
//!
//! [breaker.connection]       # per-category circuit breakers
//! failure_rate = 0.3
//! ```
//!
//! Only types and checks live here (the core stays free of a TOML parser);
//! `poolcast::runtime::PoolFile::load` reads the file.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Nanos;
use super::breaker::MultiBreakerConfig;
use super::config_error::check::{at_most, non_negative, positive};
use super::config_error::{ConfigError, join};
use super::policy::PolicyConfig;
use super::pool::{HealthCheck, MAX_POOL_SIZE, PoolConfig};
use super::units::{ms_to_ns, secs_to_ns};

/// The longest duration any setting takes: 100 years, in seconds. Past
/// it a duration no longer fits the pool's nanosecond clock (`u64`,
/// 584 years) with room to add to it; "never" is the field left out.
pub const MAX_DURATION_S: f64 = 100.0 * 365.25 * 86_400.0;

/// The most snapshots `controller.keep_snapshots` keeps in memory.
pub const MAX_KEEP_SNAPSHOTS: usize = 1_000_000;

/// When the pool checks a connection before handing it out.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum HealthCheckSetting {
    /// Never (a broken connection surfaces on first use).
    Never,
    /// On every grant.
    #[default]
    Always,
    /// When the connection was idle at least this many ms (HikariCP's
    /// `aliveBypassWindowMs`).
    AfterIdleMs(f64),
}

/// How a health check verifies a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RecycleMode {
    /// A local check only (is the socket still open?): no round trip.
    #[default]
    Fast,
    /// A round trip to the database (`SELECT 1` for PostgreSQL).
    Verified,
}

/// The `[pool]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoolSettings {
    /// Never fewer open connections.
    pub min_size: u32,
    /// Never more open plus in-flight connections (`maximumPoolSize`).
    pub max_size: u32,
    /// Keep at least this many idle (`minimumIdle`).
    pub min_idle: u32,
    /// Connections opened at start (default: `min_size`).
    pub initial_size: Option<u32>,
    /// A waiting request fails after this many ms (`connectionTimeout`;
    /// none: waits forever).
    pub acquire_timeout_ms: Option<f64>,
    /// Opening one connection fails after this many ms.
    pub create_timeout_ms: Option<f64>,
    /// Idle connections above the floor close after this many seconds
    /// (`idleTimeout`).
    pub idle_timeout_s: Option<f64>,
    /// Connections close when idle after this age in seconds
    /// (`maxLifetime`).
    pub max_lifetime_s: Option<f64>,
    /// Each connection retires up to this fraction of its lifetime early.
    pub max_lifetime_jitter: f64,
    /// Creations in flight at once.
    pub max_concurrent_creates: u32,
    /// First back-off after a failed creation, in ms.
    pub create_backoff_initial_ms: f64,
    /// Longest back-off, in ms.
    pub create_backoff_max_ms: f64,
    /// Whether queued requests may grow the pool above its target.
    pub grow_on_demand: bool,
    /// When to check a connection before a grant.
    pub health_check: HealthCheckSetting,
    /// How to check it.
    pub recycle: RecycleMode,
    /// Warn when a connection is held longer than this many ms
    /// (`leakDetectionThreshold`; none: never).
    pub leak_detection_threshold_ms: Option<f64>,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            min_size: 0,
            max_size: 10,
            min_idle: 0,
            initial_size: None,
            acquire_timeout_ms: Some(30_000.0),
            create_timeout_ms: Some(10_000.0),
            idle_timeout_s: Some(600.0),
            max_lifetime_s: Some(1800.0),
            max_lifetime_jitter: 0.025,
            max_concurrent_creates: 4,
            create_backoff_initial_ms: 10.0,
            create_backoff_max_ms: 2000.0,
            grow_on_demand: true,
            health_check: HealthCheckSetting::AfterIdleMs(500.0),
            recycle: RecycleMode::Fast,
            leak_detection_threshold_ms: None,
        }
    }
}

impl PoolSettings {
    /// The initial size: `initial_size`, or `min_size`.
    pub fn initial(&self) -> u32 {
        self.initial_size.unwrap_or(self.min_size)
    }

    /// Checks every field.
    ///
    /// # Errors
    /// The field's path under `path` and what was expected.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if let Err(e) = self.core_config().validate() {
            return Err(e.under(path));
        }
        if let Some(i) = self.initial_size
            && i < self.min_size
        {
            return Err(ConfigError::new(
                join(path, "initial_size"),
                format!("{i} is below min_size {}", self.min_size),
            ));
        }
        let ms = MAX_DURATION_S * 1e3;
        for (field, v, max, unit) in [
            ("acquire_timeout_ms", self.acquire_timeout_ms, ms, "ms"),
            ("create_timeout_ms", self.create_timeout_ms, ms, "ms"),
            ("idle_timeout_s", self.idle_timeout_s, MAX_DURATION_S, "s"),
            ("max_lifetime_s", self.max_lifetime_s, MAX_DURATION_S, "s"),
            (
                "leak_detection_threshold_ms",
                self.leak_detection_threshold_ms,
                ms,
                "ms",
            ),
        ] {
            if let Some(v) = v {
                positive(path, field, v)?;
                at_most(path, field, v, max, &format!("{unit} (100 years)"))?;
            }
        }
        for (field, v) in [
            ("create_backoff_initial_ms", self.create_backoff_initial_ms),
            ("create_backoff_max_ms", self.create_backoff_max_ms),
        ] {
            non_negative(path, field, v)?;
            at_most(path, field, v, ms, "ms (100 years)")?;
        }
        if let HealthCheckSetting::AfterIdleMs(v) = self.health_check {
            non_negative(path, "health_check.after_idle_ms", v)?;
            at_most(path, "health_check.after_idle_ms", v, ms, "ms (100 years)")?;
        }
        Ok(())
    }

    /// The core's configuration. Values are assumed validated; a NaN maps
    /// to 0 here and [`validate`](Self::validate) rejects it.
    pub fn core_config(&self) -> PoolConfig {
        PoolConfig {
            min_size: self.min_size,
            max_size: self.max_size,
            min_idle: self.min_idle,
            initial_size: self.initial(),
            acquire_timeout: self.acquire_timeout_ms.map(ms_to_ns),
            idle_timeout: self.idle_timeout_s.map(secs_to_ns),
            max_lifetime: self.max_lifetime_s.map(secs_to_ns),
            max_lifetime_jitter: self.max_lifetime_jitter,
            max_concurrent_creates: self.max_concurrent_creates,
            create_backoff_initial: ms_to_ns(self.create_backoff_initial_ms),
            create_backoff_max: ms_to_ns(self.create_backoff_max_ms),
            grow_on_demand: self.grow_on_demand,
            health_check: match self.health_check {
                HealthCheckSetting::Never => HealthCheck::Never,
                HealthCheckSetting::Always => HealthCheck::Always,
                HealthCheckSetting::AfterIdleMs(ms) => HealthCheck::AfterIdle(ms_to_ns(ms)),
            },
        }
    }
}

/// The `[controller]` table: the loop that asks the scaling policy for a
/// target each interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControllerSettings {
    /// Telemetry and scaling interval in seconds. A predictive policy's
    /// artifact must have been trained at the same interval.
    pub interval_s: f64,
    /// Raise the target by at most this many connections per interval
    /// (none: no limit beyond `max_concurrent_creates`).
    pub max_step_up: Option<u32>,
    /// Lower the target by at most this many connections per interval
    /// (none: no limit). Idle connections above the target retire after
    /// `idle_timeout_s`; busy ones are never closed.
    pub max_step_down: Option<u32>,
    /// Snapshots kept in memory for [`recent snapshots`](crate::core::telemetry::Snapshot).
    pub keep_snapshots: usize,
    /// Whether client errors (syntax, constraint violations) count as
    /// failures for the circuit breakers. They are always counted in the
    /// telemetry.
    pub breaker_counts_client_errors: bool,
    /// Whether acquires that name a statement prefer a connection that has
    /// it prepared.
    pub affinity: bool,
}

impl Default for ControllerSettings {
    fn default() -> Self {
        ControllerSettings {
            interval_s: 1.0,
            max_step_up: None,
            max_step_down: None,
            keep_snapshots: 3600,
            breaker_counts_client_errors: false,
            affinity: true,
        }
    }
}

impl ControllerSettings {
    /// Checks every field.
    ///
    /// # Errors
    /// The field's path under `path` and what was expected.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        positive(path, "interval_s", self.interval_s)?;
        if self.interval_s < 0.001 {
            return Err(ConfigError::new(
                join(path, "interval_s"),
                "expected at least 0.001 (1 ms)",
            ));
        }
        at_most(path, "interval_s", self.interval_s, 86_400.0, "s (a day)")?;
        if self.keep_snapshots > MAX_KEEP_SNAPSHOTS {
            return Err(ConfigError::new(
                join(path, "keep_snapshots"),
                format!(
                    "{} is above {MAX_KEEP_SNAPSHOTS} (about 1 KB each, kept in memory)",
                    self.keep_snapshots
                ),
            ));
        }
        for (field, v) in [
            ("max_step_up", self.max_step_up),
            ("max_step_down", self.max_step_down),
        ] {
            if let Some(v) = v
                && v > MAX_POOL_SIZE
            {
                return Err(ConfigError::new(
                    join(path, field),
                    format!("{v} is above the largest pool, {MAX_POOL_SIZE}"),
                ));
            }
        }
        if self.max_step_up == Some(0) {
            return Err(ConfigError::new(
                join(path, "max_step_up"),
                "expected at least 1 (leave it out for no limit)",
            ));
        }
        if self.max_step_down == Some(0) {
            return Err(ConfigError::new(
                join(path, "max_step_down"),
                "expected at least 1 (leave it out for no limit)",
            ));
        }
        Ok(())
    }

    /// The interval in nanoseconds.
    pub fn interval_ns(&self) -> Nanos {
        secs_to_ns(self.interval_s).max(1)
    }
}

/// The whole `pool.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PoolFile {
    /// Sizes and timeouts.
    pub pool: PoolSettings,
    /// The scaling loop.
    pub controller: ControllerSettings,
    /// The scaling policy (default: reactive).
    pub policy: Option<PolicyConfig>,
    /// Per-category and global circuit breakers.
    pub breaker: MultiBreakerConfig,
    /// Where the values came from (the workbench writes the tuning
    /// objective, its value and the runner-up here). Not read by the pool.
    pub provenance: BTreeMap<String, String>,
}

impl PoolFile {
    /// Checks every table.
    ///
    /// # Errors
    /// The field's path (`pool.max_size`, `policy.headroom`,
    /// `breaker.connection.failure_rate`) and what was expected.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.pool.validate("pool")?;
        self.controller.validate("controller")?;
        if let Some(p) = &self.policy {
            p.validate("policy")?;
        }
        self.breaker.validate()?;
        Ok(())
    }

    /// Makes relative paths (the predictive policy's artifact) relative to
    /// `base`, the directory of the file.
    pub fn resolve_paths(&mut self, base: &Path) {
        if let Some(p) = &mut self.policy {
            p.resolve_paths(base);
        }
    }

    /// The policy, with the default (reactive) filled in.
    pub fn policy_config(&self) -> PolicyConfig {
        self.policy
            .clone()
            .unwrap_or_else(|| PolicyConfig::Reactive(Default::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{NANOS_PER_MS, NANOS_PER_SEC};

    #[test]
    fn defaults_validate_and_map() {
        let f = PoolFile::default();
        f.validate().unwrap();
        let c = f.pool.core_config();
        assert_eq!(c.max_size, 10);
        assert_eq!(c.acquire_timeout, Some(30 * NANOS_PER_SEC));
        assert_eq!(c.health_check, HealthCheck::AfterIdle(500 * NANOS_PER_MS));
    }

    #[test]
    fn errors_name_the_path() {
        let mut f = PoolFile::default();
        f.pool.min_size = 11;
        assert_eq!(f.validate().unwrap_err().path, "pool.min_size");
        let mut f = PoolFile::default();
        f.pool.acquire_timeout_ms = Some(-1.0);
        assert_eq!(f.validate().unwrap_err().path, "pool.acquire_timeout_ms");
        let mut f = PoolFile::default();
        f.controller.interval_s = f64::NAN;
        assert_eq!(f.validate().unwrap_err().path, "controller.interval_s");
        let mut f = PoolFile::default();
        f.breaker.connection.failure_rate = Some(2.0);
        assert!(
            f.validate()
                .unwrap_err()
                .path
                .starts_with("breaker.connection")
        );
        let mut f = PoolFile::default();
        f.pool.initial_size = Some(0);
        f.pool.min_size = 2;
        assert_eq!(f.validate().unwrap_err().path, "pool.initial_size");
    }
}
