//! Queueing theory: the M/M/c queue (Erlang C). The simulator is validated
//! against it and the predictive policy sizes the pool with it.

/// Erlang C: the probability that an arrival waits in an M/M/c queue with
/// `c` servers and offered load `a = λ/μ` Erlangs. `None` when `a ≥ c`
/// (no steady state).
///
/// Computed through the Erlang B recursion, which is numerically stable for
/// large `c`.
pub fn erlang_c(c: u32, a: f64) -> Option<f64> {
    if c == 0 || !(a.is_finite() && a >= 0.0) || a >= f64::from(c) {
        return None;
    }
    let mut b = 1.0;
    for k in 1..=c {
        b = a * b / (f64::from(k) + a * b);
    }
    let rho = a / f64::from(c);
    Some(b / (1.0 - rho * (1.0 - b)))
}

/// Mean wait in queue (seconds) of an M/M/c queue with arrival rate
/// `lambda` (1/s), mean service time `mean_service` (s) and `c` servers.
pub fn mmc_mean_wait(c: u32, lambda: f64, mean_service: f64) -> Option<f64> {
    let a = lambda * mean_service;
    let pw = erlang_c(c, a)?;
    Some(pw * mean_service / (f64::from(c) - a))
}

/// The `q`-quantile of the M/M/c waiting time in seconds: the wait is 0
/// with probability `1 − P(wait)` and exponential with rate `cμ − λ`
/// otherwise.
pub fn mmc_wait_quantile(c: u32, lambda: f64, mean_service: f64, q: f64) -> Option<f64> {
    let pw = erlang_c(c, lambda * mean_service)?;
    if q <= 1.0 - pw {
        return Some(0.0);
    }
    let rate = f64::from(c) / mean_service - lambda;
    Some(-((1.0 - q) / pw).ln() / rate)
}

/// The fewest connections `c` for which an M/M/c queue with offered load
/// `a` Erlangs and mean service `mean_service` seconds has a mean wait of
/// at most `target_wait` seconds; `max_c` when even that is not enough.
///
/// One pass of the Erlang B recursion, so O(c).
pub fn connections_for_wait(a: f64, mean_service: f64, target_wait: f64, max_c: u32) -> u32 {
    if !(a.is_finite() && a > 0.0) {
        return 0;
    }
    if !(mean_service.is_finite() && mean_service > 0.0) {
        // No service time known: fall back to covering the load.
        return (a.ceil().min(f64::from(max_c))) as u32;
    }
    let target = target_wait.max(0.0);
    let mut b = 1.0;
    for k in 1..=max_c {
        b = a * b / (f64::from(k) + a * b);
        let c = f64::from(k);
        if c > a {
            let pw = b / (1.0 - (a / c) * (1.0 - b));
            if pw * mean_service / (c - a) <= target {
                return k;
            }
        }
    }
    max_c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erlang_c_known_values() {
        // Textbook: c = 2, a = 1 -> P(wait) = 1/3.
        assert!((erlang_c(2, 1.0).unwrap() - 1.0 / 3.0).abs() < 1e-12);
        // c = 1 reduces to M/M/1: P(wait) = rho.
        assert!((erlang_c(1, 0.7).unwrap() - 0.7).abs() < 1e-12);
        assert_eq!(erlang_c(10, 10.0), None);
        // M/M/1 mean wait = rho / (mu - lambda).
        let w = mmc_mean_wait(1, 8.0, 0.1).unwrap();
        assert!((w - 0.8 / (10.0 - 8.0)).abs() < 1e-12);
        assert_eq!(mmc_wait_quantile(1, 8.0, 0.1, 0.1), Some(0.0));
    }

    #[test]
    fn connections_for_wait_is_the_smallest_c_meeting_the_target() {
        let (lambda, s) = (400.0, 0.05); // a = 20 Erlangs
        for target in [0.0001, 0.001, 0.01] {
            let c = connections_for_wait(lambda * s, s, target, 1000);
            let w = mmc_mean_wait(c, lambda, s).unwrap();
            assert!(w <= target, "c = {c}: wait {w} > {target}");
            if let Some(w_less) = mmc_mean_wait(c - 1, lambda, s) {
                assert!(w_less > target, "c - 1 = {} already meets {target}", c - 1);
            }
        }
        assert_eq!(
            connections_for_wait(20.0, 0.05, 0.001, 15),
            15,
            "capped at max_c"
        );
        assert_eq!(connections_for_wait(0.0, 0.05, 0.001, 15), 0);
    }
}
