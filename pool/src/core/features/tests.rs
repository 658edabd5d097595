use super::*;
use crate::core::{ErrorCategory, QueryClass};

const MIN: Nanos = 60 * NANOS_PER_SEC;

fn snap(i: u64, demand: f64) -> Snapshot {
    let mut s = Snapshot {
        t_ns: (i + 1) * MIN,
        interval_ns: MIN,
        size: 10,
        busy: demand as u32,
        size_mean: 10.0,
        busy_mean: demand,
        demand_max: demand as u32 + 1,
        acquire_wait_p50_ms: Some(0.5),
        db_cpu: Some(0.3),
        ..Snapshot::default()
    };
    s.arrivals[QueryClass::Read.index()] = 30;
    s.arrivals[QueryClass::Write.index()] = 10;
    s.errors[ErrorCategory::Timeout.index()] = 2;
    s
}

fn col(spec: &FeatureSpec, row: &[f64], name: &str) -> f64 {
    row[spec
        .index(name)
        .unwrap_or_else(|| panic!("no feature {name}"))]
}

#[test]
fn default_spec_has_at_least_120_unique_documented_features() {
    let spec = FeatureSpec::new(FeatureConfig::default(), MIN).unwrap();
    assert!(spec.len() >= 120, "{} features", spec.len());
    let mut names = spec.names();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), spec.len(), "feature names must be unique");
    for d in spec.defs() {
        assert!(!d.definition.is_empty(), "{} has no definition", d.name);
        assert!(
            d.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{} is not a plain column name",
            d.name
        );
    }
    assert_eq!(spec.hash().len(), 64);
}

#[test]
fn hash_is_stable_and_follows_the_config_not_the_interval() {
    let a = FeatureSpec::new(FeatureConfig::default(), MIN).unwrap();
    let b = FeatureSpec::new(FeatureConfig::default(), NANOS_PER_SEC).unwrap();
    assert_eq!(a.hash(), b.hash());
    let c = FeatureSpec::new(
        FeatureConfig {
            windows: vec![10, 30],
            ..FeatureConfig::default()
        },
        MIN,
    )
    .unwrap();
    assert_ne!(a.hash(), c.hash());
}

#[test]
fn time_features_follow_the_week_clock() {
    let spec = FeatureSpec::new(FeatureConfig::default(), MIN).unwrap();
    // Saturday 13:30 = 5 days + 13.5 h after Monday 00:00
    let t = (5 * 86_400 + 13 * 3600 + 1800) * NANOS_PER_SEC;
    let mut fx = spec.extractor(0);
    let row = fx.push_vec(&Snapshot {
        t_ns: t,
        interval_ns: MIN,
        ..Snapshot::default()
    });
    assert_eq!(col(&spec, &row, "time_day_of_week"), 5.0);
    assert_eq!(col(&spec, &row, "time_hour_of_day"), 13.5);
    assert_eq!(col(&spec, &row, "time_minute_of_hour"), 30.0);
    assert_eq!(col(&spec, &row, "time_is_weekend"), 1.0);
    assert_eq!(col(&spec, &row, "time_interval_s"), 60.0);
    // the same instant seen from a driver whose clock starts 2 days later
    let mut fx = spec.extractor(2 * 86_400 * NANOS_PER_SEC);
    let row = fx.push_vec(&Snapshot {
        t_ns: t,
        interval_ns: MIN,
        ..Snapshot::default()
    });
    assert_eq!(
        col(&spec, &row, "time_day_of_week"),
        0.0,
        "Saturday + 2 days wraps to Monday"
    );
}

#[test]
fn absent_signals_are_nan_with_a_flag_not_zero() {
    let spec = FeatureSpec::new(FeatureConfig::default(), MIN).unwrap();
    let mut fx = spec.extractor(0);
    let row = fx.push_vec(&Snapshot {
        t_ns: MIN,
        interval_ns: MIN,
        ..Snapshot::default()
    });
    for name in [
        "db_cpu",
        "db_mem",
        "wait_p95_ms",
        "service_p50_ms_read",
        "share_read",
        "error_rate",
        "pool_utilization",
    ] {
        assert!(col(&spec, &row, name).is_nan(), "{name} should be NaN");
    }
    assert_eq!(col(&spec, &row, "db_cpu_present"), 0.0);
    assert_eq!(col(&spec, &row, "wait_present"), 0.0);
    let row = fx.push_vec(&snap(1, 4.0));
    assert_eq!(col(&spec, &row, "db_cpu"), 0.3);
    assert_eq!(col(&spec, &row, "db_cpu_present"), 1.0);
    assert_eq!(col(&spec, &row, "wait_present"), 1.0);
    assert_eq!(col(&spec, &row, "share_read"), 0.75);
    assert_eq!(col(&spec, &row, "error_rate"), 0.05);
}

#[test]
fn lags_windows_and_seasons_read_the_right_history() {
    let cfg = FeatureConfig {
        seasons_s: vec![3600],
        season_ahead: vec![0, 5],
        ..FeatureConfig::default()
    };
    let spec = FeatureSpec::new(cfg, MIN).unwrap();
    let mut fx = spec.extractor(0);
    let mut last = Vec::new();
    for i in 0..200u64 {
        last = fx.push_vec(&snap(i, i as f64));
        if i == 0 {
            assert!(col(&spec, &last, "demand_mean_lag1").is_nan());
            assert!(col(&spec, &last, "demand_mean_season1h_ahead0").is_nan());
            assert!(col(&spec, &last, "demand_mean_roll30_std").is_nan());
        }
    }
    // demand_mean = i at push i; now i = 199
    assert_eq!(col(&spec, &last, "demand_mean_lag1"), 198.0);
    assert_eq!(col(&spec, &last, "demand_mean_lag10"), 189.0);
    assert_eq!(col(&spec, &last, "demand_mean_diff1"), 1.0);
    assert_eq!(
        col(&spec, &last, "demand_mean_roll30_mean"),
        (170.0 + 199.0) / 2.0
    );
    assert_eq!(col(&spec, &last, "demand_mean_roll30_min"), 170.0);
    assert_eq!(col(&spec, &last, "demand_mean_roll120_max"), 199.0);
    assert!((col(&spec, &last, "demand_mean_roll60_slope") - 1.0).abs() < 1e-12);
    // one hour = 60 intervals ago, and 5 intervals after that
    assert_eq!(col(&spec, &last, "demand_mean_season1h_ahead0"), 139.0);
    assert_eq!(col(&spec, &last, "demand_mean_season1h_ahead5"), 144.0);
    assert_eq!(col(&spec, &last, "history_len"), 200.0);
}

#[test]
fn reset_starts_a_new_run_with_no_memory() {
    let spec = FeatureSpec::new(FeatureConfig::default(), MIN).unwrap();
    let mut fx = spec.extractor(0);
    let run: Vec<Snapshot> = (0..300).map(|i| snap(i, (i % 17) as f64)).collect();
    let first: Vec<Vec<f64>> = run.iter().map(|s| fx.push_vec(s)).collect();
    fx.reset();
    let second: Vec<Vec<f64>> = run.iter().map(|s| fx.push_vec(s)).collect();
    for (a, b) in first.iter().zip(&second) {
        for (x, y) in a.iter().zip(b) {
            assert_eq!(x.to_bits(), y.to_bits());
        }
    }
}

#[test]
fn bad_configs_name_the_field() {
    let e = FeatureSpec::new(
        FeatureConfig {
            windows: vec![1],
            ..FeatureConfig::default()
        },
        MIN,
    )
    .unwrap_err();
    assert_eq!(e.path, "features.windows");
    let e = FeatureSpec::new(FeatureConfig::default(), 7 * NANOS_PER_SEC).unwrap_err();
    assert_eq!(e.path, "features.seasons_s");
    assert!(e.to_string().contains("multiple"), "{e}");
    let e = FeatureSpec::new(
        FeatureConfig {
            lags: vec![2, 2],
            ..FeatureConfig::default()
        },
        MIN,
    )
    .unwrap_err();
    assert_eq!(e.path, "features.lags");
}

/// The scale-free features read the same on a series and on the same
/// series at three times the level, and are absent (with the old hash)
/// when turned off.
#[test]
fn scale_free_features_do_not_depend_on_the_level() {
    let spec = FeatureSpec::new(FeatureConfig::default(), MIN).unwrap();
    let (mut a, mut b) = (spec.extractor(0), spec.extractor(0));
    let (mut ra, mut rb) = (vec![0.0; spec.len()], vec![0.0; spec.len()]);
    for i in 0..200u64 {
        let d = 10.0 + 4.0 * ((i as f64) / 7.0).sin() + 0.05 * i as f64;
        a.push(&snap(i, d), &mut ra);
        b.push(&snap(i, 3.0 * d), &mut rb);
    }
    for w in FeatureConfig::default().windows {
        for name in [
            format!("demand_mean_rel{w}"),
            format!("demand_mean_slope{w}_rel"),
        ] {
            let (x, y) = (col(&spec, &ra, &name), col(&spec, &rb, &name));
            assert!(x.is_finite() && x != 0.0, "{name} = {x}");
            assert!((x - y).abs() < 1e-9, "{name}: {x} at 1x, {y} at 3x");
        }
        // the level itself is not scale-free
        let m = format!("demand_mean_roll{w}_mean");
        assert!((col(&spec, &rb, &m) - 3.0 * col(&spec, &ra, &m)).abs() < 1e-9);
    }
    let off = FeatureConfig {
        scale_free: false,
        ..FeatureConfig::default()
    };
    let off = FeatureSpec::new(off, MIN).unwrap();
    assert_eq!(off.len() + 4 * 3, spec.len());
    assert_ne!(off.hash(), spec.hash());
    assert!(
        !serde_json::to_string(&off.config)
            .unwrap()
            .contains("scale_free")
    );
}
