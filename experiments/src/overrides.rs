//! Tuning parameters: a dotted path into the settings the runtime pool
//! reads from `pool.toml` (`policy.*`, `breaker.*`, `pool.*`) and one value
//! for it. The same override is applied to a simulated scenario (to score a
//! candidate) and to the `pool.toml` the run exports (to ship the winner),
//! so what was tuned is exactly what ships.
//!
//! A simulated pool carries the runtime's own `[pool]` settings
//! ([`PoolSettings`](poolcast::core::settings::PoolSettings)), so a `pool.*`
//! override lands in the same type, through the same function, in the
//! scenario and in `pool.toml`; every field of `[pool]` can be tuned.
//!
//! An override sets its key in the TOML form of the one settings table it
//! names (serialize, set the key, deserialize, validate): a typo in a field
//! name or an out-of-range value is refused with the field's path by the
//! same checks that guard hand-written files, and no list of fields has to
//! be kept beside the structs.

use poolcast::core::breaker::MultiBreakerConfig;
use poolcast::core::policy::PredictiveConfig;
use poolcast::core::settings::{PoolFile, PoolSettings};
use poolcast_sim::Scenario;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The fields of `[pool]`, as its settings serialize (so no list is kept
/// beside the struct).
fn pool_fields() -> Vec<String> {
    match serde_json::to_value(PoolSettings::default()) {
        Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Which settings table an override lands in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    /// The predictive policy (`[policy]` in `pool.toml`).
    Policy,
    /// The circuit breakers (`[breaker]`).
    Breaker,
    /// The pool (`[pool]`).
    Pool,
}

/// One parameter value of a tuning candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    /// The path as written (`policy.headroom`).
    pub path: String,
    table: Table,
    keys: Vec<String>,
    /// The value.
    pub value: toml::Value,
}

fn set(v: &mut toml::Value, keys: &[String], value: toml::Value) -> Result<(), String> {
    let Some((last, parents)) = keys.split_last() else {
        return Err("empty path".into());
    };
    let mut cur = v;
    for k in parents {
        let t = cur
            .as_table_mut()
            .ok_or_else(|| format!("`{k}` is not a table"))?;
        cur = t
            .entry(k.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    }
    cur.as_table_mut()
        .ok_or_else(|| format!("cannot set `{last}` inside a value"))?
        .insert(last.clone(), value);
    Ok(())
}

/// Serializes `x`, sets `keys` to `value`, and deserializes it back.
fn through_toml<T: Serialize + DeserializeOwned>(
    x: &T,
    keys: &[String],
    value: &toml::Value,
) -> Result<T, String> {
    let mut v = toml::Value::try_from(x).map_err(|e| e.to_string())?;
    set(&mut v, keys, value.clone())?;
    v.try_into::<T>()
        .map_err(|e| e.to_string().lines().next().unwrap_or_default().to_string())
}

impl Override {
    /// Parses `path = value`.
    ///
    /// # Errors
    /// The path names no tunable table or field.
    pub fn parse(path: &str, value: toml::Value) -> Result<Override, String> {
        let parts: Vec<String> = path.split('.').map(str::to_string).collect();
        let (table, keys) = match parts.split_first() {
            Some((t, rest)) if !rest.is_empty() && rest.iter().all(|k| !k.is_empty()) => {
                let table = match t.as_str() {
                    "policy" => Table::Policy,
                    "breaker" => Table::Breaker,
                    "pool" => Table::Pool,
                    _ => {
                        return Err(format!(
                            "`{path}`: expected a path under policy., breaker. or pool."
                        ));
                    }
                };
                (table, rest.to_vec())
            }
            _ => {
                return Err(format!(
                    "`{path}`: expected a dotted path such as policy.headroom"
                ));
            }
        };
        if table == Table::Pool {
            let fields = pool_fields();
            if keys.len() != 1 || !fields.contains(&keys[0]) {
                return Err(format!(
                    "`{path}`: expected one field of [pool]: {}",
                    fields.join(", ")
                ));
            }
        }
        if table == Table::Policy && keys[0] == "artifact" {
            return Err("`policy.artifact` is the run's own model, not a parameter".into());
        }
        Ok(Override {
            path: path.into(),
            table,
            keys,
            value,
        })
    }

    /// Applies the override to a simulated scenario (pool and breakers) and
    /// to the predictive settings it will run with; checks the result.
    ///
    /// # Errors
    /// An unknown field or a value the settings refuse, as a message.
    pub fn apply(
        &self,
        sc: &mut Scenario,
        predictive: &mut PredictiveConfig,
    ) -> Result<(), String> {
        match self.table {
            Table::Policy => {
                let p: PredictiveConfig = through_toml(predictive, &self.keys, &self.value)?;
                p.validate("policy").map_err(|e| e.to_string())?;
                *predictive = p;
            }
            Table::Breaker => {
                let b: MultiBreakerConfig = through_toml(&sc.breaker, &self.keys, &self.value)?;
                b.validate()
                    .map_err(|e| format!("{}: {}", e.path, e.message))?;
                sc.breaker = b;
            }
            Table::Pool => {
                let p = through_toml(&sc.pool.settings, &self.keys, &self.value)?;
                p.validate("pool").map_err(|e| e.to_string())?;
                sc.pool.settings = p;
            }
        }
        Ok(())
    }

    /// Applies the override to the `pool.toml` the run exports.
    ///
    /// # Errors
    /// A value the runtime's settings refuse.
    pub fn apply_to_pool_file(&self, f: &mut PoolFile) -> Result<(), String> {
        match self.table {
            Table::Policy => {
                let mut keys = vec!["policy".to_string()];
                keys.extend(self.keys.iter().cloned());
                *f = through_toml(f, &keys, &self.value)?;
            }
            Table::Breaker => f.breaker = through_toml(&f.breaker, &self.keys, &self.value)?,
            Table::Pool => f.pool = through_toml(&f.pool, &self.keys, &self.value)?,
        }
        f.validate().map_err(|e| e.to_string())
    }

    /// Whether the override changes the pool or the breakers, which every
    /// policy of the comparison shares (a `policy.*` override only changes
    /// the predictive policy).
    pub fn is_shared(&self) -> bool {
        self.table != Table::Policy
    }

    /// Applies a shared (pool or breaker) override to a scenario; a
    /// `policy.*` override is ignored.
    ///
    /// # Errors
    /// A value the settings refuse.
    pub fn apply_shared(&self, sc: &mut Scenario) -> Result<(), String> {
        if self.is_shared() {
            self.apply(sc, &mut PredictiveConfig::default())
        } else {
            Ok(())
        }
    }

    /// The value as text for reports (`1.2`, `true`, `"x"`).
    pub fn value_text(&self) -> String {
        match &self.value {
            toml::Value::String(s) => format!("{s:?}"),
            v => v.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario() -> Scenario {
        let f = poolcast_sim::ScenarioFile::parse(
            r#"seed = 1
[[scenario]]
name = "a"
duration_s = 60
load = { base_rate = 1 }
classes = [{ class = "read", share = 1, service = { kind = "exponential", mean_ms = 5 } }]
pool = { min_size = 2, max_size = 20 }
"#,
            "t",
        )
        .unwrap();
        f.scenarios[0].clone().into_inner()
    }

    #[test]
    fn each_table_takes_its_fields_and_refuses_typos_and_bad_values() {
        let mut sc = scenario();
        let mut p = PredictiveConfig::default();
        Override::parse("policy.headroom", toml::Value::Float(1.5))
            .unwrap()
            .apply(&mut sc, &mut p)
            .unwrap();
        assert_eq!(p.headroom, 1.5);
        Override::parse("policy.fallback.window", toml::Value::Integer(7))
            .unwrap()
            .apply(&mut sc, &mut p)
            .unwrap();
        assert_eq!(p.fallback.window, 7);
        // an optional field left unset (issue 24's sizing risk) is tunable too
        Override::parse("policy.risk", toml::Value::Float(0.2))
            .unwrap()
            .apply(&mut sc, &mut p)
            .unwrap();
        assert_eq!(p.risk, Some(0.2));
        let e = Override::parse("policy.risk", toml::Value::Float(0.9))
            .unwrap()
            .apply(&mut sc, &mut p)
            .unwrap_err();
        assert!(e.to_string().contains("risk"), "{e}");
        Override::parse("breaker.connection.failure_count", toml::Value::Integer(9))
            .unwrap()
            .apply(&mut sc, &mut p)
            .unwrap();
        assert_eq!(sc.breaker.connection.failure_count, Some(9));
        Override::parse("pool.min_size", toml::Value::Integer(5))
            .unwrap()
            .apply(&mut sc, &mut p)
            .unwrap();
        assert_eq!(sc.pool.settings.min_size, 5);

        let e = Override::parse("policy.headrom", toml::Value::Float(1.0))
            .unwrap()
            .apply(&mut sc, &mut p)
            .unwrap_err();
        assert!(e.contains("headrom"), "{e}");
        let e = Override::parse("pool.min_size", toml::Value::Integer(50))
            .unwrap()
            .apply(&mut sc, &mut p)
            .unwrap_err();
        assert!(e.contains("min_size"), "{e}");
        assert!(Override::parse("pool.create_time", toml::Value::Integer(1)).is_err());
        assert!(Override::parse("database.knee", toml::Value::Integer(1)).is_err());
        assert!(Override::parse("policy", toml::Value::Integer(1)).is_err());
        assert!(Override::parse("policy.artifact", toml::Value::Integer(1)).is_err());
    }

    #[test]
    fn the_same_override_lands_in_pool_toml() {
        let mut f = PoolFile {
            policy: Some(poolcast::core::policy::PolicyConfig::Predictive(
                PredictiveConfig::default(),
            )),
            ..PoolFile::default()
        };
        Override::parse("policy.target_wait_ms", toml::Value::Float(12.0))
            .unwrap()
            .apply_to_pool_file(&mut f)
            .unwrap();
        Override::parse("breaker.timeout.failure_rate", toml::Value::Float(0.4))
            .unwrap()
            .apply_to_pool_file(&mut f)
            .unwrap();
        Override::parse("pool.min_idle", toml::Value::Integer(2))
            .unwrap()
            .apply_to_pool_file(&mut f)
            .unwrap();
        match &f.policy {
            Some(poolcast::core::policy::PolicyConfig::Predictive(p)) => {
                assert_eq!(p.target_wait_ms, 12.0)
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(f.breaker.timeout.failure_rate, Some(0.4));
        assert_eq!(f.pool.min_idle, 2);
    }
}
