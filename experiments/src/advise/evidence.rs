//! The evidence behind advise's recommendation: each policy's waits and
//! connection-seconds on the held-out part, with 95% intervals over
//! blocks of held-out time, and the paired differences that say what
//! forecasting adds.
//!
//! A replayed trace is one history: replications differ only in
//! connection set-up times, so intervals over replications would be
//! narrow and say nothing about the traffic. The held-out part is cut into
//! consecutive blocks instead (the interval of a sum over blocks, and of a
//! ratio such as the mean wait by the linearization a cluster sample
//! uses), with each block averaged over replications first. Policies are
//! compared block by block, on the same requests.

use poolcast::core::Snapshot;
use poolcast_reports::Estimate;
use serde::Serialize;

use crate::stats::t975;

/// A policy's held-out traffic, summed per block (mean over
/// replications).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Blocks {
    /// Open connection-seconds.
    pub conn_s: Vec<f64>,
    /// Sum of acquire waits, ms.
    pub wait_ms: Vec<f64>,
    /// Acquires granted.
    pub acquires: Vec<f64>,
    /// Acquire timeouts.
    pub timeouts: Vec<f64>,
}

impl Blocks {
    /// Sums the snapshots of each replication (each in time order) into
    /// `n` blocks of consecutive intervals, then averages the
    /// replications block by block.
    pub fn from_runs(runs: &[Vec<Snapshot>], n: usize) -> Blocks {
        let mut out = Blocks {
            conn_s: vec![0.0; n],
            wait_ms: vec![0.0; n],
            acquires: vec![0.0; n],
            timeouts: vec![0.0; n],
        };
        if runs.is_empty() || n == 0 {
            return out;
        }
        let share = 1.0 / runs.len() as f64;
        for snaps in runs {
            let len = snaps.len().max(1);
            for (i, s) in snaps.iter().enumerate() {
                let b = (i * n / len).min(n - 1);
                let acq = f64::from(s.acquires);
                out.conn_s[b] += share * s.size_mean * s.interval_ns as f64 / 1e9;
                out.wait_ms[b] += share * s.acquire_wait_mean_ms.unwrap_or(0.0) * acq;
                out.acquires[b] += share * acq;
                out.timeouts[b] += share * f64::from(s.timeouts);
            }
        }
        out
    }
}

/// One policy's held-out evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyEvidence {
    /// The policy's name.
    pub policy: String,
    /// Connection-seconds over the held-out part.
    pub conn_s: Estimate,
    /// Mean acquire wait, ms.
    pub wait_mean_ms: Estimate,
    /// Acquire timeouts per granted or timed-out request.
    pub timeout_rate: f64,
    /// Whether it meets the wait target without timeouts.
    pub meets_target: bool,
    /// Its blocks.
    #[serde(skip)]
    pub blocks: Blocks,
}

impl PolicyEvidence {
    /// The evidence of `blocks` against a wait target.
    pub fn new(policy: &str, blocks: Blocks, wait_target_ms: f64) -> PolicyEvidence {
        let conn_s = total(&blocks.conn_s);
        let wait_mean_ms = ratio(&blocks.wait_ms, &blocks.acquires);
        let acquires: f64 = blocks.acquires.iter().sum();
        let timeouts: f64 = blocks.timeouts.iter().sum();
        let timeout_rate = if acquires + timeouts > 0.0 {
            timeouts / (acquires + timeouts)
        } else {
            0.0
        };
        // Neither can be negative; a t interval can reach below 0.
        let conn_s = floor_zero(conn_s);
        let wait_mean_ms = floor_zero(wait_mean_ms);
        PolicyEvidence {
            policy: policy.to_string(),
            meets_target: wait_mean_ms.mean <= wait_target_ms && timeout_rate <= MAX_TIMEOUT_RATE,
            conn_s,
            wait_mean_ms,
            timeout_rate,
            blocks,
        }
    }
}

/// The share of requests that may time out in a pool that meets its
/// target.
pub const MAX_TIMEOUT_RATE: f64 = 0.001;

/// A paired comparison of two policies on the same held-out blocks:
/// `a − b`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    /// The policy compared.
    pub a: String,
    /// The policy it is compared with.
    pub b: String,
    /// Connection-seconds of `a` minus those of `b`.
    pub conn_s: Estimate,
    /// Mean wait of `a` minus that of `b`, ms.
    pub wait_mean_ms: Estimate,
}

impl Difference {
    /// `a − b`, block by block.
    pub fn between(a: &PolicyEvidence, b: &PolicyEvidence) -> Difference {
        let d: Vec<f64> = a
            .blocks
            .conn_s
            .iter()
            .zip(&b.blocks.conn_s)
            .map(|(x, y)| x - y)
            .collect();
        let (ea, wa) = residuals(&a.blocks.wait_ms, &a.blocks.acquires);
        let (eb, wb) = residuals(&b.blocks.wait_ms, &b.blocks.acquires);
        let e: Vec<f64> = ea.iter().zip(&eb).map(|(x, y)| x - y).collect();
        Difference {
            a: a.policy.clone(),
            b: b.policy.clone(),
            conn_s: total(&d),
            wait_mean_ms: around(wa - wb, &e),
        }
    }
}

/// `e` with its interval cut at 0.
fn floor_zero(e: Estimate) -> Estimate {
    Estimate {
        lo: e.lo.max(0.0),
        ..e
    }
}

/// The sum of `xs` with its 95% interval (blocks as the sample).
fn total(xs: &[f64]) -> Estimate {
    let n = xs.len();
    let sum: f64 = xs.iter().sum();
    if n < 2 {
        return Estimate {
            mean: sum,
            lo: sum,
            hi: sum,
        };
    }
    let mean = sum / n as f64;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let half = t975(n - 1) * (var * n as f64).sqrt();
    Estimate {
        mean: sum,
        lo: sum - half,
        hi: sum + half,
    }
}

/// ΣW / ΣA with its 95% interval.
fn ratio(w: &[f64], a: &[f64]) -> Estimate {
    let (e, r) = residuals(w, a);
    around(r, &e)
}

/// The ratio ΣW / ΣA and each block's linearized residual
/// (W_b − r·A_b) / ΣA, whose spread gives the ratio's variance. No
/// acquires: a ratio of 0 (nothing waited).
fn residuals(w: &[f64], a: &[f64]) -> (Vec<f64>, f64) {
    let sa: f64 = a.iter().sum();
    if sa <= 0.0 {
        return (vec![0.0; w.len()], 0.0);
    }
    let r = w.iter().sum::<f64>() / sa;
    let e = w.iter().zip(a).map(|(wb, ab)| (wb - r * ab) / sa).collect();
    (e, r)
}

/// `point` with the 95% interval of a sum of the residuals `e`.
fn around(point: f64, e: &[f64]) -> Estimate {
    let n = e.len();
    if n < 2 {
        return Estimate {
            mean: point,
            lo: point,
            hi: point,
        };
    }
    let var = n as f64 / (n - 1) as f64 * e.iter().map(|x| x * x).sum::<f64>();
    let half = t975(n - 1) * var.sqrt();
    Estimate {
        mean: point,
        lo: point - half,
        hi: point + half,
    }
}

/// Policies a team cannot deploy, whose size is another's result, or
/// that only measure the model (`predictive-naive`, `predictive-ideal`).
fn deployable(name: &str) -> bool {
    !matches!(
        name,
        "oracle" | "static-matched" | "predictive-naive" | "predictive-ideal"
    )
}

/// The policy to run: among the deployable ones that meet the target, the
/// cheapest; if none does, the one that waits least. `forecasting` says
/// whether the predictive policy may be chosen.
pub fn choose(ev: &[PolicyEvidence], forecasting: bool) -> Option<&PolicyEvidence> {
    let pool: Vec<&PolicyEvidence> = ev
        .iter()
        .filter(|e| deployable(&e.policy) && (forecasting || e.policy != "predictive"))
        .collect();
    let cheapest = pool
        .iter()
        .filter(|e| e.meets_target)
        .min_by(|a, b| a.conn_s.mean.total_cmp(&b.conn_s.mean));
    cheapest
        .or_else(|| {
            pool.iter()
                .min_by(|a, b| a.wait_mean_ms.mean.total_cmp(&b.wait_mean_ms.mean))
        })
        .copied()
}

/// Blocks for `intervals` held-out intervals: up to `max`, each at least
/// five intervals long.
pub fn block_count(intervals: usize, max: usize) -> usize {
    (intervals / 5).clamp(1, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(name: &str, conn: &[f64], wait: &[f64], target: f64) -> PolicyEvidence {
        let n = conn.len();
        PolicyEvidence::new(
            name,
            Blocks {
                conn_s: conn.to_vec(),
                wait_ms: wait.iter().map(|w| w * 100.0).collect(),
                acquires: vec![100.0; n],
                timeouts: vec![0.0; n],
            },
            target,
        )
    }

    #[test]
    fn totals_and_ratios_carry_block_intervals() {
        let e = ev("reactive", &[10.0, 12.0, 14.0], &[1.0, 2.0, 3.0], 5.0);
        assert_eq!(e.conn_s.mean, 36.0);
        // sd 2, n 3: half = t(2) × sqrt(4 × 3).
        let half = t975(2) * 12f64.sqrt();
        assert!((e.conn_s.hi - 36.0 - half).abs() < 1e-9);
        assert!((e.wait_mean_ms.mean - 2.0).abs() < 1e-12);
        assert!(e.wait_mean_ms.lo < 2.0 && e.wait_mean_ms.hi > 2.0);
        assert!(e.meets_target);
    }

    #[test]
    fn identical_policies_differ_by_exactly_nothing() {
        let a = ev("a", &[10.0, 12.0, 14.0], &[1.0, 2.0, 3.0], 5.0);
        let mut b = a.clone();
        b.policy = "b".into();
        let d = Difference::between(&a, &b);
        assert_eq!((d.conn_s.lo, d.conn_s.hi), (0.0, 0.0));
        assert_eq!((d.wait_mean_ms.lo, d.wait_mean_ms.hi), (0.0, 0.0));
    }

    #[test]
    fn the_cheapest_policy_that_meets_the_target_is_chosen() {
        let evs = vec![
            ev("static-max", &[50.0, 50.0], &[0.0, 0.0], 5.0),
            ev("reactive", &[20.0, 22.0], &[4.0, 4.5], 5.0),
            ev("predictive", &[15.0, 16.0], &[9.0, 9.0], 5.0),
            ev("oracle", &[5.0, 5.0], &[0.0, 0.0], 5.0),
        ];
        assert_eq!(choose(&evs, true).unwrap().policy, "reactive");
        assert_eq!(choose(&evs, false).unwrap().policy, "reactive");
        // None meets a target of 1 ms: the least waiting.
        let strict: Vec<PolicyEvidence> = evs
            .iter()
            .map(|e| PolicyEvidence::new(&e.policy, e.blocks.clone(), 1.0))
            .collect();
        assert_eq!(choose(&strict, true).unwrap().policy, "static-max");
    }

    #[test]
    fn blocks_split_in_time_and_average_replications() {
        let snap = |size: f64, acq: u32, wait: f64| Snapshot {
            interval_ns: 1_000_000_000,
            size_mean: size,
            acquires: acq,
            acquire_wait_mean_ms: Some(wait),
            ..Default::default()
        };
        let r0: Vec<Snapshot> = (0..4).map(|i| snap(f64::from(i), 10, 1.0)).collect();
        let r1: Vec<Snapshot> = (0..4).map(|i| snap(f64::from(i) + 2.0, 10, 3.0)).collect();
        let b = Blocks::from_runs(&[r0, r1], 2);
        assert_eq!(b.conn_s, vec![3.0, 7.0]);
        assert_eq!(b.acquires, vec![20.0, 20.0]);
        assert_eq!(b.wait_ms, vec![40.0, 40.0]);
    }
}
