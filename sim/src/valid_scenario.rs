//! A scenario that passed validation, in the form the engine runs.
//!
//! "Parse, don't validate": [`Scenario::into_valid`] checks every field
//! once and keeps what the checks proved, compiled (the pool's
//! [`ValidPoolConfig`], the class mix's sampler, the loaded trace). The
//! engine, the demand and the oracle's foresight take a
//! [`ValidScenario`], so none of them has a failure path of its own, and a
//! library caller cannot hand them a scenario that was never checked.

use std::ops::Deref;
use std::sync::Arc;

use poolcast::core::pool::ValidPoolConfig;
use serde::{Serialize, Serializer};

use crate::config_error::{ConfigError, join};
use crate::scenario::{Scenario, Warning};
use crate::workload::replay::ReplayTrace;
use crate::workload::{MixSampler, ServiceSampler};

/// A [`Scenario`] that passed [`Scenario::validate`], with its trace
/// loaded and its samplers compiled. Read the scenario through `Deref`; to
/// change it, take it out with [`ValidScenario::into_inner`] and validate
/// the result again.
///
/// It serializes, and compares, as the scenario it holds.
#[derive(Debug, Clone)]
pub struct ValidScenario {
    scenario: Scenario,
    warnings: Vec<Warning>,
    pool: ValidPoolConfig,
    create_time: ServiceSampler,
    traffic: Traffic,
}

/// Where a valid scenario's requests come from.
#[derive(Debug, Clone)]
pub(crate) enum Traffic {
    /// A recorded trace, loaded.
    Replay(Arc<ReplayTrace>),
    /// Drawn from the class mix (arrivals from `load`).
    Synthetic(MixSampler),
}

impl Scenario {
    /// Checks every field ([`Scenario::validate`]) and returns the scenario
    /// in the form the engine runs; `path` is this scenario's path in its
    /// file. A replay scenario's trace must be loaded first
    /// ([`Scenario::load_replay`], or [`ScenarioFile::load`](crate::ScenarioFile::load)).
    ///
    /// # Errors
    /// The first bad field's path and what was expected.
    pub fn into_valid(self, path: &str) -> Result<ValidScenario, ConfigError> {
        let warnings = self.validate(path)?;
        let pool = self
            .pool
            .core_config()
            .into_valid()
            .map_err(|e| e.under(&join(path, "pool")))?;
        let create_time = self
            .pool
            .create_time
            .sampler(&join(path, "pool.create_time"))?;
        let traffic = match &self.replay {
            Some(r) => {
                Traffic::Replay(Arc::clone(r.trace().ok_or_else(|| {
                    ConfigError::new(join(path, "replay.trace"), "not loaded")
                })?))
            }
            None => Traffic::Synthetic(MixSampler::new(&self.mix(), path)?),
        };
        Ok(ValidScenario {
            scenario: self,
            warnings,
            pool,
            create_time,
            traffic,
        })
    }
}

impl ValidScenario {
    /// The scenario, to change it (validate it again to run it).
    pub fn into_inner(self) -> Scenario {
        self.scenario
    }

    /// What validation found that runs but probably does not mean what its
    /// author intended.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// The pool's configuration, validated.
    pub(crate) fn pool_config(&self) -> &ValidPoolConfig {
        &self.pool
    }

    /// The connection set-up time, compiled.
    pub(crate) fn create_time(&self) -> &ServiceSampler {
        &self.create_time
    }

    /// Where the requests come from.
    pub(crate) fn traffic(&self) -> &Traffic {
        &self.traffic
    }
}

impl Deref for ValidScenario {
    type Target = Scenario;
    fn deref(&self) -> &Scenario {
        &self.scenario
    }
}

impl PartialEq for ValidScenario {
    /// Equal when the scenarios are: the rest is derived from them.
    fn eq(&self, other: &Self) -> bool {
        self.scenario == other.scenario
    }
}

impl Serialize for ValidScenario {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.scenario.serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(extra: &str) -> Scenario {
        toml::from_str(&format!(
            "name = \"s\"\nduration_s = 10.0\n{extra}\n\
             [[classes]]\nclass = \"read\"\nshare = 1.0\n\
             service = {{ kind = \"exponential\", mean_ms = 2.0 }}\n"
        ))
        .expect("test scenario parses")
    }

    #[test]
    fn a_valid_scenario_reads_as_the_scenario_and_serializes_as_it() {
        let sc = scenario("");
        let valid = sc.clone().into_valid("scenario[0]").unwrap();
        assert_eq!(*valid, sc);
        assert_eq!(
            serde_json::to_string(&valid).unwrap(),
            serde_json::to_string(&sc).unwrap()
        );
        assert!(matches!(valid.traffic(), Traffic::Synthetic(_)));
        assert_eq!(valid.into_inner(), sc);
    }

    #[test]
    fn what_the_engine_would_trip_on_is_an_error_naming_the_field() {
        let mut sc = scenario("");
        sc.pool.settings.max_size = 0;
        let e = sc.into_valid("scenario[2]").unwrap_err();
        assert_eq!(e.path, "scenario[2].pool.max_size");

        let mut sc = scenario("");
        sc.classes[0].share = 0.0;
        let e = sc.into_valid("scenario[0]").unwrap_err();
        assert!(e.path.starts_with("scenario[0]"), "{e}");

        // A replay whose trace was never read: nothing to run.
        let sc = scenario("replay = { trace = \"nowhere.parquet\" }");
        let e = sc.into_valid("scenario[1]").unwrap_err();
        assert_eq!(e.path, "scenario[1].replay.trace");
    }
}
