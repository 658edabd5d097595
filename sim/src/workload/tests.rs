//! Tests of the workload module: pattern shapes, bounds, thinning
//! statistics, service-time means, class mixes, validation paths and TOML.

use poolcast::core::{NANOS_PER_MS, NANOS_PER_SEC, Nanos, QueryClass};
use rand::{RngExt, SeedableRng};

use super::*;
use crate::ConfigError;
use crate::rng::SimRng;

const S: Nanos = NANOS_PER_SEC;
const DAY: Nanos = 86_400 * S;

fn rng(seed: u64) -> SimRng {
    SimRng::seed_from_u64(seed)
}

fn build(cfg: &LoadConfig, horizon: Nanos) -> RateFn {
    cfg.validate("load").expect("valid config");
    RateFn::build(cfg, horizon, &mut rng(7))
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-300)
}

// ---------------------------------------------------------------- patterns

#[test]
fn steady_and_level_are_constant() {
    let r = build(&LoadConfig::steady(250.0), DAY);
    assert_eq!(r.constant_rate(), Some(250.0));
    assert_eq!(r.rate_at(12345 * S), 250.0);
    let r = build(
        &LoadConfig::steady(100.0).with(Pattern::Steady { level: 1.5 }),
        DAY,
    );
    assert_eq!(r.constant_rate(), Some(150.0));
}

#[test]
fn spike_rises_holds_and_falls() {
    let cfg = LoadConfig::steady(100.0).with(Pattern::Spike {
        start_s: 100.0,
        duration_s: 60.0,
        multiplier: 5.0,
        rise_s: 10.0,
        fall_s: 20.0,
    });
    let r = build(&cfg, DAY);
    let at = |s: f64| r.rate_at((s * 1e9) as Nanos);
    assert_eq!(at(0.0), 100.0);
    assert_eq!(at(99.9), 100.0);
    assert_eq!(at(100.0), 100.0); // the rise starts from the base
    assert!(close(at(105.0), 300.0, 1e-12));
    assert_eq!(at(110.0), 500.0); // peak = base × multiplier
    assert_eq!(at(139.999), 500.0);
    assert!(close(at(150.0), 300.0, 1e-12));
    assert_eq!(at(160.0), 100.0);
    assert_eq!(at(1000.0), 100.0);
    assert!(r.upper_bound(100 * S, 200 * S) >= 500.0);
    assert!(r.upper_bound(0, 100 * S) < 100.0 * (1.0 + 1e-6));

    // A step spike (no rise, no fall) and a dip.
    let step = build(
        &LoadConfig::steady(10.0).with(Pattern::Spike {
            start_s: 5.0,
            duration_s: 5.0,
            multiplier: 0.2,
            rise_s: 0.0,
            fall_s: 0.0,
        }),
        DAY,
    );
    assert_eq!(step.rate_at(5 * S - 1), 10.0);
    assert_eq!(step.rate_at(5 * S), 2.0);
    assert_eq!(step.rate_at(10 * S - 1), 2.0);
    assert_eq!(step.rate_at(10 * S), 10.0);
    assert!(step.lower_bound(0, 20 * S) <= 2.0);
}

#[test]
fn gradual_ramps_between_endpoints() {
    let cfg = LoadConfig::steady(10.0).with(Pattern::Gradual {
        start_s: 100.0,
        duration_s: 100.0,
        from: 1.0,
        to: 3.0,
    });
    let r = build(&cfg, DAY);
    assert_eq!(r.rate_at(0), 10.0);
    assert_eq!(r.rate_at(100 * S), 10.0);
    assert!(close(r.rate_at(150 * S), 20.0, 1e-12));
    assert_eq!(r.rate_at(200 * S), 30.0);
    assert_eq!(r.rate_at(5000 * S), 30.0);
}

#[test]
fn cyclical_peaks_at_peak_hour_and_dips_on_weekends() {
    let cfg = LoadConfig::steady(100.0).with(Pattern::Cyclical {
        daily_amplitude: 0.5,
        weekly_amplitude: 0.0,
        peak_hour: 14.0,
        peak_day: 2.0,
        weekend_factor: 0.4,
        offset_s: 0.0,
    });
    let r = build(&cfg, 7 * DAY);
    let hour = |d: u64, h: u64| r.rate_at(d * DAY + h * 3600 * S);
    assert!(close(hour(0, 14), 150.0, 1e-12)); // Monday peak
    assert!(close(hour(0, 2), 50.0, 1e-12)); // Monday trough
    assert!(hour(2, 14) > hour(2, 8));
    assert!(close(hour(5, 14), 60.0, 1e-12)); // Saturday peak × 0.4
    assert!(hour(6, 14) < hour(4, 14));
    assert!(close(hour(7, 14), 150.0, 1e-12)); // next Monday
    // Mean over a weekday is the base rate.
    assert!(close(r.mean_rate(0, DAY, 86_400), 100.0, 1e-6));

    // Weekly shape and the offset: time 0 = Wednesday 00:00.
    let weekly = LoadConfig::steady(1.0).with(Pattern::Cyclical {
        daily_amplitude: 0.0,
        weekly_amplitude: 0.3,
        peak_hour: 14.0,
        peak_day: 2.5,
        weekend_factor: 1.0,
        offset_s: 2.0 * 86_400.0,
    });
    let r = build(&weekly, 7 * DAY);
    assert!(close(r.rate_at(DAY / 2), 1.3, 1e-12));
    assert!(r.rate_at(DAY / 2) > r.rate_at(3 * DAY));
}

#[test]
fn random_walk_stays_within_bounds_and_moves() {
    let cfg = LoadConfig::steady(1.0).with(Pattern::RandomWalk {
        step_s: 10.0,
        sigma: 0.5,
        reversion: 0.02,
        min: 0.5,
        max: 2.0,
    });
    let r = build(&cfg, 10 * DAY);
    let mut seen_lo = f64::INFINITY;
    let mut seen_hi = 0.0f64;
    for k in 0..86_400 {
        let v = r.rate_at(k * 10 * S);
        assert!((0.5..=2.0).contains(&v), "{v}");
        seen_lo = seen_lo.min(v);
        seen_hi = seen_hi.max(v);
    }
    assert_eq!(r.rate_at(0), 1.0);
    assert!(seen_lo < 0.6 && seen_hi > 1.8, "{seen_lo} {seen_hi}");
    // Piecewise constant within a step.
    assert_eq!(r.rate_at(123 * 10 * S), r.rate_at(123 * 10 * S + 9 * S));
}

#[test]
fn markov_visits_its_states_with_the_right_dwell() {
    let cfg = LoadConfig::steady(10.0).with(Pattern::Markov {
        states: vec![1.0, 3.0],
        mean_dwell_s: vec![100.0, 50.0],
    });
    let r = build(&cfg, 100 * DAY);
    let n = 100 * 86_400;
    let mut high = 0u64;
    for k in 0..n {
        let v = r.rate_at(k * S);
        assert!(v == 10.0 || v == 30.0);
        high += u64::from(v == 30.0);
    }
    // Time fraction in the high state = 50 / (100 + 50).
    let frac = high as f64 / n as f64;
    assert!((frac - 1.0 / 3.0).abs() < 0.02, "{frac}");
    assert_eq!(r.rate_at(0), 10.0);
}

#[test]
fn noise_has_mean_one() {
    let cfg = LoadConfig::steady(1.0).with(Pattern::Noise {
        sigma: 0.5,
        step_s: 1.0,
    });
    let n = 400_000u64;
    let r = build(&cfg, n * S);
    let mean = (0..n).map(|k| r.rate_at(k * S + S / 2)).sum::<f64>() / n as f64;
    let sd = ((0.25f64).exp() - 1.0).sqrt() / (n as f64).sqrt();
    assert!((mean - 1.0).abs() < 4.0 * sd, "mean {mean}, sd {sd}");
}

#[test]
fn foreseen_rate_knows_the_shape_and_the_current_step_only() {
    let cyc = Pattern::Cyclical {
        daily_amplitude: 0.5,
        weekly_amplitude: 0.0,
        peak_hour: 14.0,
        peak_day: 0.0,
        weekend_factor: 1.0,
        offset_s: 0.0,
    };
    let shape = build(&LoadConfig::steady(10.0).with(cyc.clone()), DAY);
    let noisy = build(
        &LoadConfig::steady(10.0)
            .with(cyc.clone())
            .with(Pattern::Noise {
                sigma: 0.3,
                step_s: 300.0,
            }),
        DAY,
    );
    let now = 1000 * S; // inside the step [900 s, 1200 s)
    for t in [0, 500 * S, now, 1100 * S, 1199 * S] {
        // the past and the step in force at `now` are known exactly
        assert_eq!(noisy.foreseen_rate_at(t, now), noisy.rate_at(t), "t = {t}");
    }
    for t in [1200 * S, 1500 * S, 40_000 * S] {
        // later noise steps take their mean: only the shape is left
        assert!(
            close(noisy.foreseen_rate_at(t, now), shape.rate_at(t), 1e-12),
            "t = {t}"
        );
        assert!(noisy.foreseen_rate_at(t, now) != noisy.rate_at(t));
    }
    // deterministic patterns are foreseen exactly at any distance
    for t in [0, now, 50_000 * S] {
        assert_eq!(shape.foreseen_rate_at(t, now), shape.rate_at(t));
    }
    let m = noisy.foreseen_mean_rate(now, 1200 * S, 1500 * S, 6);
    assert!(close(m, shape.mean_rate(1200 * S, 1500 * S, 6), 1e-12));

    // a random walk and a Markov state hold their value at `now`
    let walk = build(
        &LoadConfig::steady(1.0).with(Pattern::RandomWalk {
            step_s: 10.0,
            sigma: 0.5,
            reversion: 0.02,
            min: 0.5,
            max: 2.0,
        }),
        DAY,
    );
    let markov = build(
        &LoadConfig::steady(1.0).with(Pattern::Markov {
            states: vec![0.5, 2.0],
            mean_dwell_s: vec![30.0, 30.0],
        }),
        DAY,
    );
    for r in [&walk, &markov] {
        for t in [now + 1, now + 100 * S, 80_000 * S] {
            assert_eq!(r.foreseen_rate_at(t, now), r.rate_at(now));
        }
    }
}

#[test]
fn random_patterns_are_reproducible() {
    let cfg = LoadConfig::steady(5.0)
        .with(Pattern::Noise {
            sigma: 0.3,
            step_s: 1.0,
        })
        .with(Pattern::Markov {
            states: vec![0.5, 2.0],
            mean_dwell_s: vec![30.0, 30.0],
        });
    let a = RateFn::build(&cfg, DAY, &mut rng(1));
    let b = RateFn::build(&cfg, DAY, &mut rng(1));
    let c = RateFn::build(&cfg, DAY, &mut rng(2));
    let ts: Vec<Nanos> = (0..1000).map(|k| k * 77 * S).collect();
    assert!(ts.iter().all(|&t| a.rate_at(t) == b.rate_at(t)));
    assert!(ts.iter().any(|&t| a.rate_at(t) != c.rate_at(t)));
}

fn random_pattern(g: &mut SimRng) -> Pattern {
    let f = |g: &mut SimRng, lo: f64, hi: f64| lo + (hi - lo) * g.random::<f64>();
    match g.random_range(0..7) {
        0 => Pattern::Steady {
            level: f(g, 0.1, 3.0),
        },
        1 => {
            let duration_s = f(g, 0.001, 5000.0);
            let rise_s = duration_s * f(g, 0.0, 0.5);
            let fall_s = duration_s * f(g, 0.0, 0.5);
            Pattern::Spike {
                start_s: f(g, 0.0, 200_000.0),
                duration_s,
                multiplier: f(g, 0.05, 20.0),
                rise_s,
                fall_s,
            }
        }
        2 => Pattern::Gradual {
            start_s: f(g, 0.0, 200_000.0),
            duration_s: f(g, 0.001, 50_000.0),
            from: f(g, 0.1, 5.0),
            to: f(g, 0.1, 5.0),
        },
        3 => Pattern::RandomWalk {
            step_s: f(g, 0.05, 600.0),
            sigma: f(g, 0.0, 1.0),
            reversion: f(g, 0.0, 1.0),
            min: f(g, 0.05, 1.0),
            max: f(g, 1.0, 10.0),
        },
        4 => {
            let n = g.random_range(1..5);
            Pattern::Markov {
                states: (0..n).map(|_| f(g, 0.1, 5.0)).collect(),
                mean_dwell_s: (0..n).map(|_| f(g, 0.01, 3000.0)).collect(),
            }
        }
        5 => Pattern::Cyclical {
            daily_amplitude: f(g, 0.0, 0.99),
            weekly_amplitude: f(g, 0.0, 0.99),
            peak_hour: f(g, 0.0, 23.99),
            peak_day: f(g, 0.0, 6.99),
            weekend_factor: f(g, 0.1, 3.0),
            offset_s: f(g, 0.0, 700_000.0),
        },
        _ => Pattern::Noise {
            sigma: f(g, 0.0, 1.5),
            step_s: f(g, 0.01, 100.0),
        },
    }
}

#[test]
fn upper_bound_dominates_the_rate_for_random_combinations() {
    let mut g = rng(2024);
    let horizon = 3 * DAY;
    let lengths = [
        1,
        1_000,
        NANOS_PER_MS,
        100 * NANOS_PER_MS,
        S,
        60 * S,
        3_600 * S,
        DAY,
        4 * DAY,
    ];
    for case in 0..150 {
        let mut cfg = LoadConfig::steady(g.random::<f64>() * 1000.0);
        for _ in 0..g.random_range(1..5) {
            cfg.patterns.push(random_pattern(&mut g));
        }
        cfg.validate("load")
            .unwrap_or_else(|e| panic!("case {case}: {e}"));
        let r = RateFn::build(&cfg, horizon, &mut g);
        for _ in 0..40 {
            let len = lengths[g.random_range(0..lengths.len())];
            let t0 = g.random_range(0..horizon);
            let t1 = t0 + len;
            let (lo, hi) = (r.lower_bound(t0, t1), r.upper_bound(t0, t1));
            assert!(lo <= hi);
            let n = 200u64.min(len);
            for k in 0..=n {
                let t = t0 + (len - 1) * k / n.max(1);
                let v = r.rate_at(t);
                assert!(
                    v <= hi && v >= lo,
                    "case {case}: {cfg:?} t={t} [{t0},{t1}) {lo} <= {v} <= {hi}"
                );
            }
            let t = g.random_range(t0..t1);
            let v = r.rate_at(t);
            assert!(
                v <= hi && v >= lo,
                "case {case}: {cfg:?} t={t} [{t0},{t1}) {lo} <= {v} <= {hi}"
            );
        }
    }
}

// ---------------------------------------------------------------- arrivals

fn count(p: &mut ArrivalProcess, seed: u64) -> Vec<Nanos> {
    let mut g = rng(seed);
    let mut out = Vec::new();
    let mut t = 0;
    while let Some(a) = p.next_arrival(t, &mut g) {
        assert!(a >= t && a < p.horizon());
        out.push(a);
        t = a;
    }
    out
}

fn within_4_sigma(n: usize, expected: f64) -> bool {
    (n as f64 - expected).abs() <= 4.0 * expected.sqrt()
}

#[test]
fn steady_arrivals_match_rate_times_horizon() {
    let horizon = 2_000 * S;
    let mut p = ArrivalProcess::new(RateFn::constant(500.0), horizon);
    let n = count(&mut p, 11).len();
    assert!(within_4_sigma(n, 500.0 * 2_000.0), "{n}");

    let mut none = ArrivalProcess::new(RateFn::constant(0.0), horizon);
    assert_eq!(none.next_arrival(0, &mut rng(1)), None);
    assert_eq!(p.next_arrival(horizon, &mut rng(1)), None);
}

#[test]
fn thinned_arrivals_match_the_integrated_rate() {
    // Diurnal cycle over one whole day: the mean rate is the base rate.
    let cfg = LoadConfig::steady(20.0).with(Pattern::Cyclical {
        daily_amplitude: 0.8,
        weekly_amplitude: 0.0,
        peak_hour: 14.0,
        peak_day: 2.0,
        weekend_factor: 1.0,
        offset_s: 0.0,
    });
    let mut p = ArrivalProcess::from_config(&cfg, DAY, &mut rng(3));
    let arrivals = count(&mut p, 12);
    assert!(
        within_4_sigma(arrivals.len(), 20.0 * 86_400.0),
        "{}",
        arrivals.len()
    );
    // Afternoon busier than night.
    let in_hour =
        |h: u64| arrivals.iter().filter(|&&a| a / (3_600 * S) == h).count() as f64 / 3_600.0;
    let expected_14 = p.rate().mean_rate(14 * 3_600 * S, 15 * 3_600 * S, 3_600) * 3_600.0;
    assert!(within_4_sigma(
        (in_hour(14) * 3_600.0).round() as usize,
        expected_14
    ));
    assert!(in_hour(2) < 0.3 * in_hour(14));

    // Noise plus a ramp: the count matches the exact integral of the rate.
    let cfg = LoadConfig::steady(100.0)
        .with(Pattern::Noise {
            sigma: 0.7,
            step_s: 0.25,
        })
        .with(Pattern::Gradual {
            start_s: 100.0,
            duration_s: 300.0,
            from: 0.5,
            to: 2.0,
        });
    let horizon = 1_000 * S;
    let mut p = ArrivalProcess::from_config(&cfg, horizon, &mut rng(4));
    assert_eq!(p.block_ns(), S / 4);
    let expected = p.rate().mean_rate(0, horizon, 400_000) * 1_000.0;
    let n = count(&mut p, 13).len();
    assert!(within_4_sigma(n, expected), "{n} vs {expected}");
}

#[test]
fn spike_multiplies_arrival_counts() {
    let cfg = LoadConfig::steady(200.0).with(Pattern::Spike {
        start_s: 400.0,
        duration_s: 100.0,
        multiplier: 4.0,
        rise_s: 0.0,
        fall_s: 0.0,
    });
    let mut p = ArrivalProcess::from_config(&cfg, 1_000 * S, &mut rng(5));
    let arrivals = count(&mut p, 14);
    let inside = arrivals
        .iter()
        .filter(|&&a| (400 * S..500 * S).contains(&a))
        .count() as f64;
    let outside = arrivals.len() as f64 - inside;
    let ratio = (inside / 100.0) / (outside / 900.0);
    let sd = 4.0 * (1.0 / inside + 1.0 / outside).sqrt();
    assert!((ratio - 4.0).abs() < 4.0 * sd, "ratio {ratio} sd {sd}");
    assert!(within_4_sigma(outside as usize, 200.0 * 900.0));
}

#[test]
fn arrivals_are_reproducible_and_restartable() {
    let cfg = LoadConfig::steady(50.0).with(Pattern::Noise {
        sigma: 0.3,
        step_s: 1.0,
    });
    let a = count(
        &mut ArrivalProcess::from_config(&cfg, 100 * S, &mut rng(9)),
        1,
    );
    let b = count(
        &mut ArrivalProcess::from_config(&cfg, 100 * S, &mut rng(9)),
        1,
    );
    assert_eq!(a, b);
    // Asking from an arbitrary time works (memoryless).
    let mut p = ArrivalProcess::from_config(&cfg, 100 * S, &mut rng(9));
    let t = p.next_arrival(50 * S, &mut rng(2)).unwrap();
    assert!(t >= 50 * S);
}

// ---------------------------------------------------------------- service

fn sample_mean(d: &ServiceDist, n: usize, seed: u64) -> (f64, f64) {
    let s = d.sampler("service").unwrap();
    let mut g = rng(seed);
    let xs: Vec<f64> = (0..n).map(|_| s.sample(&mut g) as f64).collect();
    let mean = xs.iter().sum::<f64>() / n as f64;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    (mean, var.sqrt())
}

#[test]
fn service_means_match_configuration() {
    let n = 400_000;
    let cases = [
        (ServiceDist::Exponential { mean_ms: 5.0 }, 1.0),
        (
            ServiceDist::Lognormal {
                mean_ms: 3.0,
                cv: 1.5,
            },
            1.5,
        ),
        (
            ServiceDist::Lognormal {
                mean_ms: 3.0,
                cv: 0.0,
            },
            0.0,
        ),
        (
            ServiceDist::Gamma {
                mean_ms: 8.0,
                shape: 0.5,
            },
            0.5f64.powf(-0.5),
        ),
        (
            ServiceDist::Gamma {
                mean_ms: 8.0,
                shape: 4.0,
            },
            0.5,
        ),
        (ServiceDist::Deterministic { ms: 2.5 }, 0.0),
        (
            ServiceDist::from_samples([1.0, 2.0, 3.0, 10.0]),
            12.5f64.sqrt() / 4.0,
        ),
    ];
    for (i, (d, cv)) in cases.iter().enumerate() {
        d.validate("service").unwrap();
        let (mean, sd) = sample_mean(d, n, i as u64);
        let target = d.mean_ns();
        assert_eq!(d.sampler("service").unwrap().mean_ns(), target);
        let tol = 4.0 * cv * target / (n as f64).sqrt() + 1.0;
        assert!(
            (mean - target).abs() <= tol,
            "{d:?}: mean {mean} vs {target}"
        );
        if *cv > 0.0 && *cv < 1.2 {
            assert!(close(sd / mean, *cv, 0.05), "{d:?}: cv {}", sd / mean);
        }
    }
    assert_eq!(
        ServiceDist::Deterministic { ms: 2.5 }
            .sampler("s")
            .unwrap()
            .sample(&mut rng(0)),
        2_500_000
    );
    let e = ServiceDist::from_nanos([1_000_000, 3_000_000]);
    assert_eq!(e.mean_ns(), 2_000_000.0);
    let v = e.sampler("s").unwrap().sample(&mut rng(0));
    assert!(v == 1_000_000 || v == 3_000_000);
}

// ---------------------------------------------------------------- classes

fn web_mix() -> ClassMix {
    ClassMix {
        classes: vec![
            ClassSpec::new(
                QueryClass::Read,
                6.0,
                ServiceDist::Exponential { mean_ms: 2.0 },
            ),
            ClassSpec::new(
                QueryClass::Write,
                3.0,
                ServiceDist::Deterministic { ms: 4.0 },
            ),
            ClassSpec {
                statements: 4,
                think_ms: Some(ServiceDist::Deterministic { ms: 1.0 }),
                patterns: 5,
                pattern_zipf: 1.0,
                ..ClassSpec::new(
                    QueryClass::Transaction,
                    1.0,
                    ServiceDist::Deterministic { ms: 2.0 },
                )
            },
        ],
    }
}

#[test]
fn mix_draws_classes_by_share_and_holds_transactions() {
    let mix = web_mix();
    mix.validate("mix").unwrap();
    let m = MixSampler::new(&mix, "mix").unwrap();
    assert_eq!(m.len(), 3);
    let mut g = rng(21);
    let n = 200_000;
    let mut counts = [0usize; 3];
    let mut hold_sum = 0.0;
    for _ in 0..n {
        let (class, idx) = m.sample(&mut g);
        assert_eq!(class, m.class(idx));
        counts[idx] += 1;
        hold_sum += m.sample_hold(idx, &mut g).hold_ns as f64;
    }
    for (i, share) in [0.6, 0.3, 0.1].iter().enumerate() {
        let sd = (share * (1.0 - share) / n as f64).sqrt();
        assert!(
            (counts[i] as f64 / n as f64 - share).abs() < 4.0 * sd,
            "{counts:?}"
        );
    }
    // Transaction: 4 statements × 2 ms + 3 think gaps × 1 ms, connection held.
    let h = m.sample_hold(2, &mut g);
    assert_eq!(
        h,
        HoldSample {
            hold_ns: 11_000_000,
            statements: 4
        }
    );
    // Mean hold: 0.6·2 + 0.3·4 + 0.1·11 = 3.5 ms.
    assert!(close(m.mean_hold_ns(), 3.5e6, 1e-12));
    assert!(close(mix.mean_hold_ns(), 3.5e6, 1e-12));
    let sd = 2e6 * 0.6f64.sqrt() * 2.0 / (n as f64).sqrt(); // generous
    assert!(
        (hold_sum / n as f64 - 3.5e6).abs() < 4.0 * sd + 2e4,
        "{}",
        hold_sum / n as f64
    );

    // Zero shares are never drawn.
    let mut zero = web_mix();
    zero.classes[0].share = 0.0;
    let m0 = MixSampler::new(&zero, "mix").unwrap();
    assert!((0..10_000).all(|_| m0.sample(&mut g).1 != 0));
}

#[test]
fn patterns_follow_zipf_with_stable_hashes() {
    let m = MixSampler::new(&web_mix(), "mix").unwrap();
    let mut g = rng(5);
    let mut counts = std::collections::HashMap::new();
    for _ in 0..100_000 {
        *counts.entry(m.sample_pattern(2, &mut g)).or_insert(0usize) += 1;
    }
    assert_eq!(counts.len(), 5);
    let top = counts[&pattern_hash(QueryClass::Transaction, 1)];
    let second = counts[&pattern_hash(QueryClass::Transaction, 2)];
    // Zipf(s = 1): rank 1 twice as frequent as rank 2; H_5 = 137/60.
    assert!(close(top as f64 / 100_000.0, 60.0 / 137.0, 0.02), "{top}");
    assert!(close(top as f64 / second as f64, 2.0, 0.05));
    // Stable: pinned value, distinct across classes and ranks.
    assert_eq!(
        pattern_hash(QueryClass::Read, 1),
        pattern_hash(QueryClass::Read, 1)
    );
    assert_ne!(
        pattern_hash(QueryClass::Read, 1),
        pattern_hash(QueryClass::Write, 1)
    );
    assert_ne!(
        pattern_hash(QueryClass::Read, 1),
        pattern_hash(QueryClass::Read, 2)
    );
    // Many patterns take the rejection-sampling path.
    let mut big = web_mix();
    big.classes[0].patterns = 1_000_000;
    let mb = MixSampler::new(&big, "mix").unwrap();
    let distinct: std::collections::HashSet<u64> =
        (0..1000).map(|_| mb.sample_pattern(0, &mut g)).collect();
    assert!(distinct.len() > 50);
}

// ---------------------------------------------------------------- validation

fn err_path<T>(r: Result<T, ConfigError>) -> String {
    match r {
        Err(e) => e.path,
        Ok(_) => panic!("expected an error"),
    }
}

#[test]
fn validation_names_the_field() {
    let spike = |multiplier: f64| Pattern::Spike {
        start_s: 10.0,
        duration_s: 5.0,
        multiplier,
        rise_s: 1.0,
        fall_s: 1.0,
    };
    let bad = LoadConfig::steady(10.0)
        .with(Pattern::Steady { level: 1.0 })
        .with(spike(0.0));
    let e = bad.validate("load").unwrap_err();
    assert_eq!(e.path, "load.patterns[1].multiplier");
    assert!(e.message.contains("> 0"), "{}", e.message);
    assert_eq!(
        err_path(LoadConfig::steady(-1.0).validate("load")),
        "load.base_rate"
    );
    assert_eq!(
        err_path(LoadConfig::steady(f64::NAN).validate("load")),
        "load.base_rate"
    );
    assert_eq!(
        err_path(
            LoadConfig::steady(1.0)
                .with(spike(f64::NAN))
                .validate("s.load")
        ),
        "s.load.patterns[0].multiplier"
    );
    let long_ramps = Pattern::Spike {
        start_s: 0.0,
        duration_s: 5.0,
        multiplier: 2.0,
        rise_s: 3.0,
        fall_s: 3.0,
    };
    assert_eq!(err_path(long_ramps.validate("p")), "p.duration_s");
    let g = Pattern::Gradual {
        start_s: 0.0,
        duration_s: 0.0,
        from: 1.0,
        to: 2.0,
    };
    assert_eq!(err_path(g.validate("p")), "p.duration_s");
    let w = Pattern::RandomWalk {
        step_s: 1.0,
        sigma: 0.1,
        reversion: 1.5,
        min: 0.5,
        max: 2.0,
    };
    assert_eq!(err_path(w.validate("p")), "p.reversion");
    let w = Pattern::RandomWalk {
        step_s: 0.0,
        sigma: 0.1,
        reversion: 0.5,
        min: 0.5,
        max: 2.0,
    };
    assert_eq!(err_path(w.validate("p")), "p.step_s");
    let m = Pattern::Markov {
        states: vec![1.0, -2.0],
        mean_dwell_s: vec![1.0, 1.0],
    };
    assert_eq!(err_path(m.validate("p")), "p.states[1]");
    let m = Pattern::Markov {
        states: vec![1.0, 2.0],
        mean_dwell_s: vec![1.0],
    };
    assert_eq!(err_path(m.validate("p")), "p.mean_dwell_s");
    let c = Pattern::Cyclical {
        daily_amplitude: 1.0,
        weekly_amplitude: 0.0,
        peak_hour: 14.0,
        peak_day: 2.0,
        weekend_factor: 1.0,
        offset_s: 0.0,
    };
    assert_eq!(err_path(c.validate("p")), "p.daily_amplitude");
    let n = Pattern::Noise {
        sigma: -0.1,
        step_s: 1.0,
    };
    assert_eq!(err_path(n.validate("p")), "p.sigma");

    let s = ServiceDist::Lognormal {
        mean_ms: 0.0,
        cv: 1.0,
    };
    assert_eq!(err_path(s.validate("svc")), "svc.mean_ms");
    assert_eq!(
        err_path(ServiceDist::from_samples([]).validate("svc")),
        "svc.samples_ms"
    );
    assert_eq!(
        err_path(ServiceDist::from_samples([1.0, -1.0]).validate("svc")),
        "svc.samples_ms[1]"
    );
    assert_eq!(
        err_path(
            ServiceDist::Gamma {
                mean_ms: 1.0,
                shape: 0.0
            }
            .validate("s")
        ),
        "s.shape"
    );

    let e = ClassMix { classes: vec![] }.validate("mix").unwrap_err();
    assert_eq!(e.path, "mix.classes");
    assert!(e.message.contains("empty class mix"));
    let mut zero = web_mix();
    zero.classes.iter_mut().for_each(|c| c.share = 0.0);
    let e = zero.validate("mix").unwrap_err();
    assert_eq!(e.path, "mix.classes");
    assert!(e.message.contains("empty class mix"));
    let mut dup = web_mix();
    dup.classes[2].class = QueryClass::Read;
    let e = dup.validate("mix").unwrap_err();
    assert_eq!(e.path, "mix.classes[2].class");
    assert!(e.message.contains("duplicate"));
    let mut neg = web_mix();
    neg.classes[1].share = -1.0;
    assert_eq!(err_path(neg.validate("mix")), "mix.classes[1].share");
    let mut bad_svc = web_mix();
    bad_svc.classes[0].service = ServiceDist::Exponential { mean_ms: -3.0 };
    assert_eq!(
        err_path(bad_svc.validate("mix")),
        "mix.classes[0].service.mean_ms"
    );
    let mut bad_think = web_mix();
    bad_think.classes[2].think_ms = Some(ServiceDist::Deterministic { ms: -1.0 });
    assert_eq!(
        err_path(bad_think.validate("mix")),
        "mix.classes[2].think_ms.ms"
    );
    let mut no_stmt = web_mix();
    no_stmt.classes[2].statements = 0;
    assert_eq!(
        err_path(no_stmt.validate("mix")),
        "mix.classes[2].statements"
    );
}

// ---------------------------------------------------------------- TOML

const LOAD_TOML: &str = r#"
base_rate = 200.0

[[patterns]]
kind = "cyclical"
daily_amplitude = 0.5
peak_hour = 14.0
weekend_factor = 0.6

[[patterns]]
kind = "spike"
start_s = 3600.0
duration_s = 600.0
multiplier = 4.0
rise_s = 60.0
fall_s = 120.0

[[patterns]]
kind = "gradual"
start_s = 0.0
duration_s = 86400.0
to = 1.5

[[patterns]]
kind = "random_walk"
step_s = 60.0
sigma = 0.05

[[patterns]]
kind = "markov"
states = [1.0, 2.5]
mean_dwell_s = [1800.0, 300.0]

[[patterns]]
kind = "noise"
sigma = 0.1

[[patterns]]
kind = "steady"
level = 1.2
"#;

const MIX_TOML: &str = r#"
[[classes]]
class = "read"
share = 0.7
service = { kind = "lognormal", mean_ms = 2.0, cv = 1.5 }

[[classes]]
class = "transaction"
share = 0.1
statements = 5
service = { kind = "gamma", mean_ms = 3.0, shape = 2.0 }
think_ms = { kind = "exponential", mean_ms = 1.0 }
patterns = 50
pattern_zipf = 1.2

[[classes]]
class = "analytics"
share = 0.2
service = { kind = "empirical", samples_ms = [120.0, 300.0, 950.0] }
"#;

#[test]
fn load_config_reads_from_toml() {
    let cfg: LoadConfig = toml::from_str(LOAD_TOML).unwrap();
    cfg.validate("load").unwrap();
    assert_eq!(cfg.patterns.len(), 7);
    assert_eq!(
        cfg.patterns[1],
        Pattern::Spike {
            start_s: 3600.0,
            duration_s: 600.0,
            multiplier: 4.0,
            rise_s: 60.0,
            fall_s: 120.0
        }
    );
    assert!(matches!(cfg.patterns[2], Pattern::Gradual { from, .. } if from == 1.0));
    assert!(matches!(
        cfg.patterns[3],
        Pattern::RandomWalk { reversion, min, max, .. } if reversion == 0.1 && min == 0.25 && max == 4.0
    ));
    assert!(matches!(cfg.patterns[5], Pattern::Noise { step_s, .. } if step_s == 1.0));
    // Round trip.
    let back: LoadConfig = toml::from_str(&toml::to_string(&cfg).unwrap()).unwrap();
    assert_eq!(back, cfg);
    // Builds and draws.
    let mut p = ArrivalProcess::from_config(&cfg, 600 * S, &mut rng(1));
    assert!(p.next_arrival(0, &mut rng(2)).is_some());
}

#[test]
fn toml_rejects_unknown_fields_and_kinds() {
    let typo = "base_rate = 1.0\n[[patterns]]\nkind = \"spike\"\nstart_s = 1.0\nduration_s = 1.0\nmultiplier = 2.0\nmultiplyer = 3.0\n";
    let e = toml::from_str::<LoadConfig>(typo).unwrap_err().to_string();
    assert!(e.contains("multiplyer"), "{e}");
    let steady = "base_rate = 1.0\n[[patterns]]\nkind = \"steady\"\nfactor = 2.0\n";
    assert!(toml::from_str::<LoadConfig>(steady).is_err());
    let kind = "base_rate = 1.0\n[[patterns]]\nkind = \"sawtooth\"\n";
    assert!(toml::from_str::<LoadConfig>(kind).is_err());
    assert!(toml::from_str::<LoadConfig>("base_rate = 1.0\nbase_rte = 2.0\n").is_err());
    assert!(
        toml::from_str::<LoadConfig>("base_rate = 1.0\n[[patterns]]\nkind = \"steady\"\n").is_ok()
    );

    let mix: ClassMix = toml::from_str(MIX_TOML).unwrap();
    mix.validate("mix").unwrap();
    assert_eq!(mix.classes[0].statements, 1);
    assert_eq!(mix.classes[0].patterns, 20);
    assert_eq!(mix.classes[0].pattern_zipf, 1.1);
    assert_eq!(mix.classes[1].statements, 5);
    let m = MixSampler::new(&mix, "mix").unwrap();
    assert!(m.mean_hold_ns() > 0.0);
    let bad = MIX_TOML.replace("shape = 2.0", "shape = 2.0, scale = 1.0");
    assert!(toml::from_str::<ClassMix>(&bad).is_err());
    let bad = MIX_TOML.replace("patterns = 50", "pattern = 50");
    assert!(toml::from_str::<ClassMix>(&bad).is_err());
    let bad = MIX_TOML.replace("class = \"read\"", "class = \"reads\"");
    assert!(toml::from_str::<ClassMix>(&bad).is_err());
}

#[test]
fn compiling_a_bad_distribution_or_mix_is_an_error_not_a_panic() {
    let e = ServiceDist::Gamma {
        mean_ms: 1.0,
        shape: 0.0,
    }
    .sampler("svc")
    .unwrap_err();
    assert_eq!(e.path, "svc.shape");
    let e = ServiceDist::from_samples([]).sampler("svc").unwrap_err();
    assert_eq!(e.path, "svc.samples_ms");
    // Means that pass the checks but overflow in nanoseconds either compile
    // or are refused; they never panic, and what compiles draws.
    for mean_ms in [1e300, 1e303, f64::MAX] {
        for d in [
            ServiceDist::Exponential { mean_ms },
            ServiceDist::Lognormal { mean_ms, cv: 1.5 },
            ServiceDist::Gamma {
                mean_ms,
                shape: 0.5,
            },
            ServiceDist::Deterministic { ms: mean_ms },
        ] {
            if let Ok(s) = d.sampler("svc") {
                s.sample(&mut rng(1));
            }
        }
    }
    let mut zero = web_mix();
    for c in &mut zero.classes {
        c.share = 0.0;
    }
    assert!(MixSampler::new(&zero, "mix").is_err());
    let mut bad_think = web_mix();
    bad_think.classes[2].think_ms = Some(ServiceDist::Exponential { mean_ms: -1.0 });
    assert_eq!(
        MixSampler::new(&bad_think, "mix").unwrap_err().path,
        "mix.classes[2].think_ms.mean_ms"
    );
}
