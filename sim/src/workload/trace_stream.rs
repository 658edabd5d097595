//! Reading a recorded trace in arrival order without holding it: the
//! files are read in the order they were written, once to survey them
//! ([`Survey`]) and again for every pass over the requests
//! ([`Sorter`]), which puts them in arrival order through a heap
//! that holds only the requests still out of order.
//!
//! Why a window is enough: a recorder writes a request when it ends, so
//! its files are in completion order, and a request can come after ones
//! that arrived later by at most its own wait and hold. The survey
//! measures the largest such lag, `window`: no request written after one
//! that arrived at `a` arrives before `a − window`. The stream therefore
//! lets a request out of the heap once a request arriving `window` after
//! it has been read. Its output is the stable sort by arrival of the
//! file order, the order an in-memory sort gives.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::path::PathBuf;
use std::sync::Arc;

use poolcast::core::telemetry::{Outcome, QueryClass};
use poolcast::core::{Nanos, RequestRecord};

use crate::rng::{Fnv64, splitmix64};

/// One replayed request (read from a trace, in replay time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayRequest {
    /// Arrival, ns after replay time 0.
    pub at: Nanos,
    /// Query class.
    pub class: QueryClass,
    /// Statement pattern hash (0: unknown).
    pub pattern: u64,
    /// Connection hold, ns.
    pub hold_ns: Nanos,
    /// The acquire wait the trace recorded, ns.
    pub recorded_wait_ns: Nanos,
    /// Whether the trace's pool granted it a connection (else it timed
    /// out or was refused, and `hold_ns` was filled in).
    pub granted: bool,
    /// The client that sent it (0: unknown).
    pub client: u64,
    /// When it ended in the trace (replay time): its arrival plus its
    /// recorded wait and hold (plus `hold_add_ms`).
    pub recorded_end: Nanos,
}

/// The bytes one replayed request takes in memory.
pub const REQUEST_BYTES: u64 = std::mem::size_of::<ReplayRequest>() as u64;

/// Where a trace's records come from, in the order they were written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Source {
    /// Records in memory.
    Records(Arc<Vec<RequestRecord>>),
    /// Recorder `requests-*.csv` files, in name order, read a line at a
    /// time.
    Recorder(Vec<PathBuf>),
    /// A simulator `requests.parquet`, read a row group at a time.
    Parquet(PathBuf),
    /// PostgreSQL server logs (csvlog, jsonlog or stderr, found from each
    /// file), read whole on each pass: a statement's lines are paired
    /// across the whole log.
    Log(Vec<PathBuf>, poolcast_datasets::LogFormat),
}

/// Records in the order they were written; an `Err` ends them.
type Records = Box<dyn Iterator<Item = Result<RequestRecord, String>> + Send>;

impl Source {
    fn open(&self) -> Records {
        self.open_with_form().0
    }

    /// The records, and for a log the form it was read in (with the
    /// stderr prefix used).
    fn open_with_form(&self) -> (Records, Option<String>) {
        let records: Records = match self {
            Source::Records(v) => {
                let v = Arc::clone(v);
                Box::new((0..v.len()).map(move |i| Ok(v[i])))
            }
            Source::Recorder(files) => {
                Box::new(files.clone().into_iter().flat_map(|f| -> Records {
                    match poolcast_datasets::RecorderRequests::open(&f) {
                        Ok(r) => Box::new(r.map(|x| x.map_err(|e| e.to_string()))),
                        Err(e) => Box::new(std::iter::once(Err(e.to_string()))),
                    }
                }))
            }
            Source::Parquet(p) => match poolcast_datasets::RecordReader::open(p) {
                Ok(r) => Box::new(r.map(|x| x.map_err(|e| e.to_string()))),
                Err(e) => Box::new(std::iter::once(Err(e.to_string()))),
            },
            Source::Log(files, format) => match poolcast_datasets::read_logs(files, format) {
                Ok(log) => {
                    let form = Some(log.format);
                    return (Box::new(log.records.into_iter().map(Ok)), form);
                }
                Err(e) => Box::new(std::iter::once(Err(e.to_string()))),
            },
        };
        (records, None)
    }
}

/// Whether `r` held a connection in the trace: it was granted one (not
/// timed out or refused) and its hold was measured.
fn held(r: &RequestRecord) -> bool {
    r.hold_ns > 0 && !matches!(r.outcome, Outcome::AcquireTimeout | Outcome::Rejected(_))
}

/// Recorded holds kept per class to fill in the holds of requests that
/// held no connection: a uniform sample, so that its memory does not grow
/// with the trace (at most 5 × 8 × 65,536 bytes).
const HOLD_SAMPLE: usize = 1 << 16;

/// Salt of the hash that picks a filled-in hold, apart from the one that
/// samples the holds.
const FILL_SALT: u64 = 0x6a09_e667_f3bc_c908;

/// What one read of a trace's files found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Survey {
    /// Records arriving at or after the start.
    pub count: u64,
    /// Of those, records that held no connection.
    pub filled: u64,
    /// The largest lag of a record behind the latest arrival before it.
    pub window_ns: Nanos,
    /// The last arrival, replay time.
    pub last_at: Nanos,
    /// The horizon `within_horizon` counts to (replay time).
    pub horizon_ns: Nanos,
    /// Records arriving by `horizon_ns`.
    pub within_horizon: u64,
    /// The trace is a log whose times are whole seconds (a stderr
    /// prefix's `%t`).
    pub whole_seconds: bool,
    /// Per class, a uniform sample of the recorded holds, in sample order.
    holds: Vec<Vec<Nanos>>,
    /// Every class's sample together, for a class that held none.
    any: Vec<Nanos>,
    /// FNV-1a of the records in file order (times, classes, patterns,
    /// holds, whether they held a connection, clients) and of the timing.
    pub fingerprint: u64,
    /// Records that name their client.
    pub with_client: u64,
}

/// How the records are placed on replay time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Timing {
    /// Records arriving before this (trace time) are skipped.
    pub start_ns: Nanos,
    /// Replay time = (arrival − start) / speed.
    pub speed: f64,
    /// Added to every replayed hold: what a server-side duration leaves
    /// out of a client's hold (round trips, the client's own work).
    pub hold_add_ns: Nanos,
}

impl Timing {
    fn at(&self, arrival_ns: Nanos) -> Nanos {
        ((arrival_ns - self.start_ns) as f64 / self.speed).round() as Nanos
    }
}

/// A kept record in the heap, ordered by replay time, then by file order.
#[derive(Debug, Clone, Copy)]
struct Pending {
    at: Nanos,
    seq: u64,
    record: RequestRecord,
}

impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

fn hash_record(h: &mut Fnv64, timing: &Timing, r: &RequestRecord) {
    h.write_u64(timing.at(r.arrival_ns));
    h.write_u64(r.class.index() as u64);
    h.write_u64(r.pattern_hash);
    h.write_u64(r.hold_ns);
    h.write_u64(u64::from(held(r)));
    // Only when known, so a trace without clients keeps the fingerprint
    // it had before clients were recorded.
    if r.client != 0 {
        h.write_u64(r.client);
    }
}

/// The fingerprint of records hashed into `h` by [`hash_record`]: the
/// timing is part of it, as it changes every replayed request.
fn finish_hash(mut h: Fnv64, timing: &Timing) -> u64 {
    h.write_u64(timing.start_ns);
    h.write_u64(timing.speed.to_bits());
    h.write_u64(timing.hold_add_ns);
    h.finish()
}

/// A year: beyond it a time is not a trace's, and sums of times could
/// overflow the engine's clock.
const YEAR_NS: Nanos = 365 * 86_400 * 1_000_000_000;

impl Survey {
    /// Reads `source` once, keeping the records (arriving from the start,
    /// in file order) if their replayed requests take at most
    /// `keep_bytes`.
    ///
    /// # Errors
    /// What could not be read; a time beyond a trace's; no record left
    /// after the start, or none that held a connection.
    pub fn take(
        source: &Source,
        timing: &Timing,
        horizon_ns: Nanos,
        keep_bytes: u64,
    ) -> Result<(Survey, Option<Vec<RequestRecord>>), String> {
        let mut kept = Some(Vec::new());
        // Per class, a max-heap of (hash of position, hold): the sample is
        // the records with the smallest hashes, uniform and the same
        // whatever the order they are read in.
        let mut samples: Vec<BinaryHeap<(u64, Nanos)>> =
            (0..QueryClass::COUNT).map(|_| BinaryHeap::new()).collect();
        let mut hash = Fnv64::new();
        let (mut count, mut filled, mut window, mut latest, mut last_at, mut within) =
            (0u64, 0u64, 0, 0, 0, 0u64);
        let mut with_client = 0u64;
        let (records, form) = source.open_with_form();
        for r in records {
            let r = r?;
            if r.arrival_ns > 100 * YEAR_NS || r.hold_ns > YEAR_NS {
                return Err(format!(
                    "a request arriving at {} ns holds for {} ns: expected arrivals within \
                     100 years and holds within a year of the trace's start",
                    r.arrival_ns, r.hold_ns
                ));
            }
            if r.arrival_ns < timing.start_ns {
                continue;
            }
            let seq = count;
            count += 1;
            if count.saturating_mul(REQUEST_BYTES) > keep_bytes {
                kept = None;
            }
            if let Some(k) = &mut kept {
                k.push(r);
            }
            latest = r.arrival_ns.max(latest);
            window = window.max(latest - r.arrival_ns);
            let at = timing.at(r.arrival_ns);
            last_at = last_at.max(at);
            within += u64::from(at <= horizon_ns);
            hash_record(&mut hash, timing, &r);
            with_client += u64::from(r.client != 0);
            if held(&r) {
                let s = &mut samples[r.class.index()];
                let key = splitmix64(seq);
                if s.len() < HOLD_SAMPLE {
                    s.push((key, r.hold_ns));
                } else if s.peek().is_some_and(|&(k, _)| key < k) {
                    s.pop();
                    s.push((key, r.hold_ns));
                }
            } else {
                filled += 1;
            }
        }
        if count == 0 {
            return Err("no request arrives after start_s".into());
        }
        let fingerprint = finish_hash(hash, timing);
        let holds: Vec<Vec<Nanos>> = samples
            .into_iter()
            .map(|s| s.into_sorted_vec().into_iter().map(|(_, h)| h).collect())
            .collect();
        let any: Vec<Nanos> = holds.iter().flatten().copied().collect();
        if any.is_empty() {
            return Err(
                "no request in the trace held a connection, so there is no hold time to replay"
                    .into(),
            );
        }
        let survey = Survey {
            count,
            filled,
            window_ns: window,
            last_at,
            horizon_ns,
            within_horizon: within,
            whole_seconds: form
                .as_deref()
                .is_some_and(poolcast_datasets::pglog::whole_second_times),
            with_client,
            holds,
            any,
            fingerprint,
        };
        Ok((survey, kept))
    }

    /// The replayed request of the record at file position `seq`: its hold
    /// if it held a connection, else a sampled hold of its class (of any
    /// class when its class held none), picked by a hash of `seq`.
    fn request(&self, timing: &Timing, seq: u64, r: &RequestRecord) -> ReplayRequest {
        let granted = held(r);
        let hold_ns = if granted {
            r.hold_ns
        } else {
            let pool = &self.holds[r.class.index()];
            let pool = if pool.is_empty() { &self.any } else { pool };
            pool[(splitmix64(seq ^ FILL_SALT) % pool.len() as u64) as usize]
        };
        let end = r
            .arrival_ns
            .saturating_add(r.acquire_wait_ns)
            .saturating_add(r.hold_ns);
        ReplayRequest {
            at: timing.at(r.arrival_ns),
            class: r.class,
            pattern: r.pattern_hash,
            hold_ns: hold_ns + timing.hold_add_ns,
            recorded_wait_ns: r.acquire_wait_ns,
            granted,
            client: r.client,
            recorded_end: timing.at(end) + timing.hold_add_ns,
        }
    }

    /// The replayed requests of `kept` (the survey's records, in file
    /// order) in arrival order, sorted in memory: the order and requests
    /// of a [`Sorter`] over the same records.
    pub fn sorted_in_memory(
        &self,
        timing: &Timing,
        kept: Vec<RequestRecord>,
    ) -> Vec<ReplayRequest> {
        let mut requests: Vec<ReplayRequest> = kept
            .iter()
            .enumerate()
            .map(|(seq, r)| self.request(timing, seq as u64, r))
            .collect();
        drop(kept);
        // Stable: ties keep file order, as the sorter's (time, position).
        requests.sort_by_key(|r| r.at);
        requests
    }

    fn check_same(&self, count: u64, hash: Fnv64, timing: &Timing) -> Result<(), String> {
        if count != self.count || finish_hash(hash, timing) != self.fingerprint {
            return Err(format!(
                "the trace changed while it was replayed ({count} requests read, {} when it \
                 was first read): replay a copy that nothing writes to",
                self.count
            ));
        }
        Ok(())
    }
}

/// What a stream reads from.
pub(crate) struct Plan {
    pub source: Source,
    pub timing: Timing,
    pub survey: Survey,
}

/// The replayed requests of a trace in arrival order, read from its files
/// as they are drawn: it holds the requests within the survey's window
/// of the latest one read.
///
/// A read error ends the stream and is kept in `error`, for the caller to
/// report once the run ends.
pub(crate) struct Sorter {
    plan: Arc<Plan>,
    records: Records,
    heap: BinaryHeap<Pending>,
    /// The most requests the heap has held.
    pub peak: usize,
    seq: u64,
    latest: Nanos,
    /// No record still to come arrives before `latest − window` (nor
    /// before the start), so none is replayed before this: the heap's
    /// requests up to it can go out.
    ready: Nanos,
    hash: Fnv64,
    done: bool,
    error: Arc<std::sync::Mutex<Option<String>>>,
}

impl Sorter {
    pub fn new(plan: Arc<Plan>, error: Arc<std::sync::Mutex<Option<String>>>) -> Sorter {
        let records = plan.source.open();
        Sorter {
            plan,
            records,
            heap: BinaryHeap::new(),
            peak: 0,
            seq: 0,
            latest: 0,
            ready: 0,
            hash: Fnv64::new(),
            done: false,
            error,
        }
    }

    fn fail(&mut self, e: String) {
        self.done = true;
        self.heap.clear();
        let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert(e);
    }
}

impl Iterator for Sorter {
    type Item = ReplayRequest;

    fn next(&mut self) -> Option<ReplayRequest> {
        let window = self.plan.survey.window_ns;
        let start = self.plan.timing.start_ns;
        loop {
            if let Some(top) = self.heap.peek()
                && (self.done || top.at <= self.ready)
            {
                let p = self.heap.pop()?;
                let timing = self.plan.timing;
                return Some(self.plan.survey.request(&timing, p.seq, &p.record));
            }
            if self.done {
                return None;
            }
            match self.records.next() {
                None => {
                    self.done = true;
                    let hash = std::mem::replace(&mut self.hash, Fnv64::new());
                    let timing = self.plan.timing;
                    if let Err(e) = self.plan.survey.check_same(self.seq, hash, &timing) {
                        self.fail(e);
                    }
                }
                Some(Err(e)) => self.fail(e),
                Some(Ok(r)) => {
                    if r.arrival_ns < self.plan.timing.start_ns {
                        continue;
                    }
                    if r.arrival_ns.saturating_add(window) < self.latest {
                        // Later than the survey found possible: the files
                        // changed, and replaying it would go back in time.
                        self.fail(format!(
                            "the trace changed while it was replayed (a request arriving at {} ns \
                             comes {} ns after a later one, more than the {window} ns the trace \
                             had when it was first read): replay a copy that nothing writes to",
                            r.arrival_ns,
                            self.latest - r.arrival_ns
                        ));
                        continue;
                    }
                    let timing = self.plan.timing;
                    hash_record(&mut self.hash, &timing, &r);
                    if r.arrival_ns > self.latest {
                        self.latest = r.arrival_ns;
                        self.ready = timing.at(self.latest.saturating_sub(window).max(start));
                    }
                    self.heap.push(Pending {
                        at: timing.at(r.arrival_ns),
                        seq: self.seq,
                        record: r,
                    });
                    self.peak = self.peak.max(self.heap.len());
                    self.seq += 1;
                }
            }
        }
    }
}
