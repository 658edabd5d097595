//! Every load pattern is shaped as specified, as seen in the snapshots'
//! per-interval arrival counts (summed over classes).
//!
//! Tolerances are statistical: each is at least 3 standard deviations of the
//! estimate for the counts involved (noted beside each check).

mod common;

use common::{assert_rel, lag1_autocorrelation, mean, variance};
use poolcast::core::{QueryClass, Snapshot};

/// Runs a scenario with `load` (a TOML inline table) and returns its
/// snapshots. The pool is large and holds are 0.1 ms: arrivals never depend
/// on the pool, this only keeps the run cheap.
fn run_load(load: &str, duration_s: f64, interval_s: f64) -> Vec<Snapshot> {
    let toml = format!(
        r#"
seed = 99
[[scenario]]
name = "pattern"
duration_s = {duration_s}
interval_s = {interval_s}
load = {load}
classes = [{{ class = "api", share = 1.0, service = {{ kind = "deterministic", ms = 0.1 }} }}]
pool = {{ min_size = 20, max_size = 20 }}
"#
    );
    let (s, sink) = common::run_toml(&toml);
    assert!(s.conserves());
    assert_eq!(s.rejected + s.failed(), 0);
    assert_eq!(
        sink.snapshots.len() as f64,
        (duration_s / interval_s).ceil()
    );
    sink.snapshots
}

/// The arrival counts of the intervals lying inside `[from_s, to_s)`
/// (interval `i` covers `[i·Δ, (i+1)·Δ)`).
fn window(counts: &[f64], interval_s: f64, from_s: f64, to_s: f64) -> Vec<f64> {
    counts
        .iter()
        .enumerate()
        .filter(|&(i, _)| {
            let start = i as f64 * interval_s;
            start >= from_s && start + interval_s <= to_s
        })
        .map(|(_, &c)| c)
        .collect()
}

#[test]
fn steady_is_poisson_at_the_base_rate() {
    for (load, rate) in [
        ("{ base_rate = 200.0 }", 200.0),
        (
            r#"{ base_rate = 400.0, patterns = [{ kind = "steady", level = 0.5 }] }"#,
            200.0,
        ),
    ] {
        let c = common::arrivals(&run_load(load, 2000.0, 1.0));
        // 400 000 arrivals: sd of the mean 0.16%.
        assert_rel(&format!("{load}: mean"), mean(&c), rate, 0.01);
        // Dispersion index of a Poisson count is 1; sd of the estimate
        // √(2/n) = 3.2%.
        let d = variance(&c) / mean(&c);
        assert!((0.9..=1.1).contains(&d), "{load}: dispersion {d}");
        assert!(lag1_autocorrelation(&c).abs() < 0.1);
    }
}

#[test]
fn spike_rises_holds_and_falls() {
    let c = common::arrivals(&run_load(
        r#"{ base_rate = 100.0, patterns = [{ kind = "spike", start_s = 1000, duration_s = 1000, multiplier = 3.0, rise_s = 100, fall_s = 100 }] }"#,
        3000.0,
        1.0,
    ));
    let w = |a: f64, b: f64| mean(&window(&c, 1.0, a, b));
    // 100 000 arrivals on each side: sd 0.3%.
    assert_rel("before the spike", w(0.0, 1000.0), 100.0, 0.02);
    assert_rel("after the spike", w(2000.0, 3000.0), 100.0, 0.02);
    // Hold: 800 intervals × 300 → sd 0.2%.
    assert_rel("spike hold", w(1100.0, 1900.0), 300.0, 0.02);
    // Linear rise and fall: halves average 1.5× and 2.5× (7 500 and 12 500
    // arrivals: sd ≤ 1.2%).
    assert_rel("first half of the rise", w(1000.0, 1050.0), 150.0, 0.04);
    assert_rel("second half of the rise", w(1050.0, 1100.0), 250.0, 0.04);
    assert_rel("first half of the fall", w(1900.0, 1950.0), 250.0, 0.04);
    assert_rel("second half of the fall", w(1950.0, 2000.0), 150.0, 0.04);
}

#[test]
fn step_spike_and_dip_compose_with_a_level() {
    // Steady level 2 × a step dip to 0.5 over [500, 1000).
    let c = common::arrivals(&run_load(
        r#"{ base_rate = 100.0, patterns = [{ kind = "steady", level = 2.0 }, { kind = "spike", start_s = 500, duration_s = 500, multiplier = 0.5 }] }"#,
        1500.0,
        1.0,
    ));
    let w = |a: f64, b: f64| mean(&window(&c, 1.0, a, b));
    assert_rel("before the dip", w(0.0, 500.0), 200.0, 0.02);
    assert_rel("inside the dip", w(500.0, 1000.0), 100.0, 0.02);
    assert_rel("after the dip", w(1000.0, 1500.0), 200.0, 0.02);
}

#[test]
fn gradual_ramps_linearly_between_its_endpoints() {
    let c = common::arrivals(&run_load(
        r#"{ base_rate = 100.0, patterns = [{ kind = "gradual", start_s = 1000, duration_s = 1000, from = 1.0, to = 3.0 }] }"#,
        3000.0,
        1.0,
    ));
    let w = |a: f64, b: f64| mean(&window(&c, 1.0, a, b));
    assert_rel("before the ramp (from)", w(0.0, 1000.0), 100.0, 0.02);
    assert_rel("after the ramp (to)", w(2000.0, 3000.0), 300.0, 0.02);
    // Quarters of the ramp average 1.25, 1.75, 2.25, 2.75 (≥ 31 000
    // arrivals each: sd ≤ 0.6%).
    for (q, want) in [1.25, 1.75, 2.25, 2.75].into_iter().enumerate() {
        let a = 1000.0 + 250.0 * q as f64;
        assert_rel(
            &format!("ramp quarter {q}"),
            w(a, a + 250.0),
            100.0 * want,
            0.02,
        );
    }
    // And nothing like a step: the first and last 50 s of the ramp are close
    // to the endpoints (1.05× and 2.95×; sd ≤ 1.3%).
    assert_rel("start of the ramp", w(1000.0, 1050.0), 105.0, 0.05);
    assert_rel("end of the ramp", w(1950.0, 2000.0), 295.0, 0.05);
}

/// The cyclical factor as documented in `workload/rate.rs`, `t` in seconds
/// after Monday 00:00.
fn cyclical_factor(
    t: f64,
    daily: f64,
    weekly: f64,
    peak_hour: f64,
    peak_day: f64,
    weekend: f64,
) -> f64 {
    let tau = std::f64::consts::TAU;
    let hour = (t % 86_400.0) / 3600.0;
    let day = (t % 604_800.0) / 86_400.0;
    let d = 1.0 + daily * (tau * (hour - peak_hour) / 24.0).cos();
    let w = 1.0 + weekly * (tau * (day - peak_day) / 7.0).cos();
    let e = if day >= 5.0 { weekend } else { 1.0 };
    d * w * e
}

#[test]
fn cyclical_follows_the_day_and_the_week() {
    let (base, daily, weekly, peak_hour, peak_day, weekend) = (2.0, 0.5, 0.2, 14.5, 2.5, 0.5);
    let load = format!(
        r#"{{ base_rate = {base}, patterns = [{{ kind = "cyclical", daily_amplitude = {daily}, weekly_amplitude = {weekly}, peak_hour = {peak_hour}, peak_day = {peak_day}, weekend_factor = {weekend} }}] }}"#
    );
    let c = common::arrivals(&run_load(&load, 7.0 * 86_400.0, 3600.0));
    assert_eq!(c.len(), 168);
    // Expected count of each hour of the week: the integral of the rate.
    let expected: Vec<f64> = (0..168)
        .map(|h| {
            let steps = 360;
            (0..steps)
                .map(|k| {
                    let t = h as f64 * 3600.0 + (k as f64 + 0.5) * 3600.0 / steps as f64;
                    base * cyclical_factor(t, daily, weekly, peak_hour, peak_day, weekend)
                })
                .sum::<f64>()
                * 3600.0
                / steps as f64
        })
        .collect();
    let sum = |v: &[f64], hours: &mut dyn Iterator<Item = usize>| hours.map(|h| v[h]).sum::<f64>();
    // Each hour of the day over the five weekdays (≥ 12 000 arrivals: sd
    // ≤ 0.9%).
    for hod in 0..24 {
        let got = sum(&c, &mut (0..5).map(|d| d * 24 + hod));
        let want = sum(&expected, &mut (0..5).map(|d| d * 24 + hod));
        assert_rel(&format!("weekday hour {hod}"), got, want, 0.03);
    }
    // The busiest weekday hour is the one holding the peak, the quietest the
    // one 12 hours away.
    let by_hour: Vec<f64> = (0..24)
        .map(|hod| sum(&c, &mut (0..5).map(|d| d * 24 + hod)))
        .collect();
    let argmax = (0..24)
        .max_by(|&a, &b| by_hour[a].total_cmp(&by_hour[b]))
        .unwrap_or(0);
    let argmin = (0..24)
        .min_by(|&a, &b| by_hour[a].total_cmp(&by_hour[b]))
        .unwrap_or(0);
    assert_eq!((argmax, argmin), (14, 2), "{by_hour:?}");
    // Peak over trough by the configured amplitude: ≈ (1 + 0.5)/(1 − 0.5).
    let ratio = by_hour[14] / by_hour[2];
    let want_ratio = sum(&expected, &mut (0..5).map(|d| d * 24 + 14))
        / sum(&expected, &mut (0..5).map(|d| d * 24 + 2));
    assert!(want_ratio > 2.8, "{want_ratio}");
    assert_rel("peak / trough", ratio, want_ratio, 0.03);
    // The weekend is lower by its factor, and the weekly swing shows.
    let day_total = |d: usize| sum(&c, &mut (d * 24..(d + 1) * 24));
    let day_expected = |d: usize| sum(&expected, &mut (d * 24..(d + 1) * 24));
    for d in 0..7 {
        // ≥ 70 000 arrivals a day: sd ≤ 0.4%.
        assert_rel(&format!("day {d}"), day_total(d), day_expected(d), 0.02);
    }
    let weekend_share = (day_total(5) + day_total(6)) / (0..5).map(day_total).sum::<f64>();
    let want_share = (day_expected(5) + day_expected(6)) / (0..5).map(day_expected).sum::<f64>();
    assert!(want_share < 0.25, "{want_share}");
    assert_rel("weekend / weekdays", weekend_share, want_share, 0.02);
    // Wednesday (peak day 2.5) over Monday: 1.2 / (1 − 0.2·0.22) ≈ 1.255.
    assert!(
        day_total(2) > 1.2 * day_total(0),
        "Wednesday is the weekly peak"
    );
}

#[test]
fn random_walk_wanders_within_its_bounds() {
    // Steps of 10 s, telemetry every 10 s: each interval has one factor.
    let (base, min, max): (f64, f64, f64) = (200.0, 0.5, 2.0);
    let c = common::arrivals(&run_load(
        &format!(
            r#"{{ base_rate = {base}, patterns = [{{ kind = "random_walk", step_s = 10.0, sigma = 0.3, reversion = 0.1, min = {min}, max = {max} }}] }}"#
        ),
        5000.0,
        10.0,
    ));
    let lam = base * 10.0;
    let d = variance(&c) / mean(&c);
    let r1 = lag1_autocorrelation(&c);
    let (cmin, cmax) = c
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    eprintln!("random walk: dispersion {d:.1}, lag-1 {r1:.3}, counts in [{cmin}, {cmax}]");
    assert!(d > 20.0, "random walk not over-dispersed: {d}");
    // Persistent, unlike independent noise.
    assert!(r1 > 0.5, "lag-1 autocorrelation {r1}");
    // Within [min, max] × base (5 Poisson sd of slack) ...
    let (lo, hi) = (
        min * lam - 5.0 * (min * lam).sqrt(),
        max * lam + 5.0 * (max * lam).sqrt(),
    );
    for (i, &x) in c.iter().enumerate() {
        assert!(
            (lo..=hi).contains(&x),
            "interval {i}: {x} outside [{lo}, {hi}]"
        );
    }
    // ... and reaching both clamps (stationary sd of the log factor ≈ 0.69 =
    // ln 2, so the walk hits them).
    assert!(cmin < 1.2 * min * lam, "never near min: {cmin}");
    assert!(cmax > 0.9 * max * lam, "never near max: {cmax}");
    // It starts at factor 1.
    assert!(
        (c[0] - lam).abs() < 5.0 * lam.sqrt(),
        "first interval {}",
        c[0]
    );
}

#[test]
fn markov_switches_between_its_states() {
    let levels = [50.0, 100.0, 300.0];
    let c = common::arrivals(&run_load(
        r#"{ base_rate = 100.0, patterns = [{ kind = "markov", states = [0.5, 1.0, 3.0], mean_dwell_s = [60.0, 60.0, 60.0] }] }"#,
        3000.0,
        1.0,
    ));
    let d = variance(&c) / mean(&c);
    assert!(d > 5.0, "markov not over-dispersed: {d}");
    let (lo, hi) = (50.0 - 5.0 * 50f64.sqrt(), 300.0 + 5.0 * 300f64.sqrt());
    assert!(
        c.iter().all(|x| (lo..=hi).contains(x)),
        "counts outside [{lo}, {hi}]"
    );
    // Nearly every interval sits at one of the levels (the others straddle
    // a switch): classify each to its nearest level, within 4 Poisson sd.
    let state = |x: f64| {
        let z = |l: f64| (x - l).abs() / l.sqrt();
        let nearest = (0..levels.len()).min_by(|&a, &b| z(levels[a]).total_cmp(&z(levels[b])))?;
        (z(levels[nearest]) <= 4.0).then_some(nearest)
    };
    let states: Vec<Option<usize>> = c.iter().map(|&x| state(x)).collect();
    let near = states.iter().filter(|s| s.is_some()).count() as f64 / c.len() as f64;
    assert!(near > 0.9, "only {near} of the intervals at a level");
    for (i, l) in levels.iter().enumerate() {
        let share = states.iter().filter(|&&s| s == Some(i)).count() as f64 / c.len() as f64;
        assert!(share > 0.1, "level {l} holds {share} of the time");
    }
    // It starts in states[0].
    assert_eq!(states[0], Some(0), "first interval {}", c[0]);
    // About 3000 / 60 = 50 switches (Poisson: sd ≈ 7).
    let known: Vec<usize> = states.iter().flatten().copied().collect();
    let switches = known.windows(2).filter(|w| w[0] != w[1]).count();
    eprintln!("markov: dispersion {d:.1}, {near:.3} at a level, {switches} switches");
    assert!((25..=80).contains(&switches), "{switches} switches");
}

#[test]
fn noise_keeps_the_mean_and_adds_dispersion() {
    let sigma: f64 = 0.5;
    let c = common::arrivals(&run_load(
        &format!(
            r#"{{ base_rate = 200.0, patterns = [{{ kind = "noise", sigma = {sigma}, step_s = 1.0 }}] }}"#
        ),
        5000.0,
        1.0,
    ));
    // Lognormal with mean 1: sd of the mean factor over 5000 steps 0.75%.
    assert_rel("noise mean", mean(&c), 200.0, 0.03);
    // Var = λ + λ²(e^{σ²} − 1) ≈ 11 561 (sd of the estimate ≈ 4%).
    let want_var = 200.0 + 200.0f64.powi(2) * (sigma.powi(2).exp() - 1.0);
    assert_rel("noise variance", variance(&c), want_var, 0.2);
    // Independent steps.
    let r1 = lag1_autocorrelation(&c);
    eprintln!(
        "noise: mean {:.2}, variance {:.0} (expected {want_var:.0}), lag-1 {r1:.3}",
        mean(&c),
        variance(&c)
    );
    assert!(r1.abs() < 0.1, "lag-1 autocorrelation {r1}");
}

#[test]
fn class_mix_shares_show_in_the_class_columns() {
    let toml = r#"
seed = 5
[[scenario]]
name = "mix"
duration_s = 1000
load = { base_rate = 300.0 }
classes = [
  { class = "read", share = 6.0, service = { kind = "deterministic", ms = 0.1 } },
  { class = "write", share = 3.0, service = { kind = "deterministic", ms = 0.1 } },
  { class = "analytics", share = 1.0, service = { kind = "deterministic", ms = 0.1 } },
  { class = "api", share = 0.0, service = { kind = "deterministic", ms = 0.1 } },
]
pool = { min_size = 20, max_size = 20 }
"#;
    let (s, sink) = common::run_toml(toml);
    let total: f64 = sink
        .snapshots
        .iter()
        .map(|x| f64::from(x.arrivals_total()))
        .sum();
    assert_eq!(total as u64, s.requests);
    let class_total = |c: QueryClass| -> f64 {
        sink.snapshots
            .iter()
            .map(|x| f64::from(x.arrivals[c.index()]))
            .sum()
    };
    // 300 000 arrivals: sd of a share ≤ 0.09 percentage points.
    for (class, share) in [
        (QueryClass::Read, 0.6),
        (QueryClass::Write, 0.3),
        (QueryClass::Analytics, 0.1),
    ] {
        let got = class_total(class) / total;
        assert!(
            (got - share).abs() < 0.005,
            "{class:?}: share {got}, expected {share}"
        );
        // Completions land in the same column.
        let done: f64 = sink
            .snapshots
            .iter()
            .map(|x| f64::from(x.completions[class.index()]))
            .sum();
        assert!(done > 0.99 * class_total(class), "{class:?}");
    }
    assert_eq!(class_total(QueryClass::Api), 0.0, "zero share never drawn");
    assert_eq!(class_total(QueryClass::Transaction), 0.0, "not in the mix");
}
