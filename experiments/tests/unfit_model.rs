//! The quickstart's exported model in a runtime pool under traffic unlike
//! anything it was trained on: the predictive policy must notice within a
//! few intervals and size the pool as the reactive policy would, not hold
//! it at `max_size` (issue 24: it sat at 64 connections for a 4-task
//! service).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use poolcast::core::policy::PolicyConfig;
use poolcast::core::settings::PoolFile;
use poolcast::runtime::Pool;

mod common;
use common::Noop;

/// `tasks` clients, each holding a connection for 2 ms then asking again
/// at once (about 500 requests a second each; the quickstart trained on
/// at most 83 a second in all), until `stop`.
async fn load(pool: Pool<Noop>, tasks: usize, stop: Arc<AtomicBool>) {
    let mut hs = Vec::new();
    for _ in 0..tasks {
        let (p, stop) = (pool.clone(), stop.clone());
        hs.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let c = p.get().await.expect("acquire");
                tokio::time::sleep(Duration::from_millis(2)).await;
                drop(c);
            }
        }));
    }
    for h in hs {
        h.await.unwrap();
    }
}

/// Mean `size_mean` of a pool's snapshots after the first `skip`.
fn mean_size(pool: &Pool<Noop>, skip: usize) -> f64 {
    let s = pool.snapshots();
    let v: Vec<f64> = s.iter().skip(skip).map(|s| s.size_mean).collect();
    assert!(!v.is_empty(), "{} snapshots", s.len());
    v.iter().sum::<f64>() / v.len() as f64
}

#[test]
fn an_unfit_model_hands_the_pool_to_reactive_within_a_few_intervals() {
    let d = tempfile::tempdir().unwrap();
    let root = common::run_shipped("quickstart", d.path());
    let predictive = poolcast::runtime::load_pool_file(root.join("pool.toml")).unwrap();
    let Some(PolicyConfig::Predictive(p)) = &predictive.policy else {
        panic!(
            "the quickstart exports a predictive pool: {:?}",
            predictive.policy
        );
    };
    let reactive = PoolFile {
        policy: Some(PolicyConfig::Reactive(p.fallback.clone())),
        ..predictive.clone()
    };
    let interval = Duration::from_secs_f64(predictive.controller.interval_s);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pools: Vec<Pool<Noop>> = [predictive, reactive]
            .into_iter()
            .map(|f| Pool::builder(Noop).config(f).build().unwrap())
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let loads: Vec<_> = pools
            .iter()
            .map(|p| tokio::spawn(load(p.clone(), 4, stop.clone())))
            .collect();
        // Warm-up is the first interval; a few more to notice.
        let deadline = Instant::now() + interval * 4;
        let mut statuses = Vec::new();
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
            statuses.push(pools[0].status().policy);
        }
        let noticed = pools[0].status().policy;
        tokio::time::sleep(interval * 4).await;
        stop.store(true, Ordering::Relaxed);
        for l in loads {
            l.await.unwrap();
        }
        assert!(
            noticed.contains("reactive fallback")
                && (noticed.contains("training range") || noticed.contains("persistence")),
            "after 4 intervals: {noticed} (seen: {statuses:?})"
        );
        let end = pools[0].status().policy;
        assert!(end.contains("reactive fallback"), "at the end: {end}");
        let (pred, reac) = (mean_size(&pools[0], 1), mean_size(&pools[1], 1));
        assert!(
            pred <= 1.5 * reac,
            "predictive pool {pred:.1} connections on average, reactive {reac:.1}"
        );
        for p in pools {
            p.close().await;
        }
    });
}
