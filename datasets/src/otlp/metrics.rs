//! The OpenTelemetry connection-pool metrics in OTLP/JSON, one
//! `ExportMetricsServiceRequest` per line, as [`Snapshot`]s: what a pool the
//! team already runs (HikariCP through the Java agent, node-postgres through
//! its instrumentation, ...) tells a forecaster to learn from.
//!
//! Each export of a pool (`db.client.connection.pool.name`, older
//! `pool.name`) is one snapshot; the interval is the median time between
//! exports. The metrics read, by their current names (the older
//! `db.client.connections.*` names, `usage` for `count`, `state` for
//! `db.client.connection.state`, are read the same):
//!
//! | metric | snapshot fields |
//! |---|---|
//! | `db.client.connection.count` (`state` idle/used) | `idle`, `busy`, `size` and their means |
//! | `db.client.connection.pending_requests` | `waiting`, `waiting_mean` |
//! | `db.client.connection.max` | `target` (else `size`) |
//! | `db.client.connection.timeouts` | `timeouts`, and timeout errors |
//! | `db.client.connection.create_time` (count) | `created` |
//! | `db.client.connection.wait_time` (count, sum, max) | `acquires`, `acquire_wait_mean_ms`, `acquire_wait_max_ms` |
//! | `db.client.operation.duration` (count by `db.operation.name`, `error.type`) | `arrivals`, `completions`, `errors` |
//!
//! What exports cannot say is left at its default: a snapshot's means are
//! the values at the export instant, not averages over the interval; the
//! wait quantiles and per-class hold quantiles are unknown (`None`);
//! without `db.client.operation.duration` the arrivals are the acquires
//! (`wait_time`'s count), else the `use_time` count, of class `api`. Counters
//! and histograms may be cumulative (their delta since the previous
//! export is taken; a restart, seen as a count going down or a new start
//! time, starts again from zero) or delta.

use std::collections::BTreeMap;
use std::path::Path;

use poolcast::core::sqlstate::classify_sqlstate;
use poolcast::core::telemetry::{ErrorCategory, QueryClass};
use poolcast::core::{Nanos, Snapshot};

use super::model::{KeyValue, MetricsData, TEMPORALITY_DELTA, attr, attr_str};
use super::redact;
use crate::error::{DatasetError, Result};
use crate::pglog::{class_of_keyword, for_each_line};

/// One pool's exports as snapshots.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolMetrics {
    /// The pool's name (`db.client.connection.pool.name`; empty when the
    /// exports name none).
    pub pool: String,
    /// One per export, `t_ns` from the first export.
    pub snapshots: Vec<Snapshot>,
    /// The metrics the file had for this pool, by current name, sorted.
    pub metrics: Vec<String>,
}

/// What one export said about one pool.
#[derive(Debug, Default, Clone)]
struct Sample {
    t: u64,
    used: Option<f64>,
    idle: Option<f64>,
    pending: Option<f64>,
    max: Option<f64>,
    timeouts: u64,
    created: u64,
    waits: u64,
    wait_sum_s: f64,
    wait_max_s: Option<f64>,
    uses: u64,
    ops: [u64; QueryClass::COUNT],
    op_errors: [u64; ErrorCategory::COUNT],
}

/// The previous cumulative value of one series.
#[derive(Debug, Clone, Copy)]
struct Last {
    start: u64,
    count: u64,
    sum: f64,
}

/// Reads the connection-pool metrics of `path`, one [`PoolMetrics`] per
/// pool, in name order.
///
/// # Errors
/// The file cannot be read, a line is not an OTLP/JSON metrics export
/// (naming the line), or the file has no connection-pool metric.
pub fn read_otlp_metrics(path: &Path) -> Result<Vec<PoolMetrics>> {
    let mut pools: BTreeMap<String, (Vec<Sample>, Vec<String>)> = BTreeMap::new();
    let mut last: BTreeMap<String, Last> = BTreeMap::new();
    for_each_line(path, |n, text| {
        let data: MetricsData = serde_json::from_str(text).map_err(|e| {
            DatasetError::line(
                path,
                n,
                format!(
                    "expected an OTLP/JSON metrics object (an ExportMetricsServiceRequest per \
                     line): {}",
                    redact(&e.to_string())
                ),
            )
        })?;
        let mut export = Export::default();
        for rm in &data.resource_metrics {
            for sm in &rm.scope_metrics {
                for m in &sm.metrics {
                    let Some(name) = current_name(&m.name) else {
                        continue;
                    };
                    fold_metric(name, m, &mut export, &mut last, &mut pools);
                }
            }
        }
        for (pool, mut s) in export.pools {
            s.ops = export.ops;
            s.op_errors = export.op_errors;
            if s.t == 0 {
                s.t = export.op_time;
            }
            pools.entry(pool).or_default().0.push(s);
        }
        Ok(())
    })?;
    if pools.is_empty() {
        return Err(DatasetError::line(
            path,
            1,
            "no connection-pool metric (expected OTLP/JSON metrics with db.client.connection.count \
             or the older db.client.connections.usage)"
                .to_string(),
        ));
    }
    Ok(pools
        .into_iter()
        .map(|(pool, (samples, mut metrics))| {
            metrics.sort();
            metrics.dedup();
            PoolMetrics {
                pool,
                snapshots: snapshots(&samples),
                metrics,
            }
        })
        .collect())
}

/// The current name of a pool metric (older names mapped), or `None` for
/// another metric.
fn current_name(name: &str) -> Option<&'static str> {
    let short = name
        .strip_prefix("db.client.connection.")
        .or_else(|| name.strip_prefix("db.client.connections."));
    Some(match short {
        Some("count" | "usage") => "db.client.connection.count",
        Some("pending_requests") => "db.client.connection.pending_requests",
        Some("max") => "db.client.connection.max",
        Some("timeouts") => "db.client.connection.timeouts",
        Some("create_time") => "db.client.connection.create_time",
        Some("wait_time") => "db.client.connection.wait_time",
        Some("use_time") => "db.client.connection.use_time",
        _ if name == "db.client.operation.duration" => "db.client.operation.duration",
        _ => return None,
    })
}

/// The pool a data point is of.
fn pool_of(attrs: &[KeyValue]) -> String {
    attr_str(attrs, &["db.client.connection.pool.name", "pool.name"])
        .unwrap_or_default()
        .to_string()
}

/// Seconds per unit of a duration metric (`s` by the current conventions,
/// `ms` by the older ones).
fn seconds_per(unit: &str) -> f64 {
    match unit {
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "ns" => 1e-9,
        _ => 1.0,
    }
}

/// What one export said: per pool, and the operations (which name no
/// pool, so count for every pool of the export: in practice, the one).
#[derive(Default)]
struct Export {
    pools: BTreeMap<String, Sample>,
    ops: [u64; QueryClass::COUNT],
    op_errors: [u64; ErrorCategory::COUNT],
    op_time: u64,
}

/// Adds metric `m` (by its current `name`) of one export.
fn fold_metric(
    name: &'static str,
    m: &super::model::Metric,
    export: &mut Export,
    last: &mut BTreeMap<String, Last>,
    seen: &mut BTreeMap<String, (Vec<Sample>, Vec<String>)>,
) {
    let number_points = m
        .sum
        .as_ref()
        .map(|s| (&s.data_points, s.aggregation_temporality))
        .or(m
            .gauge
            .as_ref()
            .map(|g| (&g.data_points, TEMPORALITY_DELTA)));
    if let Some((points, temporality)) = number_points {
        for p in points {
            let Some(v) = p.value() else { continue };
            let v = v.max(0.0);
            let pool = pool_of(&p.attributes);
            let key = format!("{name}|{pool}|{}", series_key(&p.attributes));
            let s = sample(&mut export.pools, seen, name, pool, p.time_unix_nano);
            match name {
                "db.client.connection.count" => {
                    let state = attr_str(&p.attributes, &["db.client.connection.state", "state"]);
                    let slot = if state == Some("idle") {
                        &mut s.idle
                    } else {
                        &mut s.used
                    };
                    *slot = Some(slot.unwrap_or(0.0) + v);
                }
                "db.client.connection.pending_requests" => {
                    s.pending = Some(s.pending.unwrap_or(0.0) + v);
                }
                "db.client.connection.max" => s.max = Some(v),
                "db.client.connection.timeouts" => {
                    let count = v.min(u64::MAX as f64) as u64;
                    s.timeouts +=
                        delta(last, key, p.start_time_unix_nano, count, 0.0, temporality).0;
                }
                _ => {}
            }
        }
    }
    let Some(h) = &m.histogram else { return };
    let per = seconds_per(&m.unit);
    for p in &h.data_points {
        let key = format!("{name}|{}", series_key(&p.attributes));
        let (count, sum) = delta(
            last,
            key,
            p.start_time_unix_nano,
            p.count,
            p.sum.filter(|v| v.is_finite()).unwrap_or(0.0) * per,
            h.aggregation_temporality,
        );
        if name == "db.client.operation.duration" {
            let class = attr_str(&p.attributes, &["db.operation.name", "db.operation"])
                .map_or(QueryClass::Api, |op| {
                    class_of_keyword(&op.to_ascii_uppercase())
                });
            export.ops[class.index()] += count;
            if let Some(e) = attr(&p.attributes, "error.type").and_then(|v| v.text()) {
                export.op_errors[classify_sqlstate(&e).category.index()] += count;
            }
            export.op_time = export.op_time.max(p.time_unix_nano);
            continue;
        }
        let s = sample(
            &mut export.pools,
            seen,
            name,
            pool_of(&p.attributes),
            p.time_unix_nano,
        );
        match name {
            "db.client.connection.create_time" => s.created += count,
            "db.client.connection.wait_time" => {
                s.waits += count;
                s.wait_sum_s += sum;
                if h.aggregation_temporality == TEMPORALITY_DELTA
                    && let Some(mx) = p.max.filter(|v| v.is_finite())
                {
                    s.wait_max_s = Some(s.wait_max_s.unwrap_or(0.0).max(mx * per));
                }
            }
            "db.client.connection.use_time" => s.uses += count,
            _ => {}
        }
    }
}

/// The sample of `pool` in this export (noting that the pool had `name`),
/// its time moved to `t` if later.
fn sample<'e>(
    pools: &'e mut BTreeMap<String, Sample>,
    seen: &mut BTreeMap<String, (Vec<Sample>, Vec<String>)>,
    name: &str,
    pool: String,
    t: u64,
) -> &'e mut Sample {
    seen.entry(pool.clone())
        .or_default()
        .1
        .push(name.to_string());
    let s = pools.entry(pool).or_default();
    s.t = s.t.max(t);
    s
}

/// A data point's attributes as one key (its series).
fn series_key(attrs: &[KeyValue]) -> String {
    let mut kv: Vec<String> = attrs
        .iter()
        .map(|a| format!("{}={}", a.key, a.value.text().unwrap_or_default()))
        .collect();
    kv.sort();
    kv.join(",")
}

/// The count and sum of a series since its previous export: as given when
/// `temporality` is delta; else the difference from the last cumulative
/// value (from zero after a restart: a new start time, or a count going
/// down).
fn delta(
    last: &mut BTreeMap<String, Last>,
    key: String,
    start: u64,
    count: u64,
    sum: f64,
    temporality: i64,
) -> (u64, f64) {
    if temporality == TEMPORALITY_DELTA {
        return (count, sum);
    }
    let now = Last { start, count, sum };
    match last.insert(key, now) {
        Some(prev) if prev.start == start && prev.count <= count => {
            (count - prev.count, (sum - prev.sum).max(0.0))
        }
        _ => (count, sum),
    }
}

/// One snapshot per sample, on a grid of the median export interval.
fn snapshots(samples: &[Sample]) -> Vec<Snapshot> {
    let Some(first) = samples.first() else {
        return Vec::new();
    };
    let mut gaps: Vec<u64> = samples
        .windows(2)
        .map(|w| w[1].t.saturating_sub(w[0].t))
        .filter(|g| *g > 0)
        .collect();
    gaps.sort_unstable();
    // To the millisecond: exports drift by a few of them.
    let interval: Nanos = gaps
        .get(gaps.len() / 2)
        .map_or(1_000_000_000, |g| (g + 500_000) / 1_000_000 * 1_000_000)
        .max(1_000_000);
    let mut out: Vec<Snapshot> = Vec::with_capacity(samples.len());
    for s in samples {
        // The slot of the grid the export falls in; a later export in the
        // same slot replaces the earlier one's levels and adds its counts.
        let slot = (s.t.saturating_sub(first.t) + interval / 2) / interval;
        let t_ns = (slot + 1).saturating_mul(interval);
        let snap = snapshot(s, t_ns, interval);
        match out.last_mut() {
            Some(prev) if prev.t_ns == t_ns => {
                let acquires = prev.acquires.saturating_add(snap.acquires);
                *prev = Snapshot { acquires, ..snap };
            }
            _ => out.push(snap),
        }
    }
    out
}

/// The snapshot of one export.
fn snapshot(s: &Sample, t_ns: Nanos, interval_ns: Nanos) -> Snapshot {
    let level = |v: Option<f64>| v.unwrap_or(0.0).round().min(f64::from(u32::MAX)) as u32;
    let count = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    let (used, idle, pending) = (level(s.used), level(s.idle), level(s.pending));
    let size = used.saturating_add(idle);
    let mut arrivals = s.ops.map(count);
    if arrivals.iter().all(|a| *a == 0) {
        arrivals[QueryClass::Api.index()] = count(if s.waits > 0 { s.waits } else { s.uses });
    }
    let mut errors = s.op_errors.map(count);
    errors[ErrorCategory::Timeout.index()] =
        errors[ErrorCategory::Timeout.index()].saturating_add(count(s.timeouts));
    let mut completions = arrivals;
    // Failed operations did not complete; their class is not known, so
    // they come off the largest class.
    let failed: u32 = s
        .op_errors
        .iter()
        .map(|e| count(*e))
        .fold(0, u32::saturating_add);
    if let Some(c) = completions.iter_mut().max() {
        *c = c.saturating_sub(failed);
    }
    Snapshot {
        t_ns,
        interval_ns,
        size,
        idle,
        busy: used,
        waiting: pending,
        target: s.max.map_or(size, |m| level(Some(m))),
        size_mean: f64::from(size),
        busy_mean: f64::from(used),
        waiting_mean: f64::from(pending),
        demand_max: used.saturating_add(pending),
        created: count(s.created),
        acquires: count(s.waits),
        timeouts: count(s.timeouts),
        acquire_wait_mean_ms: (s.waits > 0).then(|| s.wait_sum_s / s.waits as f64 * 1e3),
        acquire_wait_max_ms: s.wait_max_s.map(|m| m * 1e3),
        arrivals,
        completions,
        errors,
        ..Snapshot::default()
    }
}
