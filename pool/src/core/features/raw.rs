//! The per-snapshot ("raw") features: one value read or derived from the
//! newest [`Snapshot`] alone, with no history.
//!
//! Optional telemetry (wait quantiles of an interval with no grant, service
//! quantiles of a class with no completion, database probes a runtime pool
//! does not have) becomes `NaN`, never `0`, and each such family has a
//! `*_present` flag so a model can learn what absence means.

use crate::core::telemetry::{ErrorCategory, QueryClass, Snapshot};

/// One raw feature: its stable name, its definition and how to read it.
pub(crate) struct RawFeature {
    pub name: String,
    pub family: &'static str,
    pub definition: String,
    pub get: Getter,
}

/// How a raw feature is read. An enum rather than closures so the table can
/// be built at runtime with per-class indices and still evaluate fast.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Getter {
    Plain(fn(&Snapshot) -> f64),
    Class(fn(&Snapshot, usize) -> f64, usize),
    Category(fn(&Snapshot, usize) -> f64, usize),
}

impl Getter {
    #[inline]
    pub(crate) fn read(self, s: &Snapshot) -> f64 {
        match self {
            Getter::Plain(f) => f(s),
            Getter::Class(f, i) | Getter::Category(f, i) => f(s, i),
        }
    }
}

fn opt(v: Option<f64>) -> f64 {
    v.unwrap_or(f64::NAN)
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// Ratio with an explicit `NaN` when the denominator is zero.
fn ratio(num: f64, den: f64) -> f64 {
    if den > 0.0 { num / den } else { f64::NAN }
}

/// Builds the raw feature table in its fixed order.
pub(crate) fn raw_features() -> Vec<RawFeature> {
    let mut v = Vec::with_capacity(80);
    let mut plain = |name: &str, family: &'static str, def: &str, f: fn(&Snapshot) -> f64| {
        v.push(RawFeature {
            name: name.to_string(),
            family,
            definition: def.to_string(),
            get: Getter::Plain(f),
        })
    };
    // ---- pool ----
    plain(
        "pool_size",
        "pool",
        "open connections at the interval end",
        |s| f64::from(s.size),
    );
    plain(
        "pool_idle",
        "pool",
        "idle connections at the interval end",
        |s| f64::from(s.idle),
    );
    plain(
        "pool_busy",
        "pool",
        "busy connections at the interval end",
        |s| f64::from(s.busy),
    );
    plain(
        "pool_waiting",
        "pool",
        "queued requests at the interval end",
        |s| f64::from(s.waiting),
    );
    plain(
        "pool_pending_creates",
        "pool",
        "connection creations in flight at the interval end",
        |s| f64::from(s.pending_creates),
    );
    plain(
        "pool_target",
        "pool",
        "the policy's target size at the interval end",
        |s| f64::from(s.target),
    );
    plain(
        "pool_target_gap",
        "pool",
        "target − size at the interval end",
        |s| f64::from(s.target) - f64::from(s.size),
    );
    plain(
        "pool_size_mean",
        "pool",
        "time-weighted mean open connections",
        |s| s.size_mean,
    );
    plain(
        "pool_busy_mean",
        "pool",
        "time-weighted mean busy connections",
        |s| s.busy_mean,
    );
    plain(
        "pool_waiting_mean",
        "pool",
        "time-weighted mean queued requests",
        |s| s.waiting_mean,
    );
    plain(
        "demand_mean",
        "pool",
        "time-weighted mean demand = busy + waiting (the forecast target's signal)",
        |s| s.demand_mean(),
    );
    plain(
        "demand_max",
        "pool",
        "peak busy + waiting in the interval",
        |s| f64::from(s.demand_max),
    );
    plain(
        "pool_utilization",
        "pool",
        "busy_mean / size_mean (NaN when no connection was open)",
        |s| ratio(s.busy_mean, s.size_mean),
    );
    plain(
        "pool_created",
        "pool",
        "connections created in the interval",
        |s| f64::from(s.created),
    );
    plain(
        "pool_closed",
        "pool",
        "connections closed in the interval",
        |s| f64::from(s.closed),
    );
    plain(
        "pool_create_failures",
        "pool",
        "failed connection creations in the interval",
        |s| f64::from(s.create_failures),
    );
    plain(
        "pool_acquires",
        "pool",
        "connections granted in the interval",
        |s| f64::from(s.acquires),
    );
    plain(
        "pool_timeouts",
        "pool",
        "acquire timeouts in the interval",
        |s| f64::from(s.timeouts),
    );
    plain(
        "wait_present",
        "pool",
        "1 if the interval granted a connection (the wait quantiles exist), else 0",
        |s| flag(s.acquire_wait_p50_ms.is_some()),
    );
    plain(
        "wait_mean_ms",
        "pool",
        "mean acquire wait of the interval's grants (NaN without grants)",
        |s| opt(s.acquire_wait_mean_ms),
    );
    plain(
        "wait_p50_ms",
        "pool",
        "median acquire wait (NaN without grants)",
        |s| opt(s.acquire_wait_p50_ms),
    );
    plain(
        "wait_p95_ms",
        "pool",
        "95th percentile acquire wait (NaN without grants)",
        |s| opt(s.acquire_wait_p95_ms),
    );
    plain(
        "wait_p99_ms",
        "pool",
        "99th percentile acquire wait (NaN without grants)",
        |s| opt(s.acquire_wait_p99_ms),
    );
    plain(
        "wait_max_ms",
        "pool",
        "longest acquire wait (NaN without grants)",
        |s| opt(s.acquire_wait_max_ms),
    );
    // ---- traffic ----
    plain(
        "arrivals_total",
        "traffic",
        "requests that arrived in the interval, all classes",
        |s| f64::from(s.arrivals_total()),
    );
    plain(
        "completions_total",
        "traffic",
        "requests that completed in the interval, all classes",
        |s| f64::from(s.completions.iter().sum::<u32>()),
    );
    plain(
        "arrival_rate_per_s",
        "traffic",
        "arrivals_total / interval seconds",
        |s| ratio(f64::from(s.arrivals_total()), s.interval_ns as f64 / 1e9),
    );
    for c in QueryClass::ALL {
        let i = c.index();
        let n = c.name();
        let mut push = |name: String, def: String, f: fn(&Snapshot, usize) -> f64| {
            v.push(RawFeature {
                name,
                family: "traffic",
                definition: def,
                get: Getter::Class(f, i),
            })
        };
        push(
            format!("arrivals_{n}"),
            format!("{n} requests that arrived in the interval"),
            |s, i| f64::from(s.arrivals[i]),
        );
        push(
            format!("completions_{n}"),
            format!("{n} requests that completed in the interval"),
            |s, i| f64::from(s.completions[i]),
        );
        push(
            format!("share_{n}"),
            format!("arrivals_{n} / arrivals_total (NaN without arrivals)"),
            |s, i| ratio(f64::from(s.arrivals[i]), f64::from(s.arrivals_total())),
        );
        push(
            format!("service_p50_ms_{n}"),
            format!("median {n} hold time in ms (NaN without a {n} completion)"),
            |s, i| opt(s.service_p50_ms[i]),
        );
        push(
            format!("service_p95_ms_{n}"),
            format!("95th percentile {n} hold time in ms (NaN without a {n} completion)"),
            |s, i| opt(s.service_p95_ms[i]),
        );
    }
    // ---- errors and breakers ----
    let mut plain = |name: &str, def: &str, f: fn(&Snapshot) -> f64| {
        v.push(RawFeature {
            name: name.to_string(),
            family: "errors",
            definition: def.to_string(),
            get: Getter::Plain(f),
        })
    };
    plain(
        "errors_total",
        "failed requests in the interval, all categories",
        |s| f64::from(s.errors.iter().sum::<u32>()),
    );
    plain(
        "error_rate",
        "errors_total / arrivals_total (NaN without arrivals)",
        |s| {
            ratio(
                f64::from(s.errors.iter().sum::<u32>()),
                f64::from(s.arrivals_total()),
            )
        },
    );
    plain(
        "rejected",
        "requests refused by an open breaker in the interval",
        |s| f64::from(s.rejected),
    );
    plain(
        "breaker_global",
        "global breaker state (0 closed, 1 half-open, 2 open)",
        |s| f64::from(s.breaker_global),
    );
    plain(
        "breakers_not_closed",
        "number of category breakers half-open or open",
        |s| s.breaker.iter().filter(|&&b| b != 0).count() as f64,
    );
    for c in ErrorCategory::ALL {
        let i = c.index();
        let n = c.name();
        v.push(RawFeature {
            name: format!("errors_{n}"),
            family: "errors",
            definition: format!("requests failed with a {n} error in the interval"),
            get: Getter::Category(|s, i| f64::from(s.errors[i]), i),
        });
        v.push(RawFeature {
            name: format!("breaker_{n}"),
            family: "errors",
            definition: format!("{n} breaker state (0 closed, 1 half-open, 2 open)"),
            get: Getter::Category(|s, i| f64::from(s.breaker[i]), i),
        });
    }
    // ---- system ----
    let mut plain = |name: &str, def: &str, f: fn(&Snapshot) -> f64| {
        v.push(RawFeature {
            name: name.to_string(),
            family: "system",
            definition: def.to_string(),
            get: Getter::Plain(f),
        })
    };
    plain(
        "db_cpu_present",
        "1 if the database CPU signal exists (modeled or probed), else 0",
        |s| flag(s.db_cpu.is_some()),
    );
    plain(
        "db_cpu",
        "database CPU utilization in [0, 1] (NaN when absent)",
        |s| opt(s.db_cpu),
    );
    plain(
        "db_mem_present",
        "1 if the database memory signal exists, else 0",
        |s| flag(s.db_mem.is_some()),
    );
    plain(
        "db_mem",
        "database memory utilization in [0, 1] (NaN when absent)",
        |s| opt(s.db_mem),
    );
    v
}
