//! The database behind the pool: service time may grow with concurrency,
//! and busy connections drive modeled CPU and memory signals.

use serde::{Deserialize, Serialize};

use crate::config_error::{ConfigError, check, join};

/// Database model settings (`[database]` in a scenario). The defaults turn
/// contention off, which is what an M/M/c validation needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Concurrent statements the database serves without slowing down;
    /// 0 turns contention off.
    pub contention_knee: u32,
    /// Slope of the slowdown above the knee: a statement granted with
    /// `busy` connections in use runs `1 + alpha × (busy − knee) / knee`
    /// times longer.
    pub contention_alpha: f64,
    /// CPU cores of the modeled server.
    pub cores: f64,
    /// Cores one busy connection keeps busy.
    pub cpu_per_busy: f64,
    /// Memory used with no connection open, as a fraction of the total.
    pub mem_base: f64,
    /// Memory one open connection takes, as a fraction of the total.
    pub mem_per_connection: f64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            contention_knee: 0,
            contention_alpha: 0.0,
            cores: 16.0,
            cpu_per_busy: 0.5,
            mem_base: 0.25,
            mem_per_connection: 0.004,
        }
    }
}

impl DatabaseConfig {
    /// Checks the model's parameters.
    ///
    /// # Errors
    /// The field's path under `path` and what was expected.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        check::non_negative(path, "contention_alpha", self.contention_alpha)?;
        check::non_negative(path, "cpu_per_busy", self.cpu_per_busy)?;
        check::non_negative(path, "mem_base", self.mem_base)?;
        check::non_negative(path, "mem_per_connection", self.mem_per_connection)?;
        if !(self.cores.is_finite() && self.cores > 0.0) {
            return Err(ConfigError::new(
                join(path, "cores"),
                "expected a number > 0",
            ));
        }
        Ok(())
    }

    /// Slowdown of a statement granted while `busy` connections are in use.
    #[inline]
    pub fn contention(&self, busy: u32) -> f64 {
        if self.contention_knee == 0 || busy <= self.contention_knee {
            1.0
        } else {
            let k = f64::from(self.contention_knee);
            1.0 + self.contention_alpha * (f64::from(busy) - k) / k
        }
    }

    /// Modeled CPU utilization for a mean number of busy connections.
    pub fn cpu(&self, busy_mean: f64) -> f64 {
        (busy_mean * self.cpu_per_busy / self.cores).clamp(0.0, 1.0)
    }

    /// Modeled memory utilization for a mean number of open connections.
    pub fn mem(&self, size_mean: f64) -> f64 {
        (self.mem_base + self.mem_per_connection * size_mean).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contention_curve() {
        let d = DatabaseConfig {
            contention_knee: 10,
            contention_alpha: 0.5,
            ..Default::default()
        };
        assert_eq!(d.contention(5), 1.0);
        assert_eq!(d.contention(10), 1.0);
        assert!((d.contention(20) - 1.5).abs() < 1e-12);
        assert_eq!(DatabaseConfig::default().contention(1000), 1.0);
        assert!((d.cpu(16.0) - 0.5).abs() < 1e-12);
    }
}
