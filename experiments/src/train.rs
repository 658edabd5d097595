//! `poolcast features`, `poolcast train` and `poolcast export`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use poolcast::core::NANOS_PER_SEC;
use poolcast::core::artifact::{Aggregate, ModelArtifact};
use poolcast::core::features::{FeatureConfig, FeatureSpec};
use poolcast_models::dataset::{
    DatasetConfig, FeatureDataset, RunRef, build_dataset, discover_runs,
};
use poolcast_models::train::{Family, TrainConfig, TrainReport, train};
use sha2::{Digest, Sha256};

/// `poolcast features --list`.
pub fn list_features(interval_s: f64, json: bool) -> Result<()> {
    let interval_ns = (interval_s * NANOS_PER_SEC as f64).round() as u64;
    let spec = FeatureSpec::new(FeatureConfig::default(), interval_ns)
        .with_context(|| format!("--interval-s {interval_s}"))?;
    if json {
        let v = serde_json::json!({
            "hash": spec.hash(),
            "config": spec.config(),
            "features": spec.defs(),
        });
        outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    outln!("# {} features, definition hash {}", spec.len(), spec.hash());
    outln!("# config: {}", serde_json::to_string(spec.config())?);
    for (i, d) in spec.defs().iter().enumerate() {
        outln!("{i:>3}  {:<40} {:<8} {}", d.name, d.family, d.definition);
    }
    Ok(())
}

/// Options of `poolcast train`.
#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// A run directory (searched for snapshots.parquet and for runtime-pool
    /// recorder directories of snapshots-*.jsonl) or a features.parquet.
    pub input: PathBuf,
    /// Output directory.
    #[arg(long, short)]
    pub out: PathBuf,
    /// TOML with [dataset] and [train] tables (see docs/reference/training.md).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Horizons in intervals, e.g. 5,15,30,60.
    #[arg(long, value_delimiter = ',')]
    pub horizons: Vec<u32>,
    /// Target: mean or peak demand over the horizon.
    #[arg(long, value_parser = parse_aggregate)]
    pub aggregate: Option<Aggregate>,
    /// Season of the seasonal-naive baseline, in seconds.
    #[arg(long)]
    pub season_s: Option<u64>,
    /// Scenario whose runs are test data only (repeatable).
    #[arg(long)]
    pub holdout: Vec<String>,
    /// Families: linear, random_forest, gradient_boosting (comma-separated).
    #[arg(long, value_delimiter = ',', value_parser = parse_family)]
    pub families: Vec<Family>,
    /// Smaller grids (30 trees, one 200-round boosting config).
    #[arg(long)]
    pub quick: bool,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

fn parse_aggregate(s: &str) -> Result<Aggregate, String> {
    match s {
        "mean" => Ok(Aggregate::Mean),
        "peak" => Ok(Aggregate::Peak),
        _ => Err(format!("`{s}`: expected mean or peak")),
    }
}

fn parse_family(s: &str) -> Result<Family, String> {
    match s {
        "linear" => Ok(Family::Linear),
        "random_forest" | "rf" => Ok(Family::RandomForest),
        "gradient_boosting" | "gbm" => Ok(Family::GradientBoosting),
        _ => Err(format!(
            "`{s}`: expected linear, random_forest or gradient_boosting"
        )),
    }
}

/// The optional TOML file of `poolcast train --config`.
#[derive(serde::Deserialize, Default, Clone)]
#[serde(deny_unknown_fields, default)]
struct TrainFile {
    dataset: DatasetConfig,
    train: TrainConfig,
}

fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(format!("{:x}", Sha256::digest(&bytes)))
}

/// A `poolcast run` directory's data phase (the runs its models trained
/// on) and its `[dataset]` and `[train]`; `None` when `input` is not one.
///
/// # Errors
/// A run directory without a data phase or whose resolved manifest does
/// not read.
fn run_directory(input: &Path) -> Result<Option<(PathBuf, TrainFile)>> {
    if !input.join("run.json").is_file() {
        return Ok(None);
    }
    let data = input.join("telemetry").join("phase=data");
    if !data.is_dir() {
        bail!(
            "{}: a `poolcast run` directory with no data phase ({} is missing); pass the \
             directory of the runs to train on, or a features.parquet",
            input.display(),
            data.display()
        );
    }
    let resolved = input.join("manifest.resolved.json");
    let text = std::fs::read_to_string(&resolved)
        .with_context(|| format!("reading {}", resolved.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}", resolved.display()))?;
    let section = |name: &str| v.get("body").and_then(|b| b.get(name)).cloned();
    let file = TrainFile {
        dataset: serde_json::from_value(section("dataset").unwrap_or_default())
            .with_context(|| format!("{}: body.dataset", resolved.display()))?,
        train: serde_json::from_value(section("train").unwrap_or_default())
            .with_context(|| format!("{}: body.train", resolved.display()))?,
    };
    Ok(Some((data, file)))
}

/// The `phase=` directories `runs` come from (empty for runs outside a
/// run directory's layout).
fn phases(runs: &[RunRef]) -> std::collections::BTreeSet<String> {
    runs.iter()
        .flat_map(|r| {
            r.path
                .components()
                .filter_map(|c| {
                    c.as_os_str()
                        .to_str()?
                        .strip_prefix("phase=")
                        .map(str::to_string)
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// One line naming the runs read: `scenario × replications` each.
fn describe_runs(runs: &[RunRef]) -> String {
    let mut by: BTreeMap<&str, usize> = BTreeMap::new();
    for r in runs {
        *by.entry(r.scenario.as_str()).or_default() += 1;
    }
    by.iter()
        .map(|(s, n)| format!("{s} × {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `poolcast train`.
pub fn train_cmd(a: TrainArgs) -> Result<()> {
    let from_run = if a.input.is_dir() {
        run_directory(&a.input)?
    } else {
        None
    };
    let mut file = match (&a.config, &from_run) {
        (Some(p), _) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            toml::from_str::<TrainFile>(&text).with_context(|| format!("{}", p.display()))?
        }
        (None, Some((_, f))) => f.clone(),
        (None, None) => TrainFile::default(),
    };
    if !a.horizons.is_empty() {
        file.dataset.horizons = a.horizons.clone();
    }
    if let Some(s) = a.season_s {
        file.dataset.season_s = s;
    }
    if let Some(ag) = a.aggregate {
        file.train.aggregate = ag;
    }
    if !a.holdout.is_empty() {
        file.train.split.holdout_scenarios = a.holdout.clone();
    }
    if !a.families.is_empty() {
        file.train.families = a.families.clone();
    }
    if a.quick {
        file.train
            .forest
            .iter_mut()
            .for_each(|g| g.n_trees = g.n_trees.min(30));
        file.train.boosting.truncate(1);
        file.train
            .boosting
            .iter_mut()
            .for_each(|g| g.rounds = g.rounds.min(200));
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let features_path = a.out.join("features.parquet");
    let is_features = a.input.extension().is_some_and(|e| e == "parquet")
        && FeatureDataset::read(&a.input).is_ok();
    let (ds, fpath) = if is_features {
        (FeatureDataset::read(&a.input)?, a.input.clone())
    } else {
        let dir = from_run
            .as_ref()
            .map_or(a.input.as_path(), |(d, _)| d.as_path());
        let runs = discover_runs(dir)?;
        let found = phases(&runs);
        if found.len() > 1 {
            bail!(
                "{}: holds runs of the phases {} together; the tuning and evaluation runs of an \
                 experiment are its held-out comparison, not training data: pass its \
                 telemetry/phase=data directory (or the run directory itself)",
                a.input.display(),
                found.iter().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        if !a.quiet {
            if from_run.is_some() {
                eprintln!(
                    "{}: a `poolcast run` directory: training on its data phase only ({}), \
                     with its [dataset] and [train] unless --config or flags say otherwise",
                    a.input.display(),
                    dir.display()
                );
            }
            eprintln!("reading {} run(s): {}", runs.len(), describe_runs(&runs));
        }
        let ds = build_dataset(&runs, &file.dataset)?;
        ds.write(&features_path)?;
        (ds, features_path.clone())
    };
    let fingerprint = sha256_file(&fpath)?;
    if !a.quiet {
        eprintln!(
            "training on {} rows × {} features (hash {}…)",
            ds.table.rows(),
            ds.n_features(),
            &ds.spec.hash()[..12]
        );
    }
    let report = train(&ds, &fingerprint, &file.train)?;
    let dir = a.out.join("artifacts");
    std::fs::create_dir_all(&dir)?;
    for r in &report.horizons {
        let h = r.target.horizon;
        let mut art = report.artifact(&ds, h, None)?;
        let p = dir.join(format!("h{h}.json"));
        std::fs::write(&p, art.to_json()).with_context(|| format!("writing {}", p.display()))?;
    }
    std::fs::write(
        a.out.join("train_report.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    let md = render(&report);
    std::fs::write(a.out.join("train_report.md"), &md)?;
    if !a.quiet {
        outln!("{md}");
        outln!(
            "wrote {}/{{features.parquet, train_report.md, train_report.json, artifacts/h*.json}}",
            a.out.display()
        );
    }
    Ok(())
}

fn opt(v: Option<f64>) -> String {
    v.map_or("—".into(), |v| format!("{v:+.3}"))
}

/// The comparison as Markdown tables, one per horizon.
pub fn render(r: &TrainReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Forecast comparison\n\n{} features (definition {}…), interval {} s, dataset {}…\n\n\
         Test rows are scored once, after choosing each family's hyper-parameters on the \
         validation blocks of rolling-origin folds and shrinking it towards persistence by the \
         weight (`~w`) that serves those blocks best. \
         accuracy = 1 − WAPE; skill = 1 − MAE / MAE(baseline), positive is better than the baseline.\n",
        r.n_features,
        &r.features_hash[..12],
        r.interval_ns as f64 / 1e9,
        &r.dataset_fingerprint[..12.min(r.dataset_fingerprint.len())]
    );
    for h in &r.horizons {
        let _ = writeln!(
            s,
            "## {} demand, horizon {} intervals\n\nrows: train {}, valid {}, test {}; folds (train, valid): {}. Winner (validation MAE over the folds): **{}**.\n",
            h.target.aggregate.name(),
            h.target.horizon,
            h.train_rows,
            h.valid_rows,
            h.test_rows,
            h.fold_rows
                .iter()
                .map(|[t, v]| format!("({t}, {v})"))
                .collect::<Vec<_>>()
                .join(", "),
            h.winner
        );
        let _ = writeln!(
            s,
            "| model | fold accuracies | test accuracy | MAE | RMSE | R² | bias | ±10% | skill vs persistence | skill vs seasonal | train s | µs/row |\n|---|---|---|---|---|---|---|---|---|---|---|---|"
        );
        for m in &h.models {
            let t = &m.test;
            let _ = writeln!(
                s,
                "| {} | {} | {:.4} | {:.3} | {:.3} | {:.3} | {:+.3} | {:.1}% | {} | {} | {:.2} | {:.2} |",
                m.name,
                m.folds
                    .iter()
                    .map(|f| format!("{:.3}", f.accuracy))
                    .collect::<Vec<_>>()
                    .join(" / "),
                t.accuracy,
                t.mae,
                t.rmse,
                t.r2,
                t.bias,
                t.within_10pct * 100.0,
                opt(t.skill_vs_persistence),
                if t.seasonal_rows == 0 {
                    "undefined (runs shorter than a season)".into()
                } else {
                    opt(t.skill_vs_seasonal)
                },
                m.train_seconds,
                m.infer_us_per_row
            );
        }
        let c = &h.calibration;
        let _ = writeln!(
            s,
            "\nInterval: residual quantiles {:?} at levels {:?}; test coverage {:.3} (nominal {:.2}).",
            c.residual_quantiles
                .iter()
                .map(|v| (v * 1000.0).round() / 1000.0)
                .collect::<Vec<_>>(),
            c.levels,
            c.test_coverage.unwrap_or(f64::NAN),
            c.nominal_coverage
        );
        if let Some(sc) = &h.shuffled_control {
            let _ = writeln!(
                s,
                "Shuffled-target control: test accuracy {:.4}, skill vs persistence {} — {}.\n",
                sc.accuracy,
                opt(sc.skill_vs_persistence),
                if h.leakage_alarm {
                    "**LEAKAGE ALARM: a model trained on shuffled targets has skill**"
                } else {
                    "no skill, as it must"
                }
            );
        }
    }
    s
}

/// `poolcast export`.
pub fn export_cmd(train_dir: &Path, horizon: u32, out: &Path) -> Result<()> {
    let src = train_dir.join("artifacts").join(format!("h{horizon}.json"));
    if !src.exists() {
        bail!(
            "{} does not exist: train horizon {horizon} first (`poolcast train <runs> --out {} --horizons {horizon}`)",
            src.display(),
            train_dir.display()
        );
    }
    let (mut art, _) = ModelArtifact::load(&src)?;
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).ok();
    }
    std::fs::write(out, art.to_json()).with_context(|| format!("writing {}", out.display()))?;
    outln!(
        "exported {} ({} {} demand, horizon {} intervals of {} s) to {}",
        art.model.algorithm(),
        art.features.names.len(),
        art.target.aggregate.name(),
        art.target.horizon,
        art.interval_ns as f64 / 1e9,
        out.display()
    );
    Ok(())
}
