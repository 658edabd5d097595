//! The offline pipeline end to end on simulated telemetry: offline features
//! equal online features, no window or target crosses a run, trained models
//! beat persistence on unseen days while a shuffled-target control does not,
//! and the exported artifact predicts exactly what the trainer scored.

use std::path::Path;
use std::sync::OnceLock;

use poolcast::core::artifact::{Forecaster, ModelArtifact, predict_body};
use poolcast::core::policy::{
    PolicyContext, PredictiveConfig, PredictiveMode, PredictivePolicy, ScalingPolicy,
};
use poolcast_datasets::read_snapshots;
use poolcast_models::dataset::{DatasetConfig, FeatureDataset, build_dataset, discover_runs};
use poolcast_models::train::{BoostGrid, Family, TrainConfig, TrainReport, train};

const SCENARIO: &str = r#"
seed = 17
[[scenario]]
name = "cyc"
duration_s = 259200   # 3 days
interval_s = 60.0
replications = 2
classes = [{ class = "read", share = 1.0, service = { kind = "exponential", mean_ms = 80.0 } }]
pool = { min_size = 4, max_size = 60, initial_size = 10, policy = { kind = "reactive" } }
[scenario.load]
base_rate = 60.0
patterns = [
  { kind = "cyclical", daily_amplitude = 0.7, peak_hour = 13.0 },
  { kind = "noise", sigma = 0.05, step_s = 300 },
]
"#;

struct Fixture {
    dir: tempfile::TempDir,
    ds: FeatureDataset,
    report: TrainReport,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let file = poolcast_sim::ScenarioFile::parse(SCENARIO, "test.toml").unwrap();
        poolcast_sim::output::run_file(&file, dir.path()).unwrap();
        let runs = discover_runs(dir.path()).unwrap();
        assert_eq!(runs.len(), 2);
        let cfg = DatasetConfig {
            horizons: vec![5, 15],
            ..DatasetConfig::default()
        };
        let ds = build_dataset(&runs, &cfg).unwrap();
        let tc = TrainConfig {
            families: vec![Family::Linear, Family::GradientBoosting],
            boosting: vec![BoostGrid {
                rounds: 150,
                learning_rate: 0.1,
                max_leaves: 15,
            }],
            ..TrainConfig::default()
        };
        let report = train(&ds, "test", &tc).unwrap();
        Fixture { dir, ds, report }
    })
}

fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

#[test]
fn offline_features_equal_online_features_and_survive_parquet() {
    let f = fixture();
    let runs = discover_runs(&f.dir.path().join("telemetry")).unwrap();
    let written = f.dir.path().join("features.parquet");
    f.ds.write(&written).unwrap();
    let back = FeatureDataset::read(&written).unwrap();
    let mut row0 = 0;
    for run in &runs {
        let snaps = read_snapshots(&run.path).unwrap();
        let mut online = f.ds.spec.extractor(0);
        for (k, s) in snaps.iter().enumerate() {
            let v = online.push_vec(s);
            for (j, &x) in v.iter().enumerate() {
                let i = row0 + k;
                assert!(
                    same(x, f.ds.table.columns[j][i]),
                    "{} row {i}: online {x}",
                    f.ds.table.names[j]
                );
                assert!(
                    same(x, back.table.columns[j][i]),
                    "{} row {i} after Parquet",
                    f.ds.table.names[j]
                );
            }
        }
        row0 += snaps.len();
    }
    assert_eq!(row0, f.ds.table.rows());
}

#[test]
fn no_history_or_target_crosses_a_run_boundary() {
    let f = fixture();
    let t = &f.ds.table;
    let col = |n: &str| &t.columns[t.column_index(n).unwrap()];
    let first_of_run2 = t.replication.iter().position(|&r| r == 1).unwrap();
    assert_eq!(col("history_len")[first_of_run2], 1.0);
    assert!(col("demand_mean_lag1")[first_of_run2].is_nan());
    assert!(col("demand_mean_roll30_std")[first_of_run2].is_nan());
    for h in [5usize, 15] {
        let y = col(&format!("target_mean_h{h}"));
        for (i, v) in y
            .iter()
            .enumerate()
            .take(first_of_run2)
            .skip(first_of_run2 - h)
        {
            assert!(
                v.is_nan(),
                "target h{h} at row {i} reaches into the next run"
            );
        }
        assert!(y[first_of_run2 - h - 1].is_finite());
    }
}

#[test]
fn models_beat_persistence_on_unseen_days_and_the_shuffled_control_does_not() {
    let f = fixture();
    for h in &f.report.horizons {
        let winner = h.models.iter().find(|m| m.name == h.winner).unwrap();
        let skill = winner.test.skill_vs_persistence.unwrap();
        assert!(
            skill > 0.0,
            "h{}: winner {} has skill {skill}",
            h.target.horizon,
            winner.name
        );
        let sc = h.shuffled_control.as_ref().expect("control ran");
        assert!(
            sc.skill_vs_persistence.unwrap() < 0.05,
            "shuffled control has skill: {sc:?}"
        );
        assert!(!h.leakage_alarm);
        // the test set lies after validation and training, per run
        let last = h.fold_rows.last().expect("folds");
        assert!(h.train_rows > last[1] && h.test_rows > 0);
        // the last fold trains on the training set; the folds' blocks pool
        // into the validation rows; earlier origins train on less
        assert_eq!(last[0], h.train_rows);
        assert_eq!(
            h.fold_rows.iter().map(|f| f[1]).sum::<usize>(),
            h.valid_rows
        );
        assert!(
            h.fold_rows.windows(2).all(|w| w[0][0] < w[1][0]),
            "{:?}",
            h.fold_rows
        );
        let cov = h.calibration.test_coverage.unwrap();
        assert!(cov > 0.5 && cov <= 1.0, "coverage {cov}");
    }
}

#[test]
fn models_ignore_the_inputs_that_tell_time_on_their_training_rows() {
    let f = fixture();
    let names: Vec<String> = f.ds.spec.names().iter().map(|s| s.to_string()).collect();
    let weekly = [
        "time_day_of_week",
        "time_sec_of_week",
        "time_week_sin",
        "time_week_cos",
        "time_is_weekend",
    ];
    for h in &f.report.horizons {
        // 1.8 days of training rows cover the day and the hour, not the week
        let held: Vec<&str> = h.held_out.iter().map(|i| i.name.as_str()).collect();
        let mut want = weekly.to_vec();
        want.push("history_len");
        want.sort_unstable();
        let mut got = held.clone();
        got.sort_unstable();
        assert_eq!(got, want, "h{}", h.target.horizon);
        // whatever those inputs hold, every trained model forecasts the same
        let cols: Vec<usize> = held
            .iter()
            .map(|n| names.iter().position(|m| m == n).unwrap())
            .collect();
        for m in h.models.iter().filter(|m| m.family != "baseline") {
            let body = m.body.as_ref().unwrap();
            for &i in h.test_index.iter().step_by(97) {
                let x: Vec<f64> = (0..f.ds.n_features())
                    .map(|j| f.ds.table.columns[j][i])
                    .collect();
                let base = predict_body(body, &names, &x);
                for wild in [-1e9, 0.0, 1e9] {
                    let mut y = x.clone();
                    for &c in &cols {
                        y[c] = wild;
                    }
                    let p = predict_body(body, &names, &y);
                    assert!(same(p, base), "{}: {p} vs {base} at row {i}", m.name);
                }
            }
        }
    }
    // the first hour covers the hour's cycle, and nothing longer
    let first_hour: Vec<usize> = (0..f.ds.table.rows())
        .filter(|&i| f.ds.table.replication[i] == 0)
        .take(60)
        .collect();
    let held: Vec<String> = poolcast_models::inputs::held_out_inputs(&f.ds, &first_hour)
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert!(!held.iter().any(|n| n == "time_minute_of_hour"), "{held:?}");
    for n in [
        "time_sec_of_day",
        "time_day_sin",
        "time_hour_of_day",
        "history_len",
    ] {
        assert!(held.iter().any(|h| h == n), "{n} not held out: {held:?}");
    }
    assert!(!held.iter().any(|n| n == "time_interval_s"), "{held:?}");
}

#[test]
fn the_exported_artifact_predicts_what_the_trainer_scored() {
    let f = fixture();
    let mut art = f.report.artifact(&f.ds, 5, None).unwrap();
    let path = f.dir.path().join("artifact.json");
    std::fs::write(&path, art.to_json()).unwrap();
    let (loaded, spec) = ModelArtifact::load(&path).unwrap();
    assert_eq!(loaded.model, art.model);
    // in-memory predictions from the features table ...
    let names: Vec<String> = f.ds.spec.names().iter().map(|s| s.to_string()).collect();
    let rows: Vec<usize> = (0..f.ds.table.rows())
        .filter(|&i| f.ds.table.replication[i] == 1)
        .collect();
    let offline: Vec<f64> = rows
        .iter()
        .map(|&i| {
            let x: Vec<f64> = (0..f.ds.n_features())
                .map(|j| f.ds.table.columns[j][i])
                .collect();
            predict_body(&art.model, &names, &x)
        })
        .collect();
    // ... equal the runtime forecaster fed the raw snapshots (of the
    // fixture's runs: another test simulates into the same directory)
    let runs = discover_runs(&f.dir.path().join("telemetry")).unwrap();
    let snaps = read_snapshots(&runs[1].path).unwrap();
    let mut fc = Forecaster::new(loaded, &spec, 0);
    for (k, (s, want)) in snaps.iter().zip(&offline).enumerate() {
        let got = fc.push(s).value;
        assert!(
            (got - want).abs() <= 1e-9 || (got.is_nan() && want.is_nan()),
            "row {k}: {got} vs {want}"
        );
    }
}

#[test]
fn a_predictive_policy_runs_on_the_exported_artifact() {
    let f = fixture();
    let mut art = f.report.artifact(&f.ds, 5, None).unwrap();
    let path = f.dir.path().join("artifact-policy.json");
    std::fs::write(&path, art.to_json()).unwrap();
    let cfg = PredictiveConfig {
        artifact: Some(path.clone()),
        ..PredictiveConfig::default()
    };
    let mut p = PredictivePolicy::new(cfg, 0);
    assert!(p.load_error().is_none(), "{:?}", p.load_error());
    let runs = discover_runs(&f.dir.path().join("telemetry")).unwrap();
    let mut target = 10;
    let mut predicting = 0;
    for s in read_snapshots(&runs[0].path).unwrap() {
        let ctx = PolicyContext {
            now: s.t_ns,
            min_size: 4,
            max_size: 60,
            target,
            foresight: None,
        };
        if let Some(t) = p.decide(&ctx, &s) {
            target = t;
        }
        predicting += usize::from(*p.mode() == PredictiveMode::Predicting);
    }
    assert!(
        predicting > 3000,
        "predicting in only {predicting} of 4320 intervals"
    );
    // the same scenario simulated under the predictive policy
    let toml = SCENARIO.replace(
        r#"policy = { kind = "reactive" }"#,
        &format!(
            r#"policy = {{ kind = "predictive", artifact = "{}" }}"#,
            path.display()
        ),
    );
    let file = poolcast_sim::ScenarioFile::parse(&toml, "p.toml").unwrap();
    let out = f.dir.path().join("predictive-run");
    let s = poolcast_sim::output::run_file(&file, &out).unwrap();
    assert_eq!(s[0].policy, "predictive");
    assert!(s[0].conserves());
    assert!(Path::new(&out).join("summary.json").exists());
}

#[test]
fn permutation_importance_ranks_what_the_winner_uses_and_is_deterministic() {
    use poolcast_models::importance::permutation_importance;
    let f = fixture();
    let h = &f.report.horizons[0];
    let body = h
        .models
        .iter()
        .find(|m| m.name == h.winner)
        .and_then(|m| m.body.clone())
        .expect("the winner has a model");
    assert_eq!(h.test_index.len(), h.test_y.len());
    assert_eq!(h.test_index.len(), h.winner_test_pred.len());
    let imp = permutation_importance(&f.ds, &body, &h.test_index, &h.test_y, 500, 7);
    assert_eq!(imp.len(), f.ds.n_features());
    assert!(
        imp.windows(2)
            .all(|w| w[0].increase_mae >= w[1].increase_mae),
        "sorted, largest first"
    );
    // The workload is a daily cycle: the model leans on the time of day and
    // on traffic signals, and shuffling them must hurt.
    assert!(imp[0].increase_mae > 0.0, "{:?}", &imp[..3]);
    assert!(
        [
            "time_",
            "arrivals",
            "completions",
            "demand",
            "busy",
            "pool_acquires"
        ]
        .iter()
        .any(|p| imp[0].feature.starts_with(p)),
        "{:?}",
        &imp[..5]
    );
    // A feature that is constant over the test rows cannot matter: shuffling
    // it changes no input.
    let names = f.ds.spec.names();
    let take = h.test_index.len().min(500);
    let picked: Vec<usize> = (0..take)
        .map(|k| h.test_index[k * h.test_index.len() / take])
        .collect();
    let mut constants = 0;
    for (j, name) in names.iter().enumerate() {
        let col = &f.ds.table.columns[j];
        let v0 = col[picked[0]];
        if picked.iter().all(|&r| col[r].to_bits() == v0.to_bits()) {
            constants += 1;
            let e = imp.iter().find(|x| x.feature == *name).unwrap();
            assert_eq!(e.increase_mae, 0.0, "{}", e.feature);
        }
    }
    assert!(
        constants > 0,
        "the fixture has constant columns (no failures injected)"
    );
    assert_eq!(
        imp,
        permutation_importance(&f.ds, &body, &h.test_index, &h.test_y, 500, 7)
    );
}

/// A service's own telemetry: the runtime pool's `TraceRecorder` writes
/// each snapshot as one JSON line into rotated `snapshots-*.jsonl` files.
/// The same snapshots in that form, split across two rotated files per run,
/// give the very dataset the simulator's Parquet gives.
#[test]
fn recorder_directories_build_the_same_dataset_as_parquet() {
    use std::io::Write;
    let f = fixture();
    let rec = f.dir.path().join("recorder");
    for run in discover_runs(&f.dir.path().join("telemetry")).unwrap() {
        let snaps = read_snapshots(&run.path).unwrap();
        let dir = rec
            .join(format!("scenario={}", run.scenario))
            .join(format!("replication={}", run.replication));
        std::fs::create_dir_all(&dir).unwrap();
        let half = snaps.len() / 2;
        for (k, part) in [&snaps[..half], &snaps[half..]].into_iter().enumerate() {
            let mut w =
                std::fs::File::create(dir.join(format!("snapshots-{:06}.jsonl", k + 1))).unwrap();
            for s in part {
                serde_json::to_writer(&mut w, s).unwrap();
                writeln!(w).unwrap();
            }
        }
        // The recorder's request files beside them are not telemetry.
        std::fs::write(dir.join("requests-000001.csv"), "arrival_ns\n").unwrap();
    }
    let runs = discover_runs(&rec).unwrap();
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r.path.is_dir() && r.scenario == "cyc"));
    let ds = build_dataset(&runs, &f.ds.config).unwrap();
    assert_eq!(ds.table.names, f.ds.table.names);
    assert_eq!(ds.table.t_ns, f.ds.table.t_ns);
    assert_eq!(ds.table.replication, f.ds.table.replication);
    for (j, (a, b)) in ds.table.columns.iter().zip(&f.ds.table.columns).enumerate() {
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(same(*x, *y), "{} row {i}: {x} vs {y}", ds.table.names[j]);
        }
    }

    // Rotated files out of order (a service restarted into the same
    // directory starts its clock again) are refused with a reason.
    let dir = rec.join("scenario=cyc").join("replication=0");
    std::fs::rename(
        dir.join("snapshots-000001.jsonl"),
        dir.join("snapshots-000003.jsonl"),
    )
    .unwrap();
    let e = build_dataset(&discover_runs(&rec).unwrap(), &f.ds.config)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("replication=0")
            && e.contains("increasing time order")
            && e.contains("its own directory"),
        "{e}"
    );

    // A bad line names its file and line.
    std::fs::write(dir.join("snapshots-000004.jsonl"), "{\"t_ns\": \"soon\"}\n").unwrap();
    let e = build_dataset(&discover_runs(&rec).unwrap(), &f.ds.config)
        .unwrap_err()
        .to_string();
    assert!(e.contains("snapshots-000004.jsonl:1"), "{e}");
}
