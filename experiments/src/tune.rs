//! Threshold tuning: candidates from the manifest's search space, each
//! simulated in closed loop with the trained model driving the pool, scored
//! against the objective and its constraints.
//!
//! Candidate 0 is always the configuration as written (no overrides), so
//! the report shows what tuning bought. The choice: the feasible candidate
//! (every constraint's mean over the tuning runs within its bound) with
//! the lowest objective; when none is feasible, the one that violates the
//! constraints least (summed relative excess), and the report says so.
//! Ties go to the lower index.

use std::collections::BTreeMap;

use poolcast_reports::{Candidate, TuningSection};
use poolcast_sim::Summary;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::manifest::{Manifest, SearchMethod, TuningSection as TuningSpec};
use crate::metric::Metric;
use crate::overrides::Override;

/// The candidates of `m`'s tuning section, candidate 0 first (no
/// overrides). Empty without tuning.
pub fn candidates(m: &Manifest) -> Vec<Vec<Override>> {
    let Some(t) = &m.body.tuning else {
        return Vec::new();
    };
    let radices: Vec<usize> = m.tuning_params.iter().map(|(_, v)| v.len()).collect();
    let total: u128 = radices.iter().map(|&r| r as u128).product();
    let decode = |mut i: u128| -> Vec<Override> {
        let mut picks = vec![0usize; radices.len()];
        for (k, &r) in radices.iter().enumerate().rev() {
            picks[k] = (i % r as u128) as usize;
            i /= r as u128;
        }
        m.tuning_params
            .iter()
            .zip(picks)
            .map(|((_, vals), p)| vals[p].clone())
            .collect()
    };
    let indices: Vec<u128> = match t.method {
        SearchMethod::Grid => (0..total).collect(),
        SearchMethod::Random => sample(total, u128::from(t.samples), m.body.experiment.seed),
    };
    std::iter::once(Vec::new())
        .chain(indices.into_iter().map(decode))
        .collect()
}

/// `k` distinct indices below `n`, ascending, from a stream seeded by
/// `seed` (all of them when `k ≥ n`).
fn sample(n: u128, k: u128, seed: u64) -> Vec<u128> {
    use rand::RngExt;
    if k >= n {
        return (0..n).collect();
    }
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed ^ 0x7475_6e65);
    let mut set = std::collections::BTreeSet::new();
    // Rejection is fine: k < n, and the grid was bounded when parsed or
    // k is small next to it.
    while (set.len() as u128) < k {
        let hi = rng.random::<u64>() as u128;
        let lo = rng.random::<u64>() as u128;
        set.insert(((hi << 64) | lo) % n);
    }
    set.into_iter().collect()
}

/// What tuning decided, as written to `tuning/result.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    /// The report's section.
    pub section: TuningSection,
    /// The chosen candidate (index into [`candidates`]).
    pub chosen: usize,
    /// The chosen candidate's objective value.
    pub objective: f64,
}

fn mean(v: &[f64]) -> f64 {
    let f: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if f.is_empty() {
        f64::NAN
    } else {
        f.iter().sum::<f64>() / f.len() as f64
    }
}

/// Scores every candidate on its runs (`runs[k]` = the summaries of
/// candidate `k`) and chooses.
pub fn select(m: &Manifest, cands: &[Vec<Override>], runs: &[Vec<Summary>]) -> Option<Outcome> {
    let t: &TuningSpec = m.body.tuning.as_ref()?;
    let constraints: Vec<(Metric, f64)> = t
        .constraints
        .iter()
        .filter_map(|(k, v)| Metric::from_name(k).ok().map(|m| (m, *v)))
        .collect();
    let mut scored = Vec::new();
    for (k, (ovs, rs)) in cands.iter().zip(runs).enumerate() {
        let means: BTreeMap<Metric, f64> = Metric::ALL
            .iter()
            .map(|&mt| (mt, mean(&rs.iter().map(|s| mt.of(s)).collect::<Vec<_>>())))
            .collect();
        let objective = means[&t.minimize];
        let excess: f64 = constraints
            .iter()
            .map(|(mt, bound)| {
                let v = means[mt];
                if v.is_nan() {
                    f64::INFINITY
                } else {
                    ((v - bound) / bound.abs().max(1e-12)).max(0.0)
                }
            })
            .sum();
        let feasible = excess == 0.0 && objective.is_finite();
        let params = if ovs.is_empty() {
            vec![("(as configured)".to_string(), String::new())]
        } else {
            ovs.iter()
                .map(|o| (o.path.clone(), o.value_text()))
                .collect()
        };
        scored.push((
            k,
            excess,
            Candidate {
                params,
                metrics: Metric::ALL
                    .iter()
                    .map(|mt| (mt.name().to_string(), means[mt]))
                    .collect(),
                feasible,
                objective,
            },
        ));
    }
    let mut order: Vec<usize> = (0..scored.len()).collect();
    order.sort_by(|&a, &b| {
        let (ea, eb) = (scored[a].1, scored[b].1);
        let (oa, ob) = (scored[a].2.objective, scored[b].2.objective);
        let key = |e: f64, o: f64| (e > 0.0, e, if o.is_finite() { o } else { f64::INFINITY });
        let (ka, kb) = (key(ea, oa), key(eb, ob));
        ka.0.cmp(&kb.0)
            .then(ka.1.total_cmp(&kb.1))
            .then(ka.2.total_cmp(&kb.2))
            .then(a.cmp(&b))
    });
    let chosen = *order.first()?;
    let runner_up = order.get(1).copied();
    let any_feasible = scored.iter().any(|s| s.2.feasible);
    let note = if constraints.is_empty() {
        format!("no constraints: the lowest mean {} wins", t.minimize.name())
    } else if any_feasible {
        format!(
            "{} of {} candidates met every constraint; the feasible one with the lowest mean {} was chosen",
            scored.iter().filter(|s| s.2.feasible).count(),
            scored.len(),
            t.minimize.name()
        )
    } else {
        "no candidate met every constraint: the one with the smallest summed relative excess was chosen"
            .into()
    };
    let objective = scored[chosen].2.objective;
    Some(Outcome {
        section: TuningSection {
            policy: "predictive".into(),
            objective: format!(
                "minimize mean {} over {} scenario(s) × {} replication(s)",
                t.minimize.name(),
                m.tuning_scenarios.len(),
                t.replications
            ),
            constraints: constraints
                .iter()
                .map(|(mt, b)| format!("{} ≤ {b} (mean over the tuning runs)", mt.name()))
                .collect(),
            scenarios: m.tuning_scenarios.clone(),
            replications: t.replications,
            parameters: m.tuning_params.iter().map(|(k, _)| k.clone()).collect(),
            candidates: scored.into_iter().map(|s| s.2).collect(),
            chosen: Some(chosen),
            runner_up,
            note,
        },
        chosen,
        objective,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(extra: &str) -> Manifest {
        Manifest::parse(
            &format!(
                r#"
[experiment]
name = "t"
seed = 3
[[scenario]]
name = "a"
duration_s = 60
load = {{ base_rate = 1 }}
classes = [{{ class = "read", share = 1, service = {{ kind = "exponential", mean_ms = 5 }} }}]
pool = {{ max_size = 20 }}
{extra}"#
            ),
            "m.toml",
        )
        .unwrap()
    }

    #[test]
    fn the_grid_is_every_combination_after_the_base() {
        let m = manifest(
            "[tuning]\nspace = { \"policy.headroom\" = [1.0, 1.5], \"policy.target_wait_ms\" = [1.0, 2.0, 3.0] }",
        );
        let c = candidates(&m);
        assert_eq!(c.len(), 7);
        assert!(c[0].is_empty());
        let texts: Vec<String> = c[1..]
            .iter()
            .map(|o| {
                o.iter()
                    .map(|x| x.value_text())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        assert_eq!(
            texts,
            [
                "1.0,1.0", "1.0,2.0", "1.0,3.0", "1.5,1.0", "1.5,2.0", "1.5,3.0"
            ]
        );
    }

    #[test]
    fn random_search_is_seeded_and_distinct() {
        let text = "[tuning]\nmethod = \"random\"\nsamples = 4\nspace = { \"policy.headroom\" = [1.0, 1.1, 1.2, 1.3, 1.4], \"policy.target_wait_ms\" = [1.0, 2.0, 3.0] }";
        let a = candidates(&manifest(text));
        assert_eq!(a.len(), 5);
        assert_eq!(a, candidates(&manifest(text)));
        let mut seen: Vec<String> = a
            .iter()
            .map(|o| o.iter().map(|x| x.value_text()).collect::<String>())
            .collect();
        seen.dedup();
        assert_eq!(seen.len(), 5);
    }

    fn run(conn_s: f64, p95: f64) -> Summary {
        let mut s: Summary = serde_json::from_value(serde_json::json!({
            "scenario": "a", "policy": "predictive", "duration_s": 1.0, "requests": 100,
            "completed": 100, "failed_by_category": {}, "timeouts": 0, "rejected": 0,
            "rejected_by_breaker": {}, "in_flight_at_end": 0, "grants": 100,
            "acquire_wait_mean_ms": 1.0, "acquire_wait_p50_ms": 0.0, "acquire_wait_p95_ms": p95,
            "acquire_wait_p99_ms": p95, "acquire_wait_max_ms": p95, "p_wait": 0.1,
            "utilization": 0.5, "connection_seconds": conn_s, "mean_size": 1.0, "mean_busy": 0.5,
            "mean_waiting": 0.0, "mean_hold_ms": 5.0, "mean_time_in_system_ms": 6.0,
            "arrival_rate": 100.0, "connections_created": 1, "connections_closed": 0,
            "create_failures": 0, "events": 10, "wall_seconds": 0.0, "events_per_sec": 0.0
        }))
        .unwrap();
        s.acquire_wait_p95_ms = Some(p95);
        s
    }

    #[test]
    fn the_cheapest_feasible_candidate_wins_and_infeasible_ones_lose() {
        let m = manifest(
            "[tuning]\nconstraints = { wait_p95_ms = 10.0 }\nspace = { \"policy.headroom\" = [1.0, 1.5] }",
        );
        let c = candidates(&m);
        // base: cheap but slow; 1.0: feasible; 1.5: feasible and dearer.
        let runs = vec![
            vec![run(50.0, 30.0)],
            vec![run(80.0, 8.0)],
            vec![run(120.0, 2.0)],
        ];
        let o = select(&m, &c, &runs).unwrap();
        assert_eq!(o.chosen, 1);
        assert_eq!(o.section.runner_up, Some(2));
        assert!(!o.section.candidates[0].feasible);
        // Nothing feasible: the least violating.
        let runs = vec![
            vec![run(50.0, 30.0)],
            vec![run(80.0, 12.0)],
            vec![run(120.0, 11.0)],
        ];
        let o = select(&m, &c, &runs).unwrap();
        assert_eq!(o.chosen, 2);
        assert!(o.section.note.contains("no candidate"));
    }
}
