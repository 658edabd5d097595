//! The streaming profile of a trace: every aggregate is bounded (bins
//! coarsen, the pattern and session tables prune), so a log of any size is
//! read in the same memory.

use std::collections::{BTreeMap, HashMap};

use poolcast::core::affinity::normalize;
use poolcast::core::erlang::connections_for_wait;
use poolcast::core::histogram::Histogram;
use poolcast::core::telemetry::{ErrorCategory, QueryClass};
use poolcast::core::{NANOS_PER_SEC, RequestRecord};
use poolcast_reports::trace::{ClassRow, PatternRow, Series, Sessions, Sizing, TraceProfile};

/// The finest bin: a second (Erlang C's steady state needs many holds per
/// bin, and a `%t` log's times are whole seconds).
const BIN0_NS: i64 = NANOS_PER_SEC as i64;
/// The most bins between the first and the last: more, and the width
/// doubles.
const MAX_BINS: i64 = 4096;
/// The most statement patterns kept; past it the rarest go.
const MAX_PATTERNS: usize = 100_000;
/// The most sessions remembered for think times; past it, those idle for
/// over [`SESSION_IDLE_NS`] go.
const MAX_SESSIONS: usize = 1 << 20;
/// A session idle this long starts again (its gap is not a think time).
const SESSION_IDLE_NS: i64 = 3600 * NANOS_PER_SEC as i64;
/// The largest pool Erlang C is asked about.
const MAX_POOL: u32 = 100_000;

/// One bin's traffic.
#[derive(Debug, Default, Clone, Copy)]
struct Bin {
    arrivals: u64,
    /// Sum of hold ns of the requests arriving in it.
    hold_ns: f64,
    /// Connection-ns spent in the bin by every request overlapping it.
    busy_ns: f64,
}

struct Pattern {
    count: u64,
    hold_ns: u128,
    class: QueryClass,
    statement: String,
}

/// Accumulates a trace's profile one request at a time.
pub(crate) struct Profiler {
    width: i64,
    bins: BTreeMap<i64, Bin>,
    /// Ends of the requests holding a connection, for the peak: only those
    /// still running at the latest arrival are kept.
    running: std::collections::BinaryHeap<std::cmp::Reverse<i64>>,
    peak: BTreeMap<i64, u32>,
    first: Option<i64>,
    last_end: i64,
    requests: u64,
    holds: [Histogram; QueryClass::COUNT],
    class_errors: [u64; QueryClass::COUNT],
    errors: [u64; ErrorCategory::COUNT],
    patterns: HashMap<u64, Pattern>,
    patterns_capped: bool,
    sessions: HashMap<u64, i64>,
    sessions_seen: u64,
    think: Histogram,
    /// Arrival times are out of order by up to this much (a log writes a
    /// request when it ends).
    latest_arrival: i64,
}

impl Profiler {
    pub(crate) fn new() -> Self {
        Profiler {
            width: BIN0_NS,
            bins: BTreeMap::new(),
            running: std::collections::BinaryHeap::new(),
            peak: BTreeMap::new(),
            first: None,
            last_end: i64::MIN,
            requests: 0,
            holds: Default::default(),
            class_errors: [0; QueryClass::COUNT],
            errors: [0; ErrorCategory::COUNT],
            patterns: HashMap::new(),
            patterns_capped: false,
            sessions: HashMap::new(),
            sessions_seen: 0,
            think: Histogram::new(),
            latest_arrival: i64::MIN,
        }
    }

    /// The earliest arrival added so far (ns, the epoch of `add`).
    pub(crate) fn first_ns(&self) -> Option<i64> {
        self.first
    }

    /// One request that arrived at `start` (ns, any epoch).
    pub(crate) fn add(&mut self, start: i64, r: &RequestRecord, statement: &str) {
        self.requests += 1;
        let hold = i64::try_from(r.hold_ns).unwrap_or(i64::MAX);
        let end = start.saturating_add(hold);
        self.first = Some(self.first.map_or(start, |f| f.min(start)));
        self.last_end = self.last_end.max(end);
        let c = r.class.index();
        self.holds[c].record(r.hold_ns);
        if let Some(cat) = r.outcome.category() {
            self.errors[cat.index()] += 1;
            self.class_errors[c] += 1;
        }
        self.bin(start, hold, end);
        self.peak_at(start, end);
        self.pattern(r, statement);
        self.session(r.client, start, end);
    }

    /// Adds the request to the bins it arrived in and overlaps.
    fn bin(&mut self, start: i64, hold: i64, end: i64) {
        let w = self.width;
        let first = start.div_euclid(w);
        let b = self.bins.entry(first).or_default();
        b.arrivals += 1;
        b.hold_ns += hold as f64;
        // Connection time per bin overlapped: the first and last bins
        // partly; those between wholly, as one amount spread later would
        // need a pass, so they are added one by one up to a bound (a
        // request longer than MAX_BINS bins is cut at the last of them).
        let last = end.div_euclid(w).min(first + MAX_BINS);
        for k in first..=last {
            let lo = (k * w).max(start);
            let hi = ((k + 1) * w).min(end);
            if hi > lo {
                self.bins.entry(k).or_default().busy_ns += (hi - lo) as f64;
            }
        }
        self.coarsen();
    }

    /// Doubles the bin width while the bins span more than [`MAX_BINS`].
    fn coarsen(&mut self) {
        loop {
            let (Some((&lo, _)), Some((&hi, _))) =
                (self.bins.first_key_value(), self.bins.last_key_value())
            else {
                return;
            };
            if hi - lo < MAX_BINS {
                return;
            }
            self.width = self.width.saturating_mul(2);
            let old = std::mem::take(&mut self.bins);
            for (k, b) in old {
                let m = self.bins.entry(k.div_euclid(2)).or_default();
                m.arrivals += b.arrivals;
                m.hold_ns += b.hold_ns;
                m.busy_ns += b.busy_ns;
            }
            let old = std::mem::take(&mut self.peak);
            for (k, p) in old {
                let m = self.peak.entry(k.div_euclid(2)).or_default();
                *m = (*m).max(p);
            }
        }
    }

    /// Counts the requests holding a connection at `start` (those
    /// arriving later in the file than their start are counted from the
    /// requests seen so far: a log writes a request when it ends, so the
    /// count is a lower bound within the log's reordering window).
    fn peak_at(&mut self, start: i64, end: i64) {
        use std::cmp::Reverse;
        if start >= self.latest_arrival {
            self.latest_arrival = start;
            while self.running.peek().is_some_and(|Reverse(e)| *e <= start) {
                self.running.pop();
            }
        }
        self.running.push(Reverse(end));
        let n = u32::try_from(self.running.len()).unwrap_or(u32::MAX);
        let p = self.peak.entry(start.div_euclid(self.width)).or_default();
        *p = (*p).max(n);
    }

    fn pattern(&mut self, r: &RequestRecord, statement: &str) {
        match self.patterns.get_mut(&r.pattern_hash) {
            Some(p) => {
                p.count += 1;
                p.hold_ns += u128::from(r.hold_ns);
            }
            None => {
                if self.patterns.len() >= MAX_PATTERNS {
                    self.prune_patterns();
                }
                let statement = if statement.is_empty() {
                    format!("pattern {:016x}", r.pattern_hash)
                } else {
                    // Literals out, and at most 300 characters kept.
                    normalize(&statement.chars().take(2000).collect::<String>())
                        .chars()
                        .take(300)
                        .collect()
                };
                self.patterns.insert(
                    r.pattern_hash,
                    Pattern {
                        count: 1,
                        hold_ns: u128::from(r.hold_ns),
                        class: r.class,
                        statement,
                    },
                );
            }
        }
    }

    /// Drops the rarest half of the patterns.
    fn prune_patterns(&mut self) {
        self.patterns_capped = true;
        let mut counts: Vec<u64> = self.patterns.values().map(|p| p.count).collect();
        let mid = counts.len() / 2;
        let (_, median, _) = counts.select_nth_unstable(mid);
        let median = *median;
        // Strictly above the median: at most half stay.
        self.patterns.retain(|_, p| p.count > median);
    }

    fn session(&mut self, client: u64, start: i64, end: i64) {
        if client == 0 {
            return;
        }
        match self.sessions.insert(client, end) {
            Some(prev) if start >= prev && start - prev < SESSION_IDLE_NS => {
                self.think.record(u64::try_from(start - prev).unwrap_or(0));
            }
            Some(_) => {}
            None => self.sessions_seen += 1,
        }
        if self.sessions.len() > MAX_SESSIONS {
            let now = self.latest_arrival;
            self.sessions
                .retain(|_, e| now.saturating_sub(*e) < SESSION_IDLE_NS);
        }
    }

    /// The profile, with `wait_target_ms` for sizing.
    pub(crate) fn finish(self, wait_target_ms: f64, top: usize) -> TraceProfile {
        let ms = |ns: Option<f64>| ns.map_or(f64::NAN, |v| v / 1e6);
        let classes = QueryClass::ALL
            .iter()
            .filter(|c| self.holds[c.index()].count() > 0)
            .map(|c| {
                let h = &self.holds[c.index()];
                ClassRow {
                    class: c.name().to_string(),
                    requests: h.count(),
                    errors: self.class_errors[c.index()],
                    hold_ms: [
                        ms(h.quantile(0.5)),
                        ms(h.quantile(0.95)),
                        ms(h.quantile(0.99)),
                        ms(h.max().map(|v| v as f64)),
                    ],
                    hold_mean_ms: ms(h.mean()),
                }
            })
            .collect();
        let mut rows: Vec<PatternRow> = self
            .patterns
            .values()
            .map(|p| PatternRow {
                statement: p.statement.clone(),
                class: p.class.name().to_string(),
                count: p.count,
                hold_s: p.hold_ns as f64 / 1e9,
                mean_ms: p.hold_ns as f64 / p.count as f64 / 1e6,
            })
            .collect();
        // Ties broken by the statement: the same trace, the same tables.
        rows.sort_by(|a, b| b.count.cmp(&a.count).then(a.statement.cmp(&b.statement)));
        let top_by_count = rows.iter().take(top).cloned().collect();
        rows.sort_by(|a, b| {
            b.hold_s
                .total_cmp(&a.hold_s)
                .then(a.statement.cmp(&b.statement))
        });
        let top_by_hold = rows.iter().take(top).cloned().collect();
        let (series, sizing) = self.series(wait_target_ms);
        let thinks = self.think.count();
        TraceProfile {
            requests: self.requests,
            span_s: match self.first {
                Some(f) => self.last_end.saturating_sub(f) as f64 / 1e9,
                None => 0.0,
            },
            classes,
            top_by_count,
            top_by_hold,
            patterns: self.patterns.len() as u64,
            patterns_capped: self.patterns_capped,
            sessions: Sessions {
                sessions: self.sessions_seen,
                requests_per_session: if self.sessions_seen > 0 {
                    self.requests as f64 / self.sessions_seen as f64
                } else {
                    f64::NAN
                },
                think_ms: [
                    ms(self.think.quantile(0.5)),
                    ms(self.think.quantile(0.95)),
                    ms(self.think.quantile(0.99)),
                ],
                thinks,
            },
            errors: ErrorCategory::ALL
                .iter()
                .filter(|c| self.errors[c.index()] > 0)
                .map(|c| (c.name().to_string(), self.errors[c.index()]))
                .collect(),
            series,
            sizing,
            ..TraceProfile::default()
        }
    }

    /// The dense series from the first bin to the last, and the sizing.
    fn series(&self, wait_target_ms: f64) -> (Series, Sizing) {
        let w = self.width as f64 / 1e9;
        let mut s = Series {
            bin_s: w,
            ..Series::default()
        };
        let (Some((&lo, _)), Some((&hi, _))) =
            (self.bins.first_key_value(), self.bins.last_key_value())
        else {
            return (
                s,
                Sizing {
                    wait_target_ms,
                    ..Sizing::default()
                },
            );
        };
        let mut needed = Vec::new();
        for k in lo..=hi {
            let b = self.bins.get(&k).copied().unwrap_or_default();
            let rate = b.arrivals as f64 / w;
            let busy = b.busy_ns / (w * 1e9);
            let pool = if b.arrivals > 0 {
                let service = b.hold_ns / b.arrivals as f64 / 1e9;
                let c =
                    connections_for_wait(rate * service, service, wait_target_ms / 1e3, MAX_POOL);
                needed.push(f64::from(c));
                f64::from(c)
            } else {
                0.0
            };
            s.t_s.push((k - lo) as f64 * w);
            s.arrivals_per_s.push(rate);
            s.busy_mean.push(busy);
            s.busy_peak
                .push(f64::from(self.peak.get(&k).copied().unwrap_or(0)));
            s.pool_needed.push(pool);
        }
        needed.sort_by(f64::total_cmp);
        let q = |p: f64| {
            if needed.is_empty() {
                0.0
            } else {
                needed[((needed.len() - 1) as f64 * p).round() as usize]
            }
        };
        let sizing = Sizing {
            wait_target_ms,
            needed: [q(0.5), q(0.95), needed.last().copied().unwrap_or(0.0)],
            busy_peak: s.busy_peak.iter().copied().fold(0.0, f64::max),
        };
        (s, sizing)
    }
}
