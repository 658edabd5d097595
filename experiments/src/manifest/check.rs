//! The manifest's checks, one function per section. Each returns the
//! [`ConfigError`] of the first problem it finds, with the field's path;
//! [`Manifest::parse_in`](super::Manifest::parse_in) puts the file's name
//! in front.

use poolcast::core::config_error::ConfigError;
use poolcast::core::policy::PolicyConfig;
use poolcast_sim::ValidScenario;

use super::{
    ClaimsSection, DataSection, EvaluationSection, ExperimentSection, Manifest, ManifestBody,
    PolicySpec, SearchMethod, TuningSection,
};
use crate::metric::Metric;
use crate::overrides::Override;

fn error(path: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::new(path, message)
}

/// Checks every section of `body` against `scenarios` and builds the
/// manifest; non-fatal findings go to its `warnings`, each prefixed with
/// `origin`.
pub(super) fn sections(
    origin: &str,
    text: &str,
    body: ManifestBody,
    scenarios: Vec<ValidScenario>,
    mut warnings: Vec<String>,
) -> Result<Manifest, ConfigError> {
    experiment(&body.experiment)?;
    let known = Known(scenarios.iter().map(|s| s.name.clone()).collect());
    let (data_names, data) = data(&body.data, &known, &scenarios)?;
    let interval = interval(&scenarios, &data)?;
    let export_horizon = training(&body)?;
    predictive(&body)?;
    let (tuning_scenarios, tuning_params) = match &body.tuning {
        None => (Vec::new(), Vec::new()),
        Some(t) => tuning(t, &known, &data_names)?,
    };
    let eval_scenarios = known.list(
        "evaluation.scenarios",
        &body.evaluation.scenarios,
        &data_names,
    )?;
    durations(
        &body,
        interval,
        &scenarios,
        &eval_scenarios,
        &tuning_scenarios,
    )?;
    replayed_evaluation(
        origin,
        &scenarios,
        &data_names,
        &eval_scenarios,
        &mut warnings,
    );
    let policies = evaluation(origin, &body.evaluation, &mut warnings)?;
    claims(&body.claims, &policies, &known, &eval_scenarios)?;
    let m = Manifest {
        origin: origin.into(),
        text: text.into(),
        predictive_fallback_given: false,
        body,
        scenarios,
        data,
        tuning_scenarios,
        tuning_params,
        eval_scenarios,
        interval_s: interval,
        policies,
        export_horizon,
        warnings,
    };
    candidates(&m)?;
    Ok(m)
}

/// The scenario names a manifest defines.
struct Known(Vec<String>);

impl Known {
    /// The scenarios `list` names at `path` (each defined, none twice), or
    /// `default` when it is empty.
    fn list(
        &self,
        path: &str,
        list: &[String],
        default: &[String],
    ) -> Result<Vec<String>, ConfigError> {
        if list.is_empty() {
            return Ok(default.to_vec());
        }
        for (i, n) in list.iter().enumerate() {
            if !self.0.contains(n) {
                return Err(error(
                    format!("{path}[{i}]"),
                    format!("no scenario named {n:?} (scenarios: {})", self.0.join(", ")),
                ));
            }
            if list[..i].contains(n) {
                return Err(error(
                    format!("{path}[{i}]"),
                    format!("{n:?} is listed twice"),
                ));
            }
        }
        Ok(list.to_vec())
    }
}

/// Letters, digits, `-`, `_` or `.`: the name becomes a directory.
fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// `[experiment]`.
fn experiment(e: &ExperimentSection) -> Result<(), ConfigError> {
    if !valid_name(&e.name) {
        return Err(error(
            "experiment.name",
            format!(
                "{:?}: expected letters, digits, `-`, `_` or `.` (it names a directory)",
                e.name
            ),
        ));
    }
    Ok(())
}

/// `[data]`: the data scenarios' names, and each with its replications.
#[allow(clippy::type_complexity)]
fn data(
    d: &DataSection,
    known: &Known,
    scenarios: &[ValidScenario],
) -> Result<(Vec<String>, Vec<(String, u32)>), ConfigError> {
    let names = known.list("data.scenarios", &d.scenarios, &known.0)?;
    if d.replications == Some(0) {
        return Err(error("data.replications", "expected at least 1"));
    }
    if let Some(p) = &d.policy {
        p.validate("data.policy")?;
        if matches!(p, PolicyConfig::Predictive(_)) {
            return Err(error(
                "data.policy",
                "a predictive policy cannot collect the data its own model learns from",
            ));
        }
    }
    let data = names
        .iter()
        .map(|n| {
            let sc = scenarios.iter().find(|s| &s.name == n);
            let reps = d.replications.or(sc.map(|s| s.replications)).unwrap_or(1);
            (n.clone(), reps)
        })
        .collect();
    Ok((names, data))
}

/// One interval for the whole run: the model is trained at it and drives
/// the pool at it. Returns it.
fn interval(scenarios: &[ValidScenario], data: &[(String, u32)]) -> Result<f64, ConfigError> {
    let interval = data
        .first()
        .and_then(|(name, _)| scenarios.iter().find(|s| &s.name == name))
        .map_or(1.0, |s| s.interval_s);
    for (i, sc) in scenarios.iter().enumerate() {
        if (sc.interval_s - interval).abs() > 1e-9 * interval {
            return Err(error(
                format!("scenario[{i}].interval_s"),
                format!(
                    "{} differs from the data's interval {interval}: every scenario of a run \
                     shares one interval (the model forecasts in it)",
                    sc.interval_s
                ),
            ));
        }
    }
    Ok(interval)
}

/// `[dataset]`, `[train]` and `[export]`: returns the export horizon.
fn training(body: &ManifestBody) -> Result<u32, ConfigError> {
    let (dataset, train) = (&body.dataset, &body.train);
    if dataset.horizons.is_empty() {
        return Err(error("dataset.horizons", "expected at least one horizon"));
    }
    if let Some(h) = train
        .horizons
        .iter()
        .find(|h| !dataset.horizons.contains(h))
    {
        return Err(error(
            "train.horizons",
            format!(
                "horizon {h} is not built by dataset.horizons {:?}",
                dataset.horizons
            ),
        ));
    }
    if train.families.is_empty() {
        return Err(error("train.families", "expected at least one family"));
    }
    train
        .split
        .validate()
        .map_err(|x| error("train.split", x.to_string()))?;
    let trained: &[u32] = if train.horizons.is_empty() {
        &dataset.horizons
    } else {
        &train.horizons
    };
    match body.export.horizon {
        Some(h) if trained.contains(&h) => Ok(h),
        Some(h) => Err(error(
            "export.horizon",
            format!("horizon {h} is not trained (trained: {trained:?})"),
        )),
        None => Ok(trained.iter().copied().min().unwrap_or(1)),
    }
}

/// `[predictive]`.
fn predictive(body: &ManifestBody) -> Result<(), ConfigError> {
    if body.predictive.artifact.is_some() {
        return Err(error(
            "predictive.artifact",
            "leave it out: the predictive policy uses the model this run trains",
        ));
    }
    body.predictive.validate("predictive")
}

/// `[tuning]`: its scenarios and its parsed parameter space.
#[allow(clippy::type_complexity)]
fn tuning(
    t: &TuningSection,
    known: &Known,
    data_names: &[String],
) -> Result<(Vec<String>, Vec<(String, Vec<Override>)>), ConfigError> {
    let names = known.list("tuning.scenarios", &t.scenarios, data_names)?;
    if t.replications == 0 {
        return Err(error("tuning.replications", "expected at least 1"));
    }
    if t.space.is_empty() {
        return Err(error(
            "tuning.space",
            "expected at least one parameter to search (or leave [tuning] out)",
        ));
    }
    for (m, v) in &t.constraints {
        let path = format!("tuning.constraints.{m}");
        Metric::from_name(m).map_err(|msg| error(&path, msg))?;
        if !v.is_finite() {
            return Err(error(path, "expected a finite bound"));
        }
    }
    if t.method == SearchMethod::Random && t.samples == 0 {
        return Err(error("tuning.samples", "expected at least 1"));
    }
    let mut params = Vec::new();
    let mut combos: u64 = 1;
    for (k, vals) in &t.space {
        let path = format!("tuning.space.\"{k}\"");
        if vals.is_empty() {
            return Err(error(path, "expected at least one value"));
        }
        let ovs = vals
            .iter()
            .enumerate()
            .map(|(i, v)| {
                Override::parse(k, v.clone()).map_err(|m| error(format!("{path}[{i}]"), m))
            })
            .collect::<Result<Vec<_>, _>>()?;
        combos = combos.saturating_mul(vals.len() as u64);
        params.push((k.clone(), ovs));
    }
    if t.method == SearchMethod::Grid && combos > 1000 {
        return Err(error(
            "tuning.space",
            format!(
                "the grid has {combos} candidates; use method = \"random\" with samples, \
                 or fewer values (at most 1000)"
            ),
        ));
    }
    Ok((names, params))
}

/// `evaluation.duration_s` and `tuning.duration_s`: at least one interval,
/// and no longer than a replayed trace they would run.
fn durations(
    body: &ManifestBody,
    interval_s: f64,
    scenarios: &[ValidScenario],
    eval_scenarios: &[String],
    tuning_scenarios: &[String],
) -> Result<(), ConfigError> {
    let tuning = body.tuning.as_ref().and_then(|t| t.duration_s);
    for (path, d, list) in [
        (
            "evaluation.duration_s",
            body.evaluation.duration_s,
            eval_scenarios,
        ),
        ("tuning.duration_s", tuning, tuning_scenarios),
    ] {
        let Some(d) = d else { continue };
        if !(d.is_finite() && d >= interval_s) {
            return Err(error(
                path,
                format!("expected at least one interval ({interval_s} s), found {d}"),
            ));
        }
        // A replayed trace has an end (Scenario::validate checks only the
        // scenario's own duration_s).
        for name in list {
            let Some(sc) = scenarios.iter().find(|s| &s.name == name) else {
                continue;
            };
            if let Some(info) = sc.replay.as_ref().and_then(|r| r.loaded.as_ref()) {
                let covered = info.last_arrival_ns as f64 / 1e9 + sc.interval_s;
                if d > covered {
                    return Err(error(
                        path,
                        format!(
                            "{d} s is longer than scenario {name:?}'s replayed trace \
                             (last arrival at {:.3} s); expected at most {covered:.3}",
                            info.last_arrival_ns as f64 / 1e9
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Warns when a replayed data scenario is evaluated too: every replication
/// of a replay offers the same traffic.
fn replayed_evaluation(
    origin: &str,
    scenarios: &[ValidScenario],
    data_names: &[String],
    eval_scenarios: &[String],
    warnings: &mut Vec<String>,
) {
    for name in eval_scenarios {
        if data_names.contains(name)
            && scenarios
                .iter()
                .any(|s| &s.name == name && s.replay.is_some())
        {
            warnings.push(format!(
                "{origin}: evaluation.scenarios: {name:?} replays a trace and is also a data \
                 scenario: every replication of a replay offers the same traffic, so the \
                 evaluation runs on the traffic the model was trained on (hold out another \
                 part of the trace with start_s instead)"
            ));
        }
    }
}

/// `[evaluation]`: the compared policies, in manifest order.
fn evaluation(
    origin: &str,
    ev: &EvaluationSection,
    warnings: &mut Vec<String>,
) -> Result<Vec<PolicySpec>, ConfigError> {
    if ev.replications < 2 {
        return Err(error(
            "evaluation.replications",
            "expected at least 2 (confidence intervals need them; 5 or more is better)",
        ));
    }
    if ev.replications < 5 {
        warnings.push(format!(
            "{origin}: evaluation.replications: {} replications give wide intervals; \
             5 or more are recommended",
            ev.replications
        ));
    }
    if ev.policies.is_empty() {
        return Err(error("evaluation.policies", "expected at least one policy"));
    }
    let mut policies = Vec::new();
    for (i, p) in ev.policies.iter().enumerate() {
        let path = format!("evaluation.policies[{i}]");
        let spec = PolicySpec::parse(p).map_err(|m| error(&path, m))?;
        if policies.contains(&spec) {
            return Err(error(path, format!("{p:?} is listed twice")));
        }
        policies.push(spec);
    }
    if policies.contains(&PolicySpec::StaticMatched) && !policies.contains(&PolicySpec::Predictive)
    {
        return Err(error(
            "evaluation.policies",
            "static-matched is sized from the predictive pool: list predictive too",
        ));
    }
    ev.reactive.validate("evaluation.reactive")?;
    ev.adaptive.validate("evaluation.adaptive")?;
    ev.oracle.validate("evaluation.oracle")?;
    Ok(policies)
}

/// `[claims]`.
fn claims(
    c: &ClaimsSection,
    policies: &[PolicySpec],
    known: &Known,
    eval_scenarios: &[String],
) -> Result<(), ConfigError> {
    let baseline = PolicySpec::parse(&c.baseline).map_err(|m| error("claims.baseline", m))?;
    if !policies.contains(&baseline) {
        return Err(error(
            "claims.baseline",
            format!("{:?} is not among evaluation.policies", c.baseline),
        ));
    }
    known.list("claims.scenarios", &c.scenarios, eval_scenarios)?;
    if let Some((i, n)) = c
        .scenarios
        .iter()
        .enumerate()
        .find(|(_, n)| !eval_scenarios.contains(n))
    {
        return Err(error(
            format!("claims.scenarios[{i}]"),
            format!("{n:?} is not an evaluation scenario"),
        ));
    }
    Ok(())
}

/// Every tuning candidate must give a valid configuration on every
/// scenario it runs on: each value is applied on its own, so a bad value
/// names its place.
fn candidates(m: &Manifest) -> Result<(), ConfigError> {
    for (k, ovs) in &m.tuning_params {
        for (i, ov) in ovs.iter().enumerate() {
            for name in &m.tuning_scenarios {
                let Some(sc) = m.scenarios.iter().find(|s| &s.name == name) else {
                    continue;
                };
                let mut cfg = m.body.predictive.clone();
                let mut sc = sc.clone().into_inner();
                ov.apply(&mut sc, &mut cfg)
                    .map_err(|msg| error(format!("tuning.space.\"{k}\"[{i}]"), msg))?;
            }
        }
    }
    Ok(())
}
