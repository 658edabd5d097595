//! The `pool.toml` a run exports: the simulated pool's `[pool]` settings
//! (the same [`PoolSettings`](poolcast::core::settings::PoolSettings) the
//! scenario carries), the predictive policy pointing at the run's
//! `artifact.json`, the tuned thresholds, and where they came from. The
//! runtime pool loads it as is (`poolcast::runtime::load_pool_file`).

use std::collections::BTreeMap;

use anyhow::{Result, anyhow};
use poolcast::core::policy::{PolicyConfig, PredictiveConfig};
use poolcast::core::settings::{ControllerSettings, PoolFile};
use poolcast_sim::Scenario;

use crate::overrides::Override;

/// Builds and checks the exported `pool.toml` text. `sc` is the scenario
/// whose pool was tuned (its settings before tuning), `base` the
/// predictive settings before tuning, `chosen` the winning overrides.
///
/// # Errors
/// The tuned settings do not validate for the runtime.
pub fn build(
    sc: &Scenario,
    interval_s: f64,
    base: &PredictiveConfig,
    chosen: &[Override],
    provenance: BTreeMap<String, String>,
) -> Result<String> {
    let mut cfg = base.clone();
    cfg.artifact = Some("artifact.json".into());
    let mut f = PoolFile {
        pool: sc.pool.settings.clone(),
        controller: ControllerSettings {
            interval_s,
            affinity: sc.pool.affinity.enabled,
            ..ControllerSettings::default()
        },
        policy: Some(PolicyConfig::Predictive(cfg)),
        breaker: sc.breaker.clone(),
        provenance,
    };
    for ov in chosen {
        ov.apply_to_pool_file(&mut f)
            .map_err(|e| anyhow!("tuned {} does not fit pool.toml: {e}", ov.path))?;
    }
    f.validate()
        .map_err(|e| anyhow!("the exported pool.toml would be refused: {e}"))?;
    let body = toml::to_string_pretty(&f).map_err(|e| anyhow!("writing pool.toml: {e}"))?;
    // Read back as the runtime will: the file must mean what was tuned.
    let back: PoolFile =
        toml::from_str(&body).map_err(|e| anyhow!("pool.toml does not read back: {e}"))?;
    if back != f {
        return Err(anyhow!(
            "pool.toml does not read back to the tuned settings"
        ));
    }
    Ok(format!(
        "# Exported by `poolcast run`: the pool settings of the tuned scenario, the\n\
         # predictive policy driven by artifact.json (next to this file) and the\n\
         # tuned thresholds. Load it with poolcast::runtime::load_pool_file.\n\
         # The tuning objective, its value and the runner-up are under [provenance].\n\n{body}"
    ))
}
