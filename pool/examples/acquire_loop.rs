//! Profiling aid: 1M uncontended acquire + release on a current-thread
//! runtime with a no-op manager.
use std::convert::Infallible;

use poolcast::runtime::{Manager, Pool, RecycleMode};

struct Noop;
impl Manager for Noop {
    type Connection = u64;
    type Error = Infallible;
    async fn create(&self) -> Result<u64, Infallible> {
        Ok(0)
    }
    async fn recycle(&self, _: &mut u64, _: RecycleMode) -> Result<(), Infallible> {
        Ok(())
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let pool = Pool::builder(Noop).build().unwrap();
        let n: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
        drop(pool.get().await.unwrap());
        let t = std::time::Instant::now();
        for _ in 0..n {
            drop(pool.get().await.unwrap());
        }
        println!("{:.1} ns/op", t.elapsed().as_nanos() as f64 / n as f64);
    });
}
