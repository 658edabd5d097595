use super::*;
use crate::core::model::{FlatTree, tree::LEAF};
use crate::core::{NANOS_PER_SEC, Snapshot};

const MIN: Nanos = 60 * NANOS_PER_SEC;

fn artifact(model: ModelBody, names: Vec<String>) -> ModelArtifact {
    let spec = FeatureSpec::new(FeatureConfig::default(), MIN).unwrap();
    ModelArtifact {
        format: ARTIFACT_FORMAT.into(),
        version: ARTIFACT_VERSION,
        checksum: String::new(),
        features: ArtifactFeatures {
            hash: spec.hash().into(),
            config: FeatureConfig::default(),
            names,
        },
        interval_ns: MIN,
        target: Target {
            aggregate: Aggregate::Mean,
            horizon: 5,
        },
        model,
        calibration: Calibration {
            levels: vec![0.05, 0.5, 0.95],
            residual_quantiles: vec![-2.0, 0.0, 3.0],
            test_coverage: Some(0.88),
            nominal_coverage: 0.9,
            test_level_coverage: Vec::new(),
            relative: false,
        },
        thresholds: BTreeMap::new(),
        input_ranges: Vec::new(),
        provenance: Provenance {
            metrics: [("accuracy".into(), 0.9), ("mape".into(), f64::NAN)].into(),
            ..Provenance::default()
        },
    }
}

fn linear() -> ModelArtifact {
    artifact(
        ModelBody::Linear {
            algorithm: "ridge".into(),
            linear: LinearModel {
                intercept: 1.0,
                coef: vec![2.0, 0.5],
                mean: vec![0.0, 0.0],
                std: vec![1.0, 1.0],
                clip: Vec::new(),
            },
        },
        vec!["demand_mean".into(), "arrivals_total".into()],
    )
}

fn trees() -> ModelArtifact {
    let t = FlatTree {
        feature: vec![0, 0, 0],
        threshold: vec![5.0, 0.0, 0.0],
        default_left: vec![true, true, true],
        left: vec![1, LEAF, LEAF],
        right: vec![2, 0, 0],
        value: vec![0.0, 1.0, 10.0],
    };
    artifact(
        ModelBody::Trees {
            algorithm: "random_forest".into(),
            ensemble: TreeEnsemble::new(1, 0.0, 1.0, vec![t]),
        },
        vec!["demand_mean".into()],
    )
}

fn reload(a: &mut ModelArtifact) -> Result<(ModelArtifact, FeatureSpec), ArtifactError> {
    let json = a.to_json();
    ModelArtifact::from_json(&json, "test.json")
}

#[test]
fn round_trip_keeps_everything_and_predicts_the_same() {
    for mut a in [linear(), trees()] {
        let (b, spec) = reload(&mut a).unwrap();
        assert_eq!(a, b);
        assert!(
            !b.provenance.metrics.contains_key("mape"),
            "NaN metrics are dropped"
        );
        let mut f = Forecaster::new(b, &spec, 0);
        let s = Snapshot {
            t_ns: MIN,
            interval_ns: MIN,
            busy_mean: 7.0,
            ..Snapshot::default()
        };
        let fc = f.push(&s);
        assert!(fc.value.is_finite());
        assert_eq!(fc.lower, (fc.value - 2.0).max(0.0));
        assert_eq!(fc.upper, fc.value + 3.0);
    }
}

#[test]
fn an_edited_number_fails_the_checksum() {
    let json = linear().to_json();
    let edited = json.replacen("\"intercept\": 1.0", "\"intercept\": 1.5", 1);
    assert_ne!(json, edited);
    let e = ModelArtifact::from_json(&edited, "model.json").unwrap_err();
    assert!(matches!(e, ArtifactError::Checksum { .. }), "{e}");
    assert!(e.to_string().contains("model.json"), "{e}");
}

#[test]
fn wrong_format_and_version_are_named() {
    let json = linear().to_json();
    let e = ModelArtifact::from_json(&json.replacen("\"version\": 1", "\"version\": 9", 1), "m")
        .unwrap_err();
    assert!(matches!(e, ArtifactError::Version { found: 9, .. }), "{e}");
    let e = ModelArtifact::from_json(&json.replacen("poolcast-model", "onnx", 1), "m").unwrap_err();
    assert!(matches!(e, ArtifactError::Format { .. }), "{e}");
    let e = ModelArtifact::from_json("{ not json", "m").unwrap_err();
    assert!(matches!(e, ArtifactError::Parse { .. }), "{e}");
}

#[test]
fn a_feature_definition_mismatch_is_refused_even_with_a_fresh_checksum() {
    let mut a = linear();
    a.features.hash = "0".repeat(64);
    let e = reload(&mut a).unwrap_err();
    assert!(matches!(e, ArtifactError::Features { .. }), "{e}");
    let mut a = linear();
    a.features.names[1] = "no_such_feature".into();
    let e = reload(&mut a).unwrap_err();
    assert!(e.to_string().contains("no_such_feature"), "{e}");
}

#[test]
fn malformed_models_are_refused() {
    let mut a = linear();
    a.features.names.pop();
    let e = reload(&mut a).unwrap_err();
    assert!(matches!(e, ArtifactError::Invalid { .. }), "{e}");
    let mut a = trees();
    if let ModelBody::Trees { ensemble, .. } = &mut a.model {
        let mut t = ensemble.trees[0].clone();
        t.left[0] = 0; // a loop
        *ensemble = TreeEnsemble::new(1, 0.0, 1.0, vec![t]);
    }
    let e = reload(&mut a).unwrap_err();
    assert!(e.to_string().contains("tree 0"), "{e}");
    let mut a = linear();
    a.calibration.levels = vec![0.9, 0.1, 0.5];
    assert!(matches!(
        reload(&mut a).unwrap_err(),
        ArtifactError::Invalid { .. }
    ));
}

/// Training ranges survive the round trip, are checked on load, and
/// tell which live input is furthest outside them.
#[test]
fn input_ranges_round_trip_are_checked_and_name_the_input_outside() {
    let mut a = linear();
    a.input_ranges = vec![Some([1.0, 9.0]), None];
    let (b, spec) = reload(&mut a).unwrap();
    assert_eq!(b.input_ranges, a.input_ranges);
    let mut f = Forecaster::new(b, &spec, 0);
    let snap = |demand: f64| Snapshot {
        t_ns: MIN,
        interval_ns: MIN,
        busy_mean: demand,
        ..Snapshot::default()
    };
    f.push(&snap(7.0));
    assert_eq!(f.outside_training(1.0), None);
    f.push(&snap(30.0));
    // 30 is 2.6 widths of [1, 9] past 9.
    assert_eq!(
        f.outside_training(1.0),
        Some(("demand_mean", 30.0, 1.0, 9.0))
    );
    assert_eq!(f.outside_training(3.0), None);
    for bad in [
        vec![Some([1.0, 9.0])],
        vec![Some([9.0, 1.0]), None],
        vec![Some([f64::NAN, 1.0]), None],
    ] {
        let mut a = linear();
        a.input_ranges = bad.clone();
        // NaN does not survive JSON: check the verification directly.
        let e = a
            .verify()
            .err()
            .unwrap_or_else(|| panic!("{bad:?} accepted"));
        assert!(matches!(e, super::Verify::Invalid(ref m) if m.contains("input_ranges")));
    }
}

/// A model of the change from persistence adds the base input back; it
/// round-trips, and a relative model inside another is refused.
#[test]
fn a_relative_model_adds_its_base_back() {
    let inner = linear().model;
    let mut a = linear();
    a.model = ModelBody::Relative {
        base: "demand_mean".into(),
        inner: Box::new(inner.clone()),
    };
    let (b, spec) = reload(&mut a).unwrap();
    assert_eq!(b.model, a.model);
    assert_eq!(b.model.algorithm(), "ridge");
    let x = [7.0, 3.0];
    let names = &b.features.names;
    assert_eq!(
        predict_body(&b.model, names, &x),
        predict_body(&inner, names, &x) + 7.0
    );
    let mut f = Forecaster::new(b, &spec, 0);
    let fc = f.push(&Snapshot {
        t_ns: MIN,
        interval_ns: MIN,
        busy_mean: 7.0,
        ..Snapshot::default()
    });
    assert!(fc.value.is_finite());
    let mut nested = linear();
    nested.model = ModelBody::Relative {
        base: "demand_mean".into(),
        inner: Box::new(a.model.clone()),
    };
    let e = reload(&mut nested).unwrap_err();
    assert!(e.to_string().contains("inner model"), "{e}");
    let mut unknown = linear();
    unknown.model = ModelBody::Relative {
        base: "no_such_input".into(),
        inner: Box::new(inner),
    };
    let e = reload(&mut unknown).unwrap_err();
    assert!(e.to_string().contains("no_such_input"), "{e}");
}

/// A model shrunk towards persistence predicts `base + w · (inner − base)`;
/// it round-trips, and a weight outside (0, 1) or a shrunk model inside
/// another is refused.
#[test]
fn a_shrunk_model_blends_with_its_base() {
    let inner = linear().model;
    let mut a = linear();
    a.model = ModelBody::Shrunk {
        base: "demand_mean".into(),
        weight: 0.25,
        inner: Box::new(ModelBody::Relative {
            base: "demand_mean".into(),
            inner: Box::new(inner.clone()),
        }),
    };
    let (b, _) = reload(&mut a).unwrap();
    assert_eq!(b.model, a.model);
    assert_eq!(b.model.algorithm(), "ridge");
    let x = [7.0, 3.0];
    let names = &b.features.names;
    let delta = predict_body(&inner, names, &x);
    let p = predict_body(&b.model, names, &x);
    assert!((p - (7.0 + 0.25 * delta)).abs() < 1e-12, "{p} vs {delta}");
    for weight in [0.0, 1.0, 1.5, -0.1] {
        let mut bad = linear();
        bad.model = ModelBody::Shrunk {
            base: "demand_mean".into(),
            weight,
            inner: Box::new(inner.clone()),
        };
        let e = reload(&mut bad).unwrap_err();
        assert!(e.to_string().contains("shrinkage weight"), "{weight}: {e}");
    }
    let mut nested = linear();
    nested.model = ModelBody::Shrunk {
        base: "demand_mean".into(),
        weight: 0.5,
        inner: Box::new(a.model.clone()),
    };
    let e = reload(&mut nested).unwrap_err();
    assert!(e.to_string().contains("inner model"), "{e}");
}

/// A blend weights the model and its inputs, and a gate's own weights
/// take over where its input exceeds the threshold (a missing input does
/// not); weights that do not sum to 1 or a gate on an unknown input are
/// refused.
#[test]
fn a_blend_weights_model_and_inputs_and_its_gate_takes_over_above_the_threshold() {
    use super::{BlendGate, WeightedInput};
    let inner = linear().model;
    let mut a = linear();
    let names = a.features.names.clone();
    let (p, ma) = (names[0].clone(), names[1].clone());
    let w = |f: &str, weight: f64| WeightedInput {
        feature: f.into(),
        weight,
    };
    a.model = ModelBody::Blend {
        weight: 0.2,
        inputs: vec![w(&p, 0.3), w(&ma, 0.5)],
        inner: Box::new(inner.clone()),
        gate: Some(BlendGate {
            feature: ma.clone(),
            threshold: 5.0,
            weight: 0.9,
            inputs: vec![w(&p, 0.1)],
        }),
    };
    let (b, _) = reload(&mut a).unwrap();
    assert_eq!(b.model, a.model);
    assert_eq!(b.model.algorithm(), "ridge");
    for x in [[7.0, 3.0], [7.0, 6.0], [7.0, f64::NAN]] {
        let m = predict_body(&inner, &names, &x);
        let got = predict_body(&b.model, &names, &x);
        let want = if x[1] > 5.0 {
            0.9 * m + 0.1 * x[0]
        } else {
            0.2 * m + 0.3 * x[0] + 0.5 * x[1]
        };
        if x[1].is_nan() {
            assert!(got.is_nan(), "a missing blended input gives no forecast");
        } else {
            assert!((got - want).abs() < 1e-12, "{x:?}: {got} vs {want}");
        }
    }
    let mut bad = a.clone();
    if let ModelBody::Blend { weight, .. } = &mut bad.model {
        *weight = 0.3;
    }
    let e = reload(&mut bad).unwrap_err();
    assert!(e.to_string().contains("sum to"), "{e}");
    let mut bad = a.clone();
    if let ModelBody::Blend { gate: Some(g), .. } = &mut bad.model {
        g.feature = "nowhere".into();
    }
    let e = reload(&mut bad).unwrap_err();
    assert!(e.to_string().contains("`nowhere`"), "{e}");
}

#[test]
fn residual_quantiles_interpolate_between_levels_and_hold_beyond() {
    let c = Calibration {
        levels: vec![0.1, 0.5, 0.9],
        residual_quantiles: vec![-2.0, 0.0, 4.0],
        ..Calibration::default()
    };
    assert_eq!(c.residual_at(0.5), 0.0);
    assert!((c.residual_at(0.7) - 2.0).abs() < 1e-12);
    assert!((c.residual_at(0.3) + 1.0).abs() < 1e-12);
    assert_eq!(c.residual_at(0.99), 4.0);
    assert_eq!(c.residual_at(0.01), -2.0);
    assert_eq!(Calibration::default().residual_at(0.9), 0.0);
    // relative quantiles scale with the forecast (at least 1)
    let r = Calibration {
        relative: true,
        ..c.clone()
    };
    assert_eq!(r.offset(10.0, 0.9), 40.0);
    assert_eq!(r.offset(0.2, 0.9), 4.0);
    assert_eq!(c.offset(10.0, 0.9), 4.0);
}

#[test]
fn a_missing_file_names_the_path() {
    let e = ModelArtifact::load(Path::new("/nonexistent/model.json")).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/model.json"), "{e}");
}

#[test]
fn awkward_floats_survive_the_json_round_trip_bit_for_bit() {
    let mut a = linear();
    if let ModelBody::Linear { linear, .. } = &mut a.model {
        linear.coef = vec![0.1 + 0.2, 1.0 / 3.0];
        linear.intercept = 2.0f64.sqrt() * 1e-7;
        linear.std = vec![std::f64::consts::PI, 7.0 / 9.0];
    }
    let (b, _) =
        reload(&mut a).expect("serde_json must round-trip floats exactly (float_roundtrip)");
    assert_eq!(a, b);
}

/// A linear model of the change from persistence, clipped, shrunk, with
/// relative quantiles: every part an artifact file can carry since issue 24.
fn shrunk_relative() -> ModelArtifact {
    let mut a = linear();
    let ModelBody::Linear { linear, .. } = a.model.clone() else {
        unreachable!()
    };
    a.model = ModelBody::Shrunk {
        base: "demand_mean".into(),
        weight: 0.4,
        inner: Box::new(ModelBody::Relative {
            base: "demand_mean".into(),
            inner: Box::new(ModelBody::Linear {
                algorithm: "ridge".into(),
                linear: LinearModel {
                    clip: vec![[0.0, 50.0], [0.0, 900.0]],
                    ..linear
                },
            }),
        }),
    };
    a.calibration.relative = true;
    a
}

mod input {
    use proptest::prelude::*;

    use super::*;

    /// Feeds `a`'s forecaster a few snapshots: nothing may panic.
    fn forecast(a: ModelArtifact, spec: &FeatureSpec, demand: f64) {
        let mut f = Forecaster::new(a, spec, 0);
        for i in 1..4 {
            let fc = f.push(&Snapshot {
                t_ns: i * MIN,
                interval_ns: MIN,
                busy_mean: demand,
                ..Snapshot::default()
            });
            let _ = f.quantile(fc.value, 0.8);
        }
    }

    #[test]
    fn the_unmutated_file_loads_and_forecasts() {
        let (a, spec) = ModelArtifact::from_json(&shrunk_relative().to_json(), "ok.json").unwrap();
        forecast(a, &spec, 7.0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Bytes of a valid artifact overwritten, cut or repeated: the
        /// loader answers with an error or an artifact, never a panic.
        #[test]
        fn mutated_files_are_refused_or_loaded_never_a_panic(
            at in 0usize..4000,
            bytes in proptest::collection::vec(any::<u8>(), 0..8),
            cut in proptest::option::of(0usize..4000),
        ) {
            let mut json = shrunk_relative().to_json().into_bytes();
            let at = at.min(json.len());
            let end = (at + bytes.len()).min(json.len());
            json.splice(at..end, bytes);
            if let Some(c) = cut {
                json.truncate(c.min(json.len()));
            }
            let text = String::from_utf8_lossy(&json);
            if let Ok((a, spec)) = ModelArtifact::from_json(&text, "mutated.json") {
                forecast(a, &spec, 7.0);
            }
        }

        /// The numbers issue 24 added to the format, set to anything and
        /// checksummed again (a file a tool wrote wrong): refused with a
        /// message, or loaded and forecasting without a panic.
        #[test]
        fn any_weight_clip_or_quantile_is_refused_or_forecasts(
            weight in -2.0f64..3.0,
            lo in -1e6f64..1e6,
            width in -10.0f64..1e6,
            q in proptest::collection::vec(-1e3f64..1e3, 3),
            relative in any::<bool>(),
            demand in 0.0f64..1e6,
        ) {
            let mut a = shrunk_relative();
            if let ModelBody::Shrunk { weight: w, inner, .. } = &mut a.model {
                *w = weight;
                if let ModelBody::Relative { inner, .. } = inner.as_mut()
                    && let ModelBody::Linear { linear, .. } = inner.as_mut()
                {
                    linear.clip[1] = [lo, lo + width];
                }
            }
            a.calibration.residual_quantiles = q;
            a.calibration.relative = relative;
            match ModelArtifact::from_json(&a.to_json(), "edited.json") {
                Ok((b, spec)) => forecast(b, &spec, demand),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }
    }
}
