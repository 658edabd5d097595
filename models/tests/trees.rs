//! Integration tests of the tree learners: accuracy on a known function,
//! missing-value routing, determinism across thread counts, early stopping,
//! threshold reproduction, linfa traits and input errors.

use linfa::prelude::*;
use ndarray::{Array1, Array2, s};
use poolcast_models::trees::{
    GradientBoosting, GradientBoostingParams, MaxFeatures, RandomForest, RandomForestParams,
    TreeError,
};

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn unif(i: usize, j: usize, seed: u64) -> f64 {
    let h = splitmix64(seed ^ splitmix64(((i as u64) << 16) ^ j as u64));
    ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

fn normal(i: usize, j: usize, seed: u64) -> f64 {
    let (a, b) = (unif(i, 2 * j + 100, seed), unif(i, 2 * j + 101, seed));
    (-2.0 * a.ln()).sqrt() * (2.0 * std::f64::consts::PI * b).cos()
}

/// Friedman #1: ten U(0,1) features, five used, plus N(0, 1) noise; two
/// extra columns: a 0/1 flag and a constant.
fn friedman1(n: usize, seed: u64) -> (Array2<f64>, Vec<f64>) {
    let x = Array2::from_shape_fn((n, 12), |(i, j)| match j {
        0..10 => unif(i, j, seed),
        10 => f64::from(u8::from(unif(i, j, seed) < 0.3)),
        _ => 7.0,
    });
    let y = (0..n)
        .map(|i| {
            let r = x.row(i);
            10.0 * (std::f64::consts::PI * r[0] * r[1]).sin()
                + 20.0 * (r[2] - 0.5).powi(2)
                + 10.0 * r[3]
                + 5.0 * r[4]
                + normal(i, 0, seed)
        })
        .collect();
    (x, y)
}

fn r2(pred: &[f64], y: &[f64]) -> f64 {
    let mean = y.iter().sum::<f64>() / y.len() as f64;
    let sse: f64 = pred.iter().zip(y).map(|(p, t)| (p - t) * (p - t)).sum();
    let sst: f64 = y.iter().map(|t| (t - mean) * (t - mean)).sum();
    1.0 - sse / sst
}

fn rmse(pred: &[f64], y: &[f64]) -> f64 {
    let sse: f64 = pred.iter().zip(y).map(|(p, t)| (p - t) * (p - t)).sum();
    (sse / y.len() as f64).sqrt()
}

/// Every row predicted through the ensemble, one by one.
fn by_ensemble(e: &poolcast::core::model::TreeEnsemble, x: &Array2<f64>) -> Vec<f64> {
    x.rows()
        .into_iter()
        .map(|r| e.predict(&r.to_vec()))
        .collect()
}

#[test]
fn forest_and_boosting_learn_friedman1_on_held_out_rows() {
    let (x, y) = friedman1(8000, 1);
    let (xt, yt) = (x.slice(s![..6000, ..]), &y[..6000]);
    let (xh, yh) = (x.slice(s![6000.., ..]).to_owned(), &y[6000..]);

    let rf = RandomForestParams::new()
        .n_trees(60)
        .max_depth(Some(12))
        .seed(3)
        .train(&xt, yt)
        .unwrap();
    let p = rf.try_predict(&xh).unwrap();
    let r2_rf = r2(p.as_slice().unwrap(), yh);
    assert!(r2_rf > 0.85, "forest R² {r2_rf}");

    let gbm = GradientBoostingParams::new()
        .n_rounds(300)
        .learning_rate(0.1)
        .min_samples_leaf(10)
        .train(&xt, yt)
        .unwrap();
    let p = gbm.try_predict(&xh).unwrap();
    let r2_gbm = r2(p.as_slice().unwrap(), yh);
    assert!(r2_gbm > 0.93, "boosting R² {r2_gbm}");

    // The five used features carry the gain; the flag and constant do not.
    let imp = gbm.feature_importance();
    let used: f64 = imp[..5].iter().sum();
    let unused: f64 = imp[5..].iter().sum();
    assert!(used > 20.0 * unused, "{imp:?}");
    assert_eq!(imp[11], 0.0, "constant feature never splits");
    assert_eq!(rf.feature_importance()[11], 0.0);
}

#[test]
fn predictions_are_the_exported_ensembles_bit_for_bit() {
    let (x, y) = friedman1(1500, 2);
    let data = Dataset::new(x.clone(), Array1::from(y.clone()));
    let rf: RandomForest = RandomForestParams::new()
        .n_trees(10)
        .max_depth(Some(6))
        .fit(&data)
        .unwrap();
    let gbm: GradientBoosting = GradientBoostingParams::new()
        .n_rounds(20)
        .fit(&data)
        .unwrap();
    for e in [rf.ensemble(), gbm.ensemble()] {
        e.validate().unwrap();
    }
    let want_rf = by_ensemble(rf.ensemble(), &x);
    let want_gbm = by_ensemble(gbm.ensemble(), &x);
    let lin_rf: Array1<f64> = rf.predict(&x);
    let lin_gbm: Array1<f64> = gbm.predict(&x);
    // Column-major input takes the copying path of the batch predictor.
    let fortran = x.t().as_standard_layout().into_owned().reversed_axes();
    assert!(!fortran.is_standard_layout());
    for (got, want) in [
        (lin_rf.to_vec(), &want_rf),
        (rf.try_predict(&fortran).unwrap().to_vec(), &want_rf),
        (lin_gbm.to_vec(), &want_gbm),
        (gbm.try_predict(&x).unwrap().to_vec(), &want_gbm),
    ] {
        let same = got
            .iter()
            .zip(want.iter())
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same);
    }
    assert_eq!(rf.ensemble().base, 0.0);
    assert_eq!(rf.ensemble().scale, 1.0 / 10.0);
    assert_eq!(gbm.ensemble().scale, 1.0);
    assert!((gbm.ensemble().base - y.iter().sum::<f64>() / y.len() as f64).abs() < 1e-12);
}

/// A target that jumps when a feature is missing: the trees must learn to
/// route `NaN` to the high side, in both directions.
#[test]
fn missing_values_are_routed_to_where_they_belong() {
    let n = 2000;
    // Feature 0 is missing exactly when the target is high; its observed
    // values say nothing. Feature 1 is noise.
    let x = Array2::from_shape_fn((n, 2), |(i, j)| {
        if j == 0 && i % 3 == 0 {
            f64::NAN
        } else {
            unif(i, j, 9)
        }
    });
    let y: Vec<f64> = (0..n)
        .map(|i| if i % 3 == 0 { 10.0 } else { 0.0 })
        .collect();
    let gbm = GradientBoostingParams::new()
        .n_rounds(50)
        .learning_rate(0.3)
        .train(&x, &y)
        .unwrap();
    let rf = RandomForestParams::new()
        .n_trees(5)
        .max_depth(Some(1))
        .bootstrap(false)
        .train(&x, &y)
        .unwrap();
    let t = &rf.ensemble().trees[0];
    assert_eq!(t.feature[0], 0);
    assert!(!t.default_left[0], "missing goes right, every value left");
    for (name, e) in [("gbm", gbm.ensemble()), ("rf", rf.ensemble())] {
        let hi = e.predict(&[f64::NAN, 0.5]);
        let lo = e.predict(&[0.5, 0.5]);
        assert!(
            (hi - 10.0).abs() < 0.05 && lo.abs() < 0.05,
            "{name}: {hi} {lo}"
        );
        // A value above everything seen still goes the non-missing way.
        assert!(e.predict(&[1e9, 0.5]).abs() < 0.05, "{name}");
    }

    // Missing values belong with the *low* half of a step (200 distinct
    // values: one bin each, so the step is found exactly).
    let x = Array2::from_shape_fn((n, 1), |(i, _)| {
        if i % 4 == 0 {
            f64::NAN
        } else {
            (i % 200) as f64 / 200.0
        }
    });
    let y: Vec<f64> = (0..n)
        .map(|i| {
            let v = x[[i, 0]];
            if v > 0.5 { 4.0 } else { -4.0 }
        })
        .collect();
    let rf = RandomForestParams::new()
        .n_trees(1)
        .max_depth(Some(1))
        .bootstrap(false)
        .train(&x, &y)
        .unwrap();
    let t = &rf.ensemble().trees[0];
    assert!(t.default_left[0], "missing joins the left (low) side");
    // 0.5 itself never occurs (its rows are the missing ones): the
    // threshold is the largest value below it, a real value.
    assert_eq!(t.threshold[0], 99.0 / 200.0);
    assert!((rf.ensemble().predict(&[f64::NAN]) + 4.0).abs() < 1e-9);
    assert!((rf.ensemble().predict(&[0.75]) - 4.0).abs() < 1e-9);
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let (mut x, y) = friedman1(3000, 4);
    for i in (0..3000).step_by(7) {
        x[[i, 2]] = f64::NAN;
    }
    let fit = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let rf = RandomForestParams::new()
                .n_trees(12)
                .max_depth(Some(8))
                .max_features(MaxFeatures::Sqrt)
                .seed(11)
                .train(&x, &y)
                .unwrap();
            let gbm = GradientBoostingParams::new()
                .n_rounds(40)
                .subsample(0.8)
                .feature_fraction(0.7)
                .seed(11)
                .train(&x, &y)
                .unwrap();
            let p_rf = rf.try_predict(&x).unwrap();
            let p_gbm = gbm.try_predict(&x).unwrap();
            (rf, gbm, p_rf, p_gbm)
        })
    };
    let (rf1, gbm1, prf1, pgbm1) = fit(1);
    let (rf2, gbm2, prf2, pgbm2) = fit(2);
    assert_eq!(rf1, rf2);
    assert_eq!(gbm1, gbm2);
    let bits = |a: &Array1<f64>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&prf1), bits(&prf2));
    assert_eq!(bits(&pgbm1), bits(&pgbm2));
    // And the seed matters.
    let other = RandomForestParams::new()
        .n_trees(12)
        .max_depth(Some(8))
        .max_features(MaxFeatures::Sqrt)
        .seed(12)
        .train(&x, &y)
        .unwrap();
    assert_ne!(other, rf1);
}

#[test]
fn early_stopping_truncates_to_the_best_round() {
    let (x, y) = friedman1(1200, 6);
    let (xt, yt) = (x.slice(s![..600, ..]), &y[..600]);
    let (xv, yv) = (x.slice(s![600.., ..]).to_owned(), &y[600..]);
    let patience = 15;
    // A high learning rate and tiny leaves overfit 600 rows quickly.
    let gbm = GradientBoostingParams::new()
        .n_rounds(1000)
        .learning_rate(0.5)
        .min_samples_leaf(2)
        .early_stopping_rounds(Some(patience))
        .train_with_validation(&xt, yt, &xv, yv)
        .unwrap();
    let best = gbm.best_round().unwrap();
    let hist = gbm.validation_rmse();
    assert!(best < 1000, "no early stop");
    assert_eq!(gbm.n_trees(), best);
    assert_eq!(
        hist.len(),
        best + patience,
        "stopped `patience` rounds after the best"
    );
    let min = hist.iter().copied().fold(f64::INFINITY, f64::min);
    assert_eq!(hist[best - 1], min);
    // The kept model scores exactly the recorded best RMSE.
    let p = gbm.try_predict(&xv).unwrap();
    let got = rmse(p.as_slice().unwrap(), yv);
    assert!((got - min).abs() < 1e-12, "{got} vs {min}");

    // Without early stopping every round is kept and scored.
    let all = GradientBoostingParams::new()
        .n_rounds(30)
        .train_with_validation(&xt, yt, &xv, yv)
        .unwrap();
    assert_eq!((all.n_trees(), all.best_round()), (30, None));
    assert_eq!(all.validation_rmse().len(), 30);
}

/// Grown to purity without bootstrap, a tree reproduces every training
/// target; it can only do so if `x <= threshold` on raw values routes each
/// row to the leaf the binned split put it in.
#[test]
fn thresholds_reproduce_the_binned_splits_on_training_rows() {
    let n = 3000;
    // ≤ 255 distinct values per feature, so bins are exact, and distinct
    // rows; targets are arbitrary.
    let x = Array2::from_shape_fn((n, 3), |(i, j)| match j {
        0 => (i % 200) as f64 * 0.37,
        1 => (i / 200) as f64 - 3.0,
        _ => {
            if i % 11 == 0 {
                f64::NAN
            } else {
                (i % 7) as f64
            }
        }
    });
    let y: Vec<f64> = (0..n).map(|i| unif(i, 0, 13) * 100.0).collect();
    let rf = RandomForestParams::new()
        .n_trees(1)
        .bootstrap(false)
        .train(&x, &y)
        .unwrap();
    for (i, p) in by_ensemble(rf.ensemble(), &x).iter().enumerate() {
        assert!((p - y[i]).abs() < 1e-9, "row {i}: {p} vs {}", y[i]);
    }
}

#[test]
fn invalid_parameters_name_the_field() {
    let (x, y) = friedman1(100, 7);
    let rf_cases = [
        ("n_trees", RandomForestParams::new().n_trees(0)),
        ("max_depth", RandomForestParams::new().max_depth(Some(0))),
        ("max_leaves", RandomForestParams::new().max_leaves(Some(1))),
        (
            "min_samples_leaf",
            RandomForestParams::new().min_samples_leaf(0),
        ),
        ("min_gain", RandomForestParams::new().min_gain(-1.0)),
        ("min_gain", RandomForestParams::new().min_gain(f64::NAN)),
        (
            "max_features",
            RandomForestParams::new().max_features(MaxFeatures::Fraction(0.0)),
        ),
        (
            "max_features",
            RandomForestParams::new().max_features(MaxFeatures::Fraction(1.5)),
        ),
        (
            "max_features",
            RandomForestParams::new().max_features(MaxFeatures::Count(0)),
        ),
        (
            "max_features",
            RandomForestParams::new().max_features(MaxFeatures::Count(13)),
        ),
        ("max_bins", RandomForestParams::new().max_bins(1)),
        ("max_bins", RandomForestParams::new().max_bins(256)),
    ];
    for (field, p) in rf_cases {
        match p.train(&x, &y) {
            Err(TreeError::InvalidParam { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    let gbm_cases = [
        ("n_rounds", GradientBoostingParams::new().n_rounds(0)),
        (
            "learning_rate",
            GradientBoostingParams::new().learning_rate(0.0),
        ),
        (
            "learning_rate",
            GradientBoostingParams::new().learning_rate(f64::INFINITY),
        ),
        ("max_leaves", GradientBoostingParams::new().max_leaves(1)),
        (
            "max_depth",
            GradientBoostingParams::new().max_depth(Some(0)),
        ),
        (
            "min_samples_leaf",
            GradientBoostingParams::new().min_samples_leaf(0),
        ),
        ("lambda", GradientBoostingParams::new().lambda(-0.1)),
        ("min_gain", GradientBoostingParams::new().min_gain(f64::NAN)),
        ("subsample", GradientBoostingParams::new().subsample(0.0)),
        ("subsample", GradientBoostingParams::new().subsample(1.01)),
        (
            "feature_fraction",
            GradientBoostingParams::new().feature_fraction(-1.0),
        ),
        (
            "early_stopping_rounds",
            GradientBoostingParams::new().early_stopping_rounds(Some(0)),
        ),
        ("max_bins", GradientBoostingParams::new().max_bins(300)),
    ];
    for (field, p) in gbm_cases {
        let err = p.train(&x, &y).unwrap_err();
        assert!(
            matches!(&err, TreeError::InvalidParam { field: f, .. } if *f == field),
            "{field}: {err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains(&format!("`{field}`")), "{msg}");
    }
    // Through linfa's ParamGuard as well.
    let data = Dataset::new(x.clone(), Array1::from(y.clone()));
    let err = RandomForestParams::new().n_trees(0).fit(&data).unwrap_err();
    assert!(err.to_string().contains("`n_trees`"), "{err}");
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let (x, y) = friedman1(50, 8);
    let rf = RandomForestParams::new().n_trees(2);
    let gbm = GradientBoostingParams::new().n_rounds(2);

    let empty = Array2::<f64>::zeros((0, 3));
    assert!(matches!(
        rf.train(&empty, &[]),
        Err(TreeError::EmptyData { rows: 0, .. })
    ));
    let no_cols = Array2::<f64>::zeros((5, 0));
    assert!(matches!(
        gbm.train(&no_cols, &[0.0; 5]),
        Err(TreeError::EmptyData { cols: 0, .. })
    ));
    assert!(matches!(
        rf.train(&x, &y[..49]),
        Err(TreeError::LengthMismatch {
            rows: 50,
            targets: 49,
            ..
        })
    ));
    let mut bad = y.clone();
    bad[17] = f64::NAN;
    assert!(matches!(
        gbm.train(&x, &bad),
        Err(TreeError::NonFiniteTarget { row: 17, .. })
    ));
    bad[17] = f64::INFINITY;
    assert!(matches!(
        rf.train(&x, &bad),
        Err(TreeError::NonFiniteTarget { row: 17, .. })
    ));
    assert!(matches!(
        gbm.clone().early_stopping_rounds(Some(3)).train(&x, &y),
        Err(TreeError::NoValidationSet)
    ));
    let narrow = x.slice(s![.., ..5]).to_owned();
    assert!(matches!(
        gbm.train_with_validation(&x, &y, &narrow, &y),
        Err(TreeError::FeatureMismatch {
            got: 5,
            expected: 12,
            ..
        })
    ));

    // Prediction with the wrong width: an error, or NaN through linfa.
    let model = rf.train(&x, &y).unwrap();
    assert!(matches!(
        model.try_predict(&narrow),
        Err(TreeError::FeatureMismatch {
            got: 5,
            expected: 12,
            ..
        })
    ));
    let p: Array1<f64> = model.predict(&narrow);
    assert!(p.iter().all(|v| v.is_nan()));

    // Degenerate but valid: one row, all-missing and constant features.
    let x1 = Array2::from_shape_vec((1, 2), vec![f64::NAN, 3.0]).unwrap();
    let one = rf.train(&x1, &[4.5]).unwrap();
    assert_eq!(one.ensemble().predict(&[f64::NAN, 3.0]), 4.5);
    let g = gbm.train(&x1, &[4.5]).unwrap();
    assert_eq!(g.ensemble().predict(&[1.0, 1.0]), 4.5);
}
