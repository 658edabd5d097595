//! Scaling policies: each telemetry interval the driver shows the policy the
//! newest [`Snapshot`] and the policy may set a new target size.
//!
//! | policy | decides from | shape |
//! |---|---|---|
//! | [`StaticPolicy`] | nothing | a fixed size |
//! | [`ReactivePolicy`] | utilization over a short window | threshold + cooldown, sized to demand |
//! | [`AdaptivePolicy`] | load level (utilization, database CPU) | multiplicative steps per level |
//!
//! The predictive policy (a forecast from an exported model) and the oracle
//! (perfect foresight, simulation only) plug into the same
//! [`ScalingPolicy`] trait; the oracle reads the future through
//! [`PolicyContext::foresight`], which only the simulator fills.

mod oracle;
mod predictive;

use std::collections::VecDeque;
use std::fmt::Debug;
use std::path::Path;

pub use oracle::{OracleConfig, OraclePolicy};
pub use predictive::{INTERVAL_TOLERANCE, PredictiveConfig, PredictiveMode, PredictivePolicy};

use serde::{Deserialize, Serialize};

use super::{Nanos, Snapshot};
use crate::core::config_error::ConfigError;

/// What the future holds, known only to the simulator (for the oracle).
pub trait Foresight {
    /// Peak concurrent demand (requests holding or wanting a connection)
    /// over `[from, to)` if every request were served at once.
    fn peak_demand(&self, from: Nanos, to: Nanos) -> f64;
    /// Mean concurrent demand over `[from, to)` if every request were
    /// served at once (the offered load, in connections).
    fn mean_demand(&self, from: Nanos, to: Nanos) -> f64;
}

/// Everything a policy may look at besides the snapshot.
pub struct PolicyContext<'a> {
    /// Now (the end of the snapshot's interval).
    pub now: Nanos,
    /// The pool's lower bound.
    pub min_size: u32,
    /// The pool's upper bound.
    pub max_size: u32,
    /// The target in force.
    pub target: u32,
    /// The future, in simulation only.
    pub foresight: Option<&'a dyn Foresight>,
}

impl Debug for PolicyContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyContext")
            .field("now", &self.now)
            .field("min_size", &self.min_size)
            .field("max_size", &self.max_size)
            .field("target", &self.target)
            .field("foresight", &self.foresight.is_some())
            .finish()
    }
}

impl PolicyContext<'_> {
    /// Clamps a wanted size into `[min_size, max_size]`.
    pub fn clamp(&self, want: f64) -> u32 {
        if !want.is_finite() || want <= 0.0 {
            return self.min_size;
        }
        (want.ceil().min(f64::from(u32::MAX)) as u32).clamp(self.min_size, self.max_size)
    }
}

/// Sets a pool's target size from its telemetry.
pub trait ScalingPolicy: Send + Debug {
    /// A short stable name for reports (`static`, `reactive`,
    /// `adaptive-moderate`, ...).
    fn name(&self) -> String;

    /// Sees the snapshot of the interval that just ended and returns the new
    /// target, or `None` to keep the current one.
    fn decide(&mut self, ctx: &PolicyContext<'_>, snap: &Snapshot) -> Option<u32>;

    /// The name plus what the policy is doing now, for status pages and
    /// logs (the predictive policy says whether it predicts or falls back,
    /// and why).
    fn describe(&self) -> String {
        self.name()
    }
}

/// A fixed size.
#[derive(Debug, Clone)]
pub struct StaticPolicy {
    size: u32,
}

impl StaticPolicy {
    /// Always `size` (clamped to the pool's bounds).
    pub fn new(size: u32) -> Self {
        StaticPolicy { size }
    }
}

impl ScalingPolicy for StaticPolicy {
    fn name(&self) -> String {
        "static".into()
    }
    fn decide(&mut self, ctx: &PolicyContext<'_>, _snap: &Snapshot) -> Option<u32> {
        let t = self.size.clamp(ctx.min_size, ctx.max_size);
        (t != ctx.target).then_some(t)
    }
}

/// Settings of [`ReactivePolicy`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReactiveConfig {
    /// Scale up when utilization (demand / target) exceeds this.
    pub scale_up_utilization: f64,
    /// Scale down when utilization falls below this.
    pub scale_down_utilization: f64,
    /// After a change, size for this utilization.
    pub target_utilization: f64,
    /// Intervals of demand the decision looks at (their peak is used).
    pub window: u32,
    /// Intervals to wait after a scale-up before the next change.
    pub cooldown_up: u32,
    /// Intervals to wait after any change before a scale-down.
    pub cooldown_down: u32,
    /// Largest single decrease, in connections.
    pub max_step_down: u32,
}

impl Default for ReactiveConfig {
    fn default() -> Self {
        ReactiveConfig {
            scale_up_utilization: 0.8,
            scale_down_utilization: 0.4,
            target_utilization: 0.6,
            window: 3,
            cooldown_up: 1,
            cooldown_down: 5,
            max_step_down: 4,
        }
    }
}

impl ReactiveConfig {
    /// Checks the thresholds.
    ///
    /// # Errors
    /// Names the field (under `path`) whose value is out of range.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        let f = |name: &str| format!("{path}.{name}");
        let unit = |v: f64| v.is_finite() && v > 0.0 && v <= 1.5;
        if !unit(self.scale_up_utilization) {
            return Err(ConfigError::new(
                f("scale_up_utilization"),
                "expected a number in (0, 1.5]",
            ));
        }
        if !unit(self.target_utilization) || self.target_utilization > self.scale_up_utilization {
            return Err(ConfigError::new(
                f("target_utilization"),
                "expected a number in (0, scale_up_utilization]",
            ));
        }
        if !(self.scale_down_utilization.is_finite()
            && self.scale_down_utilization >= 0.0
            && self.scale_down_utilization < self.target_utilization)
        {
            return Err(ConfigError::new(
                f("scale_down_utilization"),
                "expected a number in [0, target_utilization)",
            ));
        }
        if self.window == 0 {
            return Err(ConfigError::new(
                f("window"),
                "expected at least 1 interval",
            ));
        }
        if self.max_step_down == 0 {
            return Err(ConfigError::new(f("max_step_down"), "expected at least 1"));
        }
        Ok(())
    }
}

/// Rolling window of recent demand peaks.
#[derive(Debug, Clone)]
struct DemandWindow {
    len: usize,
    values: VecDeque<f64>,
}

impl DemandWindow {
    fn new(len: u32) -> Self {
        DemandWindow {
            len: len.max(1) as usize,
            values: VecDeque::with_capacity(len as usize),
        }
    }
    fn push(&mut self, v: f64) {
        if self.values.len() == self.len {
            self.values.pop_front();
        }
        self.values.push_back(v);
    }
    fn peak(&self) -> f64 {
        self.values.iter().copied().fold(0.0, f64::max)
    }
}

/// Threshold scaling with cooldown: when the peak demand of the last
/// `window` intervals exceeds `scale_up_utilization` of the target, size
/// for `target_utilization` at once; when it falls below
/// `scale_down_utilization`, step down by at most `max_step_down`.
#[derive(Debug, Clone)]
pub struct ReactivePolicy {
    cfg: ReactiveConfig,
    demand: DemandWindow,
    since_change: u32,
}

impl ReactivePolicy {
    /// A reactive policy with `cfg` (assumed validated).
    pub fn new(cfg: ReactiveConfig) -> Self {
        let demand = DemandWindow::new(cfg.window);
        ReactivePolicy {
            cfg,
            demand,
            since_change: u32::MAX / 2,
        }
    }
}

impl ScalingPolicy for ReactivePolicy {
    fn name(&self) -> String {
        "reactive".into()
    }

    fn decide(&mut self, ctx: &PolicyContext<'_>, snap: &Snapshot) -> Option<u32> {
        // Peak demand of the interval: the time-weighted mean hides bursts
        // shorter than the interval, the instantaneous peak overreacts to
        // one; use the larger of the mean and the midpoint.
        let d = snap
            .demand_mean()
            .max((snap.demand_mean() + f64::from(snap.demand_max)) / 2.0);
        self.demand.push(d);
        self.since_change = self.since_change.saturating_add(1);
        let target = f64::from(ctx.target.max(1));
        let peak = self.demand.peak();
        let util = peak / target;
        let new =
            if util > self.cfg.scale_up_utilization && self.since_change > self.cfg.cooldown_up {
                ctx.clamp(peak / self.cfg.target_utilization)
            } else if util < self.cfg.scale_down_utilization
                && self.since_change > self.cfg.cooldown_down
            {
                let want = ctx.clamp(peak / self.cfg.target_utilization);
                want.max(ctx.target.saturating_sub(self.cfg.max_step_down))
            } else {
                return None;
            };
        if new == ctx.target {
            return None;
        }
        self.since_change = 0;
        Some(new)
    }
}

/// The three adaptive strategies. Each turns a load level into a
/// multiplicative step of the current target:
///
/// | strategy | LOW | MEDIUM | HIGH | CRITICAL | cooldown | smoothing α |
/// |---|---|---|---|---|---|---|
/// | conservative | ×0.8 | ×1.0 | ×1.2 | ×1.3 | 6 intervals | 0.2 |
/// | moderate | ×0.7 | ×1.0 | ×1.5 | ×1.8 | 3 intervals | 0.4 |
/// | aggressive | ×0.5 | ×1.0 | ×2.0 | ×2.5 | 1 interval | 0.7 |
///
/// The multipliers are the seed document's table. Conservative reacts late
/// and in small steps (cheap, risks queueing on a burst); aggressive reacts
/// at once and over-provisions (fast, costs connection-seconds); moderate
/// sits between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Small, late steps.
    Conservative,
    /// The middle.
    Moderate,
    /// Large, immediate steps.
    Aggressive,
}

impl Strategy {
    fn multipliers(self) -> [f64; 4] {
        match self {
            Strategy::Conservative => [0.8, 1.0, 1.2, 1.3],
            Strategy::Moderate => [0.7, 1.0, 1.5, 1.8],
            Strategy::Aggressive => [0.5, 1.0, 2.0, 2.5],
        }
    }
    fn cooldown(self) -> u32 {
        match self {
            Strategy::Conservative => 6,
            Strategy::Moderate => 3,
            Strategy::Aggressive => 1,
        }
    }
    fn alpha(self) -> f64 {
        match self {
            Strategy::Conservative => 0.2,
            Strategy::Moderate => 0.4,
            Strategy::Aggressive => 0.7,
        }
    }
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Conservative => "conservative",
            Strategy::Moderate => "moderate",
            Strategy::Aggressive => "aggressive",
        }
    }
}

/// Load level boundaries of [`AdaptivePolicy`], on
/// `max(smoothed demand / target, database CPU)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdaptiveConfig {
    /// The strategy.
    pub strategy: Strategy,
    /// Below this: LOW.
    pub low: f64,
    /// Below this: MEDIUM.
    pub high: f64,
    /// Below this: HIGH; at or above: CRITICAL.
    pub critical: f64,
}

impl Default for AdaptiveConfig {
    fn default() -> Self {
        AdaptiveConfig {
            strategy: Strategy::Moderate,
            low: 0.35,
            high: 0.7,
            critical: 0.9,
        }
    }
}

impl AdaptiveConfig {
    /// Checks that `0 < low < high < critical`.
    ///
    /// # Errors
    /// Names the field (under `path`) that breaks the order.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if !(self.low.is_finite() && self.low > 0.0) {
            return Err(ConfigError::new(
                format!("{path}.low"),
                "expected a positive number",
            ));
        }
        if !(self.high.is_finite() && self.high > self.low) {
            return Err(ConfigError::new(
                format!("{path}.high"),
                "expected a number above `low`",
            ));
        }
        if !(self.critical.is_finite() && self.critical > self.high) {
            return Err(ConfigError::new(
                format!("{path}.critical"),
                "expected a number above `high`",
            ));
        }
        Ok(())
    }
}

/// Adaptive scaling: a load level from utilization and database CPU, and a
/// per-strategy multiplicative step (see [`Strategy`]).
#[derive(Debug, Clone)]
pub struct AdaptivePolicy {
    cfg: AdaptiveConfig,
    smoothed: Option<f64>,
    since_change: u32,
}

impl AdaptivePolicy {
    /// An adaptive policy with `cfg` (assumed validated).
    pub fn new(cfg: AdaptiveConfig) -> Self {
        AdaptivePolicy {
            cfg,
            smoothed: None,
            since_change: u32::MAX / 2,
        }
    }

    /// The load level (0 LOW … 3 CRITICAL) for a utilization.
    pub fn level(&self, utilization: f64) -> usize {
        if utilization < self.cfg.low {
            0
        } else if utilization < self.cfg.high {
            1
        } else if utilization < self.cfg.critical {
            2
        } else {
            3
        }
    }
}

impl ScalingPolicy for AdaptivePolicy {
    fn name(&self) -> String {
        format!("adaptive-{}", self.cfg.strategy.name())
    }

    fn decide(&mut self, ctx: &PolicyContext<'_>, snap: &Snapshot) -> Option<u32> {
        let s = self.cfg.strategy;
        let demand = snap.demand_mean().max(f64::from(snap.demand_max) * 0.5);
        let sm = match self.smoothed {
            None => demand,
            Some(prev) => prev + s.alpha() * (demand - prev),
        };
        self.smoothed = Some(sm);
        self.since_change = self.since_change.saturating_add(1);
        if self.since_change <= s.cooldown() {
            return None;
        }
        let util = (sm / f64::from(ctx.target.max(1))).max(snap.db_cpu.unwrap_or(0.0));
        let m = s.multipliers()[self.level(util)];
        let new = ctx.clamp((f64::from(ctx.target.max(1)) * m).max(if m < 1.0 { sm } else { 0.0 }));
        if new == ctx.target {
            return None;
        }
        self.since_change = 0;
        Some(new)
    }
}

/// A policy as written in a scenario or manifest (`kind = "..."`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PolicyConfig {
    /// A fixed size.
    Static {
        /// The size.
        size: u32,
    },
    /// See [`ReactivePolicy`].
    Reactive(ReactiveConfig),
    /// See [`AdaptivePolicy`].
    Adaptive(AdaptiveConfig),
    /// See [`PredictivePolicy`].
    Predictive(PredictiveConfig),
    /// See [`OraclePolicy`] (simulation only).
    Oracle(OracleConfig),
}

impl PolicyConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// The field path under `path` and what was expected.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        match self {
            PolicyConfig::Static { .. } => Ok(()),
            PolicyConfig::Reactive(c) => c.validate(path),
            PolicyConfig::Adaptive(c) => c.validate(path),
            PolicyConfig::Predictive(c) => c.validate(path),
            PolicyConfig::Oracle(c) => c.validate(path),
        }
    }

    /// Makes a relative artifact path relative to `base` (the directory of
    /// the file that named it).
    pub fn resolve_paths(&mut self, base: &Path) {
        if let PolicyConfig::Predictive(PredictiveConfig {
            artifact: Some(p), ..
        }) = self
            && p.is_relative()
        {
            *p = base.join(&*p);
        }
    }

    /// Builds the policy for a driver whose time 0 is Monday 00:00 (the
    /// simulator). A predictive policy whose artifact cannot be loaded is
    /// built in reactive fallback; see [`PredictivePolicy::mode`].
    pub fn build(&self) -> Box<dyn ScalingPolicy> {
        match self {
            PolicyConfig::Static { size } => Box::new(StaticPolicy::new(*size)),
            PolicyConfig::Reactive(c) => Box::new(ReactivePolicy::new(c.clone())),
            PolicyConfig::Adaptive(c) => Box::new(AdaptivePolicy::new(c.clone())),
            PolicyConfig::Predictive(c) => Box::new(PredictivePolicy::new(c.clone(), 0)),
            PolicyConfig::Oracle(c) => Box::new(OraclePolicy::new(c.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(busy: f64, waiting: f64) -> Snapshot {
        Snapshot {
            busy_mean: busy,
            waiting_mean: waiting,
            demand_max: (busy + waiting).ceil() as u32,
            ..Snapshot::default()
        }
    }

    fn ctx(target: u32) -> PolicyContext<'static> {
        PolicyContext {
            now: 0,
            min_size: 2,
            max_size: 100,
            target,
            foresight: None,
        }
    }

    #[test]
    fn static_holds_its_size() {
        let mut p = StaticPolicy::new(7);
        assert_eq!(p.decide(&ctx(5), &snap(50.0, 0.0)), Some(7));
        assert_eq!(p.decide(&ctx(7), &snap(50.0, 0.0)), None);
        assert_eq!(
            StaticPolicy::new(500).decide(&ctx(5), &snap(0.0, 0.0)),
            Some(100)
        );
    }

    #[test]
    fn reactive_scales_up_to_target_utilization_and_cools_down() {
        let mut p = ReactivePolicy::new(ReactiveConfig::default());
        // demand 18 on target 20 = 0.9 > 0.8: size for 0.6 -> 30.
        assert_eq!(p.decide(&ctx(20), &snap(18.0, 0.0)), Some(30));
        // Within the down cooldown, low demand changes nothing.
        for _ in 0..5 {
            assert_eq!(p.decide(&ctx(30), &snap(1.0, 0.0)), None);
        }
        // Window peak has decayed after 3 intervals; step down by at most 4.
        assert_eq!(p.decide(&ctx(30), &snap(1.0, 0.0)), Some(26));
    }

    #[test]
    fn adaptive_strategies_differ_in_step_size() {
        let high = snap(19.0, 0.0);
        let mut steps = Vec::new();
        for s in [
            Strategy::Conservative,
            Strategy::Moderate,
            Strategy::Aggressive,
        ] {
            let mut p = AdaptivePolicy::new(AdaptiveConfig {
                strategy: s,
                ..Default::default()
            });
            steps.push(p.decide(&ctx(20), &high).expect("critical load scales up"));
        }
        assert_eq!(steps, vec![26, 36, 50]);
    }

    #[test]
    fn adaptive_respects_cooldown_and_shrinks_on_low_load() {
        let mut p = AdaptivePolicy::new(AdaptiveConfig {
            strategy: Strategy::Aggressive,
            ..Default::default()
        });
        assert_eq!(p.decide(&ctx(40), &snap(2.0, 0.0)), Some(20));
        assert_eq!(p.decide(&ctx(20), &snap(2.0, 0.0)), None, "cooldown");
        assert_eq!(p.decide(&ctx(20), &snap(2.0, 0.0)), Some(10));
    }

    #[test]
    fn adaptive_uses_db_cpu_when_present() {
        let mut s = snap(1.0, 0.0);
        s.db_cpu = Some(0.95);
        let mut p = AdaptivePolicy::new(AdaptiveConfig::default());
        assert_eq!(p.decide(&ctx(10), &s), Some(18));
    }

    #[test]
    fn config_validation_names_fields() {
        let c = ReactiveConfig {
            scale_down_utilization: 0.9,
            ..Default::default()
        };
        assert_eq!(
            c.validate("pool.policy").unwrap_err().path,
            "pool.policy.scale_down_utilization"
        );
        let a = AdaptiveConfig {
            high: 0.1,
            ..Default::default()
        };
        assert_eq!(a.validate("p").unwrap_err().path, "p.high");
    }
}
