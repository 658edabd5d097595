use poolcast_sim::{Engine, MemorySink, ScenarioFile};
use rayon::prelude::*;

fn toml(rate: f64, dur: f64) -> String {
    format!(
        r#"
seed = 1
[[scenario]]
name = "mmc"
duration_s = {dur}
interval_s = 100.0
load = {{ base_rate = {rate} }}
classes = [{{ class = "read", share = 1.0, service = {{ kind = "exponential", mean_ms = 50.0 }} }}]
[scenario.pool]
min_size = 10
max_size = 10
acquire_timeout_ms = 1e12
idle_timeout_s = 1e9
max_lifetime_s = 1e9
"#
    )
}

#[test]
#[ignore]
fn spread() {
    let durs: Vec<f64> = std::env::var("DURS")
        .unwrap()
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();
    let rates: Vec<f64> = std::env::var("RATES")
        .unwrap()
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();
    for &rate in &rates {
        for &dur in &durs {
            let f = ScenarioFile::parse(&toml(rate, dur), "x").unwrap();
            let sc = &f.scenarios[0];
            let t0 = std::time::Instant::now();
            let res: Vec<(f64, f64)> = (0..8u64)
                .into_par_iter()
                .map(|seed| {
                    let mut sink = MemorySink::default();
                    let s = Engine::new(sc, 1000 + seed, 0, &mut sink).run().unwrap();
                    (s.p_wait, s.acquire_wait_mean_ms.unwrap())
                })
                .collect();
            let a = rate * 0.05;
            let pw = poolcast_sim::erlang::erlang_c(10, a).unwrap();
            let w = poolcast_sim::erlang::mmc_mean_wait(10, rate, 0.05).unwrap() * 1000.0;
            let rp: Vec<f64> = res.iter().map(|r| r.0 / pw - 1.0).collect();
            let rw: Vec<f64> = res.iter().map(|r| r.1 / w - 1.0).collect();
            let sd = |v: &[f64]| {
                let m = v.iter().sum::<f64>() / v.len() as f64;
                (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
            };
            let rng = |v: &[f64]| {
                v.iter().cloned().fold(f64::MIN, f64::max)
                    - v.iter().cloned().fold(f64::MAX, f64::min)
            };
            println!(
                "rate {rate} dur {dur}: wall {:.2}s (8 runs, 2 cores)\n  pwait rel err {:?}\n   sd {:.4} range {:.4}\n  wait rel err {:?}\n   sd {:.4} range {:.4}",
                t0.elapsed().as_secs_f64(),
                rp.iter()
                    .map(|x| (x * 1e4).round() / 1e4)
                    .collect::<Vec<_>>(),
                sd(&rp),
                rng(&rp),
                rw.iter()
                    .map(|x| (x * 1e4).round() / 1e4)
                    .collect::<Vec<_>>(),
                sd(&rw),
                rng(&rw)
            );
        }
    }
}
