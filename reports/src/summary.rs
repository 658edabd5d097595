//! The summary: a few sentences generated from the data.
//!
//! Forecast: the selected model's test accuracy against the best baseline
//! at the export horizon, and whether the leakage alarm fired. Policies:
//! whether the predictive policy beats the baseline policy: lower mean
//! acquire wait or lower cost, judged by disjoint 95% intervals, and not
//! worse on the other. Tuning: what
//! was chosen. Claims: how many hold.

use crate::charts::forecast::export_result;
use crate::doc::{Block, Line, LineBuilder};
use crate::format::{duration_s, est, fixed, pct};
use crate::model::{Estimate, ModelKind, ModelScore, PolicyRow, RunReport, Verdict};

/// The summary's paragraphs.
pub(crate) fn blocks(report: &RunReport) -> Vec<Block> {
    let mut out = vec![Block::Paragraph(forecast(report))];
    out.extend(policies(report).into_iter().map(Block::Paragraph));
    out.push(Block::Paragraph(tuning(report)));
    out.push(Block::Paragraph(claims(report)));
    out
}

/// The first item with the largest finite key.
fn best_by<'a, T>(
    items: impl IntoIterator<Item = &'a T>,
    key: impl Fn(&T) -> f64,
) -> Option<&'a T> {
    items
        .into_iter()
        .filter(|t| key(t).is_finite())
        .fold(None, |best: Option<&T>, t| match best {
            Some(b) if key(b) >= key(t) => Some(b),
            _ => Some(t),
        })
}

fn forecast(report: &RunReport) -> Line {
    let Some(f) = &report.forecast else {
        return LineBuilder::new()
            .strong("Forecast: not run.")
            .text(" This run trained no model.")
            .build();
    };
    let Some(h) = export_result(f) else {
        return LineBuilder::new()
            .strong("Forecast:")
            .text(format!(
                " no data at the export horizon h = {}: no model or baseline was scored there.",
                f.export_horizon
            ))
            .build();
    };
    let models = || h.models.iter().filter(|m| m.kind == ModelKind::Model);
    let selected: Option<&ModelScore> = models()
        .find(|m| m.name == h.winner)
        .or_else(|| best_by(models(), |m| m.test.accuracy));
    let baseline = best_by(
        h.models.iter().filter(|m| m.kind == ModelKind::Baseline),
        |m| m.test.accuracy,
    );
    let mut line = LineBuilder::new().strong("Forecast:").text(format!(
        " at the export horizon (h = {}, {} ahead) ",
        h.horizon,
        duration_s(f64::from(h.horizon) * f.interval_s)
    ));
    line = match (selected, baseline) {
        (Some(m), Some(b)) => {
            let diff = (m.test.accuracy - b.test.accuracy) * 100.0;
            let verdict = if !diff.is_finite() {
                "the difference is n/a".to_string()
            } else if diff >= 0.0 {
                format!("{} points better", fixed(diff, 1))
            } else {
                format!("{} points worse", fixed(-diff, 1))
            };
            line.text(format!("the {} model ", which(m, &h.winner)))
                .code(&m.name)
                .text(format!(
                    " ({}) reaches a test accuracy (1 − WAPE) of {} against {} for the best baseline, ",
                    m.family,
                    pct(m.test.accuracy),
                    pct(b.test.accuracy)
                ))
                .code(&b.name)
                .text(format!(": {verdict}."))
        }
        (Some(m), None) => line
            .text(format!("the {} model ", which(m, &h.winner)))
            .code(&m.name)
            .text(format!(
                " reaches a test accuracy (1 − WAPE) of {}; no baseline was scored.",
                pct(m.test.accuracy)
            )),
        (None, Some(b)) => line
            .text("no trained model was scored; the best baseline, ")
            .code(&b.name)
            .text(format!(", reaches {}.", pct(b.test.accuracy))),
        (None, None) => line.text("no model or baseline has a test accuracy (n/a)."),
    };
    let references: Vec<&ModelScore> = h
        .models
        .iter()
        .filter(|m| m.kind == ModelKind::Reference && m.test.accuracy.is_finite())
        .collect();
    if !references.is_empty() {
        let listed: Vec<String> = references
            .iter()
            .map(|m| format!("{} for the {}", pct(m.test.accuracy), m.name))
            .collect();
        line = line.text(format!(
            " The simulator's forecastability ceiling at this horizon, from references that read the true arrival rate: {}.",
            listed.join(", ")
        ));
    }
    if f.exported_model != h.winner && !f.exported_model.is_empty() {
        line = line
            .text(" The exported model is ")
            .code(&f.exported_model)
            .text(".");
    }
    let alarms: Vec<String> = f
        .horizons
        .iter()
        .filter(|h| h.leakage_alarm)
        .map(|h| h.horizon.to_string())
        .collect();
    if !alarms.is_empty() {
        line = line.text(" ").strong(format!(
            "The leakage alarm fired at h = {}: a model trained on shuffled targets showed skill.",
            alarms.join(", ")
        ));
    } else if f.horizons.iter().any(|h| h.shuffled_control.is_some()) {
        line = line.text(
            " The shuffled-target control showed no skill at any horizon (no leakage alarm).",
        );
    } else {
        line = line.text(" No shuffled-target control was run.");
    }
    line.build()
}

fn which(m: &ModelScore, winner: &str) -> &'static str {
    if m.name == winner {
        "selected"
    } else {
        "best-scoring"
    }
}

/// Outcome of comparing a candidate with the baseline on a cost-like metric
/// (lower is better).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compare {
    Lower,
    Higher,
    Overlap,
    Unknown,
}

fn compare(candidate: &Estimate, baseline: &Estimate) -> Compare {
    let finite = [candidate.lo, candidate.hi, baseline.lo, baseline.hi]
        .iter()
        .all(|v| v.is_finite());
    if !finite {
        Compare::Unknown
    } else if candidate.hi < baseline.lo {
        Compare::Lower
    } else if candidate.lo > baseline.hi {
        Compare::Higher
    } else {
        Compare::Overlap
    }
}

fn compare_text(c: Compare) -> &'static str {
    match c {
        Compare::Lower => "lower, 95% CIs disjoint",
        Compare::Higher => "higher, 95% CIs disjoint",
        Compare::Overlap => "95% CIs overlap",
        Compare::Unknown => "n/a",
    }
}

/// The predictive policy of a scenario: the first row named `predictive…`
/// (case-insensitive) that is not the baseline.
fn predictive<'a>(rows: &'a [PolicyRow], baseline: &str) -> Option<&'a PolicyRow> {
    rows.iter()
        .find(|r| r.policy != baseline && r.policy.to_lowercase().contains("predictive"))
}

fn policies(report: &RunReport) -> Vec<Line> {
    let Some(p) = &report.policies else {
        return vec![
            LineBuilder::new()
                .strong("Policies: not run.")
                .text(" This run made no closed-loop comparison.")
                .build(),
        ];
    };
    if p.scenarios.is_empty() {
        return vec![
            LineBuilder::new()
                .strong("Policies:")
                .text(" no data (no scenario was compared).")
                .build(),
        ];
    }
    let mut lines = Vec::new();
    let mut compared = 0;
    let mut wins = 0;
    let mut name = None;
    let mut details = LineBuilder::new();
    for s in &p.scenarios {
        let base = s.rows.iter().find(|r| r.policy == p.baseline);
        let cand = predictive(&s.rows, &p.baseline);
        details = details
            .text(" In ")
            .code(&s.scenario)
            .text(if s.seen_in_training {
                " (seen in training)"
            } else {
                " (held out from training)"
            });
        match (cand, base) {
            (Some(c), Some(b)) => {
                compared += 1;
                name.get_or_insert(c.policy.as_str());
                let wait = compare(&c.wait_mean_ms, &b.wait_mean_ms);
                let cost = compare(&c.connection_seconds, &b.connection_seconds);
                // Better on one, and not worse on the other.
                let not_worse = |x: Compare| matches!(x, Compare::Lower | Compare::Overlap);
                if (wait == Compare::Lower && not_worse(cost))
                    || (cost == Compare::Lower && not_worse(wait))
                {
                    wins += 1;
                }
                details = details.text(", mean acquire wait ").text(format!(
                    "{} ms vs {} ms ({}); connection-seconds {} vs {} ({}).",
                    est(&c.wait_mean_ms),
                    est(&b.wait_mean_ms),
                    compare_text(wait),
                    est(&c.connection_seconds),
                    est(&b.connection_seconds),
                    compare_text(cost)
                ));
            }
            (None, _) => details = details.text(": no predictive policy was run."),
            (Some(_), None) => {
                details = details
                    .text(": the baseline ")
                    .code(&p.baseline)
                    .text(" has no row.")
            }
        }
    }
    let mut head = LineBuilder::new().strong("Policies:");
    head = match name {
        Some(n) => head
            .text(" ")
            .code(n)
            .text(" beats the baseline ")
            .code(&p.baseline)
            .text(format!(
                " (lower mean acquire wait or lower cost in connection-seconds, with disjoint 95% CIs over {} replications, and not worse on the other) in {} of {} scenarios compared.",
                p.replications, wins, compared
            )),
        None => head
            .text(" no predictive policy was compared with the baseline ")
            .code(&p.baseline)
            .text("."),
    };
    lines.push(head.line(details.build()).build());
    for s in &p.scenarios {
        if let Some(c) = &s.model_contribution {
            lines.push(
                LineBuilder::new()
                    .strong("The model itself")
                    .text(" in ")
                    .code(&s.scenario)
                    .text(": ")
                    .text(crate::sections::contribution_text(s, c))
                    .build(),
            );
        }
        if let Some(t) = crate::sections::ideal_text(s) {
            lines.push(
                LineBuilder::new()
                    .strong("A perfect forecast")
                    .text(" in ")
                    .code(&s.scenario)
                    .text(": ")
                    .text(t)
                    .build(),
            );
        }
    }
    lines
}

fn tuning(report: &RunReport) -> Line {
    let Some(t) = &report.tuning else {
        return LineBuilder::new()
            .strong("Tuning: not run.")
            .text(" This run tuned nothing.")
            .build();
    };
    let mut line = LineBuilder::new()
        .strong("Tuning:")
        .text(" ")
        .code(&t.policy);
    let feasible = t.candidates.iter().filter(|c| c.feasible).count();
    line = line.text(format!(
        " over {} candidates ({} feasible), objective “{}”: ",
        t.candidates.len(),
        feasible,
        t.objective
    ));
    line = match t.chosen.and_then(|i| t.candidates.get(i).map(|c| (i, c))) {
        Some((i, c)) => {
            let params: Vec<String> = c.params.iter().map(|(k, v)| format!("{k} = {v}")).collect();
            line.text(format!(
                "candidate #{i} was chosen ({}; objective {}; {}).",
                if c.feasible { "feasible" } else { "infeasible" },
                crate::format::num(c.objective),
                if params.is_empty() {
                    "no parameters".to_string()
                } else {
                    params.join(", ")
                }
            ))
        }
        None => line.text("no candidate was chosen."),
    };
    if !t.note.trim().is_empty() {
        line = line.text(format!(" {}", t.note.trim()));
    }
    line.build()
}

fn claims(report: &RunReport) -> Line {
    let n = report.claims.len();
    if n == 0 {
        return LineBuilder::new()
            .strong("Claims:")
            .text(" no data (no claim was evaluated).")
            .build();
    }
    let count = |v: Verdict| report.claims.iter().filter(|c| c.verdict == v).count();
    let (holds, fails) = (count(Verdict::Holds), count(Verdict::DoesNotHold));
    LineBuilder::new()
        .strong("Claims:")
        .text(format!(
            " {holds} of {n} {}, {fails} {}, {} not measured.",
            if holds == 1 { "holds" } else { "hold" },
            if fails == 1 {
                "does not hold"
            } else {
                "do not hold"
            },
            count(Verdict::NotMeasured)
        ))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(mean: f64, lo: f64, hi: f64) -> Estimate {
        Estimate { mean, lo, hi }
    }

    #[test]
    fn intervals_decide_the_comparison() {
        assert_eq!(
            compare(&e(1.0, 0.5, 1.5), &e(3.0, 2.0, 4.0)),
            Compare::Lower
        );
        assert_eq!(
            compare(&e(3.0, 2.0, 4.0), &e(1.0, 0.5, 1.5)),
            Compare::Higher
        );
        assert_eq!(
            compare(&e(1.0, 0.5, 2.5), &e(3.0, 2.0, 4.0)),
            Compare::Overlap
        );
        assert_eq!(
            compare(&e(1.0, f64::NAN, 1.5), &e(3.0, 2.0, 4.0)),
            Compare::Unknown
        );
    }

    #[test]
    fn best_skips_non_finite_and_keeps_the_first_tie() {
        let v = [(1, f64::NAN), (2, 0.5), (3, 0.7), (4, 0.7)];
        assert_eq!(best_by(v.iter(), |x| x.1).map(|x| x.0), Some(3));
        let none: [(i32, f64); 1] = [(1, f64::NAN)];
        assert!(best_by(none.iter(), |x| x.1).is_none());
    }
}
