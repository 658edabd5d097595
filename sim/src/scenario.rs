//! The scenario file: what `poolcast simulate` reads.
//!
//! ```toml
//! seed = 42                  # every random stream derives from it
//!
//! [defaults]                 # optional: merged under every [[scenario]]
//! duration_s = 600
//! interval_s = 1.0
//!
//! [[scenario]]
//! name = "steady"
//! replications = 2
//! load = { base_rate = 100.0 }
//! classes = [{ class = "read", share = 1.0, service = { kind = "exponential", mean_ms = 50.0 } }]
//! pool = { min_size = 10, max_size = 10 }
//! ```
//!
//! Every table rejects unknown fields; every value is checked, and an error
//! names the field's path (`scenario[1].pool.settings.min_size`). The full field
//! list is in `docs/reference/scenario.md`.

use std::path::Path;

use poolcast::core::breaker::MultiBreakerConfig;
use poolcast::core::policy::PolicyConfig;
use poolcast::core::pool::PoolConfig;
use poolcast::core::settings::PoolSettings;
use poolcast::core::{NANOS_PER_SEC, Nanos};
use serde::{Deserialize, Serialize};

use crate::config_error::check::{non_negative, positive};
use crate::config_error::{ConfigError, join};
use crate::database::DatabaseConfig;
use crate::failures::FailureConfig;
use crate::valid_scenario::ValidScenario;
use crate::workload::replay::WHOLE_SECONDS;
use crate::workload::{ClassMix, ClassSpec, LoadConfig, ReplayConfig, ServiceDist, secs_to_ns};

/// Statement-cache affinity (`pool.affinity`): every connection keeps an
/// LRU cache of prepared statement patterns, as the runtime's `PgManager`
/// does, and with `enabled` a request is routed to an idle connection that
/// already prepared its pattern
/// ([`PoolCore::acquire_preferring`](poolcast::core::pool::PoolCore::acquire_preferring)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AffinitySpec {
    /// Route by affinity (default `true`, like the runtime pool). Off, the
    /// caches still count hits and misses, but the pool grants its most
    /// recently used idle connection whatever it prepared.
    pub enabled: bool,
    /// Prepared statements kept per connection (default 256, the runtime's
    /// default); 0 means no cache: every request prepares anew and nothing
    /// is ever a hit.
    pub cache_size: u32,
    /// Extra connection time a request holds on a cache miss (parse and
    /// plan), in ms (default 0: misses cost nothing, only counted).
    pub prepare_ms: f64,
}

impl Default for AffinitySpec {
    fn default() -> Self {
        AffinitySpec {
            enabled: true,
            cache_size: 256,
            prepare_ms: 0.0,
        }
    }
}

impl AffinitySpec {
    /// Checks every field.
    ///
    /// # Errors
    /// The field's path under `path` and what was expected.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        non_negative(path, "prepare_ms", self.prepare_ms)
    }
}

/// The pool under test (`pool` in a scenario): the runtime pool's own
/// `[pool]` settings ([`PoolSettings`]: the fields, defaults and checks of
/// `pool.toml`), plus what only a simulation needs. In the file it is one
/// table: `pool = { max_size = 20, create_time = { ... } }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PoolSpec {
    /// The runtime pool's settings. `create_timeout_ms`, `recycle` and
    /// `leak_detection_threshold_ms` are carried to the exported
    /// `pool.toml` but not modeled.
    #[serde(flatten)]
    pub settings: PoolSettings,
    /// Cost of one health check, in ms of connection time.
    pub health_check_ms: f64,
    /// Time to open a connection (TCP, TLS, auth, session setup).
    pub create_time: ServiceDist,
    /// The scaling policy (default: static at the initial size).
    pub policy: Option<PolicyConfig>,
    /// Statement caches and affinity routing.
    pub affinity: AffinitySpec,
}

impl Default for PoolSpec {
    fn default() -> Self {
        PoolSpec {
            settings: PoolSettings::default(),
            health_check_ms: 0.2,
            create_time: ServiceDist::Deterministic { ms: 0.0 },
            policy: None,
            affinity: AffinitySpec::default(),
        }
    }
}

/// The fields of a scenario's `pool` table that are not [`PoolSettings`]'
/// (the simulation-only ones), as read.
#[derive(Default)]
struct SimOnly {
    health_check_ms: Option<f64>,
    create_time: Option<ServiceDist>,
    policy: Option<PolicyConfig>,
    affinity: Option<AffinitySpec>,
}

/// Reads one `pool` table into [`PoolSpec`]: the simulation-only keys into
/// their fields, every other key into [`PoolSettings`], which refuses the
/// ones it does not know. Each value is read in place from the file's
/// deserializer, so an error keeps its full path
/// (`scenario[0].pool.settings.max_size`), as with a derived implementation; a
/// derived one cannot do this (`flatten` gives up `deny_unknown_fields`
/// and the paths of the flattened fields).
impl<'de> Deserialize<'de> for PoolSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(PoolSpecVisitor)
    }
}

struct PoolSpecVisitor;

impl<'de> serde::de::Visitor<'de> for PoolSpecVisitor {
    type Value = PoolSpec;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a pool table")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<PoolSpec, A::Error> {
        let mut sim = SimOnly::default();
        let settings = PoolSettings::deserialize(serde::de::value::MapAccessDeserializer::new(
            SplitSimOnly { map, sim: &mut sim },
        ))?;
        let d = PoolSpec::default();
        Ok(PoolSpec {
            settings,
            health_check_ms: sim.health_check_ms.unwrap_or(d.health_check_ms),
            create_time: sim.create_time.unwrap_or(d.create_time),
            policy: sim.policy,
            affinity: sim.affinity.unwrap_or(d.affinity),
        })
    }
}

/// The map of a `pool` table with the simulation-only entries taken out
/// (into `sim`) as [`PoolSettings`] reads it.
struct SplitSimOnly<'a, A> {
    map: A,
    sim: &'a mut SimOnly,
}

impl<'de, A: serde::de::MapAccess<'de>> serde::de::MapAccess<'de> for SplitSimOnly<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let mut seed = Some(seed);
        loop {
            // The key is routed inside the file's own `next_key_seed`, so
            // an unknown key's error carries its path (`pool.max_sizee`).
            let Some(routed) = self.map.next_key_seed(RouteKey(&mut seed))? else {
                return Ok(None);
            };
            match routed {
                Routed::Settings(k) => return Ok(Some(k)),
                Routed::Sim(SimField::HealthCheckMs) => {
                    self.sim.health_check_ms = Some(self.map.next_value()?);
                }
                Routed::Sim(SimField::CreateTime) => {
                    self.sim.create_time = Some(self.map.next_value()?);
                }
                Routed::Sim(SimField::Policy) => self.sim.policy = Some(self.map.next_value()?),
                Routed::Sim(SimField::Affinity) => {
                    self.sim.affinity = Some(self.map.next_value()?);
                }
            }
        }
    }

    fn next_value_seed<V: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

/// The simulation-only keys of a `pool` table.
#[derive(Clone, Copy)]
enum SimField {
    HealthCheckMs,
    CreateTime,
    Policy,
    Affinity,
}

impl SimField {
    fn of(key: &str) -> Option<SimField> {
        Some(match key {
            "health_check_ms" => SimField::HealthCheckMs,
            "create_time" => SimField::CreateTime,
            "policy" => SimField::Policy,
            "affinity" => SimField::Affinity,
            _ => return None,
        })
    }
}

/// Where a key of a `pool` table goes.
enum Routed<K> {
    /// A [`PoolSettings`] key, as its own deserializer read it.
    Settings(K),
    /// A simulation-only key.
    Sim(SimField),
}

/// Reads a key and routes it: a simulation-only one is kept by name, any
/// other goes to [`PoolSettings`]' key seed (once: a map's keys after it
/// are read with a fresh seed from the next call).
struct RouteKey<'a, K>(&'a mut Option<K>);

impl<'de, K: serde::de::DeserializeSeed<'de>> serde::de::DeserializeSeed<'de> for RouteKey<'_, K> {
    type Value = Routed<K::Value>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        use serde::de::{Error, IntoDeserializer};
        let key = String::deserialize(d)?;
        if let Some(field) = SimField::of(&key) {
            return Ok(Routed::Sim(field));
        }
        let seed = self
            .0
            .take()
            .ok_or_else(|| D::Error::custom("a pool key was routed twice"))?;
        seed.deserialize(key.into_deserializer())
            .map(Routed::Settings)
            .map_err(|e: serde::de::value::Error| D::Error::custom(e))
    }
}

impl PoolSpec {
    /// The initial size: `initial_size`, or `min_size`.
    pub fn initial(&self) -> u32 {
        self.settings.initial()
    }

    /// Whether the pool's size can never change.
    pub fn is_fixed(&self) -> bool {
        self.settings.min_size == self.settings.max_size
    }

    /// Checks every field.
    ///
    /// # Errors
    /// The field's path under `path` and what was expected.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        self.settings.validate(path)?;
        non_negative(path, "health_check_ms", self.health_check_ms)?;
        self.create_time.validate(&join(path, "create_time"))?;
        if let Some(p) = &self.policy {
            p.validate(&join(path, "policy"))?;
        }
        self.affinity.validate(&join(path, "affinity"))?;
        Ok(())
    }

    /// The core's configuration.
    pub fn core_config(&self) -> PoolConfig {
        self.settings.core_config()
    }

    /// The policy, with the default (static at the initial size) filled in.
    pub fn policy_config(&self) -> PolicyConfig {
        self.policy.clone().unwrap_or(PolicyConfig::Static {
            size: self.initial(),
        })
    }
}

/// One simulated scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Unique name; becomes the `scenario=` partition.
    pub name: String,
    /// Independent replications (different random streams).
    #[serde(default = "one")]
    pub replications: u32,
    /// Simulated time, in seconds.
    pub duration_s: f64,
    /// Telemetry interval, in seconds.
    #[serde(default = "one_f")]
    pub interval_s: f64,
    /// Write one `RequestRecord` per request too.
    #[serde(default)]
    pub record_requests: bool,
    /// Arrival rate and its patterns (unused when `replay` is set).
    #[serde(default)]
    pub load: LoadConfig,
    /// Query classes and their shares (unused when `replay` is set).
    #[serde(default)]
    pub classes: Vec<ClassSpec>,
    /// Replay a recorded trace instead of drawing requests from `load` and
    /// `classes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<ReplayConfig>,
    /// The pool.
    #[serde(default)]
    pub pool: PoolSpec,
    /// The database model.
    #[serde(default)]
    pub database: DatabaseConfig,
    /// Failure injection.
    #[serde(default)]
    pub failures: FailureConfig,
    /// Circuit breakers.
    #[serde(default)]
    pub breaker: MultiBreakerConfig,
}

fn one() -> u32 {
    1
}
fn one_f() -> f64 {
    1.0
}

/// A scenario that runs but probably does not mean what its author
/// intended.
#[derive(Debug, Clone, PartialEq)]
pub struct Warning {
    /// Field path.
    pub path: String,
    /// The problem.
    pub message: String,
}

impl Scenario {
    /// A copy without its replayed trace's path, for keys and hashes: a
    /// trace enters those by its content (`replay.loaded`'s fingerprint),
    /// so a moved trace, or the same file read from another directory,
    /// keys the same.
    pub fn without_trace_path(&self) -> Scenario {
        let mut sc = self.clone();
        if let Some(r) = &mut sc.replay {
            r.trace = std::path::PathBuf::new();
        }
        sc
    }

    /// The class mix.
    pub fn mix(&self) -> ClassMix {
        ClassMix {
            classes: self.classes.clone(),
        }
    }

    /// Simulated time in ns.
    pub fn horizon_ns(&self) -> Nanos {
        secs_to_ns(self.duration_s)
    }

    /// Telemetry interval in ns.
    pub fn interval_ns(&self) -> Nanos {
        secs_to_ns(self.interval_s).max(1)
    }

    /// This scenario with `policy` as its scaling policy (`pool.policy`),
    /// everything else unchanged. The name is kept, so the random streams,
    /// and with them the offered traffic, are the same as the original's:
    /// runs that differ only in the policy are a paired comparison.
    ///
    /// A predictive policy's artifact path is used as given; a relative one
    /// is relative to the process's working directory, so pass an absolute
    /// path, or call [`PolicyConfig::resolve_paths`] first (as
    /// [`ScenarioFile::load`] does with the file's directory). To run the
    /// result, validate it ([`Scenario::into_valid`]).
    pub fn with_policy(mut self, policy: PolicyConfig) -> Scenario {
        self.pool.policy = Some(policy);
        self
    }

    /// This scenario with a fixed pool of `size` connections: `min_size`,
    /// `max_size` and `initial_size` all `size`, a static policy at `size`,
    /// and `min_idle` lowered to at most `size` (it may not exceed
    /// `max_size`). Everything else, the name included, is unchanged (see
    /// [`Scenario::with_policy`]). `size` must be at least 1 for the result
    /// to pass [`Scenario::into_valid`].
    pub fn with_fixed_size(mut self, size: u32) -> Scenario {
        self.pool.settings.min_size = size;
        self.pool.settings.max_size = size;
        self.pool.settings.initial_size = Some(size);
        self.pool.settings.min_idle = self.pool.settings.min_idle.min(size);
        self.pool.policy = Some(PolicyConfig::Static { size });
        self
    }

    /// Reads the trace of a replay scenario (a relative `replay.trace` is
    /// relative to `base`, the scenario file's directory); does nothing
    /// for a synthetic one. `path` is this scenario's path in its file.
    ///
    /// # Errors
    /// `path.replay.trace` with what could not be read, as
    /// [`ReplayConfig::load`].
    pub fn load_replay(&mut self, base: &Path, path: &str) -> Result<(), ConfigError> {
        let horizon = self.horizon_ns();
        match &mut self.replay {
            Some(r) => {
                r.resolve_paths(base);
                r.load(&join(path, "replay"), horizon)
            }
            None => Ok(()),
        }
    }

    /// Why a pass over the scenario's streamed trace ended early, if one
    /// did: a run that drew from it replayed only part of the trace and
    /// must not be reported.
    pub fn replay_error(&self) -> Option<String> {
        self.replay
            .as_ref()
            .and_then(|r| r.trace())
            .and_then(|t| t.stream_error())
    }

    /// Requests offered over the whole run: the replayed trace's within
    /// `duration_s`, or `base_rate × duration_s` (patterns aside).
    pub fn offered_requests(&self) -> f64 {
        match &self.replay {
            Some(r) => r.offered() as f64,
            None => self.load.base_rate * self.duration_s,
        }
    }

    /// Checks every field; `path` is this scenario's path in its file.
    ///
    /// # Errors
    /// The first bad field's path and what was expected.
    pub fn validate(&self, path: &str) -> Result<Vec<Warning>, ConfigError> {
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(ConfigError::new(
                join(path, "name"),
                "expected a non-empty name of letters, digits, '-', '_' or '.'",
            ));
        }
        if self.replications == 0 {
            return Err(ConfigError::new(
                join(path, "replications"),
                "expected at least 1",
            ));
        }
        positive(path, "duration_s", self.duration_s)?;
        positive(path, "interval_s", self.interval_s)?;
        if self.interval_s > self.duration_s {
            return Err(ConfigError::new(
                join(path, "interval_s"),
                "must not exceed duration_s",
            ));
        }
        let mut warnings = Vec::new();
        match &self.replay {
            Some(r) => {
                let at = join(path, "replay");
                r.validate(&at)?;
                let info = r.loaded.as_ref().ok_or_else(|| {
                    ConfigError::new(
                        join(&at, "trace"),
                        "not loaded: load scenarios with ScenarioFile::load or call Scenario::load_replay",
                    )
                })?;
                // One interval of slack: a trace recorded for 500 s has its
                // last arrival just before 500 s.
                let covered = info.last_arrival_ns.saturating_add(self.interval_ns());
                if self.horizon_ns() > covered {
                    return Err(ConfigError::new(
                        join(path, "duration_s"),
                        format!(
                            "{} s is longer than the replayed trace: its last arrival is at {:.3} s \
                             (after start_s = {} s, at speed {}); expected at most {:.3}",
                            self.duration_s,
                            info.last_arrival_ns as f64 / NANOS_PER_SEC as f64,
                            r.start_s,
                            r.speed,
                            covered as f64 / NANOS_PER_SEC as f64
                        ),
                    ));
                }
                if info.whole_seconds {
                    warnings.push(Warning {
                        path: join(path, "replay.trace"),
                        message: WHOLE_SECONDS.into(),
                    });
                }
                if !self.classes.is_empty() || self.load != LoadConfig::default() {
                    warnings.push(Warning {
                        path: join(path, "replay"),
                        message: "`load` and `classes` are ignored: the replayed trace gives \
                                  the arrivals, classes and holds"
                            .into(),
                    });
                }
            }
            None => {
                self.load.validate(&join(path, "load"))?;
                self.mix().validate(path)?;
                if self.load.base_rate == 0.0 {
                    warnings.push(Warning {
                        path: join(path, "load.base_rate"),
                        message: "0 (or no `load` table): no request arrives".into(),
                    });
                }
            }
        }
        self.pool.validate(&join(path, "pool"))?;
        self.database.validate(&join(path, "database"))?;
        self.failures.validate(&join(path, "failures"))?;
        self.breaker
            .validate()
            .map_err(|e| ConfigError::new(join(path, &e.path), e.message))?;
        if self.pool.is_fixed() && self.replay.is_none() {
            let mix = self.mix();
            let hold_s = mix.mean_hold_ns() / NANOS_PER_SEC as f64;
            let offered = self.load.base_rate * hold_s;
            let rho = offered / f64::from(self.pool.settings.max_size);
            if rho >= 1.0 {
                warnings.push(Warning {
                    path: join(path, "load.base_rate"),
                    message: format!(
                        "offered load ρ = {rho:.3} ≥ 1 on a fixed pool of {}: the queue grows without bound",
                        self.pool.settings.max_size
                    ),
                });
            }
        }
        Ok(warnings)
    }
}

/// A parsed scenario file.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioFile {
    /// The seed every stream derives from.
    pub seed: u64,
    /// The scenarios, defaults merged in, validated.
    pub scenarios: Vec<ValidScenario>,
    /// Non-fatal findings.
    pub warnings: Vec<Warning>,
}

/// Merges `over` into `base`, table by table. A table whose `kind` differs
/// from the one under it (a distribution or a policy of another variant)
/// replaces it whole: the old variant's fields mean nothing to the new one.
fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(b), toml::Value::Table(o))
            if o.get("kind")
                .is_none_or(|k| b.get("kind").is_none_or(|bk| bk == k)) =>
        {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(bv) if bv.is_table() && v.is_table() => merge(bv, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

impl ScenarioFile {
    /// Parses and validates scenario TOML. `origin` names the source in
    /// errors.
    ///
    /// # Errors
    /// A message naming `origin`, the field's path and what was expected.
    pub fn parse(text: &str, origin: &str) -> Result<ScenarioFile, ConfigError> {
        Self::parse_in(text, origin, Path::new(""))
    }

    /// [`ScenarioFile::parse`], with relative paths (a replay scenario's
    /// trace, a predictive policy's artifact) taken relative to `base` (the
    /// file's directory), and the traces read.
    ///
    /// # Errors
    /// As [`ScenarioFile::parse`], and a trace that cannot be read.
    pub fn parse_in(text: &str, origin: &str, base: &Path) -> Result<ScenarioFile, ConfigError> {
        let doc: toml::Table = toml::from_str(text)
            .map_err(|e| ConfigError::new(origin, format!("not valid TOML: {e}")))?;
        let mut seed = None;
        let mut defaults = toml::Value::Table(toml::Table::new());
        let mut raw = Vec::new();
        for (k, v) in doc {
            match k.as_str() {
                "seed" => {
                    seed = Some(v.as_integer().filter(|s| *s >= 0).ok_or_else(|| {
                        ConfigError::new(
                            format!("{origin}: seed"),
                            "expected a non-negative integer",
                        )
                    })? as u64)
                }
                "defaults" if v.is_table() => defaults = v,
                "defaults" => {
                    return Err(ConfigError::new(
                        format!("{origin}: defaults"),
                        "expected a table ([defaults])",
                    ));
                }
                "scenario" => match v {
                    toml::Value::Array(a) => raw = a,
                    _ => {
                        return Err(ConfigError::new(
                            format!("{origin}: scenario"),
                            "expected an array of tables ([[scenario]])",
                        ));
                    }
                },
                other => {
                    return Err(ConfigError::new(
                        format!("{origin}: {other}"),
                        "unknown field, expected one of `seed`, `defaults`, `scenario`",
                    ));
                }
            }
        }
        let seed = seed.ok_or_else(|| ConfigError::new(format!("{origin}: seed"), "missing"))?;
        if raw.is_empty() {
            return Err(ConfigError::new(
                format!("{origin}: scenario"),
                "no [[scenario]] defined",
            ));
        }
        let mut scenarios = Vec::new();
        let mut warnings = Vec::new();
        for (i, v) in raw.into_iter().enumerate() {
            let path = format!("scenario[{i}]");
            let mut merged = defaults.clone();
            merge(&mut merged, v);
            let mut sc: Scenario = serde_path_to_error::deserialize(merged).map_err(|e| {
                let field = e.path().to_string();
                let field = field.trim_matches('.');
                let at = if field.is_empty() {
                    path.clone()
                } else {
                    join(&path, field)
                };
                ConfigError::new(format!("{origin}: {at}"), e.into_inner().to_string())
            })?;
            if let Some(p) = &mut sc.pool.policy {
                p.resolve_paths(base);
            }
            let horizon = sc.horizon_ns();
            if let Some(r) = &mut sc.replay {
                r.resolve_paths(base);
                // Scenarios replaying one trace share one copy of it.
                let shared = scenarios
                    .iter()
                    .filter_map(|s: &ValidScenario| s.replay.as_ref())
                    .any(|other| r.share_from(other, horizon));
                if !shared {
                    r.load(&join(&path, "replay"), horizon).map_err(|e| {
                        ConfigError::new(format!("{origin}: {}", e.path), e.message)
                    })?;
                }
            }
            let sc = sc
                .into_valid(&path)
                .map_err(|e| ConfigError::new(format!("{origin}: {}", e.path), e.message))?;
            warnings.extend(sc.warnings().iter().map(|w| Warning {
                path: format!("{origin}: {}", w.path),
                message: w.message.clone(),
            }));
            if scenarios.iter().any(|s: &ValidScenario| s.name == sc.name) {
                return Err(ConfigError::new(
                    format!("{origin}: {path}.name"),
                    format!("duplicate scenario name {:?}", sc.name),
                ));
            }
            scenarios.push(sc);
        }
        Ok(ScenarioFile {
            seed,
            scenarios,
            warnings,
        })
    }

    /// Reads and parses a scenario file.
    ///
    /// # Errors
    /// The file cannot be read, or [`ScenarioFile::parse`] fails.
    pub fn load(path: &Path) -> Result<ScenarioFile, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(&origin, format!("cannot read: {e}")))?;
        // A replayed trace's path and a predictive policy's artifact path
        // are relative to this file.
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse_in(&text, &origin, base)
    }
}
