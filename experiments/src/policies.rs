//! Turning a policy name of the comparison into a scenario to simulate.
//!
//! Every policy runs the same workload with the same random streams (each
//! request draws its class, hold time and failure dice at arrival), so the
//! comparison is paired: differences between policies are the policies'
//! doing, not the dice's.

use poolcast::core::policy::{AdaptiveConfig, PolicyConfig, PredictiveConfig};
use poolcast_sim::Scenario;

use crate::manifest::{Manifest, PolicySpec};
use crate::overrides::Override;

/// A fixed pool of `n` connections: min = max = initial = `n`, static policy.
pub fn fixed(sc: &mut Scenario, n: u32) {
    let n = n.max(1);
    sc.pool.settings.min_size = n;
    sc.pool.settings.max_size = n;
    sc.pool.settings.initial_size = Some(n);
    sc.pool.settings.min_idle = sc.pool.settings.min_idle.min(n);
    sc.pool.policy = Some(PolicyConfig::Static { size: n });
}

/// The predictive settings a run uses: the manifest's base, the artifact,
/// and the overrides of a tuning candidate (or of the tuned winner).
pub struct Predictive<'a> {
    /// The base predictive settings, artifact set.
    pub config: &'a PredictiveConfig,
    /// The tuned overrides (also applied to the scenario's pool and
    /// breakers).
    pub overrides: &'a [Override],
}

/// The scenario `name` of `m` set up for `spec` in the evaluation (its
/// `duration_s` applied). `shared` are tuned pool and breaker overrides,
/// applied for every policy so that policies are compared under the same
/// pool bounds and breakers; the predictive policy's own overrides come
/// with `predictive`. `predictive` must be
/// given for [`PolicySpec::Predictive`]; `matched` (the predictive run's
/// mean size) for [`PolicySpec::StaticMatched`].
///
/// # Errors
/// A policy that needs a model or a size that was not given.
pub fn scenario_for(
    m: &Manifest,
    name: &str,
    spec: PolicySpec,
    shared: &[Override],
    predictive: Option<&Predictive<'_>>,
    matched: Option<f64>,
) -> anyhow::Result<Scenario> {
    let mut sc = m.scenario(name)?.clone().into_inner();
    let ev = &m.body.evaluation;
    if let Some(d) = ev.duration_s {
        sc.duration_s = d;
    }
    for ov in shared {
        ov.apply_shared(&mut sc)
            .map_err(|e| anyhow::anyhow!("tuned {}: {e}", ov.path))?;
    }
    match spec {
        PolicySpec::StaticMin => {
            let n = sc.pool.settings.min_size.max(1);
            fixed(&mut sc, n);
        }
        PolicySpec::StaticMax => {
            let n = sc.pool.settings.max_size;
            fixed(&mut sc, n);
        }
        PolicySpec::StaticN(n) => fixed(&mut sc, n),
        PolicySpec::StaticMatched => {
            let mean = matched.ok_or_else(|| {
                anyhow::anyhow!("static-matched needs the predictive run's mean size")
            })?;
            let n = if mean.is_finite() {
                mean.ceil() as u32
            } else {
                1
            };
            fixed(&mut sc, n);
        }
        PolicySpec::Reactive => {
            sc.pool.policy = Some(PolicyConfig::Reactive(ev.reactive.clone()));
        }
        PolicySpec::Adaptive(strategy) => {
            sc.pool.policy = Some(PolicyConfig::Adaptive(AdaptiveConfig {
                strategy,
                ..ev.adaptive.clone()
            }));
        }
        PolicySpec::Oracle => {
            sc.pool.policy = Some(PolicyConfig::Oracle(ev.oracle.clone()));
        }
        PolicySpec::Predictive | PolicySpec::PredictiveNaive | PolicySpec::PredictiveIdeal => {
            let p = predictive
                .ok_or_else(|| anyhow::anyhow!("{} needs the trained model", spec.name()))?;
            let mut cfg = p.config.clone();
            for ov in p.overrides {
                ov.apply(&mut sc, &mut cfg)
                    .map_err(|e| anyhow::anyhow!("tuned {}: {e}", ov.path))?;
            }
            cfg.artifact = p.config.artifact.clone();
            cfg.foresight = spec == PolicySpec::PredictiveIdeal;
            sc.pool.policy = Some(PolicyConfig::Predictive(cfg));
        }
    }
    Ok(sc)
}
