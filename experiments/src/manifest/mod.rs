//! The experiment manifest of `poolcast run`: one TOML file naming the
//! workloads, how training data is made, the models, the tuning search and
//! the closed-loop comparison. Every section is optional except
//! `[experiment]` and the scenarios; unknown fields and bad values are
//! refused with the field's path. The format is documented, field by field,
//! in `docs/reference/manifest.md`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Result, bail};
use poolcast::core::policy::{
    AdaptiveConfig, OracleConfig, PolicyConfig, PredictiveConfig, ReactiveConfig, Strategy,
};
use poolcast_models::dataset::DatasetConfig;
use poolcast_models::train::TrainConfig;
use poolcast_sim::{Scenario, ScenarioFile, ValidScenario};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::metric::Metric;
use crate::overrides::Override;

mod check;

use poolcast::core::config_error::ConfigError;

/// `[experiment]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentSection {
    /// The experiment's name: the directory under `runs/`.
    pub name: String,
    /// The seed of every random stream of the run.
    pub seed: u64,
    /// One paragraph for the report.
    #[serde(default)]
    pub description: String,
}

/// `[data]`: the telemetry the models learn from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct DataSection {
    /// Scenarios simulated for training data (default: every scenario).
    pub scenarios: Vec<String>,
    /// Replications of each (default: each scenario's `replications`).
    pub replications: Option<u32>,
    /// The pool policy while collecting data (default: each scenario's own
    /// `pool.policy`).
    pub policy: Option<PolicyConfig>,
}

/// `[export]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ExportSection {
    /// The horizon whose winner is exported (default: the shortest trained).
    pub horizon: Option<u32>,
}

/// How tuning walks its space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SearchMethod {
    /// Every combination.
    #[default]
    Grid,
    /// `samples` combinations drawn without replacement (seeded).
    Random,
}

/// `[tuning]`: the thresholds searched in closed loop, with the model in the
/// loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TuningSection {
    /// Scenarios tuned on (default: the data scenarios). Tuning uses
    /// replications of its own, never those of the data or the evaluation.
    pub scenarios: Vec<String>,
    /// Replications per candidate and scenario.
    pub replications: u32,
    /// The metric to minimize.
    pub minimize: Metric,
    /// Upper bounds every chosen candidate must meet (metric name → bound).
    pub constraints: BTreeMap<String, f64>,
    /// Grid or random search.
    pub method: SearchMethod,
    /// Candidates drawn by random search.
    pub samples: u32,
    /// Simulated seconds of each tuning run (default: each scenario's
    /// `duration_s`).
    pub duration_s: Option<f64>,
    /// Parameter path → the values to try (`policy.headroom`,
    /// `breaker.connection.failure_rate`, `pool.settings.min_size`, ...).
    pub space: BTreeMap<String, Vec<toml::Value>>,
}

impl Default for TuningSection {
    fn default() -> Self {
        TuningSection {
            scenarios: Vec::new(),
            replications: 2,
            minimize: Metric::ConnectionSeconds,
            constraints: BTreeMap::new(),
            method: SearchMethod::Grid,
            samples: 20,
            duration_s: None,
            space: BTreeMap::new(),
        }
    }
}

/// `[evaluation]`: the closed-loop comparison of policies on held-out runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvaluationSection {
    /// Scenarios evaluated on (default: the data scenarios). Evaluation uses
    /// replications of its own, so no evaluated run was trained or tuned
    /// on; a scenario absent from `[data]` is a workload never seen at all.
    pub scenarios: Vec<String>,
    /// Replications per policy and scenario (at least 2; 5 or more for the
    /// report's intervals to mean much).
    pub replications: u32,
    /// The policies, by name (see [`PolicySpec`]).
    pub policies: Vec<String>,
    /// Settings of `reactive` (and of the predictive fallback unless
    /// `[predictive.fallback]` says otherwise).
    pub reactive: ReactiveConfig,
    /// Thresholds of the `adaptive-*` policies (the strategy comes from the
    /// name).
    pub adaptive: AdaptiveConfig,
    /// Settings of `oracle`.
    pub oracle: OracleConfig,
    /// Write each evaluated run's snapshots to Parquet.
    pub telemetry: bool,
    /// Simulated seconds of each evaluation run (default: each scenario's
    /// `duration_s`).
    pub duration_s: Option<f64>,
}

impl Default for EvaluationSection {
    fn default() -> Self {
        EvaluationSection {
            scenarios: Vec::new(),
            replications: 5,
            policies: PolicySpec::DEFAULT.iter().map(|s| s.to_string()).collect(),
            reactive: ReactiveConfig::default(),
            adaptive: AdaptiveConfig::default(),
            oracle: OracleConfig::default(),
            telemetry: true,
            duration_s: None,
        }
    }
}

/// `[claims]`: how the seed's claims are re-measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClaimsSection {
    /// The policy the "before" of the seed's claims stands for.
    pub baseline: String,
    /// Scenarios the claims are measured on (default: every evaluation
    /// scenario, pooled).
    pub scenarios: Vec<String>,
}

impl Default for ClaimsSection {
    fn default() -> Self {
        ClaimsSection {
            baseline: "static-matched".into(),
            scenarios: Vec::new(),
        }
    }
}

/// `[outputs]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputsSection {
    /// Write `report.html`, `report.md` and the charts.
    pub report: bool,
    /// Compute permutation feature importance on at most this many test
    /// rows (0: skip it).
    pub importance_rows: usize,
}

impl Default for OutputsSection {
    fn default() -> Self {
        OutputsSection {
            report: true,
            importance_rows: 2000,
        }
    }
}

/// Every section but the scenarios, as written (defaults filled by serde).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestBody {
    /// `[experiment]`.
    pub experiment: ExperimentSection,
    /// `[data]`.
    #[serde(default)]
    pub data: DataSection,
    /// `[dataset]`: features, horizons, season of the seasonal baseline.
    #[serde(default)]
    pub dataset: DatasetConfig,
    /// `[train]`: families, grids, split, calibration.
    #[serde(default)]
    pub train: TrainConfig,
    /// `[export]`.
    #[serde(default)]
    pub export: ExportSection,
    /// `[predictive]`: the predictive policy's settings before tuning (its
    /// artifact is the run's own).
    #[serde(default)]
    pub predictive: PredictiveConfig,
    /// `[tuning]` (absent: no tuning; the predictive policy runs as set).
    #[serde(default)]
    pub tuning: Option<TuningSection>,
    /// `[evaluation]`.
    #[serde(default)]
    pub evaluation: EvaluationSection,
    /// `[claims]`.
    #[serde(default)]
    pub claims: ClaimsSection,
    /// `[outputs]`.
    #[serde(default)]
    pub outputs: OutputsSection,
}

/// A policy of the closed-loop comparison, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicySpec {
    /// A fixed pool at the scenario's `min_size` (at least 1).
    StaticMin,
    /// A fixed pool at the scenario's `max_size`.
    StaticMax,
    /// A fixed pool of `n` connections (`static-<n>`).
    StaticN(u32),
    /// A fixed pool at the predictive pool's mean size in the same run,
    /// rounded up: the static pool of equal cost.
    StaticMatched,
    /// The reactive policy.
    Reactive,
    /// An adaptive strategy.
    Adaptive(Strategy),
    /// The exported model with the tuned thresholds.
    Predictive,
    /// The same policy and thresholds driven by the best baseline
    /// forecaster (persistence or a moving average) instead of the
    /// model: against `predictive`, what the model itself adds.
    PredictiveNaive,
    /// The same policy and thresholds driven by the simulator's known
    /// future demand (a perfect forecaster; simulation only): how much of
    /// what forecasting could gain the model captures.
    PredictiveIdeal,
    /// Perfect foresight of demand (simulation only): the bound.
    Oracle,
}

impl PolicySpec {
    /// The comparison the issue asks for, in report order.
    pub const DEFAULT: [&'static str; 11] = [
        "static-min",
        "static-max",
        "reactive",
        "adaptive-conservative",
        "adaptive-moderate",
        "adaptive-aggressive",
        "predictive",
        "predictive-naive",
        "predictive-ideal",
        "static-matched",
        "oracle",
    ];

    /// Parses a policy name.
    ///
    /// # Errors
    /// The name is none of the known ones.
    pub fn parse(s: &str) -> Result<PolicySpec, String> {
        Ok(match s {
            "static-min" => PolicySpec::StaticMin,
            "static-max" => PolicySpec::StaticMax,
            "static-matched" => PolicySpec::StaticMatched,
            "reactive" => PolicySpec::Reactive,
            "adaptive-conservative" => PolicySpec::Adaptive(Strategy::Conservative),
            "adaptive-moderate" => PolicySpec::Adaptive(Strategy::Moderate),
            "adaptive-aggressive" => PolicySpec::Adaptive(Strategy::Aggressive),
            "predictive" => PolicySpec::Predictive,
            "predictive-naive" => PolicySpec::PredictiveNaive,
            "predictive-ideal" => PolicySpec::PredictiveIdeal,
            "oracle" => PolicySpec::Oracle,
            other => match other.strip_prefix("static-").map(str::parse::<u32>) {
                Some(Ok(n)) if n >= 1 => PolicySpec::StaticN(n),
                _ => {
                    return Err(format!(
                        "unknown policy `{other}`, expected one of static-min, static-max, \
                         static-<n> (n ≥ 1), static-matched, reactive, adaptive-conservative, \
                         adaptive-moderate, adaptive-aggressive, predictive, predictive-naive, \
                         predictive-ideal, oracle"
                    ));
                }
            },
        })
    }

    /// The name (as written in manifests and reports).
    pub fn name(self) -> String {
        match self {
            PolicySpec::StaticMin => "static-min".into(),
            PolicySpec::StaticMax => "static-max".into(),
            PolicySpec::StaticN(n) => format!("static-{n}"),
            PolicySpec::StaticMatched => "static-matched".into(),
            PolicySpec::Reactive => "reactive".into(),
            PolicySpec::Adaptive(s) => format!("adaptive-{}", s.name()),
            PolicySpec::Predictive => "predictive".into(),
            PolicySpec::PredictiveNaive => "predictive-naive".into(),
            PolicySpec::PredictiveIdeal => "predictive-ideal".into(),
            PolicySpec::Oracle => "oracle".into(),
        }
    }

    /// Whether the policy needs the trained model (or its results).
    pub fn needs_model(self) -> bool {
        matches!(
            self,
            PolicySpec::Predictive
                | PolicySpec::PredictiveNaive
                | PolicySpec::PredictiveIdeal
                | PolicySpec::StaticMatched
        )
    }
}

/// A loaded, validated manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The file, for messages and to find its checkout.
    pub origin: String,
    /// The file's text, copied into the run directory as is.
    pub text: String,
    /// Whether the file sets `[predictive.fallback]` (otherwise the
    /// predictive policy falls back to `evaluation.reactive`).
    pub predictive_fallback_given: bool,
    /// Every section but the scenarios.
    pub body: ManifestBody,
    /// The scenarios (`[defaults]` merged in), validated.
    pub scenarios: Vec<ValidScenario>,
    /// Data scenarios, each with its replication count.
    pub data: Vec<(String, u32)>,
    /// Tuning scenarios.
    pub tuning_scenarios: Vec<String>,
    /// Tuning's parsed parameter overrides, in `space` order.
    pub tuning_params: Vec<(String, Vec<Override>)>,
    /// Evaluation scenarios.
    pub eval_scenarios: Vec<String>,
    /// The telemetry interval of the run, in seconds: every scenario's.
    pub interval_s: f64,
    /// The evaluated policies, in manifest order.
    pub policies: Vec<PolicySpec>,
    /// The export horizon.
    pub export_horizon: u32,
    /// Non-fatal findings, each naming its field.
    pub warnings: Vec<String>,
}

/// The pieces of a manifest that decide the results, every default filled:
/// its hash names the run. `S` is how a scenario is held (the hash takes
/// copies without their trace paths).
#[derive(Debug, Clone, Serialize)]
pub struct Resolved<'a, S = ValidScenario> {
    /// Every section.
    pub body: &'a ManifestBody,
    /// The scenarios, merged and validated.
    pub scenarios: &'a [S],
    /// The data scenarios and their replications.
    pub data: &'a [(String, u32)],
    /// The tuning scenarios.
    pub tuning_scenarios: &'a [String],
    /// The evaluation scenarios.
    pub eval_scenarios: &'a [String],
    /// The export horizon.
    pub export_horizon: u32,
}

/// `e`, in the manifest file `origin`: `origin: field.path: message`.
fn in_file(origin: &str, e: ConfigError) -> anyhow::Error {
    anyhow::anyhow!("{origin}: {e}")
}

impl Manifest {
    /// Reads and validates a manifest file.
    ///
    /// # Errors
    /// The file cannot be read, or any check of [`Manifest::parse`] fails.
    pub fn load(path: &Path) -> Result<Manifest> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{origin}: cannot read: {e}"))?;
        // A scenario's replayed trace and its own predictive artifact path
        // are relative to the file.
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse_in(&text, &origin, base)
    }

    /// Parses and validates manifest TOML; `origin` names it in errors.
    ///
    /// # Errors
    /// The first problem, as `origin: field.path: what was expected`.
    #[cfg(test)]
    pub fn parse(text: &str, origin: &str) -> Result<Manifest> {
        Self::parse_in(text, origin, Path::new(""))
    }

    /// Parses and validates manifest TOML; `origin` names it in errors, and
    /// replayed traces' relative paths are relative to `base` (the
    /// manifest's directory).
    ///
    /// # Errors
    /// The first problem, as `origin: field.path: what was expected`, or a
    /// trace that cannot be read.
    pub fn parse_in(text: &str, origin: &str, base: &Path) -> Result<Manifest> {
        let mut doc: toml::Table =
            toml::from_str(text).map_err(|e| anyhow::anyhow!("{origin}: not valid TOML: {e}"))?;
        // The workloads are the scenario-file format; everything else is ours.
        let mut sc_doc = toml::Table::new();
        for key in ["defaults", "scenario"] {
            if let Some(v) = doc.remove(key) {
                sc_doc.insert(key.into(), v);
            }
        }
        let fallback_given = doc
            .get("predictive")
            .and_then(|p| p.get("fallback"))
            .is_some();
        let body: ManifestBody = serde_path_to_error::deserialize(toml::Value::Table(doc))
            .map_err(|e| {
                let p = e.path().to_string();
                let p = if p == "." { String::new() } else { p };
                let msg = e.into_inner().to_string();
                let msg = msg.lines().next().unwrap_or_default().to_string();
                if p.is_empty() {
                    anyhow::anyhow!("{origin}: {msg}")
                } else {
                    in_file(origin, ConfigError::new(p, msg))
                }
            })?;
        sc_doc.insert(
            "seed".into(),
            toml::Value::Integer(i64::try_from(body.experiment.seed).map_err(|_| {
                in_file(
                    origin,
                    ConfigError::new("experiment.seed", "expected an integer below 2^63"),
                )
            })?),
        );
        if !sc_doc.contains_key("scenario") {
            bail!("{origin}: scenario: no [[scenario]] defined (the workloads to simulate)");
        }
        let sc_text =
            toml::to_string(&sc_doc).map_err(|e| anyhow::anyhow!("{origin}: scenario: {e}"))?;
        let file =
            ScenarioFile::parse_in(&sc_text, origin, base).map_err(|e| anyhow::anyhow!("{e}"))?;
        let warnings: Vec<String> = file
            .warnings
            .iter()
            .map(|w| format!("{}: {}", w.path, w.message))
            .collect();
        let mut m = check::sections(origin, text, body, file.scenarios, warnings)
            .map_err(|e| in_file(origin, e))?;
        m.predictive_fallback_given = fallback_given;
        Ok(m)
    }

    /// The scenario named `name`.
    ///
    /// # Errors
    /// The manifest defines no scenario of that name.
    pub fn scenario(&self, name: &str) -> Result<&ValidScenario> {
        self.scenarios
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| anyhow::anyhow!("{}: no scenario named {name:?}", self.origin))
    }

    /// What decides the results.
    pub fn resolved(&self) -> Resolved<'_> {
        Resolved {
            body: &self.body,
            scenarios: &self.scenarios,
            data: &self.data,
            tuning_scenarios: &self.tuning_scenarios,
            eval_scenarios: &self.eval_scenarios,
            export_horizon: self.export_horizon,
        }
    }

    /// SHA-256 of the resolved manifest: two manifests that differ only in
    /// comments, order or spelled-out defaults hash the same. A replayed
    /// trace enters by its content (`replay.loaded`'s fingerprint), not by
    /// its path, so the same manifest run from another directory, or a
    /// moved trace, keeps its run id.
    pub fn hash(&self) -> String {
        let scenarios: Vec<Scenario> = self
            .scenarios
            .iter()
            .map(|s| s.without_trace_path())
            .collect();
        let resolved = Resolved {
            body: &self.body,
            scenarios: &scenarios,
            data: &self.data,
            tuning_scenarios: &self.tuning_scenarios,
            eval_scenarios: &self.eval_scenarios,
            export_horizon: self.export_horizon,
        };
        let json = serde_json::to_vec(&resolved).expect("a manifest always serializes");
        format!("{:x}", Sha256::digest(&json))
    }

    /// First replication index of tuning runs: after every data replication,
    /// so no tuning run reuses a data run's random streams.
    pub fn tuning_rep0(&self) -> u32 {
        self.data.iter().map(|d| d.1).max().unwrap_or(0)
    }

    /// First replication index of evaluation runs: after data and tuning.
    pub fn eval_rep0(&self) -> u32 {
        self.tuning_rep0() + self.body.tuning.as_ref().map_or(0, |t| t.replications)
    }

    /// The replication indices of the evaluation runs.
    pub fn eval_reps(&self) -> std::ops::Range<u32> {
        let rep0 = self.eval_rep0();
        rep0..rep0 + self.body.evaluation.replications
    }

    /// Whether tuning searches pool or breaker settings, which every
    /// evaluated policy then shares (so the model-free policies' evaluation
    /// waits for tuning too).
    pub fn tunes_shared(&self) -> bool {
        self.tuning_params
            .iter()
            .any(|(_, v)| v.first().is_some_and(Override::is_shared))
    }

    /// Whether `name` is a data scenario (its workload was trained on).
    pub fn is_data_scenario(&self, name: &str) -> bool {
        self.data.iter().any(|d| d.0 == name)
    }

    /// The predictive policy before tuning, with the reactive settings of
    /// `[evaluation.reactive]` as its fallback unless `[predictive.fallback]`
    /// was written.
    pub fn predictive_base(&self) -> PredictiveConfig {
        let mut p = self.body.predictive.clone();
        if !self.predictive_fallback_given {
            p.fallback = self.body.evaluation.reactive.clone();
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: &str = r#"
[experiment]
name = "t"
seed = 1

[[scenario]]
name = "a"
duration_s = 600
interval_s = 10
load = { base_rate = 10 }
classes = [{ class = "read", share = 1, service = { kind = "exponential", mean_ms = 50 } }]
"#;

    fn parse(extra: &str) -> Result<Manifest> {
        Manifest::parse(&format!("{MIN}\n{extra}"), "m.toml")
    }

    /// A manifest with one scenario and every default filled.
    pub(super) fn minimal() -> Manifest {
        parse("").unwrap()
    }

    fn err_of(extra: &str) -> String {
        format!("{:#}", parse(extra).unwrap_err())
    }

    #[test]
    fn a_replay_scenario_reads_its_trace_relative_to_the_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let traces = dir.path().join("traces");
        std::fs::create_dir(&traces).unwrap();
        let mut csv = format!("{}\n", poolcast::core::telemetry::REQUEST_CSV_HEADER);
        for s in 0..700u64 {
            csv.push_str(&format!(
                "{},read,7,0,20000000,ok,,{}\n",
                s * 1_000_000_000,
                s % 8 + 1
            ));
        }
        std::fs::write(traces.join("requests-000001.csv"), csv).unwrap();
        let text = r#"
[experiment]
name = "t"
seed = 1

[[scenario]]
name = "prod"
duration_s = 600
interval_s = 10
replay = { trace = "traces" }
"#;
        let path = dir.path().join("m.toml");
        std::fs::write(&path, text).unwrap();
        let m = Manifest::load(&path).unwrap();
        let sc = m.scenario("prod").unwrap();
        assert_eq!(sc.offered_requests(), 601.0);
        let info = sc.replay.as_ref().and_then(|r| r.loaded.as_ref()).unwrap();
        assert_eq!(info.requests, 700);
        // The resolved manifest carries what was replayed, so a changed
        // trace changes the run's hash and step keys.
        let resolved = serde_json::to_string(&m.resolved()).unwrap();
        assert!(resolved.contains(&info.fingerprint), "{resolved}");
        // ... but not where it was read from: the same trace elsewhere keeps
        // the run id, and another trace changes it.
        let moved = dir.path().join("moved");
        std::fs::create_dir(&moved).unwrap();
        std::fs::copy(
            traces.join("requests-000001.csv"),
            moved.join("requests-000001.csv"),
        )
        .unwrap();
        let moved_text = text.replace("\"traces\"", "\"moved\"");
        let moved_path = dir.path().join("m2.toml");
        std::fs::write(&moved_path, &moved_text).unwrap();
        assert_eq!(Manifest::load(&moved_path).unwrap().hash(), m.hash());
        let mut other = std::fs::read_to_string(moved.join("requests-000001.csv")).unwrap();
        other.push_str("700000000000,write,7,0,20000000,ok,,1\n");
        std::fs::write(moved.join("requests-000001.csv"), other).unwrap();
        assert_ne!(Manifest::load(&moved_path).unwrap().hash(), m.hash());
        // Evaluated on its own training traffic: said.
        assert!(
            m.warnings.iter().any(|w| w.contains("replays a trace")),
            "{:?}",
            m.warnings
        );
        // An evaluation longer than the trace is refused.
        std::fs::write(&path, format!("{text}\n[evaluation]\nduration_s = 900\n")).unwrap();
        let e = format!("{:#}", Manifest::load(&path).unwrap_err());
        assert!(
            e.contains("evaluation.duration_s") && e.contains("replayed trace"),
            "{e}"
        );

        std::fs::remove_file(traces.join("requests-000001.csv")).unwrap();
        let e = format!("{:#}", Manifest::load(&path).unwrap_err());
        assert!(
            e.contains("m.toml: scenario[0].replay.trace") && e.contains("no requests-*.csv"),
            "{e}"
        );
    }

    #[test]
    fn a_minimal_manifest_fills_every_default() {
        let m = parse("").unwrap();
        assert_eq!(m.data, vec![("a".to_string(), 1)]);
        assert_eq!(m.eval_scenarios, vec!["a"]);
        assert_eq!(m.policies.len(), 11);
        assert_eq!(m.export_horizon, 5);
        assert_eq!(m.tuning_rep0(), 1);
        assert_eq!(m.eval_rep0(), 1);
        assert_eq!(m.hash().len(), 64);
    }

    #[test]
    fn comments_and_spelled_out_defaults_do_not_change_the_hash() {
        let a = parse("").unwrap().hash();
        let b = parse("# a comment\n[evaluation]\nreplications = 5\n")
            .unwrap()
            .hash();
        assert_eq!(a, b);
        let c = parse("[evaluation]\nreplications = 6\n").unwrap().hash();
        assert_ne!(a, c);
    }

    #[test]
    fn errors_name_the_field() {
        assert!(err_of("[evaluation]\nreplicatons = 5").contains("evaluation.replicatons"));
        assert!(err_of("[evaluation]\nreplications = 1").contains("evaluation.replications"));
        assert!(
            err_of("[evaluation]\npolicies = [\"reactive\", \"magic\"]")
                .contains("evaluation.policies[1]: unknown policy `magic`")
        );
        assert!(err_of("[data]\nscenarios = [\"b\"]").contains("data.scenarios[0]"));
        assert!(err_of("[export]\nhorizon = 7").contains("export.horizon"));
        assert!(err_of("[predictive]\nheadroom = 99").contains("predictive.headroom"));
        assert!(err_of("[predictive]\nartifact = \"x.json\"").contains("predictive.artifact"));
        assert!(err_of("[claims]\nbaseline = \"static-7\"").contains("claims.baseline"));
        assert!(
            err_of("[tuning]\nspace = { \"policy.headrom\" = [1.0] }")
                .contains("tuning.space.\"policy.headrom\"[0]")
        );
        assert!(
            err_of("[tuning]\nspace = { \"policy.headroom\" = [1.0, 50.0] }")
                .contains("tuning.space.\"policy.headroom\"[1]")
        );
        assert!(
            err_of("[tuning]\nspace = { \"breaker.connection.failure_rate\" = [2.0] }")
                .contains("tuning.space.\"breaker.connection.failure_rate\"[0]")
        );
        assert!(
            err_of("[tuning]\nspace = { \"pool.min_size\" = [500] }")
                .contains("tuning.space.\"pool.min_size\"[0]")
        );
        assert!(err_of("[tuning]\nminimize = \"speed\"").contains("tuning.minimize"));
        assert!(err_of("[experiment.x]\n").contains("experiment"));
        assert!(err_of("[bogus]\n").contains("bogus"));
    }

    #[test]
    fn scenario_errors_keep_their_paths() {
        let bad = MIN.replace("base_rate = 10", "base_rate = -10");
        let e = format!("{:#}", Manifest::parse(&bad, "m.toml").unwrap_err());
        assert!(e.contains("scenario[0].load.base_rate"), "{e}");
    }

    #[test]
    fn intervals_must_agree() {
        let two = format!(
            "{MIN}\n[[scenario]]\nname = \"b\"\nduration_s = 600\ninterval_s = 5\nload = {{ base_rate = 1 }}\n\
             classes = [{{ class = \"read\", share = 1, service = {{ kind = \"exponential\", mean_ms = 5 }} }}]\n"
        );
        let e = format!("{:#}", Manifest::parse(&two, "m.toml").unwrap_err());
        assert!(e.contains("scenario[1].interval_s"), "{e}");
    }

    #[test]
    fn policy_names_round_trip() {
        for n in PolicySpec::DEFAULT
            .iter()
            .copied()
            .chain(["static-12", "static-matched"])
        {
            assert_eq!(PolicySpec::parse(n).unwrap().name(), n);
        }
        assert!(PolicySpec::parse("static-0").is_err());
    }
}

/// Every field a manifest, a scenario and a `pool.toml` accept (as their
/// defaults serialize: every section and table, with the default variant
/// of each tagged enum) is named in the reference pages, so a new setting
/// cannot ship undocumented.
#[cfg(test)]
mod field_docs {
    use std::collections::BTreeSet;

    use super::tests::minimal;

    /// The keys of every object in `v`, recursively.
    fn keys(v: &serde_json::Value, out: &mut BTreeSet<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    out.insert(k.clone());
                    keys(x, out);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| keys(x, out)),
            _ => {}
        }
    }

    /// The reference pages (`docs/reference/*.md`), concatenated.
    fn reference() -> String {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/reference");
        let mut pages: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "md"))
            .collect();
        pages.sort();
        assert!(pages.len() >= 6, "reference pages missing in {dir:?}");
        pages
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }

    /// Every table key written in the shipped manifests, scenario files and
    /// pool files (`experiments/manifests/**/*.toml`, `notebooks/*.toml`),
    /// with the file: they
    /// set fields a default manifest leaves out (replay, patterns,
    /// failures, every policy kind). Keys of `tuning.space` are dotted
    /// paths; each of their parts is a field.
    fn shipped_keys() -> BTreeSet<(String, String)> {
        fn walk(v: &toml::Value, file: &str, out: &mut BTreeSet<(String, String)>) {
            match v {
                toml::Value::Table(t) => {
                    for (k, x) in t {
                        for part in k.split('.') {
                            out.insert((part.to_string(), file.to_string()));
                        }
                        walk(x, file, out);
                    }
                }
                toml::Value::Array(a) => a.iter().for_each(|x| walk(x, file, out)),
                _ => {}
            }
        }
        let mut out = BTreeSet::new();
        let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut dirs = vec![here.join("manifests"), here.join("../notebooks")];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "toml") {
                    let text = std::fs::read_to_string(&p).unwrap();
                    let v: toml::Value = toml::from_str(&text).unwrap();
                    walk(&v, &p.display().to_string(), &mut out);
                }
            }
        }
        out
    }

    /// Whether `key` is named in `text` as code (`` `key` ``, `` `….key` ``,
    /// `` `key.…` ``, a `[key]` table, or `key =` in a TOML example).
    fn named(text: &str, key: &str) -> bool {
        text.contains(&format!("`{key}`"))
            || text.contains(&format!("`{key}."))
            || text.contains(&format!("[{key}]"))
            || text.contains(&format!("[{key}."))
            || text.contains(&format!(".{key}`"))
            || text.contains(&format!("`{key} "))
            || text.contains(&format!("{key} ="))
            || text.contains(&format!("{key}="))
    }

    #[test]
    fn every_field_is_named_in_the_reference() {
        let m = minimal();
        let mut all = BTreeSet::new();
        keys(&serde_json::to_value(&m.body).unwrap(), &mut all);
        for s in &m.scenarios {
            keys(
                &serde_json::to_value(s.clone().into_inner()).unwrap(),
                &mut all,
            );
        }
        keys(
            &serde_json::to_value(poolcast::core::settings::PoolFile::default()).unwrap(),
            &mut all,
        );
        let text = reference();
        let missing: Vec<&String> = all.iter().filter(|k| !named(&text, k)).collect();
        assert!(
            missing.is_empty(),
            "{} fields not named in docs/reference: {missing:?}",
            missing.len()
        );
    }

    #[test]
    fn every_field_a_shipped_file_sets_is_named_in_the_reference() {
        // Scenario, policy and tuning names are values, never keys, except
        // in `tuning.space`, whose keys are paths of fields.
        let text = reference();
        let missing: Vec<_> = shipped_keys()
            .into_iter()
            .filter(|(k, _)| !named(&text, k))
            .collect();
        assert!(
            missing.is_empty(),
            "{} fields not named in docs/reference: {missing:?}",
            missing.len()
        );
    }
}
