//! [`Shards`]: the telemetry every checkout writes, kept per thread.
//!
//! Each checkout adds its acquire wait and its hold to histograms. Written
//! under the pool's lock, those histograms' lines moved between the two
//! cores on every checkout, inside the critical section (with the two
//! histogram records left out, the contended checkout took 11% less
//! time). Each thread now records into a shard of its own, outside the
//! lock, and the controller gathers the shards into the pool's telemetry
//! at each interval, so the snapshots are the same as before.
//!
//! Hand-written rather than a crate's thread-local storage
//! (`thread_local`'s `ThreadLocal`): the controller has to drain every
//! thread's shard while the threads keep recording, which needs a lock per
//! shard; an uncontended lock of a line that stays on its core is cheap.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::core::Nanos;
use crate::core::histogram::Histogram;
use crate::core::interval::IntervalRecorder;
use crate::core::pool::PoolCore;
use crate::core::telemetry::{Outcome, QueryClass};

/// One thread's telemetry for one pool.
pub(crate) struct ShardData {
    /// Ends of requests that held a connection (completions, errors,
    /// holds).
    traffic: IntervalRecorder,
    /// Acquire waits of the grants taken.
    waits: Histogram,
}

impl ShardData {
    /// A request that was granted a connection after waiting `waited` ns.
    #[inline]
    pub(crate) fn wait(&mut self, waited: Nanos) {
        self.waits.record(waited);
    }

    /// A request of `class` that held a connection for `hold` ns ended with
    /// `outcome`.
    #[inline]
    pub(crate) fn end(&mut self, class: QueryClass, hold: Nanos, outcome: Outcome) {
        self.traffic.on_end(class, hold, outcome);
    }
}

/// On lines of its own: it is written by one thread, and must not share a
/// line with another thread's shard.
#[repr(align(128))]
struct Shard(Mutex<ShardData>);

impl Shard {
    fn new() -> Self {
        Shard(Mutex::new(ShardData {
            traffic: IntervalRecorder::new(0),
            waits: Histogram::new(),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, ShardData> {
        // Counters only: a panic mid-update cannot leave them unusable.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Pools get distinct ids, never reused, so a thread's shard of a dropped
/// pool is never mistaken for one of a new pool.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's shards, by pool id.
    static LOCAL: RefCell<Vec<(u64, Arc<Shard>)>> = const { RefCell::new(Vec::new()) };
}

/// A pool's per-thread shards.
pub(crate) struct Shards {
    id: u64,
    all: Mutex<Vec<Arc<Shard>>>,
    /// For a thread whose thread-local storage is already gone (a
    /// connection dropped by a thread-local destructor).
    spare: Arc<Shard>,
}

impl Shards {
    pub(crate) fn new() -> Self {
        let spare = Arc::new(Shard::new());
        Shards {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            all: Mutex::new(vec![Arc::clone(&spare)]),
            spare,
        }
    }

    /// Runs `f` on this thread's shard. `f` must not record again.
    #[inline]
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut ShardData) -> R) -> R {
        let mut f = Some(f);
        let done = LOCAL.try_with(|local| {
            let local = local.borrow();
            local
                .iter()
                .find(|(id, _)| *id == self.id)
                .map(|(_, shard)| (f.take().expect("called once"))(&mut shard.lock()))
        });
        match done {
            Ok(Some(r)) => r,
            Ok(None) => self.with_new(f.take().expect("not called yet")),
            Err(_) => (f.take().expect("not called yet"))(&mut self.spare.lock()),
        }
    }

    /// This thread's first record for this pool: makes its shard.
    #[cold]
    fn with_new<R>(&self, f: impl FnOnce(&mut ShardData) -> R) -> R {
        let shard = Arc::new(Shard::new());
        self.all
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::clone(&shard));
        let r = f(&mut shard.lock());
        // Ignored once thread-local storage is gone: the shard is
        // registered with the pool, so nothing recorded is lost.
        let _ = LOCAL.try_with(|local| {
            let mut local = local.borrow_mut();
            // Shards of pools that are gone are held by this list alone.
            local.retain(|(_, s)| Arc::strong_count(s) > 1);
            local.push((self.id, shard));
        });
        r
    }

    /// Moves everything the shards recorded into the pool's `recorder` and
    /// `core` (call under the pool's lock, before closing an interval).
    ///
    /// A shard is about 90 KB (six histograms), so the shards of threads
    /// that have exited (held by this list alone) are dropped once drained.
    pub(crate) fn drain(&self, recorder: &mut IntervalRecorder, core: &mut PoolCore) {
        let mut all = self.all.lock().unwrap_or_else(PoisonError::into_inner);
        for shard in all.iter() {
            let mut s = shard.lock();
            recorder.absorb(&mut s.traffic);
            core.add_waits(&s.waits);
            s.waits.reset();
        }
        all.retain(|s| Arc::strong_count(s) > 1);
    }

    /// How many shards are kept (tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.all
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::interval::SystemSignals;
    use crate::core::pool::PoolConfig;
    use crate::core::telemetry::Snapshot;

    fn close(recorder: &mut IntervalRecorder, core: &mut PoolCore, now: Nanos) -> Snapshot {
        recorder.finish(now, core, ([0; 5], 0), SystemSignals::default())
    }

    #[test]
    fn every_thread_records_apart_and_drain_gathers_all_then_drops_exited_threads() {
        let shards = Arc::new(Shards::new());
        let mut recorder = IntervalRecorder::new(0);
        let mut core = PoolCore::new(PoolConfig::default(), 0).unwrap();
        core.set_driver_records_waits(true);
        shards.with(|s| {
            s.wait(1_000);
            s.end(QueryClass::Read, 2_000, Outcome::Ok);
        });
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let shards = Arc::clone(&shards);
                std::thread::spawn(move || {
                    for _ in 0..10 {
                        shards.with(|s| {
                            s.wait(3_000);
                            s.end(QueryClass::Read, 2_000, Outcome::Ok);
                        });
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // The spare, this thread's and three exited threads' shards.
        assert_eq!(shards.len(), 5);
        shards.drain(&mut recorder, &mut core);
        assert_eq!(shards.len(), 2, "exited threads' shards are dropped");
        let snap = close(&mut recorder, &mut core, 1_000_000);
        assert_eq!(snap.completions[0], 31);
        assert_eq!(snap.acquire_wait_max_ms, Some(0.003));
        assert_eq!(core.wait_histogram().count(), 31);
        // Drained: nothing is counted twice.
        shards.drain(&mut recorder, &mut core);
        let snap = close(&mut recorder, &mut core, 2_000_000);
        assert_eq!(snap.completions[0], 0);
    }
}
