//! The pool's metrics: a plain [`Metrics`] value, and (feature
//! `prometheus`) its Prometheus text exposition.
//!
//! The exposition carries two families. `poolcast_*` has everything the
//! pool counts. Beside it, the OpenTelemetry semantic conventions'
//! database-client connection-pool metrics, named as OpenTelemetry's
//! Prometheus exporter writes them (labels
//! `db_client_connection_pool_name` = the pool's name and
//! `otel_scope_name="poolcast"`), so a dashboard built for another
//! instrumented pool reads this one:
//!
//! | OpenTelemetry metric | Prometheus series | poolcast series |
//! |---|---|---|
//! | `db.client.connection.count` (`state` = idle, used) | `db_client_connection_count{db_client_connection_state}` | `poolcast_connections{state}` (idle, busy) |
//! | `db.client.connection.idle.max` | `db_client_connection_idle_max` | `max_size` (any open connection may be idle) |
//! | `db.client.connection.idle.min` | `db_client_connection_idle_min` | `min_idle` |
//! | `db.client.connection.max` | `db_client_connection_max` | `poolcast_max_connections` |
//! | `db.client.connection.pending_requests` | `db_client_connection_pending_requests` | `poolcast_waiting_requests` |
//! | `db.client.connection.timeouts` | `db_client_connection_timeouts_total` | `poolcast_acquire_timeouts_total` |
//! | `db.client.connection.create_time` (s) | `db_client_connection_create_time_seconds` (histogram) | — (new) |
//! | `db.client.connection.wait_time` (s) | `db_client_connection_wait_time_seconds` (histogram) | `poolcast_acquire_wait_seconds` (a summary: p50, p95, p99) |
//! | `db.client.connection.use_time` (s) | `db_client_connection_use_time_seconds` (histogram) | — (new) |
//!
//! The histograms' buckets are [`LATENCY_BUCKETS_S`]; `wait_time` and
//! `use_time` cover completed telemetry intervals, `create_time` the whole
//! run.

use super::manager::Manager;
use super::pool::Pool;
use crate::core::NANOS_PER_SEC;
use crate::core::histogram::Histogram;
use crate::core::pool::PoolTotals;
use crate::core::telemetry::{BreakerCode, ErrorCategory};

/// Upper bounds (seconds) of the latency histograms' buckets: the
/// OpenTelemetry semantic conventions' advice for durations in seconds
/// (as for `http.server.request.duration`), which the Java agent's pool
/// instrumentations use too.
pub const LATENCY_BUCKETS_S: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// A latency histogram in exposition form: cumulative counts at
/// [`LATENCY_BUCKETS_S`], resolved to within 1/64 of each bound (the
/// pool's histograms are log-linear).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LatencyBuckets {
    /// Samples at most each bound of [`LATENCY_BUCKETS_S`].
    pub cumulative: Vec<u64>,
    /// Samples.
    pub count: u64,
    /// Their sum, seconds.
    pub sum_s: f64,
}

impl LatencyBuckets {
    fn of(h: &Histogram) -> Self {
        LatencyBuckets {
            cumulative: LATENCY_BUCKETS_S
                .iter()
                .map(|&b| h.count_at_most((b * NANOS_PER_SEC as f64) as u64))
                .collect(),
            count: h.count(),
            sum_s: h.sum() as f64 / NANOS_PER_SEC as f64,
        }
    }
}

/// Close reasons, in the order of `Metrics::closed`.
pub const CLOSE_REASONS: [&str; 4] = ["idle_timeout", "max_lifetime", "broken", "pool_closed"];

/// Counters and gauges of one pool at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    /// The pool's name (the `pool` label).
    pub name: String,
    /// Open connections.
    pub size: u32,
    /// Idle connections.
    pub idle: u32,
    /// Checked-out connections.
    pub busy: u32,
    /// Queued requests.
    pub waiting: u32,
    /// Connections being opened.
    pub creating: u32,
    /// The scaling target.
    pub target: u32,
    /// `max_size`.
    pub max_size: u32,
    /// Whole-run totals of the core (acquires, grants, timeouts, created,
    /// closed, create failures, connection-seconds).
    pub totals: PoolTotals,
    /// Acquire-wait quantiles (p50, p95, p99) in seconds over completed
    /// intervals; `None` before the first grant.
    pub wait_quantiles_s: [Option<f64>; 3],
    /// Number and sum (seconds) of acquire waits over completed intervals.
    pub wait_count_sum: (u64, f64),
    /// Requests refused by an open breaker, per category, then the global
    /// breaker last.
    pub rejected: [u64; ErrorCategory::COUNT + 1],
    /// Failed requests per category (reported errors and acquire timeouts).
    pub errors: [u64; ErrorCategory::COUNT],
    /// Of those, client errors (syntax, constraints).
    pub client_errors: u64,
    /// Connections held past `leak_detection_threshold_ms`.
    pub leaks: u64,
    /// Statement-cache hits and misses reported by checkouts.
    pub cache_hits: u64,
    /// See `cache_hits`.
    pub cache_misses: u64,
    /// Failed health checks.
    pub check_failures: u64,
    /// Closed connections by reason ([`CLOSE_REASONS`]).
    pub closed: [u64; 4],
    /// Creations that timed out.
    pub create_timeouts: u64,
    /// Acquires abandoned by their caller (queued, or during the health
    /// check of the connection granted to them).
    pub cancelled: u64,
    /// Panics caught in code the pool calls (the manager's `create`,
    /// `recycle`, `is_broken` and `classify`, the scaling policy, the
    /// snapshot hook, the controller itself), each counted as that step's
    /// failure.
    pub panics: u64,
    /// Breaker state per category (0 closed, 1 half-open, 2 open).
    pub breakers: [BreakerCode; ErrorCategory::COUNT],
    /// Global breaker state.
    pub breaker_global: BreakerCode,
    /// The scaling policy and its mode.
    pub policy: String,
    /// `min_idle`: idle connections kept ready.
    pub min_idle: u32,
    /// Connection set-up times of successful creates, whole run.
    pub create_time: LatencyBuckets,
    /// Acquire waits of grants, over completed intervals.
    pub wait_time: LatencyBuckets,
    /// Checkout holds (grant to return), over completed intervals.
    pub use_time: LatencyBuckets,
}

impl Metrics {
    /// Statement-cache hit rate, if any lookup was reported.
    pub fn cache_hit_rate(&self) -> Option<f64> {
        let n = self.cache_hits + self.cache_misses;
        (n > 0).then(|| self.cache_hits as f64 / n as f64)
    }
}

impl<M: Manager> Pool<M> {
    /// The pool's counters and gauges now.
    pub fn metrics(&self) -> Metrics {
        let shared = &self.shared;
        let mut st = shared.lock();
        let now = shared.now();
        let (breakers, breaker_global) = st.breaker.states(now);
        let (conn_ns, busy_ns, wait_ns) = st.core.integrals(now);
        let mut totals = st.core.totals();
        totals.connection_ns = conn_ns;
        totals.busy_ns = busy_ns;
        totals.waiting_ns = wait_ns;
        let h = st.core.wait_histogram();
        let s = |v: f64| v / NANOS_PER_SEC as f64;
        let c = &st.counters;
        Metrics {
            name: shared.opts.name.clone(),
            size: st.core.size(),
            idle: st.core.idle(),
            busy: st.core.busy(),
            waiting: st.core.waiting(),
            creating: st.core.creating(),
            target: st.core.target(),
            max_size: st.core.config().max_size,
            totals,
            wait_quantiles_s: [
                h.quantile(0.50).map(s),
                h.quantile(0.95).map(s),
                h.quantile(0.99).map(s),
            ],
            wait_count_sum: (h.count(), h.mean().map_or(0.0, |m| s(m) * h.count() as f64)),
            rejected: c.rejected,
            errors: c.errors,
            client_errors: c.client_errors,
            leaks: c.leaks,
            cache_hits: c.cache_hits,
            cache_misses: c.cache_misses,
            check_failures: c.check_failures,
            closed: c.closed,
            create_timeouts: c.create_timeouts,
            cancelled: c.cancelled,
            panics: c.panics,
            breakers,
            breaker_global,
            policy: st.policy_name.clone(),
            min_idle: st.core.config().min_idle,
            create_time: LatencyBuckets::of(&st.create_times),
            wait_time: LatencyBuckets::of(h),
            use_time: LatencyBuckets::of(&st.use_times),
        }
    }

    /// The metrics in the Prometheus text exposition format (version
    /// 0.0.4), every series labelled `pool="<name>"`.
    #[cfg(feature = "prometheus")]
    pub fn prometheus(&self) -> String {
        self.metrics().to_prometheus()
    }
}

#[cfg(feature = "prometheus")]
mod exposition {
    use std::fmt::Write;

    use super::{CLOSE_REASONS, LATENCY_BUCKETS_S, Metrics};
    use crate::core::NANOS_PER_SEC;
    use crate::core::telemetry::ErrorCategory;

    /// Escapes a label value (`\`, `"` and newlines).
    fn escape(v: &str) -> String {
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    }

    struct Out {
        s: String,
        pool: String,
    }

    impl Out {
        fn head(&mut self, name: &str, kind: &str, help: &str) {
            let _ = writeln!(self.s, "# HELP {name} {help}\n# TYPE {name} {kind}");
        }
        fn line(&mut self, name: &str, labels: &[(&str, &str)], v: f64) {
            let _ = write!(self.s, "{name}{{pool=\"{}\"", self.pool);
            for (k, val) in labels {
                let _ = write!(self.s, ",{k}=\"{}\"", escape(val));
            }
            let _ = writeln!(self.s, "}} {v}");
        }
        fn one(&mut self, name: &str, kind: &str, help: &str, v: f64) {
            self.head(name, kind, help);
            self.line(name, &[], v);
        }
    }

    impl Metrics {
        /// Renders the Prometheus text exposition. Names follow the
        /// Prometheus conventions: `poolcast_` prefix, base units
        /// (seconds), `_total` on counters.
        pub fn to_prometheus(&self) -> String {
            let mut o = Out {
                s: String::with_capacity(4096),
                pool: escape(&self.name),
            };
            o.head("poolcast_connections", "gauge", "Connections by state.");
            for (state, v) in [
                ("idle", self.idle),
                ("busy", self.busy),
                ("creating", self.creating),
            ] {
                o.line("poolcast_connections", &[("state", state)], f64::from(v));
            }
            o.one(
                "poolcast_waiting_requests",
                "gauge",
                "Requests queued for a connection.",
                f64::from(self.waiting),
            );
            o.one(
                "poolcast_target_connections",
                "gauge",
                "The scaling policy's target size.",
                f64::from(self.target),
            );
            o.one(
                "poolcast_max_connections",
                "gauge",
                "The pool's max_size.",
                f64::from(self.max_size),
            );
            let t = &self.totals;
            o.one(
                "poolcast_acquires_total",
                "counter",
                "Requests that asked for a connection.",
                t.acquires_requested as f64,
            );
            o.one(
                "poolcast_grants_total",
                "counter",
                "Connections handed to requests.",
                t.grants as f64,
            );
            o.one(
                "poolcast_acquire_timeouts_total",
                "counter",
                "Requests that timed out waiting for a connection.",
                t.timeouts as f64,
            );
            o.one(
                "poolcast_connections_created_total",
                "counter",
                "Connections opened.",
                t.created as f64,
            );
            o.one(
                "poolcast_connection_create_failures_total",
                "counter",
                "Failed attempts to open a connection.",
                t.create_failures as f64,
            );
            o.one(
                "poolcast_connection_create_timeouts_total",
                "counter",
                "Attempts to open a connection that timed out.",
                self.create_timeouts as f64,
            );
            o.head(
                "poolcast_connections_closed_total",
                "counter",
                "Connections closed, by reason.",
            );
            for (r, v) in CLOSE_REASONS.iter().zip(self.closed) {
                o.line(
                    "poolcast_connections_closed_total",
                    &[("reason", r)],
                    v as f64,
                );
            }
            let secs = |ns: u128| ns as f64 / NANOS_PER_SEC as f64;
            o.one(
                "poolcast_connection_seconds_total",
                "counter",
                "Integral of open connections over time.",
                secs(t.connection_ns),
            );
            o.one(
                "poolcast_busy_connection_seconds_total",
                "counter",
                "Integral of busy connections over time.",
                secs(t.busy_ns),
            );
            o.head(
                "poolcast_acquire_wait_seconds",
                "summary",
                "Time from asking for a connection to getting one (completed intervals).",
            );
            for (q, v) in ["0.5", "0.95", "0.99"].iter().zip(self.wait_quantiles_s) {
                if let Some(v) = v {
                    o.line("poolcast_acquire_wait_seconds", &[("quantile", q)], v);
                }
            }
            o.line(
                "poolcast_acquire_wait_seconds_sum",
                &[],
                self.wait_count_sum.1,
            );
            o.line(
                "poolcast_acquire_wait_seconds_count",
                &[],
                self.wait_count_sum.0 as f64,
            );
            o.head(
                "poolcast_request_errors_total",
                "counter",
                "Failed requests by failure category.",
            );
            for c in ErrorCategory::ALL {
                o.line(
                    "poolcast_request_errors_total",
                    &[("category", c.name())],
                    self.errors[c.index()] as f64,
                );
            }
            o.one(
                "poolcast_client_errors_total",
                "counter",
                "Client errors (syntax, constraints): counted, not tripping breakers by default.",
                self.client_errors as f64,
            );
            o.head(
                "poolcast_breaker_rejections_total",
                "counter",
                "Requests refused by an open circuit breaker.",
            );
            for c in ErrorCategory::ALL {
                o.line(
                    "poolcast_breaker_rejections_total",
                    &[("breaker", c.name())],
                    self.rejected[c.index()] as f64,
                );
            }
            o.line(
                "poolcast_breaker_rejections_total",
                &[("breaker", "global")],
                self.rejected[ErrorCategory::COUNT] as f64,
            );
            o.head(
                "poolcast_breaker_state",
                "gauge",
                "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
            );
            for c in ErrorCategory::ALL {
                o.line(
                    "poolcast_breaker_state",
                    &[("breaker", c.name())],
                    f64::from(self.breakers[c.index()]),
                );
            }
            o.line(
                "poolcast_breaker_state",
                &[("breaker", "global")],
                f64::from(self.breaker_global),
            );
            o.one(
                "poolcast_leaked_connections_total",
                "counter",
                "Connections held longer than leak_detection_threshold_ms.",
                self.leaks as f64,
            );
            o.one(
                "poolcast_health_check_failures_total",
                "counter",
                "Connections that failed their health check.",
                self.check_failures as f64,
            );
            o.one(
                "poolcast_statement_cache_hits_total",
                "counter",
                "Prepared-statement cache hits.",
                self.cache_hits as f64,
            );
            o.one(
                "poolcast_statement_cache_misses_total",
                "counter",
                "Prepared-statement cache misses.",
                self.cache_misses as f64,
            );
            o.one(
                "poolcast_acquires_cancelled_total",
                "counter",
                "Acquires abandoned by their caller.",
                self.cancelled as f64,
            );
            o.one(
                "poolcast_panics_total",
                "counter",
                "Panics caught in code the pool calls, each failing its step.",
                self.panics as f64,
            );
            o.head(
                "poolcast_policy_info",
                "gauge",
                "The scaling policy and its mode.",
            );
            o.line("poolcast_policy_info", &[("policy", &self.policy)], 1.0);
            self.write_otel(&mut o.s);
            o.s
        }

        /// The OpenTelemetry database-client connection-pool metrics
        /// (`db.client.connection.*`), as OpenTelemetry's Prometheus
        /// exporter writes them: dots become underscores in names and
        /// attributes, a `{...}` unit is dropped, `s` becomes `_seconds`,
        /// counters get `_total`, up-down counters are gauges, and every
        /// series carries `otel_scope_name`. A dashboard built for another
        /// instrumented pool (HikariCP through the Java agent, for one)
        /// reads these unchanged.
        fn write_otel(&self, s: &mut String) {
            let pool = escape(&self.name);
            let labels = |extra: &str| {
                format!(
                    "db_client_connection_pool_name=\"{pool}\",otel_scope_name=\"{OTEL_SCOPE}\"{extra}"
                )
            };
            let head = |s: &mut String, name: &str, kind: &str, help: &str| {
                let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}");
            };
            head(
                s,
                "db_client_connection_count",
                "gauge",
                "The number of connections that are currently in state described by the state attribute.",
            );
            for (state, v) in [("idle", self.idle), ("used", self.busy)] {
                let l = labels(&format!(",db_client_connection_state=\"{state}\""));
                let _ = writeln!(s, "db_client_connection_count{{{l}}} {v}");
            }
            for (name, help, v) in [
                (
                    "db_client_connection_idle_max",
                    "The maximum number of idle open connections allowed.",
                    self.max_size,
                ),
                (
                    "db_client_connection_idle_min",
                    "The minimum number of idle open connections allowed.",
                    self.min_idle,
                ),
                (
                    "db_client_connection_max",
                    "The maximum number of open connections allowed.",
                    self.max_size,
                ),
                (
                    "db_client_connection_pending_requests",
                    "The number of current pending requests for an open connection.",
                    self.waiting,
                ),
            ] {
                head(s, name, "gauge", help);
                let _ = writeln!(s, "{name}{{{}}} {v}", labels(""));
            }
            head(
                s,
                "db_client_connection_timeouts_total",
                "counter",
                "The number of connection timeouts that have occurred trying to obtain a connection from the pool.",
            );
            let _ = writeln!(
                s,
                "db_client_connection_timeouts_total{{{}}} {}",
                labels(""),
                self.totals.timeouts
            );
            for (name, help, b) in [
                (
                    "db_client_connection_create_time_seconds",
                    "The time it took to create a new connection.",
                    &self.create_time,
                ),
                (
                    "db_client_connection_wait_time_seconds",
                    "The time it took to obtain an open connection from the pool.",
                    &self.wait_time,
                ),
                (
                    "db_client_connection_use_time_seconds",
                    "The time between borrowing a connection and returning it to the pool.",
                    &self.use_time,
                ),
            ] {
                head(s, name, "histogram", help);
                for (le, n) in LATENCY_BUCKETS_S.iter().zip(&b.cumulative) {
                    let l = labels(&format!(",le=\"{le}\""));
                    let _ = writeln!(s, "{name}_bucket{{{l}}} {n}");
                }
                let l = labels(",le=\"+Inf\"");
                let _ = writeln!(s, "{name}_bucket{{{l}}} {}", b.count);
                let _ = writeln!(s, "{name}_sum{{{}}} {}", labels(""), b.sum_s);
                let _ = writeln!(s, "{name}_count{{{}}} {}", labels(""), b.count);
            }
        }
    }

    /// The instrumentation scope the OpenTelemetry series name.
    const OTEL_SCOPE: &str = "poolcast";
}
