//! Training-time and accuracy benchmark of the tree learners on a synthetic
//! 200 000 × 120 regression set (not a criterion loop: one fit takes
//! seconds). Run with `cargo bench -p poolcast-models --bench trees`;
//! `models/bench/reference.py` trains scikit-learn and LightGBM on the same
//! file. Set `TREES_BENCH=rf` or `TREES_BENCH=gbm` to run one model only.
//!
//! # The data set (fixed; see also `models/bench/README.md`)
//!
//! `u(r, c)` is a uniform draw in (0, 1) hashed from (row, stream) with
//! SplitMix64, `z(r, c)` a standard normal (Box–Muller of two such draws).
//! Features, for row `r`:
//!
//! | columns   | values                                                        |
//! |-----------|---------------------------------------------------------------|
//! | 0–9       | `U(0,1)` (Friedman #1 inputs and distractors)                 |
//! | 10–49     | `N(0,1)`                                                      |
//! | 50–69     | 0/1 flags, `P(1) = 0.05 + 0.45 (c − 50) / 19`                 |
//! | 70–89     | noisy copies `x[c − 70] + 0.3 z`                              |
//! | 90–109    | log-normal `exp(z)`, no signal                                |
//! | 110–117   | integers `⌊8 u²⌋` (heavy ties)                                |
//! | 118       | constant 1                                                    |
//! | 119       | code `⌊5 u⌋` in 0..5                                          |
//!
//! Target (computed before any value is masked):
//!
//! ```text
//! y = 10 sin(π x0 x1) + 20 (x2 − 0.5)² + 10 x3 + 5 x4          Friedman #1
//!   + 4 x5 x6                                                  interaction
//!   + Σ_{j=0}^{19} 1.5 (−1)^j / (1 + j/4) · x_{10+j}           linear terms
//!   + x30 x31 + 1.5 tanh(2 x32)
//!   + 2 x50 − 1.5 x51 + 3 x52 x0                               flags
//!   + 0.3 x110 + 0.5 · [0, 1, −1, 0.5, 2][x119]
//!   + ε,  ε ~ N(0, 1.5²)
//! ```
//!
//! Then values go missing (`NaN`): x20–x39 5% each, x9 10%, x70–x89 3%
//! each, and x8 informatively: 60% when x3 > 0.7, else 2%. Column
//! `is_test` marks a fixed 20% test split (`u(r, split) < 0.2`).

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, BooleanArray, Float64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use ndarray::{Array2, ArrayView2};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use poolcast::core::model::TreeEnsemble;
use poolcast_models::trees::{GradientBoostingParams, MaxFeatures, RandomForestParams};

const ROWS: usize = 200_000;
const FEATURES: usize = 120;
const SEED: u64 = 0x5EED_7EE5;

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Uniform in (0, 1) for (row, stream).
fn u(r: usize, stream: u64) -> f64 {
    let h = splitmix64(SEED ^ splitmix64(((r as u64) << 16) ^ stream));
    ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// Standard normal for (row, stream).
fn z(r: usize, stream: u64) -> f64 {
    let (a, b) = (u(r, 2 * stream + 10_000), u(r, 2 * stream + 10_001));
    (-2.0 * a.ln()).sqrt() * (2.0 * std::f64::consts::PI * b).cos()
}

/// One row of features (before masking), its target and its split flag.
fn row(r: usize) -> ([f64; FEATURES], f64, bool) {
    let mut x = [0.0; FEATURES];
    for (c, v) in x.iter_mut().enumerate() {
        let s = c as u64;
        *v = match c {
            0..=9 => u(r, s),
            10..=49 => z(r, s),
            50..=69 => f64::from(u8::from(u(r, s) < 0.05 + 0.45 * (c - 50) as f64 / 19.0)),
            70..=89 => 0.0, // filled below from the original
            90..=109 => z(r, s).exp(),
            110..=117 => (8.0 * u(r, s) * u(r, s)).floor(),
            118 => 1.0,
            _ => (5.0 * u(r, s)).floor(),
        };
    }
    for c in 70..90 {
        x[c] = x[c - 70] + 0.3 * z(r, c as u64);
    }
    let pi = std::f64::consts::PI;
    let mut y =
        10.0 * (pi * x[0] * x[1]).sin() + 20.0 * (x[2] - 0.5).powi(2) + 10.0 * x[3] + 5.0 * x[4];
    y += 4.0 * x[5] * x[6];
    for j in 0..20 {
        let sign = if j % 2 == 0 { 1.0 } else { -1.0 };
        y += 1.5 * sign / (1.0 + j as f64 / 4.0) * x[10 + j];
    }
    y += x[30] * x[31] + 1.5 * (2.0 * x[32]).tanh();
    y += 2.0 * x[50] - 1.5 * x[51] + 3.0 * x[52] * x[0];
    y += 0.3 * x[110] + 0.5 * [0.0, 1.0, -1.0, 0.5, 2.0][x[119] as usize];
    y += 1.5 * z(r, 500);
    // Missing values.
    for (c, v) in x.iter_mut().enumerate().take(40).skip(20) {
        if u(r, 1000 + c as u64) < 0.05 {
            *v = f64::NAN;
        }
    }
    if u(r, 1200) < 0.10 {
        x[9] = f64::NAN;
    }
    for (c, v) in x.iter_mut().enumerate().take(90).skip(70) {
        if u(r, 1000 + c as u64) < 0.03 {
            *v = f64::NAN;
        }
    }
    let p8 = if x[3] > 0.7 { 0.6 } else { 0.02 };
    if u(r, 1300) < p8 {
        x[8] = f64::NAN;
    }
    (x, y, u(r, 1400) < 0.2)
}

fn data_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("bench-data").join("trees_200k.parquet")
}

fn schema() -> Arc<Schema> {
    let mut fields: Vec<Field> = (0..FEATURES)
        .map(|c| Field::new(format!("f{c}"), DataType::Float64, false))
        .collect();
    fields.push(Field::new("y", DataType::Float64, false));
    fields.push(Field::new("is_test", DataType::Boolean, false));
    Arc::new(Schema::new(fields))
}

/// Writes the data set (to `.tmp`, then renamed).
fn write_data(path: &PathBuf) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("parquet.tmp");
    let schema = schema();
    let mut w = ArrowWriter::try_new(File::create(&tmp)?, schema.clone(), None)?;
    const BATCH: usize = 20_000;
    for start in (0..ROWS).step_by(BATCH) {
        let rows: Vec<_> = (start..(start + BATCH).min(ROWS)).map(row).collect();
        let mut cols: Vec<Arc<dyn Array>> = (0..FEATURES)
            .map(|c| Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.0[c]))) as _)
            .collect();
        cols.push(Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.1),
        )));
        cols.push(Arc::new(BooleanArray::from(
            rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        )));
        w.write(&RecordBatch::try_new(schema.clone(), cols)?)?;
    }
    w.close()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

struct Data {
    x_train: Array2<f64>,
    y_train: Vec<f64>,
    x_test: Array2<f64>,
    y_test: Vec<f64>,
}

/// Reads the file back, so both benchmarks train on the same bytes.
fn read_data(path: &PathBuf) -> Result<Data, Box<dyn std::error::Error>> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path)?)?.build()?;
    let (mut tr, mut te) = (Vec::new(), Vec::new());
    let (mut ytr, mut yte) = (Vec::new(), Vec::new());
    for batch in reader {
        let batch = batch?;
        let col = |name: &str| -> Result<Float64Array, Box<dyn std::error::Error>> {
            let a = batch
                .column_by_name(name)
                .ok_or(format!("no column {name}"))?;
            Ok(a.as_any()
                .downcast_ref::<Float64Array>()
                .ok_or(format!("{name} is not f64"))?
                .clone())
        };
        let feats: Vec<Float64Array> = (0..FEATURES)
            .map(|c| col(&format!("f{c}")))
            .collect::<Result<_, _>>()?;
        let y = col("y")?;
        let split = batch
            .column_by_name("is_test")
            .and_then(|a| a.as_any().downcast_ref::<BooleanArray>().cloned())
            .ok_or("no boolean is_test column")?;
        for i in 0..batch.num_rows() {
            let (xs, ys) = if split.value(i) {
                (&mut te, &mut yte)
            } else {
                (&mut tr, &mut ytr)
            };
            xs.extend(feats.iter().map(|f| f.value(i)));
            ys.push(y.value(i));
        }
    }
    Ok(Data {
        x_train: Array2::from_shape_vec((ytr.len(), FEATURES), tr)?,
        y_train: ytr,
        x_test: Array2::from_shape_vec((yte.len(), FEATURES), te)?,
        y_test: yte,
    })
}

/// CPU seconds (user + system) this process has used so far, from
/// `/proc/self/stat` (Linux); `NaN` elsewhere. Beside wall time it shows
/// whether a run was disturbed (CPU ≈ 2 × wall on an idle 2-core machine).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields overall, in clock ticks (100 per second).
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return f64::NAN;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| {
        f.get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (tick(11) + tick(12)) / 100.0
}

fn r2_rmse(pred: &[f64], y: &[f64]) -> (f64, f64) {
    let mean = y.iter().sum::<f64>() / y.len() as f64;
    let sse: f64 = pred.iter().zip(y).map(|(p, t)| (p - t) * (p - t)).sum();
    let sst: f64 = y.iter().map(|t| (t - mean) * (t - mean)).sum();
    (1.0 - sse / sst, (sse / y.len() as f64).sqrt())
}

/// Single-threaded loop over the test rows through `TreeEnsemble::predict`;
/// returns µs per row (best of 3 passes).
fn inference_us(e: &TreeEnsemble, x: &ArrayView2<'_, f64>) -> f64 {
    let mut best = f64::INFINITY;
    let mut sink = 0.0;
    for _ in 0..3 {
        let t = Instant::now();
        for r in x.rows() {
            sink += e.predict(r.as_slice().unwrap_or(&[]));
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    std::hint::black_box(sink);
    best * 1e6 / x.nrows() as f64
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let which = std::env::var("TREES_BENCH").unwrap_or_else(|_| "rf,gbm".into());
    let path = data_path();
    if !path.exists() {
        let t = Instant::now();
        write_data(&path)?;
        println!(
            "wrote {} in {:.1} s",
            path.display(),
            t.elapsed().as_secs_f64()
        );
    }
    let d = read_data(&path)?;
    println!(
        "data: {} ({} train / {} test rows × {FEATURES} features), rayon threads: {}",
        path.display(),
        d.y_train.len(),
        d.y_test.len(),
        rayon::current_num_threads()
    );
    let mut table = Vec::new();
    if which.contains("rf") {
        let (t, cpu) = (Instant::now(), cpu_seconds());
        let rf = RandomForestParams::new()
            .n_trees(100)
            .max_depth(Some(10))
            .max_features(MaxFeatures::All)
            .seed(0)
            .train(&d.x_train, &d.y_train)?;
        let secs = t.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu;
        let p = rf.try_predict(&d.x_test)?;
        let (r2, rmse) = r2_rmse(p.as_slice().unwrap_or(&[]), &d.y_test);
        let us = inference_us(rf.ensemble(), &d.x_test.view());
        let nodes: usize = rf.ensemble().trees.iter().map(|t| t.len()).sum();
        table.push((
            "random forest (100 trees, depth 10, all features)",
            secs,
            cpu,
            r2,
            rmse,
            us,
        ));
        println!("rf: {secs:.2} s ({cpu:.1} CPU s), {nodes} nodes");
    }
    if which.contains("gbm") {
        let (t, cpu) = (Instant::now(), cpu_seconds());
        let gbm = GradientBoostingParams::new()
            .n_rounds(500)
            .learning_rate(0.1)
            .max_leaves(31)
            .train(&d.x_train, &d.y_train)?;
        let secs = t.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu;
        let p = gbm.try_predict(&d.x_test)?;
        let (r2, rmse) = r2_rmse(p.as_slice().unwrap_or(&[]), &d.y_test);
        let us = inference_us(gbm.ensemble(), &d.x_test.view());
        table.push((
            "gradient boosting (500 rounds, lr 0.1, 31 leaves)",
            secs,
            cpu,
            r2,
            rmse,
            us,
        ));
        println!("gbm: {secs:.2} s ({cpu:.1} CPU s)");
    }
    println!();
    println!(
        "| {:<50} | {:>9} | {:>9} | {:>7} | {:>7} | {:>14} |",
        "model (poolcast-models)", "train s", "CPU s", "R²", "RMSE", "predict µs/row"
    );
    println!(
        "|{:-<52}|{:-<11}|{:-<11}|{:-<9}|{:-<9}|{:-<16}|",
        "", "", "", "", "", ""
    );
    for (name, secs, cpu, r2, rmse, us) in table {
        println!(
            "| {name:<50} | {secs:>9.2} | {cpu:>9.1} | {r2:>7.4} | {rmse:>7.4} | {us:>14.2} |"
        );
    }
    Ok(())
}
