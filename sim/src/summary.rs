//! `summary.json`: one per scenario replication.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Whole-run results of one scenario replication.
///
/// Every field is a deterministic function of the scenario and seed except
/// `wall_seconds` and `events_per_sec`, which measure this machine.
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
