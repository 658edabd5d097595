//! The oracle: perfect foresight of demand, the bound no policy can beat.
//! Simulation only: it reads the future through
//! [`PolicyContext::foresight`], which only the simulator fills.

use serde::{Deserialize, Serialize};

use super::{PolicyContext, ScalingPolicy};
use crate::core::Snapshot;
use crate::core::config_error::ConfigError;

/// Settings of [`OraclePolicy`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OracleConfig {
    /// How far ahead it provisions, in intervals: the peak demand of the
    /// next `lead` intervals (cover connection creation time).
    pub lead: u32,
    /// Multiplier on the foreseen peak.
    pub headroom: f64,
}

impl Default for OracleConfig {
    fn default() -> Self {
        OracleConfig {
            lead: 2,
            headroom: 1.0,
        }
    }
}

impl OracleConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// The field path under `path` and what was expected.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if self.lead == 0 {
            return Err(ConfigError::new(
                format!("{path}.lead"),
                "expected at least 1 interval",
            ));
        }
        if !(self.headroom.is_finite() && (1.0..=10.0).contains(&self.headroom)) {
            return Err(ConfigError::new(
                format!("{path}.headroom"),
                "expected a number in [1, 10]",
            ));
        }
        Ok(())
    }
}

/// Sizes the pool to the peak demand of the next `lead` intervals, known in
/// advance. Without foresight (outside the simulator) it keeps the target.
#[derive(Debug, Clone)]
pub struct OraclePolicy {
    cfg: OracleConfig,
}

impl OraclePolicy {
    /// An oracle with `cfg` (assumed validated).
    pub fn new(cfg: OracleConfig) -> Self {
        OraclePolicy { cfg }
    }
}

impl ScalingPolicy for OraclePolicy {
    fn name(&self) -> String {
        "oracle".into()
    }

    fn decide(&mut self, ctx: &PolicyContext<'_>, snap: &Snapshot) -> Option<u32> {
        let future = ctx.foresight?;
        let to = ctx.now + u64::from(self.cfg.lead) * snap.interval_ns;
        let peak = future.peak_demand(ctx.now, to);
        let t = ctx.clamp(peak * self.cfg.headroom);
        (t != ctx.target).then_some(t)
    }
}
