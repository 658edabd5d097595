//! Rendering the sample report and its degenerate variants: sections,
//! charts, self-contained HTML, determinism, machine-dependent blocks,
//! missing and bad data, and the JSON round trip.

use poolcast_reports::fixture::sample_report;
use poolcast_reports::{
    Estimate, ForecastSection, MACHINE_BEGIN, MACHINE_END, PolicyScenario, PolicySection, Rendered,
    RunReport, StepTiming, Timings, TuningSection, render, strip_machine_dependent,
};

const HEADINGS: [(&str, &str); 7] = [
    ("summary", "Summary"),
    ("claims", "Claims"),
    ("forecast-accuracy", "Forecast accuracy"),
    ("policies", "Policies"),
    ("tuning", "Tuning"),
    ("procedure-and-provenance", "Procedure and provenance"),
    ("machine-measured-timings", "Machine-measured timings"),
];

fn rendered(report: &RunReport) -> Rendered {
    match render(report) {
        Ok(r) => r,
        Err(e) => panic!("render failed: {e}"),
    }
}

/// The text of one top-level Markdown section (up to the next `## `).
fn md_section<'a>(md: &'a str, title: &str) -> &'a str {
    let head = format!("\n## {title}\n");
    let start = md.find(&head).map_or(md.len(), |i| i + head.len());
    let rest = &md[start..];
    let end = rest.find("\n## ").unwrap_or(rest.len());
    &rest[..end]
}

#[test]
fn every_section_appears_in_order_in_markdown_and_html() {
    let r = rendered(&sample_report());
    let mut last_md = 0;
    let mut last_html = 0;
    for (id, title) in HEADINGS {
        let md_at = r.markdown.find(&format!("\n## {title}\n"));
        let md_anchor = r.markdown.find(&format!("<a id=\"{id}\"></a>"));
        let html_at = r
            .html
            .find(&format!("<section id=\"{id}\">\n<h2>{title}</h2>"));
        assert!(
            md_at.is_some() && md_anchor.is_some(),
            "markdown lacks {title}"
        );
        assert!(html_at.is_some(), "html lacks {title}");
        let (md_at, html_at) = (md_at.unwrap_or(0), html_at.unwrap_or(0));
        assert!(
            md_at > last_md && html_at > last_html,
            "{title} out of order"
        );
        last_md = md_at;
        last_html = html_at;
    }
}

#[test]
fn every_chart_is_drawn_with_text_and_referenced() {
    let r = rendered(&sample_report());
    let names: Vec<&str> = r.charts.iter().map(|c| c.file_name.as_str()).collect();
    assert_eq!(
        names,
        [
            "forecast-series.svg",
            "error-by-horizon.svg",
            "residuals.svg",
            "importance.svg",
            "model-comparison.svg",
            "wait-cdf-diurnal.svg",
            "size-vs-demand-diurnal.svg",
            "cost-vs-latency-diurnal.svg",
            "wait-cdf-flash-crowd.svg",
            "size-vs-demand-flash-crowd.svg",
            "cost-vs-latency-flash-crowd.svg",
            "tuning.svg",
        ]
    );
    for c in &r.charts {
        assert!(
            c.svg.starts_with("<svg"),
            "{} does not start with <svg",
            c.file_name
        );
        assert!(c.svg.contains("<text"), "{} has no text", c.file_name);
        assert!(
            c.svg.trim_end().ends_with("</svg>"),
            "{} is not closed",
            c.file_name
        );
        assert!(!c.title.is_empty());
        assert!(
            c.file_name
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "-_.".contains(ch)),
            "{} has characters outside [a-z0-9_-]",
            c.file_name
        );
        assert!(
            r.markdown.contains(&format!("](charts/{})", c.file_name)),
            "markdown does not reference {}",
            c.file_name
        );
        let stem = c.file_name.trim_end_matches(".svg");
        assert!(
            r.html
                .contains(&format!("<figure id=\"chart-{stem}\">\n<svg ")),
            "html does not inline {}",
            c.file_name
        );
    }
    // The charts' own text names what they show.
    let cdf = r
        .charts
        .iter()
        .find(|c| c.file_name == "wait-cdf-diurnal.svg");
    assert!(cdf.is_some_and(|c| c.svg.contains("waits of 0 are drawn at the left edge")));
}

#[test]
fn html_is_self_contained() {
    let r = rendered(&sample_report());
    let html = r.html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    assert!(!html.contains("http://"), "external http URL in html");
    assert!(!html.contains("https://"), "external https URL in html");
    assert!(!html.contains("<script"), "script in html");
    assert!(!html.contains("<img src="), "image file reference in html");
    assert!(!html.contains("<link"), "linked resource in html");
    assert!(html.contains("<style>"));
    assert_eq!(r.html.matches("<svg ").count(), r.charts.len());
    assert!(r.html.starts_with("<!DOCTYPE html>") && r.html.trim_end().ends_with("</html>"));
}

#[test]
fn same_input_renders_byte_identical_output() {
    let report = sample_report();
    let a = rendered(&report);
    let b = rendered(&report);
    assert_eq!(a.markdown, b.markdown);
    assert_eq!(a.html, b.html);
    assert_eq!(a.charts, b.charts);
    // And a report rebuilt from scratch (fresh allocations) too.
    assert_eq!(a, rendered(&sample_report()));
}

#[test]
fn timings_only_change_the_machine_dependent_blocks() {
    let report = sample_report();
    let mut other = report.clone();
    other.timings = Timings {
        steps: vec![StepTiming {
            name: "simulate".into(),
            seconds: 7777.25,
            reused: true,
        }],
        models: vec![],
        notes: vec!["a slower machine".into(), "another line".into()],
        claims: vec![],
    };
    let a = rendered(&report);
    let b = rendered(&other);
    assert_ne!(a.markdown, b.markdown);
    assert_ne!(a.html, b.html);
    assert!(b.markdown.contains("7777") && b.html.contains("7777"));
    for text in [&a.markdown, &a.html, &b.markdown, &b.html] {
        // The timings section, and a note in the claims section when some
        // claims are machine-measured: every block closed.
        let n = text.matches(MACHINE_BEGIN).count();
        assert!(n >= 1);
        assert_eq!(text.matches(MACHINE_END).count(), n);
    }
    let (sa, sb) = (
        strip_machine_dependent(&a.markdown),
        strip_machine_dependent(&b.markdown),
    );
    assert_eq!(sa, sb);
    assert!(!sb.contains("7777") && !sb.contains("a slower machine"));
    assert!(sb.contains("## Machine-measured timings"));
    assert_eq!(
        strip_machine_dependent(&a.html),
        strip_machine_dependent(&b.html)
    );
    assert_eq!(a.charts, b.charts);
    // The timings of the sample sit inside the markers (every block).
    let md = &a.markdown;
    let inside: String = md
        .split(MACHINE_BEGIN)
        .skip(1)
        .map(|rest| rest.split(MACHINE_END).next().unwrap_or(""))
        .collect();
    for needle in ["41.30", "31.70", "prediction latency 12.3 µs"] {
        assert!(inside.contains(needle), "{needle} not inside the markers");
        assert_eq!(
            md.matches(needle).count(),
            1,
            "{needle} outside the markers"
        );
    }
}

#[test]
fn sections_not_run_say_so() {
    let mut report = sample_report();
    report.forecast = None;
    report.policies = None;
    report.tuning = None;
    report.claims.clear();
    report.timings = Timings {
        steps: vec![],
        models: vec![],
        notes: vec![],
        claims: vec![],
    };
    let r = rendered(&report);
    assert!(r.charts.is_empty());
    for (_, title) in HEADINGS {
        assert!(r.markdown.contains(&format!("\n## {title}\n")));
        assert!(r.html.contains(&format!("<h2>{title}</h2>")));
    }
    for title in ["Forecast accuracy", "Policies", "Tuning"] {
        let body = md_section(&r.markdown, title);
        assert!(body.contains("Not run"), "{title}: {body}");
        assert!(
            body.contains("omitted"),
            "{title} does not say its charts are omitted"
        );
    }
    assert!(md_section(&r.markdown, "Claims").contains("No data"));
    assert!(md_section(&r.markdown, "Machine-measured timings").contains("No data"));
    let summary = md_section(&r.markdown, "Summary");
    assert!(summary.contains("not run") && summary.contains("no data"));
    assert!(r.html.contains("Not run"));
}

fn empty_scores() -> poolcast_reports::Scores {
    poolcast_reports::Scores {
        n: 0,
        accuracy: f64::NAN,
        mae: f64::NAN,
        rmse: f64::INFINITY,
        mape: None,
        r2: f64::NEG_INFINITY,
        bias: f64::NAN,
        within_10pct: f64::NAN,
        skill_vs_persistence: None,
        skill_vs_seasonal: None,
    }
}

#[test]
fn empty_vectors_render_no_data() {
    let mut report = sample_report();
    report.meta.versions.clear();
    report.meta.procedure.clear();
    report.meta.scenarios.clear();
    report.forecast = Some(ForecastSection {
        interval_s: 5.0,
        target: "demand".into(),
        export_horizon: 6,
        exported_model: "gbm".into(),
        n_features: 0,
        horizons: vec![],
        series: Some(poolcast_reports::PredictionSeries {
            run: "x".into(),
            level: 0.9,
            t_s: vec![],
            actual: vec![],
            predicted: vec![],
            lower: vec![],
            upper: vec![],
        }),
        residuals: vec![],
        importance: vec![],
    });
    report.policies = Some(PolicySection {
        replications: 0,
        baseline: "reactive".into(),
        scenarios: vec![PolicyScenario {
            scenario: "empty".into(),
            seen_in_training: false,
            rows: vec![],
            wait_cdf: vec![],
            size_series: vec![],
            model_contribution: None,
            ideal_contribution: None,
        }],
    });
    report.tuning = Some(TuningSection {
        policy: "predictive".into(),
        objective: "minimize cost".into(),
        constraints: vec![],
        scenarios: vec![],
        replications: 0,
        parameters: vec![],
        candidates: vec![],
        chosen: None,
        runner_up: Some(7),
        note: String::new(),
    });
    let r = rendered(&report);
    assert!(r.charts.is_empty(), "charts drawn from no data");
    let md = &r.markdown;
    for title in [
        "Forecast accuracy",
        "Policies",
        "Tuning",
        "Procedure and provenance",
    ] {
        let body = md_section(md, title);
        assert!(body.to_lowercase().contains("no data"), "{title}: {body}");
    }
    assert!(md.contains("no data** (chart wait-cdf-empty.svg not drawn)"));
    assert!(md.contains("no data** (chart tuning.svg not drawn)"));
    assert!(!md.contains("!["), "an image reference without a chart");
}

#[test]
fn nan_and_extreme_values_render_as_na() {
    let mut report = sample_report();
    let nan_est = Estimate {
        mean: f64::NAN,
        lo: f64::NEG_INFINITY,
        hi: f64::INFINITY,
    };
    if let Some(f) = report.forecast.as_mut() {
        f.interval_s = f64::NAN;
        for h in &mut f.horizons {
            h.interval_level = f64::NAN;
            h.interval_coverage = Some(f64::INFINITY);
            h.leakage_alarm = true;
            h.shuffled_control = Some(empty_scores());
            for m in &mut h.models {
                m.test = empty_scores();
                m.valid = empty_scores();
            }
        }
        if let Some(s) = f.series.as_mut() {
            for (i, v) in s.actual.iter_mut().enumerate() {
                if i % 7 == 0 {
                    *v = f64::NAN;
                }
            }
            s.upper.truncate(10);
            s.lower[3] = f64::INFINITY;
            s.t_s[5] = f64::NAN;
            s.predicted[0] = 1e308;
            s.predicted[1] = -1e308;
        }
        f.residuals
            .extend([f64::NAN, f64::INFINITY, 1e300, -1e-300]);
        f.importance[0].increase_mae = f64::NAN;
        f.importance[1].increase_mae = f64::NEG_INFINITY;
    }
    if let Some(p) = report.policies.as_mut() {
        for s in &mut p.scenarios {
            for r in &mut s.rows {
                r.wait_p95_ms = nan_est;
                r.error_rate = nan_est;
                r.cache_hit_rate = Some(nan_est);
            }
            s.rows[0].wait_p95_ms = Estimate {
                mean: 5.0,
                lo: 5.0,
                hi: 5.0,
            };
            for c in &mut s.wait_cdf {
                c.wait_ms[1] = f64::NAN;
                c.fraction[2] = f64::INFINITY;
                c.wait_ms.push(-3.0);
                c.fraction.push(0.5);
            }
            for z in &mut s.size_series {
                z.size[4] = f64::NAN;
                z.demand.clear();
            }
        }
    }
    if let Some(t) = report.tuning.as_mut() {
        t.candidates[0].objective = f64::NAN;
        t.candidates[1].metrics[0].1 = f64::INFINITY;
        t.chosen = Some(999);
        t.constraints[0] = "wait_p95_ms <= soon".into();
    }
    report.timings.steps[0].seconds = f64::NAN;
    let r = rendered(&report);
    assert!(r.markdown.contains("n/a") && r.html.contains("n/a"));
    for text in [&r.markdown, &r.html] {
        let words: Vec<&str> = text.split(|c: char| !c.is_alphanumeric()).collect();
        assert!(!words.iter().any(|w| ["NaN", "inf", "infinity"].contains(w)));
    }
    assert!(r.markdown.contains("Leakage alarm: fired"));
    for c in &r.charts {
        assert!(c.svg.starts_with("<svg") && c.svg.contains("<text"));
        assert!(
            !c.svg.contains("NaN"),
            "{} has NaN coordinates",
            c.file_name
        );
    }
    // Only one point per scenario has a finite p95: the cost chart still draws.
    assert!(
        r.charts
            .iter()
            .any(|c| c.file_name == "cost-vs-latency-diurnal.svg")
    );
    // All accuracies are NaN: no accuracy chart, and the sections say so.
    assert!(
        !r.charts
            .iter()
            .any(|c| c.file_name == "model-comparison.svg")
    );
    assert!(
        r.markdown
            .contains("Model comparison at the export horizon: **no data**")
    );
}

/// Values that break naive plotting code.
const POISON: [f64; 10] = [
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    0.0,
    -0.0,
    1e308,
    -1e308,
    1e-308,
    5e-324,
    -1.0,
];

/// SplitMix64, so the poisoning is the same on every run.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// With probability 1/`one_in`, a poison value instead of `v`.
    fn maybe(&mut self, v: &mut f64, one_in: u64) {
        if self.next().is_multiple_of(one_in) {
            *v = POISON[(self.next() % POISON.len() as u64) as usize];
        }
    }

    fn est(&mut self, e: &mut Estimate, one_in: u64) {
        self.maybe(&mut e.mean, one_in);
        self.maybe(&mut e.lo, one_in);
        self.maybe(&mut e.hi, one_in);
    }
}

fn poison(report: &mut RunReport, dice: &mut Dice, one_in: u64) {
    if let Some(f) = report.forecast.as_mut() {
        dice.maybe(&mut f.interval_s, one_in);
        for h in &mut f.horizons {
            dice.maybe(&mut h.interval_level, one_in);
            for m in &mut h.models {
                for s in [&mut m.valid, &mut m.test] {
                    for v in [
                        &mut s.accuracy,
                        &mut s.mae,
                        &mut s.rmse,
                        &mut s.r2,
                        &mut s.bias,
                    ] {
                        dice.maybe(v, one_in);
                    }
                }
            }
        }
        if let Some(s) = f.series.as_mut() {
            for v in [
                &mut s.t_s,
                &mut s.actual,
                &mut s.predicted,
                &mut s.lower,
                &mut s.upper,
            ] {
                v.iter_mut().for_each(|x| dice.maybe(x, one_in));
            }
        }
        f.residuals.iter_mut().for_each(|x| dice.maybe(x, one_in));
        f.importance
            .iter_mut()
            .for_each(|i| dice.maybe(&mut i.increase_mae, one_in));
    }
    if let Some(p) = report.policies.as_mut() {
        for s in &mut p.scenarios {
            for r in &mut s.rows {
                for e in [
                    &mut r.wait_p95_ms,
                    &mut r.connection_seconds,
                    &mut r.error_rate,
                    &mut r.wait_p50_ms,
                ] {
                    dice.est(e, one_in);
                }
            }
            for c in &mut s.wait_cdf {
                c.wait_ms.iter_mut().for_each(|x| dice.maybe(x, one_in));
                c.fraction.iter_mut().for_each(|x| dice.maybe(x, one_in));
            }
            for z in &mut s.size_series {
                for v in [&mut z.t_s, &mut z.size, &mut z.demand] {
                    v.iter_mut().for_each(|x| dice.maybe(x, one_in));
                }
            }
        }
    }
    if let Some(t) = report.tuning.as_mut() {
        for c in &mut t.candidates {
            dice.maybe(&mut c.objective, one_in);
            c.metrics
                .iter_mut()
                .for_each(|m| dice.maybe(&mut m.1, one_in));
        }
    }
}

#[test]
fn poisoned_values_never_fail_the_render() {
    let clean = sample_report();
    for seed in 0..24u64 {
        let mut report = clean.clone();
        let mut dice = Dice(seed);
        // From a few bad values to almost all of them.
        poison(&mut report, &mut dice, [2, 5, 40][(seed % 3) as usize]);
        let r = match render(&report) {
            Ok(r) => r,
            Err(e) => panic!("seed {seed}: {e}"),
        };
        for c in &r.charts {
            assert!(c.svg.starts_with("<svg"), "seed {seed}: {}", c.file_name);
            assert!(
                !c.svg.contains("NaN"),
                "seed {seed}: NaN in {}",
                c.file_name
            );
        }
        assert_eq!(r, rendered(&report), "seed {seed}: not deterministic");
    }
}

#[test]
fn single_points_and_constant_series_draw() {
    let mut report = sample_report();
    if let Some(f) = report.forecast.as_mut() {
        f.horizons.truncate(1);
        f.export_horizon = f.horizons[0].horizon;
        f.residuals = vec![0.5; 10];
        f.importance.truncate(1);
        if let Some(s) = f.series.as_mut() {
            for v in [
                &mut s.t_s,
                &mut s.actual,
                &mut s.predicted,
                &mut s.lower,
                &mut s.upper,
            ] {
                v.truncate(1);
            }
        }
    }
    if let Some(p) = report.policies.as_mut() {
        for s in &mut p.scenarios {
            s.rows.truncate(1);
            for c in &mut s.wait_cdf {
                c.wait_ms = vec![0.0];
                c.fraction = vec![1.0];
            }
            for z in &mut s.size_series {
                z.size.iter_mut().for_each(|v| *v = 10.0);
                z.demand.iter_mut().for_each(|v| *v = 10.0);
            }
        }
    }
    if let Some(t) = report.tuning.as_mut() {
        t.candidates.truncate(1);
        t.chosen = Some(0);
        t.runner_up = None;
    }
    let r = rendered(&report);
    assert_eq!(r.charts.len(), 12);
}

#[test]
fn hostile_names_cannot_break_markers_or_markup() {
    let mut report = sample_report();
    let evil = format!("{MACHINE_END} <script>x</script> | *bold* `tick` [l](u)");
    report.meta.experiment = evil.clone();
    report.claims[0].name = evil.clone();
    if let Some(p) = report.policies.as_mut() {
        p.scenarios[0].rows[0].policy = evil.clone();
        p.scenarios[0].scenario = "../../etc/passwd".into();
    }
    report.timings.notes.push(evil.clone());
    let r = rendered(&report);
    for text in [&r.markdown, &r.html] {
        // The timings section, and a note in the claims section when some
        // claims are machine-measured: every block closed.
        let n = text.matches(MACHINE_BEGIN).count();
        assert!(n >= 1);
        assert_eq!(text.matches(MACHINE_END).count(), n);
        assert!(!text.contains("<script>"));
    }
    assert!(
        r.charts
            .iter()
            .all(|c| !c.file_name.contains('/') && !c.file_name.starts_with('.'))
    );
    assert!(
        r.charts
            .iter()
            .any(|c| c.file_name == "wait-cdf--.-..-etc-passwd.svg")
    );
    // Timings changes still only touch the marked block.
    let mut other = report.clone();
    other.timings.notes.clear();
    let o = rendered(&other);
    assert_eq!(
        strip_machine_dependent(&r.markdown),
        strip_machine_dependent(&o.markdown)
    );
}

#[test]
fn summary_reports_forecast_policies_and_claims() {
    let r = rendered(&sample_report());
    let s = md_section(&r.markdown, "Summary");
    assert!(s.contains("`gbm`"), "{s}");
    assert!(s.contains("88.0%") && s.contains("79.5%"), "{s}");
    assert!(s.contains("8.5 points better"), "{s}");
    assert!(s.contains("in 1 of 2 scenarios compared"), "{s}");
    assert!(
        s.contains("lower, 95% CIs disjoint") && s.contains("95% CIs overlap"),
        "{s}"
    );
    assert!(
        s.contains("2 of 4 hold, 1 does not hold, 1 not measured"),
        "{s}"
    );
    let claims = md_section(&r.markdown, "Claims");
    assert!(
        claims.contains("**holds**")
            && claims.contains("does not hold")
            && claims.contains("not measured")
    );
}

#[test]
fn tables_show_intervals_and_marks() {
    let r = rendered(&sample_report());
    let policies = md_section(&r.markdown, "Policies");
    // mean [lo, hi] for every policy value.
    assert!(
        policies.contains("| `reactive` | 5 | 1.900 [1.520, 2.280] | 38.00 [33.44, 42.56] |"),
        "{policies}"
    );
    let forecast = md_section(&r.markdown, "Forecast accuracy");
    assert!(forecast.contains("`gbm` **★ selected**"));
    assert!(forecast.contains("nominal 90.0%, measured coverage on test"));
    assert!(forecast.contains("Leakage alarm: did not fire."));
    let tuning = md_section(&r.markdown, "Tuning");
    assert!(tuning.contains("**chosen**") && tuning.contains("runner-up"));
}

#[test]
fn json_round_trip_is_lossless() {
    let report = sample_report();
    let json = serde_json::to_string(&report).unwrap_or_default();
    let back: RunReport = match serde_json::from_str(&json) {
        Ok(r) => r,
        Err(e) => panic!("round trip failed: {e}"),
    };
    assert_eq!(back, report);
    assert_eq!(serde_json::to_string(&back).unwrap_or_default(), json);
    assert!(
        json.contains("\"kind\":\"baseline\"") && json.contains("\"verdict\":\"does_not_hold\"")
    );
}

#[test]
fn unknown_fields_are_refused() {
    let json = serde_json::to_value(sample_report()).unwrap_or_default();
    let mut json = json;
    if let Some(meta) = json.get_mut("meta").and_then(|m| m.as_object_mut()) {
        meta.insert("surprise".into(), serde_json::Value::Bool(true));
    }
    let err = serde_json::from_value::<RunReport>(json)
        .err()
        .map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("surprise")));
}
