//! Feature extraction throughput: snapshots per second through the
//! default feature definition (target ≥ 1M snapshots/s).
//!
//! `cargo bench -p poolcast --bench features`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use poolcast::core::features::{FeatureConfig, FeatureSpec};
use poolcast::core::{NANOS_PER_SEC, Snapshot};

fn snapshots(n: u64) -> Vec<Snapshot> {
    (0..n)
        .map(|i| {
            let d = 20.0 + 10.0 * ((i as f64) / 300.0).sin();
            let mut s = Snapshot {
                t_ns: (i + 1) * NANOS_PER_SEC,
                interval_ns: NANOS_PER_SEC,
                size: 40,
                idle: 40 - d as u32,
                busy: d as u32,
                size_mean: 40.0,
                busy_mean: d,
                demand_max: d as u32 + 3,
                acquires: 500,
                acquire_wait_p50_ms: Some(0.2),
                acquire_wait_p95_ms: Some(3.0),
                db_cpu: Some(0.4),
                db_mem: Some(0.5),
                ..Snapshot::default()
            };
            s.arrivals = [300, 100, 5, 90, 5];
            s.completions = s.arrivals;
            s.service_p50_ms = [Some(4.0), Some(8.0), Some(400.0), Some(6.0), Some(30.0)];
            s
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let spec = FeatureSpec::new(FeatureConfig::default(), NANOS_PER_SEC).expect("default spec");
    let snaps = snapshots(100_000);
    let mut out = vec![0.0; spec.len()];
    let mut g = c.benchmark_group("features");
    g.throughput(Throughput::Elements(snaps.len() as u64));
    g.sample_size(20);
    g.bench_function(format!("extract_{}_features", spec.len()), |b| {
        b.iter(|| {
            let mut fx = spec.extractor(0);
            for s in &snaps {
                fx.push(s, &mut out);
                black_box(&out);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
