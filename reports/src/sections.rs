//! Builds the [`Document`] from a report: the sections, in order, with
//! their tables, chart references and "not run" / "no data" notes.

use crate::charts::{
    self, ERROR_BY_HORIZON, FORECAST_SERIES, IMPORTANCE, MODEL_COMPARISON, RESIDUALS,
    TOP_IMPORTANCES, TUNING,
};
use crate::doc::{Align, Block, Document, Line, LineBuilder, Section, Table, code, text};
use crate::format::{
    NA, duration_s, est, est_pct, index_ranges, num, opt_pct, opt_signed_pct, pct, yes_no,
};
use crate::model::{
    ForecastSection, HorizonResult, ModelKind, PolicyScenario, PolicySection, RunReport, Scores,
    Timings, TuningSection, Verdict,
};
use crate::{Chart, summary};

/// Anchor and heading of every top-level section, in order.
pub(crate) const SECTIONS: [(&str, &str); 7] = [
    ("summary", "Summary"),
    ("claims", "Claims"),
    ("forecast-accuracy", "Forecast accuracy"),
    ("policies", "Policies"),
    ("tuning", "Tuning"),
    ("procedure-and-provenance", "Procedure and provenance"),
    ("machine-measured-timings", "Machine-measured timings"),
];

/// Builds the document; `charts` are the charts that were drawn.
pub(crate) fn build(report: &RunReport, charts: &[Chart]) -> Document {
    let meta = &report.meta;
    let mut lead = Vec::new();
    if !meta.description.trim().is_empty() {
        lead.push(text(meta.description.trim()));
    }
    lead.push(
        LineBuilder::new()
            .text("Run ")
            .code(&meta.run_id)
            .text(" of experiment ")
            .code(&meta.experiment)
            .text(format!(", seed {}, revision ", meta.seed))
            .code(&meta.git_revision)
            .text(".")
            .build(),
    );
    let bodies = [
        summary::blocks(report),
        claims(report),
        forecast(report.forecast.as_ref(), charts),
        policies(report.policies.as_ref(), charts),
        tuning(report.tuning.as_ref(), charts),
        provenance(report),
        timings(&report.timings),
    ];
    let sections = SECTIONS
        .iter()
        .zip(bodies)
        .map(|(&(id, title), blocks)| Section { id, title, blocks })
        .collect();
    Document {
        title: format!("{} — run {}", meta.experiment, meta.run_id),
        lead,
        sections,
    }
}

fn para(s: impl Into<String>) -> Block {
    Block::Paragraph(text(s))
}

fn heading(id: impl Into<String>, line: Line) -> Block {
    Block::Heading {
        id: id.into(),
        text: line,
    }
}

fn left(h: &str) -> (String, Align) {
    (h.to_string(), Align::Left)
}

fn right(h: &str) -> (String, Align) {
    (h.to_string(), Align::Right)
}

/// The chart if it was drawn, else a "no data" note naming what is missing.
fn chart_or_no_data(charts: &[Chart], file_name: &str, what: &str) -> Block {
    match charts.iter().find(|c| c.file_name == file_name) {
        Some(c) => Block::Chart {
            file_name: c.file_name.clone(),
            title: c.title.clone(),
        },
        None => Block::Paragraph(
            LineBuilder::new()
                .text(format!("{what}: "))
                .strong("no data")
                .text(format!(" (chart {file_name} not drawn)."))
                .build(),
        ),
    }
}

fn verdict_text(v: Verdict) -> &'static str {
    match v {
        Verdict::Holds => "holds",
        Verdict::DoesNotHold => "does not hold",
        Verdict::NotMeasured => "not measured",
    }
}

fn claims(report: &RunReport) -> Vec<Block> {
    if report.claims.is_empty() {
        return vec![para("No data: the run evaluated no claim.")];
    }
    // Whether there are machine-measured claims depends on the timings, so
    // the note sits in a machine-dependent block, present (maybe empty)
    // either way: the text outside the markers cannot change with them.
    let note = if report.timings.claims.is_empty() {
        Vec::new()
    } else {
        vec![para(
            "Claims measured in wall-clock time (prediction latency, training time) depend on \
             the machine: they are in the machine-measured timings below.",
        )]
    };
    vec![claims_table(&report.claims), Block::Machine(note)]
}

fn claims_table(claims: &[crate::model::Claim]) -> Block {
    let rows = claims
        .iter()
        .map(|c| {
            let verdict = match c.verdict {
                Verdict::Holds => LineBuilder::new().strong("holds").build(),
                v => text(verdict_text(v)),
            };
            vec![
                text(&c.name),
                text(&c.seed_claim),
                text(&c.measured),
                verdict,
                text(&c.procedure),
            ]
        })
        .collect();
    Block::Table(Table {
        header: vec![
            left("Claim"),
            left("The seed said"),
            left("Measured"),
            left("Verdict"),
            left("Procedure"),
        ],
        rows,
    })
}

fn forecast(f: Option<&ForecastSection>, charts: &[Chart]) -> Vec<Block> {
    let Some(f) = f else {
        return vec![para(
            "Not run: this run trained no model. The forecast charts (forecast-series, \
             error-by-horizon, residuals, importance, model-comparison) are omitted.",
        )];
    };
    let mut out = vec![
        Block::Paragraph(
            LineBuilder::new()
                .text(format!(
                    "Target: {}. One interval is {}. Exported model: ",
                    f.target,
                    duration_s(f.interval_s)
                ))
                .code(&f.exported_model)
                .text(format!(
                    " at horizon h = {} ({} ahead), on {} features.",
                    f.export_horizon,
                    duration_s(f64::from(f.export_horizon) * f.interval_s),
                    f.n_features
                ))
                .build(),
        ),
        para(
            "Accuracy is 1 − WAPE on the test split, which is scored once after the model \
             was selected on validation. Skill is 1 − MAE / MAE of the baseline (persistence, \
             seasonal naive); bias is the mean of ŷ − y; within ±10% is the share of test rows \
             predicted within 10% of the actual value.",
        ),
    ];
    out.push(heading("forecast-by-horizon", text("Accuracy by horizon")));
    out.push(chart_or_no_data(
        charts,
        ERROR_BY_HORIZON,
        "Accuracy by horizon",
    ));
    out.push(heading(
        "forecast-model-comparison",
        text("Model comparison at the export horizon"),
    ));
    out.push(chart_or_no_data(
        charts,
        MODEL_COMPARISON,
        "Model comparison at the export horizon",
    ));
    if f.horizons.is_empty() {
        out.push(para("No data: no horizon was scored."));
    }
    let mut ids: Vec<String> = Vec::new();
    for h in &f.horizons {
        let mut id = format!("forecast-h{}", h.horizon);
        let base = id.clone();
        let mut k = 2;
        while ids.contains(&id) {
            id = format!("{base}-{k}");
            k += 1;
        }
        ids.push(id.clone());
        out.extend(horizon(f, h, id));
    }
    out.push(heading(
        "forecast-exported-model",
        LineBuilder::new()
            .text("Exported model ")
            .code(&f.exported_model)
            .build(),
    ));
    match &f.series {
        Some(_) => out.push(chart_or_no_data(
            charts,
            FORECAST_SERIES,
            "Predicted vs actual",
        )),
        None => out.push(para("Predicted vs actual: no data (no prediction series).")),
    }
    out.extend(residual_blocks(f, charts));
    out.extend(importance_blocks(f, charts));
    out
}

fn horizon(f: &ForecastSection, h: &HorizonResult, id: String) -> Vec<Block> {
    let mut out = vec![heading(
        id,
        text(format!(
            "Horizon h = {} ({} ahead)",
            h.horizon,
            duration_s(f64::from(h.horizon) * f.interval_s)
        )),
    )];
    out.push(Block::Paragraph(
        LineBuilder::new()
            .text(format!(
                "Rows: train {}, validation {}, test {}. Selected on {}: ",
                h.train_rows,
                h.valid_rows,
                h.test_rows,
                match h.fold_rows.len() {
                    0 | 1 => "validation".to_string(),
                    k => format!("the validation blocks of {k} rolling-origin folds"),
                }
            ))
            .code(&h.winner)
            .text(" (marked ★).")
            .build(),
    ));
    if h.models.is_empty() {
        out.push(para(
            "No data: no model or baseline was scored at this horizon.",
        ));
    } else {
        let rows = h
            .models
            .iter()
            .map(|m| {
                let mut name = LineBuilder::new().code(&m.name);
                if m.name == h.winner {
                    name = name.text(" ").strong("★ selected");
                }
                let kind = match m.kind {
                    ModelKind::Model => "model",
                    ModelKind::Baseline => "baseline",
                    ModelKind::Reference => "reference (sim only)",
                };
                let mut row = vec![
                    name.build(),
                    text(&m.family),
                    text(kind),
                    text(pct(m.valid.accuracy)),
                ];
                row.extend(score_cells(&m.test));
                row
            })
            .collect();
        let mut header = vec![
            left("Model"),
            left("Family"),
            left("Kind"),
            right("Valid accuracy"),
        ];
        header.extend(score_header());
        out.push(Block::Table(Table { header, rows }));
        out.extend(fold_blocks(h));
    }
    out.extend(held_out_block(f, h));
    let coverage = match h.interval_coverage {
        Some(c) => format!("measured coverage on test {}", pct(c)),
        None => "coverage on test not measured".to_string(),
    };
    out.push(para(format!(
        "Prediction interval: nominal {}, {}.",
        pct(h.interval_level),
        coverage
    )));
    if !h.quantile_coverage.is_empty() {
        let cells: Vec<String> = h
            .quantile_coverage
            .iter()
            .map(|[l, c]| format!("{} → {}", pct(*l), pct(*c)))
            .collect();
        out.push(para(format!(
            "Quantile coverage on test (nominal level → share of test rows at or below the \
             forecast plus that quantile of the fold residuals, {}; the predictive policy's risk \
             setting sizes from these): {}.",
            if h.quantiles_relative {
                "taken relative to the forecast because on the folds that covered better (errors \
                 grow with the load)"
            } else {
                "in connections (on the folds that covered at least as well as residuals \
                 relative to the forecast)"
            },
            cells.join(", ")
        )));
    }
    let control = match &h.shuffled_control {
        Some(s) => LineBuilder::new().text(format!(
            "Shuffled-target control (test): accuracy {}, R² {}, skill vs persistence {}, skill vs seasonal naive {}. ",
            pct(s.accuracy),
            num(s.r2),
            opt_signed_pct(s.skill_vs_persistence),
            opt_signed_pct(s.skill_vs_seasonal)
        )),
        None => LineBuilder::new().text("Shuffled-target control: not run. "),
    };
    let control = if h.leakage_alarm {
        control.strong(
            "Leakage alarm: fired. A model trained on shuffled targets shows skill; \
             treat this horizon's scores as suspect.",
        )
    } else {
        control.text("Leakage alarm: did not fire.")
    };
    out.push(Block::Paragraph(control.build()));
    out
}

/// The inputs the models were not allowed to learn from, grouped by why
/// (named once: a later horizon with the same list refers to the first).
fn held_out_block(f: &ForecastSection, h: &HorizonResult) -> Option<Block> {
    if h.held_out.is_empty() {
        return None;
    }
    if let Some(first) = f.horizons.first()
        && first.horizon != h.horizon
        && first.held_out == h.held_out
    {
        return Some(para(format!(
            "Inputs held out of training: as at h = {}.",
            first.horizon
        )));
    }
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for i in &h.held_out {
        match groups.iter_mut().find(|(r, _)| *r == i.reason) {
            Some((_, names)) => names.push(&i.name),
            None => groups.push((&i.reason, vec![&i.name])),
        }
    }
    let mut line = LineBuilder::new().text(
        "Inputs held out of training, because on these training rows they tell time rather than \
         traffic and a model would extrapolate them: ",
    );
    for (g, (reason, names)) in groups.iter().enumerate() {
        if g > 0 {
            line = line.text("; ");
        }
        for (k, name) in names.iter().enumerate() {
            if k > 0 {
                line = line.text(", ");
            }
            line = line.code(*name);
        }
        line = line.text(format!(" ({reason})"));
    }
    Some(Block::Paragraph(line.text(".").build()))
}

/// The rolling-origin folds: each model's accuracy on every fold's
/// validation block, the mean with its interval, and the shrinkage weight
/// chosen on them.
fn fold_blocks(h: &HorizonResult) -> Vec<Block> {
    if h.fold_rows.len() < 2 {
        return Vec::new();
    }
    let sizes: Vec<String> = h
        .fold_rows
        .iter()
        .enumerate()
        .map(|(k, [t, v])| format!("{} trains on {t} rows and validates on {v}", k + 1))
        .collect();
    let mut out = vec![para(format!(
        "Rolling-origin folds (expanding window, a gap of the horizon before each \
         validation block): fold {}. Each trained row is shrunk towards persistence by the \
         weight that serves the folds best (1: the model alone, 0: persistence), so on the \
         folds none does worse than persistence.",
        sizes.join("; fold ")
    ))];
    let mut header = vec![left("Model")];
    header.extend((1..=h.fold_rows.len()).map(|k| right(&format!("Fold {k}"))));
    header.extend([
        right("Mean [95% interval]"),
        right("Weight"),
        right("Test accuracy unshrunk"),
    ]);
    let rows = h
        .models
        .iter()
        .filter(|m| m.kind != ModelKind::Reference && !m.folds.is_empty())
        .map(|m| {
            let mut row = vec![code(&m.name)];
            row.extend(m.folds.iter().map(|&a| text(pct(a))));
            row.push(text(match &m.fold_accuracy {
                Some(e) => format!("{} [{}, {}]", pct(e.mean), pct(e.lo), pct(e.hi)),
                None => "n/a".into(),
            }));
            row.push(text(if m.kind == ModelKind::Model {
                num(m.shrink_weight)
            } else {
                "—".into()
            }));
            row.push(text(
                m.unshrunk_test_accuracy.map_or_else(|| "—".into(), pct),
            ));
            row
        })
        .collect();
    out.push(Block::Table(Table { header, rows }));
    out
}

fn score_header() -> Vec<(String, Align)> {
    [
        "Test accuracy",
        "MAE",
        "RMSE",
        "MAPE",
        "R²",
        "Bias",
        "Within ±10%",
        "Skill vs persistence",
        "Skill vs seasonal naive",
    ]
    .iter()
    .map(|h| right(h))
    .collect()
}

fn score_cells(s: &Scores) -> Vec<Line> {
    vec![
        text(pct(s.accuracy)),
        text(num(s.mae)),
        text(num(s.rmse)),
        text(opt_pct(s.mape)),
        text(num(s.r2)),
        text(num(s.bias)),
        text(pct(s.within_10pct)),
        text(opt_signed_pct(s.skill_vs_persistence)),
        text(opt_signed_pct(s.skill_vs_seasonal)),
    ]
}

fn residual_blocks(f: &ForecastSection, charts: &[Chart]) -> Vec<Block> {
    let finite: Vec<f64> = f
        .residuals
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let mut out = vec![chart_or_no_data(charts, RESIDUALS, "Residuals")];
    if !finite.is_empty() {
        let n = finite.len() as f64;
        let mean = finite.iter().sum::<f64>() / n;
        let mae = finite.iter().map(|v| v.abs()).sum::<f64>() / n;
        let sd = (finite.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        let dropped = f.residuals.len() - finite.len();
        let mut s = format!(
            "Residuals y − ŷ on test: n = {}, mean {}, standard deviation {}, mean absolute {}.",
            finite.len(),
            num(mean),
            num(sd),
            num(mae)
        );
        if dropped > 0 {
            s.push_str(&format!(" {dropped} non-finite residuals (n/a) left out."));
        }
        out.push(para(s));
    }
    out
}

fn importance_blocks(f: &ForecastSection, charts: &[Chart]) -> Vec<Block> {
    let mut out = vec![chart_or_no_data(
        charts,
        IMPORTANCE,
        "Permutation importance",
    )];
    if f.importance.is_empty() {
        return out;
    }
    let rows = f
        .importance
        .iter()
        .take(TOP_IMPORTANCES)
        .enumerate()
        .map(|(i, imp)| {
            vec![
                text((i + 1).to_string()),
                code(&imp.feature),
                text(num(imp.increase_mae)),
            ]
        })
        .collect();
    out.push(Block::Table(Table {
        header: vec![
            right("Rank"),
            left("Feature"),
            right("Increase of test MAE"),
        ],
        rows,
    }));
    if f.importance.len() > TOP_IMPORTANCES {
        out.push(para(format!(
            "{} more features not shown.",
            f.importance.len() - TOP_IMPORTANCES
        )));
    }
    out
}

fn policies(p: Option<&PolicySection>, charts: &[Chart]) -> Vec<Block> {
    let Some(p) = p else {
        return vec![para(
            "Not run: this run made no closed-loop comparison. The wait-CDF, size-vs-demand \
             and cost-vs-latency charts are omitted.",
        )];
    };
    let mut out = vec![Block::Paragraph(
        LineBuilder::new()
            .text(format!(
                "{} replications per scenario and policy. Every value is the mean over \
                 replications with its 95% confidence interval, written mean [lo, hi]. \
                 Claims compare against the baseline policy ",
                p.replications
            ))
            .code(&p.baseline)
            .text(".")
            .build(),
    )];
    if p.scenarios.is_empty() {
        out.push(para("No data: no scenario was compared."));
    }
    for (s, stem) in p.scenarios.iter().zip(charts::scenario_stems(p)) {
        out.extend(policy_scenario(s, &stem, charts));
    }
    out
}

fn policy_scenario(s: &PolicyScenario, stem: &str, charts: &[Chart]) -> Vec<Block> {
    let mut out = vec![heading(
        format!("policies-{stem}"),
        LineBuilder::new()
            .text("Scenario ")
            .code(&s.scenario)
            .text(if s.seen_in_training {
                " (seen in training)"
            } else {
                " (held out from training)"
            })
            .build(),
    )];
    if s.rows.is_empty() {
        out.push(para("No data: no policy results for this scenario."));
    } else {
        let rows = s
            .rows
            .iter()
            .map(|r| {
                vec![
                    code(&r.policy),
                    text(r.replications.to_string()),
                    text(est(&r.wait_p50_ms)),
                    text(est(&r.wait_p95_ms)),
                    text(est(&r.wait_p99_ms)),
                    text(est(&r.latency_mean_ms)),
                    text(est(&r.throughput_rps)),
                    text(est(&r.timeouts)),
                    text(est(&r.errors)),
                    text(est_pct(&r.error_rate)),
                    text(est(&r.connection_seconds)),
                    text(est(&r.scale_events)),
                    text(
                        r.cache_hit_rate
                            .as_ref()
                            .map_or_else(|| NA.to_string(), est_pct),
                    ),
                ]
            })
            .collect();
        out.push(Block::Table(Table {
            header: vec![
                left("Policy"),
                right("Reps"),
                right("Wait p50 (ms)"),
                right("Wait p95 (ms)"),
                right("Wait p99 (ms)"),
                right("Mean latency (ms)"),
                right("Throughput (req/s)"),
                right("Timeouts"),
                right("Errors"),
                right("Error rate"),
                right("Connection-seconds"),
                right("Scale events"),
                right("Cache hit rate"),
            ],
            rows,
        }));
        out.push(detail_table(s));
        if let Some(c) = &s.model_contribution {
            out.push(para(contribution_text(s, c)));
        }
        if let Some(t) = ideal_text(s) {
            out.push(para(t));
        }
    }
    out.push(chart_or_no_data(
        charts,
        &charts::wait_cdf_file(stem),
        "Acquire-wait CDF",
    ));
    out.push(chart_or_no_data(
        charts,
        &charts::size_vs_demand_file(stem),
        "Pool size vs demand",
    ));
    out.push(chart_or_no_data(
        charts,
        &charts::cost_vs_latency_file(stem),
        "Cost vs mean acquire wait",
    ));
    out
}

/// What the learned model adds, in words: the paired differences and
/// whether they tell anything apart, and if so whether the change is large
/// enough to act on (`s` holds the reference policy's row).
pub(crate) fn contribution_text(s: &PolicyScenario, c: &crate::model::Contribution) -> String {
    use crate::model::Effect;
    let base = s.row(&c.b);
    let share = base
        .map(|r| r.connection_seconds.mean)
        .filter(|b| *b != 0.0)
        .map(|b| c.connection_seconds.mean / b);
    let (cost, wait) = c.material(base);
    let words = match c.effect(base) {
        Effect::NotMeasurable => "Neither interval excludes 0: no contribution of the model is \
                                  measurable here; the baseline forecaster in the same \
                                  machinery does as well."
            .to_string(),
        Effect::Negligible => format!(
            "An interval excludes 0, but the change is too small to act on{} (under 0.1% of \
             the cost and 1% of the wait counts as negligible): the model and the baseline \
             forecaster size this pool alike.",
            share.map_or(String::new(), |x| format!(
                ": connection-seconds {}{}% of {}'s",
                if x >= 0.0 { "+" } else { "" },
                num(x * 100.0),
                c.b
            )),
        ),
        Effect::Material => {
            let mut parts = Vec::new();
            if cost {
                parts.push(match share {
                    Some(x) => format!("connection-seconds by {:+.2}% of {}'s", x * 100.0, c.b),
                    None => "connection-seconds".to_string(),
                });
            }
            if wait {
                let w = c.wait_mean_ms.mean;
                parts.push(format!(
                    "mean acquire wait by {}{} ms",
                    if w >= 0.0 { "+" } else { "" },
                    num(w)
                ));
            }
            format!("Measurable: the model changes {}.", parts.join(" and "))
        }
    };
    format!(
        "What the model adds ({a} − {b}, the same policy and thresholds driven by the best \
         baseline forecaster; paired by replication, 95% intervals): connection-seconds {}, \
         mean acquire wait {} ms. {words}",
        est(&c.connection_seconds),
        est(&c.wait_mean_ms),
        a = c.a,
        b = c.b,
    )
}

/// What a perfect forecaster adds in the same machinery, and the share of
/// it the model captures, in words.
pub(crate) fn ideal_text(s: &PolicyScenario) -> Option<String> {
    let i = s.ideal_contribution.as_ref()?;
    let share = match s.captured() {
        Some(c) => format!(
            "The model captures {} of that change in connection-seconds.",
            pct(c)
        ),
        None => "A perfect forecast changes connection-seconds by nothing measurable here (or by \
                 under 0.1% of the cost), so \
                 there is no gain for a better model to capture."
            .into(),
    };
    Some(format!(
        "What a perfect forecast adds ({} − {}, the same machinery sized from the simulator's \
         known future demand; paired, 95% intervals): connection-seconds {}, mean acquire wait \
         {} ms. {share}",
        i.a,
        i.b,
        est(&i.connection_seconds),
        est(&i.wait_mean_ms),
    ))
}

/// Mean wait, rejections, mean size and errors by category (categories in
/// first-seen order across the rows).
fn detail_table(s: &PolicyScenario) -> Block {
    let mut categories: Vec<&str> = Vec::new();
    for r in &s.rows {
        for (c, _) in &r.errors_by_category {
            if !categories.contains(&c.as_str()) {
                categories.push(c);
            }
        }
    }
    let mut header = vec![
        left("Policy"),
        right("Mean wait (ms)"),
        right("Rejected"),
        right("Mean size"),
    ];
    header.extend(categories.iter().map(|c| right(&format!("Errors: {c}"))));
    let rows = s
        .rows
        .iter()
        .map(|r| {
            let mut row = vec![
                code(&r.policy),
                text(est(&r.wait_mean_ms)),
                text(est(&r.rejected)),
                text(est(&r.mean_size)),
            ];
            row.extend(categories.iter().map(|c| {
                r.errors_by_category
                    .iter()
                    .find(|(name, _)| name == c)
                    .map_or_else(|| text(NA), |(_, e)| text(est(e)))
            }));
            row
        })
        .collect();
    Block::Table(Table { header, rows })
}

fn tuning(t: Option<&TuningSection>, charts: &[Chart]) -> Vec<Block> {
    let Some(t) = t else {
        return vec![para(
            "Not run: this run tuned nothing. The tuning chart is omitted.",
        )];
    };
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    let mut out = vec![Block::Bullets(vec![
        LineBuilder::new()
            .text("Policy tuned: ")
            .code(&t.policy)
            .build(),
        text(format!("Objective: {}", t.objective)),
        text(format!("Constraints: {}", list(&t.constraints))),
        text(format!(
            "Evaluated on: {} ({} replications each)",
            list(&t.scenarios),
            t.replications
        )),
        text(format!("Parameters: {}", list(&t.parameters))),
    ])];
    if !t.note.trim().is_empty() {
        out.push(para(t.note.trim()));
    }
    if t.candidates.is_empty() {
        out.push(para("No data: no candidate was evaluated."));
    } else {
        out.push(candidate_table(t));
    }
    if t.chosen.is_none() {
        out.push(para("No candidate was chosen."));
    }
    out.push(chart_or_no_data(charts, TUNING, "Tuning"));
    out
}

fn candidate_table(t: &TuningSection) -> Block {
    // Parameter columns: the declared ones, then any others in first-seen
    // order; metric columns in first-seen order.
    let mut params: Vec<&str> = t.parameters.iter().map(String::as_str).collect();
    let mut metrics: Vec<&str> = Vec::new();
    for c in &t.candidates {
        for (p, _) in &c.params {
            if !params.contains(&p.as_str()) {
                params.push(p);
            }
        }
        for (m, _) in &c.metrics {
            if !metrics.contains(&m.as_str()) {
                metrics.push(m);
            }
        }
    }
    let mut header = vec![right("#"), left("Mark")];
    header.extend(params.iter().map(|p| left(p)));
    header.extend(metrics.iter().map(|m| right(m)));
    header.push(left("Feasible"));
    header.push(right("Objective"));
    let rows = t
        .candidates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mark = if t.chosen == Some(i) {
                LineBuilder::new().strong("chosen").build()
            } else if t.runner_up == Some(i) {
                text("runner-up")
            } else {
                Vec::new()
            };
            let mut row = vec![text(i.to_string()), mark];
            row.extend(params.iter().map(|p| {
                c.params
                    .iter()
                    .find(|(k, _)| k == p)
                    .map_or_else(|| text("—"), |(_, v)| text(v))
            }));
            row.extend(metrics.iter().map(|m| {
                c.metrics
                    .iter()
                    .find(|(k, _)| k == m)
                    .map_or_else(|| text(NA), |(_, v)| text(num(*v)))
            }));
            row.push(text(yes_no(c.feasible)));
            row.push(text(num(c.objective)));
            row
        })
        .collect();
    Block::Table(Table { header, rows })
}

fn provenance(report: &RunReport) -> Vec<Block> {
    let meta = &report.meta;
    let mut out = Vec::new();
    if meta.procedure.is_empty() {
        out.push(para("Procedure: no data."));
    } else {
        out.push(Block::Bullets(meta.procedure.iter().map(text).collect()));
    }
    out.push(heading("provenance-scenarios", text("Scenarios")));
    if meta.scenarios.is_empty() {
        out.push(para("No data: no scenario listed."));
    } else {
        out.push(Block::Table(Table {
            header: vec![
                left("Scenario"),
                left("Role"),
                left("Replications"),
                left("Seen in training"),
                left("Description"),
            ],
            rows: meta
                .scenarios
                .iter()
                .map(|s| {
                    vec![
                        code(&s.name),
                        text(&s.role),
                        text(format!(
                            "{} ({})",
                            index_ranges(&s.replications),
                            s.replications.len()
                        )),
                        text(yes_no(s.seen_in_training)),
                        text(&s.description),
                    ]
                })
                .collect(),
        }));
    }
    out.push(heading("provenance-run", text("Run")));
    out.push(Block::Table(Table {
        header: vec![left("Field"), left("Value")],
        rows: vec![
            vec![text("Experiment"), code(&meta.experiment)],
            vec![text("Run id"), code(&meta.run_id)],
            vec![text("Manifest hash"), code(&meta.manifest_hash)],
            vec![text("Git revision"), code(&meta.git_revision)],
            vec![text("Seed"), text(meta.seed.to_string())],
        ],
    }));
    out.push(heading("provenance-versions", text("Versions")));
    if meta.versions.is_empty() {
        out.push(para("No data: no versions recorded."));
    } else {
        out.push(Block::Table(Table {
            header: vec![left("Crate"), left("Version")],
            rows: meta
                .versions
                .iter()
                .map(|(c, v)| vec![code(c), text(v)])
                .collect(),
        }));
    }
    out
}

fn timings(t: &Timings) -> Vec<Block> {
    let mut inner = Vec::new();
    if t.steps.is_empty() && t.models.is_empty() && t.notes.is_empty() && t.claims.is_empty() {
        inner.push(para("No data: no timing was measured."));
    }
    if !t.claims.is_empty() {
        inner.push(claims_table(&t.claims));
    }
    if !t.steps.is_empty() {
        inner.push(Block::Table(Table {
            header: vec![left("Step"), right("Wall time (s)"), left("Reused")],
            rows: t
                .steps
                .iter()
                .map(|s| vec![text(&s.name), text(num(s.seconds)), text(yes_no(s.reused))])
                .collect(),
        }));
    }
    if !t.models.is_empty() {
        inner.push(Block::Table(Table {
            header: vec![
                right("Horizon"),
                left("Model"),
                right("Train (s)"),
                right("Inference (µs/row)"),
            ],
            rows: t
                .models
                .iter()
                .map(|m| {
                    vec![
                        text(m.horizon.to_string()),
                        code(&m.model),
                        text(num(m.train_seconds)),
                        text(num(m.infer_us_per_row)),
                    ]
                })
                .collect(),
        }));
    }
    if !t.notes.is_empty() {
        inner.push(Block::Bullets(t.notes.iter().map(text).collect()));
    }
    vec![
        para(
            "These values depend on the machine that ran the experiment. They sit between \
             machine-dependent markers and are left out when two runs are compared byte for byte.",
        ),
        Block::Machine(inner),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::charts::forecast::export_result;

    #[test]
    fn verdicts_read_as_words() {
        assert_eq!(verdict_text(Verdict::Holds), "holds");
        assert_eq!(verdict_text(Verdict::DoesNotHold), "does not hold");
        assert_eq!(verdict_text(Verdict::NotMeasured), "not measured");
    }

    #[test]
    fn the_share_of_a_perfect_forecast_is_stated_only_when_it_is_measurable() {
        let e = |mean: f64, lo: f64, hi: f64| crate::model::Estimate { mean, lo, hi };
        let c = |a: &str, cs| crate::model::Contribution {
            a: a.into(),
            b: "predictive-naive".into(),
            connection_seconds: cs,
            wait_mean_ms: e(0.0, -0.1, 0.1),
        };
        let mut s = crate::fixture::sample_report().policies.unwrap().scenarios[0].clone();
        s.model_contribution = Some(c("predictive", e(-50.0, -80.0, -20.0)));
        s.ideal_contribution = Some(c("predictive-ideal", e(-200.0, -260.0, -140.0)));
        assert_eq!(s.captured(), Some(0.25));
        let t = ideal_text(&s).unwrap();
        assert!(t.contains("captures 25"), "{t}");
        s.ideal_contribution = Some(c("predictive-ideal", e(-20.0, -60.0, 20.0)));
        assert_eq!(s.captured(), None);
        let t = ideal_text(&s).unwrap();
        assert!(t.contains("nothing measurable"), "{t}");
        s.ideal_contribution = None;
        assert!(ideal_text(&s).is_none());
    }

    /// A deterministic replay gives intervals of no width, so a change of
    /// a few thousandths of a connection-second "excludes 0": the words
    /// must say it is too small to act on, and a saving of 2% must read as
    /// one.
    #[test]
    fn a_contribution_too_small_to_act_on_reads_as_negligible() {
        let e = |mean: f64| crate::model::Estimate {
            mean,
            lo: mean,
            hi: mean,
        };
        let mut s = crate::fixture::sample_report().policies.unwrap().scenarios[0].clone();
        let mut naive = s.rows[0].clone();
        naive.policy = "predictive-naive".into();
        naive.connection_seconds = e(10_000.0);
        naive.wait_mean_ms = e(0.05);
        s.rows.push(naive);
        let c = |cs: f64, wait: f64| crate::model::Contribution {
            a: "predictive".into(),
            b: "predictive-naive".into(),
            connection_seconds: e(cs),
            wait_mean_ms: e(wait),
        };
        let tiny = c(0.003, -3e-9);
        assert!(tiny.significant());
        assert_eq!(s.effect(&tiny), crate::model::Effect::Negligible);
        let t = contribution_text(&s, &tiny);
        assert!(t.contains("too small to act on"), "{t}");
        let saving = c(-200.0, 0.0);
        assert_eq!(s.effect(&saving), crate::model::Effect::Material);
        let t = contribution_text(&s, &saving);
        assert!(
            t.contains("connection-seconds by -2.00% of predictive-naive's"),
            "{t}"
        );
        let waits = c(1.0, -0.01);
        let t = contribution_text(&s, &waits);
        assert!(t.contains("mean acquire wait by -0.010 ms"), "{t}");
        assert!(!t.contains("connection-seconds by"), "{t}");
        let spans = crate::model::Contribution {
            connection_seconds: crate::model::Estimate {
                mean: -50.0,
                lo: -120.0,
                hi: 20.0,
            },
            ..c(0.0, 0.0)
        };
        assert_eq!(s.effect(&spans), crate::model::Effect::NotMeasurable);
        // a perfect forecast that saves 0.05% leaves nothing to capture
        s.model_contribution = Some(c(-2.0, 0.0));
        s.ideal_contribution = Some(crate::model::Contribution {
            a: "predictive-ideal".into(),
            ..c(-5.0, 0.0)
        });
        assert_eq!(s.captured(), None);
        s.ideal_contribution = Some(crate::model::Contribution {
            a: "predictive-ideal".into(),
            ..c(-20.0, 0.0)
        });
        assert_eq!(s.captured(), Some(0.1));
    }

    #[test]
    fn horizon_uses_the_export_result_helper() {
        let f = crate::fixture::sample_report().forecast;
        assert!(f.as_ref().and_then(export_result).is_some());
    }
}
