//! The closed-loop metrics a tuning objective or constraint can name, read
//! from one simulated run's [`Summary`].

use poolcast_sim::Summary;
use serde::{Deserialize, Serialize};

/// A per-run number of the closed-loop comparison. Lower is better for
/// every one of them, so tuning always minimizes and constraints are upper
/// bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Mean acquire wait over granted requests, ms.
    WaitMeanMs,
    /// Median acquire wait, ms.
    WaitP50Ms,
    /// 95th percentile acquire wait, ms.
    WaitP95Ms,
    /// 99th percentile acquire wait, ms.
    WaitP99Ms,
    /// Mean time from arrival to the end of the request, ms.
    LatencyMeanMs,
    /// (failed + rejected) / requests.
    ErrorRate,
    /// Acquire timeouts / requests.
    TimeoutRate,
    /// Breaker rejections / requests.
    RejectedRate,
    /// Open connection-seconds: the pool's cost.
    ConnectionSeconds,
    /// Time-weighted mean pool size.
    MeanSize,
    /// Target changes by the policy.
    ScaleEvents,
}

impl Metric {
    /// Every metric, in documentation order.
    pub const ALL: [Metric; 11] = [
        Metric::WaitMeanMs,
        Metric::WaitP50Ms,
        Metric::WaitP95Ms,
        Metric::WaitP99Ms,
        Metric::LatencyMeanMs,
        Metric::ErrorRate,
        Metric::TimeoutRate,
        Metric::RejectedRate,
        Metric::ConnectionSeconds,
        Metric::MeanSize,
        Metric::ScaleEvents,
    ];

    /// The name written in manifests.
    pub fn name(self) -> &'static str {
        match self {
            Metric::WaitMeanMs => "wait_mean_ms",
            Metric::WaitP50Ms => "wait_p50_ms",
            Metric::WaitP95Ms => "wait_p95_ms",
            Metric::WaitP99Ms => "wait_p99_ms",
            Metric::LatencyMeanMs => "latency_mean_ms",
            Metric::ErrorRate => "error_rate",
            Metric::TimeoutRate => "timeout_rate",
            Metric::RejectedRate => "rejected_rate",
            Metric::ConnectionSeconds => "connection_seconds",
            Metric::MeanSize => "mean_size",
            Metric::ScaleEvents => "scale_events",
        }
    }

    /// Parses a metric name.
    ///
    /// # Errors
    /// An unknown name, with the list of known ones.
    pub fn from_name(s: &str) -> Result<Metric, String> {
        Metric::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown metric `{s}`, expected one of {}",
                    Metric::ALL.map(Metric::name).join(", ")
                )
            })
    }

    /// The metric's value for one run; `NaN` when undefined (no grants).
    pub fn of(self, s: &Summary) -> f64 {
        let req = s.requests.max(1) as f64;
        let opt = |v: Option<f64>| v.unwrap_or(f64::NAN);
        match self {
            Metric::WaitMeanMs => opt(s.acquire_wait_mean_ms),
            Metric::WaitP50Ms => opt(s.acquire_wait_p50_ms),
            Metric::WaitP95Ms => opt(s.acquire_wait_p95_ms),
            Metric::WaitP99Ms => opt(s.acquire_wait_p99_ms),
            Metric::LatencyMeanMs => s.mean_time_in_system_ms,
            Metric::ErrorRate => (s.failed() + s.rejected) as f64 / req,
            Metric::TimeoutRate => s.timeouts as f64 / req,
            Metric::RejectedRate => s.rejected as f64 / req,
            Metric::ConnectionSeconds => s.connection_seconds,
            Metric::MeanSize => s.mean_size,
            Metric::ScaleEvents => s.scale_events as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_list_the_known() {
        for m in Metric::ALL {
            assert_eq!(Metric::from_name(m.name()), Ok(m));
            let json = serde_json::to_string(&m).unwrap();
            assert_eq!(json, format!("\"{}\"", m.name()));
        }
        let e = Metric::from_name("speed").unwrap_err();
        assert!(e.contains("wait_p95_ms") && e.contains("speed"), "{e}");
    }
}
