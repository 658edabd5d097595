//! `summary.json`: one per scenario replication.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The levels of [`Summary::acquire_wait_quantiles_ms`]: 0, 0.01, 0.02, …,
/// 0.99 (every 0.01), then 0.995, 0.999, 0.9999 and 1 (the maximum). Each
/// level `k/100` is the `f64` nearest to it, the same value as the literal
/// (`WAIT_QUANTILE_LEVELS[95] == 0.95`).
pub const WAIT_QUANTILE_LEVELS: [f64; 104] = {
    let mut levels = [0.0; 104];
    let mut k = 0;
    while k < 100 {
        levels[k] = k as f64 / 100.0;
        k += 1;
    }
    levels[100] = 0.995;
    levels[101] = 0.999;
    levels[102] = 0.9999;
    levels[103] = 1.0;
    levels
};

/// Whole-run results of one scenario replication.
///
/// Every field is a deterministic function of the scenario and seed except
/// `wall_seconds` and `events_per_sec`, which measure this machine.
///
/// Fields added after the first release (`throughput_rps` onwards) default
/// when missing, so older `summary.json` files still parse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Scenario name.
    pub scenario: String,
    /// Scaling policy name.
    pub policy: String,
    /// Simulated seconds.
    pub duration_s: f64,
    /// Requests that arrived.
    pub requests: u64,
    /// Requests that succeeded.
    pub completed: u64,
    /// Failed requests per category; acquire timeouts count as `timeout`.
    pub failed_by_category: BTreeMap<String, u64>,
    /// Acquire timeouts (also inside `failed_by_category.timeout`).
    pub timeouts: u64,
    /// Requests refused by an open breaker or a closing pool.
    pub rejected: u64,
    /// Rejections per breaker (`global` for the global breaker and a closing
    /// pool).
    pub rejected_by_breaker: BTreeMap<String, u64>,
    /// Requests still waiting or holding a connection at the end.
    /// `requests = completed + Σ failed_by_category + rejected + in_flight_at_end`.
    pub in_flight_at_end: u64,
    /// Connections granted.
    pub grants: u64,
    /// Mean acquire wait over grants, ms.
    pub acquire_wait_mean_ms: Option<f64>,
    /// Median acquire wait, ms.
    pub acquire_wait_p50_ms: Option<f64>,
    /// 95th percentile acquire wait, ms.
    pub acquire_wait_p95_ms: Option<f64>,
    /// 99th percentile acquire wait, ms.
    pub acquire_wait_p99_ms: Option<f64>,
    /// Longest acquire wait, ms.
    pub acquire_wait_max_ms: Option<f64>,
    /// Fraction of grants that waited longer than 0.
    pub p_wait: f64,
    /// Busy connection-seconds over open connection-seconds.
    pub utilization: f64,
    /// Open connection-seconds: the pool's cost.
    pub connection_seconds: f64,
    /// Time-weighted mean of open connections.
    pub mean_size: f64,
    /// Time-weighted mean of busy connections.
    pub mean_busy: f64,
    /// Time-weighted mean of queued requests.
    pub mean_waiting: f64,
    /// Mean connection hold per granted request, ms.
    pub mean_hold_ms: f64,
    /// Mean arrival-to-end time per ended request, ms.
    pub mean_time_in_system_ms: f64,
    /// Requests per simulated second.
    pub arrival_rate: f64,
    /// Connections opened.
    pub connections_created: u64,
    /// Connections closed.
    pub connections_closed: u64,
    /// Failed connection creations.
    pub create_failures: u64,
    /// Events processed by the kernel.
    pub events: u64,
    /// Wall-clock seconds of the run (machine-dependent).
    pub wall_seconds: f64,
    /// Events per wall-clock second (machine-dependent).
    pub events_per_sec: f64,
    /// Completed (successful) requests per simulated second:
    /// `completed / duration_s`.
    #[serde(default)]
    pub throughput_rps: f64,
    /// Acquire-wait quantiles in ms, one per level of
    /// [`WAIT_QUANTILE_LEVELS`], from the same histogram as the
    /// `acquire_wait_*` fields (so the 0.5, 0.95 and 0.99 entries equal
    /// `acquire_wait_p50_ms`, `_p95_ms` and `_p99_ms`, and the last, at
    /// level 1, is the exact `acquire_wait_max_ms`). Non-decreasing. Empty
    /// when nothing was granted.
    #[serde(default)]
    pub acquire_wait_quantiles_ms: Vec<f64>,
    /// How many times the scaling policy changed the pool's target: a
    /// decision that left the target in force (after clamping to
    /// `[min_size, max_size]`) as it was does not count.
    #[serde(default)]
    pub scale_events: u64,
    /// Time-weighted mean of the target in force over the run (the
    /// initial target until the policy's first change, and so on).
    #[serde(default)]
    pub target_mean: f64,
    /// Granted requests whose statement pattern was already prepared on
    /// their connection.
    #[serde(default)]
    pub statement_cache_hits: u64,
    /// Granted requests that had to prepare their pattern (every one with
    /// `pool.affinity.cache_size = 0`).
    #[serde(default)]
    pub statement_cache_misses: u64,
    /// `hits / (hits + misses)`, or `None` when nothing was looked up.
    #[serde(default)]
    pub cache_hit_rate: Option<f64>,
    /// A closed-loop replay: how its requests were linked to their
    /// client's previous one (after its end, beside it, or at their
    /// recorded time). Absent for every other workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_loop: Option<crate::workload::closed_loop::ChainCounts>,
}

impl Summary {
    /// Sum of `failed_by_category`.
    pub fn failed(&self) -> u64 {
        self.failed_by_category.values().sum()
    }

    /// Whether `requests = completed + failed + rejected + in_flight_at_end`.
    pub fn conserves(&self) -> bool {
        self.requests == self.completed + self.failed() + self.rejected + self.in_flight_at_end
    }
}
