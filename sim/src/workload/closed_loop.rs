//! Closed-loop replay: a recorded client's next request waits for its
//! previous one, so a replay through a slower or faster pool sends what
//! the service's clients would have sent, not the recorded arrival times.
//!
//! A trace's requests carry the client that made them (the runtime
//! recorder's tokio task, a csvlog's session). Per client, in recorded
//! order, each request is linked to the one before it:
//!
//! - **after its end**, when it arrived after the previous one ended in
//!   the trace: it arrives the recorded think time (its arrival minus the
//!   previous end) after the previous request ends *in the simulation*;
//! - **beside it**, when it arrived while the previous one was still
//!   running (a client holding two connections at once): it keeps its
//!   recorded offset from the previous request's simulated arrival;
//! - **on its own**, when the think time exceeds `chain_gap` (the client
//!   was idle, so whatever woke it is not the previous query), or the
//!   client is unknown (0): it keeps its recorded time.
//!
//! With a timer tick (`think_tick_ms`), a request after its previous one's
//! end moves from its recorded time by that end's change rounded to whole
//! ticks, not by the change itself. A client that sleeps between requests
//! wakes on its timer's tick (tokio's is 1 ms), together with every other
//! client whose sleep ends in that tick; a think time replayed to the
//! nanosecond spreads those arrivals out, and with them the waits they
//! cause (measured on `pg_service`: `docs/findings/2026-12-03-replay-fidelity.md`). Rounding to the
//! nearest tick is unbiased when the recorded end fell anywhere in its tick.
//!
//! By default a chain keeps its length: a client that waits longer than it
//! did in the trace sends the same requests later, as a client that loops
//! over a fixed amount of work does (or a web request, whose queries all
//! run). A client that stops at a deadline sends fewer; the trace cannot
//! tell the two apart, so `chain_end = "deadline"` says which
//! ([`ClosedLoop::with_deadlines`]): a late request is sent only if its
//! chain was still sending at the time it would come, that is if one of
//! the chain's requests was recorded then or later. Whether it was is
//! known only once the trace is read that far, so a late chain's next
//! request can wait undecided ([`ClosedLoop::settle`]) while the trace is
//! read up to its last read request's recorded end plus `chain_gap`.
//!
//! The requests come from the trace in recorded order, and a faster pool
//! moves a chain ahead of its recorded times, so the stream is read ahead
//! by the furthest any chain has run ahead so far ([`ClosedLoop::wake_at`]).
//! Held requests are those read ahead plus those waiting on a previous
//! request: memory follows the concurrency and the lead, not the trace.
//!
//! Hand-written: this is the replay's own dependency model; no crate
//! schedules trace replay against a simulated server.

use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use poolcast::core::Nanos;

use super::replay::ReplayRequest;

/// A request of a chain, as the engine hands it back when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChainRef {
    /// The client (0: none). In an open-loop replay it is only recorded;
    /// nothing waits on it.
    pub client: u64,
    /// Its position in the client's requests.
    pub seq: u32,
}

/// The request of a client that the next one is linked to.
#[derive(Debug, Clone, Copy)]
struct Last {
    seq: u32,
    rec_at: Nanos,
    rec_end: Nanos,
    sim_at: Nanos,
    sim_end: Option<Nanos>,
}

#[derive(Debug, Default)]
struct Client {
    /// The latest scheduled request (absent only before the first).
    last: Option<Last>,
    /// Requests read from the trace and waiting for the one before them
    /// to end, in order.
    queue: VecDeque<ReplayRequest>,
    next_seq: u32,
    /// With deadlines: the head of the queue is undecided until the trace
    /// is read to this recorded time.
    need: Option<Nanos>,
}

/// A scheduled arrival, earliest first, then in the order scheduled.
#[derive(Debug, Clone, Copy)]
struct Due {
    at: Nanos,
    order: u64,
    req: ReplayRequest,
    chain: ChainRef,
}

impl PartialEq for Due {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.order) == (o.at, o.order)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Due {
    /// Reversed: `BinaryHeap` pops the earliest.
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (o.at, o.order).cmp(&(self.at, self.order))
    }
}

/// Counts of how the replayed requests were linked (those scheduled by
/// the end of the run).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChainCounts {
    /// Requests that arrived after their client's previous one ended.
    pub after_end: u64,
    /// Requests that arrived beside their client's previous one.
    pub beside: u64,
    /// Requests that kept their recorded time (first of a chain, after a
    /// gap longer than `chain_gap`, or of no known client).
    pub own_time: u64,
    /// With deadlines: requests never sent, because their client would
    /// have reached them after its chain's last recorded request.
    #[serde(default)]
    pub dropped: u64,
}

/// How a request is linked to its client's previous one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Beside,
    AfterEnd,
    OwnTime,
}

/// Whether a chain was still sending at some time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chain {
    /// Yes: one of its requests was recorded then or later.
    Sending,
    /// No: it ended with the first `n` requests of the queue.
    Stopped(usize),
    /// Not known until the trace is read to this recorded time.
    Unknown(Nanos),
}

/// Whether the chain starting at the head of `queue` (a client's requests
/// read and not yet scheduled, in recorded order) was still sending at
/// recorded time `at`: whether one of its requests was recorded at `at` or
/// later. Its requests follow one another within `gap` of the previous
/// one's recorded end; `horizon` is the recorded time of the first request
/// not read yet (`None`: unknown).
fn chain_at(
    queue: &VecDeque<ReplayRequest>,
    gap: Nanos,
    at: Nanos,
    horizon: Option<Nanos>,
) -> Chain {
    let mut prev = queue[0];
    if prev.at >= at {
        return Chain::Sending;
    }
    for (i, q) in queue.iter().enumerate().skip(1) {
        if q.at.saturating_sub(prev.recorded_end) > gap {
            return Chain::Stopped(i);
        }
        if q.at >= at {
            return Chain::Sending;
        }
        prev = *q;
    }
    // The next request of the chain, if any, is not read yet: it would be
    // recorded after `horizon`, and within `gap` of the last one's end.
    let need = prev.recorded_end.saturating_add(gap);
    match horizon {
        Some(h) if h > need => Chain::Stopped(queue.len()),
        _ => Chain::Unknown(need),
    }
}

/// The arrivals of a closed-loop replay. Feed it the trace's requests in
/// recorded order ([`ClosedLoop::offer`]) while
/// [`ClosedLoop::wants`] says so, take arrivals with [`ClosedLoop::pop`],
/// and report every request's end with [`ClosedLoop::ended`].
#[derive(Debug)]
pub struct ClosedLoop {
    chain_gap: Nanos,
    /// The clients' timer tick (0: none).
    tick: Nanos,
    clients: HashMap<u64, Client>,
    due: BinaryHeap<Due>,
    order: u64,
    /// The most any request has been moved earlier than its recorded
    /// time, ns (≥ 0): how far ahead of the replay the trace is read.
    lead: Nanos,
    /// Clients that may be forgotten once the trace is read past a time:
    /// (that time, client, the request that was last).
    expiry: VecDeque<(Nanos, u64, u32)>,
    /// Recorded time of the latest request offered.
    read_to: Nanos,
    counts: ChainCounts,
    /// Chains stop at their last recorded request (else they send all of
    /// theirs, however late).
    deadline: bool,
    /// With deadlines: clients whose next request is undecided until the
    /// trace is read to a recorded time.
    pending: std::collections::BTreeMap<u64, Nanos>,
    /// The latest of `pending`'s times (0 when none).
    need_to: Nanos,
    /// Requests [`Self::advance`] schedules, kept to reuse the allocation.
    scratch: Vec<(Nanos, ReplayRequest, ChainRef)>,
}

impl ClosedLoop {
    /// A replay in which a think time over `chain_gap` ns starts a new
    /// chain.
    pub fn new(chain_gap: Nanos) -> ClosedLoop {
        ClosedLoop {
            chain_gap,
            tick: 0,
            clients: HashMap::new(),
            due: BinaryHeap::new(),
            order: 0,
            lead: 0,
            expiry: VecDeque::new(),
            read_to: 0,
            counts: ChainCounts::default(),
            deadline: false,
            pending: std::collections::BTreeMap::new(),
            need_to: 0,
            scratch: Vec::new(),
        }
    }

    /// The same, with chains that stop at their last recorded request: a
    /// client that falls behind its recording sends no request later than
    /// the last one it sent in the trace (a worker looping until a
    /// deadline), instead of all of them late (a worker with a fixed
    /// amount of work).
    pub fn with_deadlines(mut self, deadline: bool) -> ClosedLoop {
        self.deadline = deadline;
        self
    }

    /// The same, for clients whose timers tick every `tick` ns (0: none).
    pub fn with_tick(mut self, tick: Nanos) -> ClosedLoop {
        self.tick = tick;
        self
    }

    /// When a request recorded at `at`, after its previous one's recorded
    /// end `rec_end`, arrives now that the previous one ended at `sim_end`:
    /// its think time after `sim_end`, or, with a tick, its recorded time
    /// moved by `sim_end − rec_end` rounded to whole ticks (never before
    /// `sim_end`).
    fn after_end(tick: Nanos, at: Nanos, rec_end: Nanos, sim_end: Nanos) -> Nanos {
        if tick == 0 {
            return sim_end + (at - rec_end);
        }
        let tick = i128::from(tick);
        let moved = i128::from(sim_end) - i128::from(rec_end);
        // Nearest whole tick, halves away from zero.
        let ticks = (moved.abs() + tick / 2) / tick * moved.signum();
        let t = (i128::from(at) + ticks * tick).clamp(0, i128::from(Nanos::MAX));
        (t as Nanos).max(sim_end)
    }

    /// Whether the next trace request, recorded at `next_at`, must be
    /// offered at `now`: it could be due by then. (Read no earlier, so that
    /// requests waiting on a previous one are not read in bulk.)
    /// With deadlines, also while a client's chain is undecided up to it.
    #[inline]
    pub fn wants(&self, now: Nanos, next_at: Nanos) -> bool {
        next_at.saturating_sub(self.lead) <= now || next_at <= self.need_to
    }

    /// When the replay must next act, given the next trace request's
    /// recorded time (`None`: the trace is read): the earliest scheduled
    /// arrival, or the earliest time the next trace request could be due,
    /// whichever is first, and never before `now`.
    pub fn wake_at(&self, now: Nanos, next_at: Option<Nanos>) -> Option<Nanos> {
        let read = next_at.map(|t| t.saturating_sub(self.lead));
        let due = self.due.peek().map(|d| d.at);
        let t = match (read, due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        t.map(|t| t.max(now))
    }

    /// The earliest scheduled arrival if it is due by `now`.
    pub fn pop(&mut self, now: Nanos) -> Option<(ReplayRequest, ChainRef)> {
        if self.due.peek().is_some_and(|d| d.at <= now) {
            self.due.pop().map(|d| (d.req, d.chain))
        } else {
            None
        }
    }

    /// How the requests offered so far were linked.
    pub fn counts(&self) -> ChainCounts {
        self.counts
    }

    /// Requests held: scheduled and waiting for their previous one.
    pub fn held(&self) -> usize {
        self.due.len() + self.clients.values().map(|c| c.queue.len()).sum::<usize>()
    }

    fn schedule(&mut self, at: Nanos, req: ReplayRequest, chain: ChainRef) {
        self.lead = self.lead.max(req.at.saturating_sub(at));
        self.order += 1;
        self.due.push(Due {
            at,
            order: self.order,
            req,
            chain,
        });
    }

    /// The trace's next request, in recorded order, read at simulated time
    /// `now`.
    pub fn offer(&mut self, now: Nanos, req: ReplayRequest) {
        self.read_to = self.read_to.max(req.at);
        self.forget_idle();
        if req.client == 0 {
            self.counts.own_time += 1;
            self.schedule(req.at.max(now), req, ChainRef::default());
            return;
        }
        let client = self.clients.entry(req.client).or_default();
        client.queue.push_back(req);
        // Only the head of a queue can be due: a request behind others
        // waits for them.
        if client.queue.len() == 1 || client.need.is_some() {
            self.advance(req.client, now, None);
        }
    }

    /// Makes `req`, arriving at `at`, its client's last request.
    fn link(client: &mut Client, at: Nanos, req: &ReplayRequest) -> ChainRef {
        let seq = client.next_seq;
        client.next_seq = client.next_seq.wrapping_add(1);
        client.last = Some(Last {
            seq,
            rec_at: req.at,
            rec_end: req.recorded_end,
            sim_at: at,
            sim_end: None,
        });
        ChainRef {
            client: req.client,
            seq,
        }
    }

    /// A request ended at `now` (served, failed, timed out or refused):
    /// the requests of its client waiting on it are scheduled.
    pub fn ended(&mut self, now: Nanos, chain: ChainRef) {
        if chain.client == 0 {
            return;
        }
        let Some(client) = self.clients.get_mut(&chain.client) else {
            return;
        };
        let Some(last) = client.last.as_mut().filter(|l| l.seq == chain.seq) else {
            // An earlier request beside the last one: nothing waits on it.
            return;
        };
        last.sim_end = Some(now);
        // Its client's next request, if after its end, is now due earlier
        // than recorded by as much as this one ended early: read that far
        // ahead.
        self.lead = self.lead.max(last.rec_end.saturating_sub(now));
        self.advance(chain.client, now, None);
    }

    /// Schedules the requests at the head of `client`'s queue that can be:
    /// every one linked beside the one before it, or after its end once
    /// that has ended, or at its own time after a gap. With deadlines, a
    /// request that would come later than recorded is sent only if its
    /// chain was still sending then ([`chain_at`]); `horizon` is the
    /// recorded time of the next request not yet read (`None`: unknown,
    /// so a chain that may go on is left undecided until [`Self::settle`]).
    fn advance(&mut self, cid: u64, now: Nanos, horizon: Option<Nanos>) {
        let (gap, tick, deadline) = (self.chain_gap, self.tick, self.deadline);
        let Some(client) = self.clients.get_mut(&cid) else {
            return;
        };
        if let Some(need) = client.need.take() {
            self.pending.remove(&cid);
            if need >= self.need_to {
                self.need_to = self.pending.values().copied().max().unwrap_or(0);
            }
        }
        // Reused: this runs at every request's end.
        let mut scheduled = std::mem::take(&mut self.scratch);
        while let Some(&req) = client.queue.front() {
            let (at, kind) = match client.last {
                Some(l) if req.at < l.rec_end => (l.sim_at + (req.at - l.rec_at), Link::Beside),
                Some(l) if req.at - l.rec_end <= gap => match l.sim_end {
                    Some(e) => (Self::after_end(tick, req.at, l.rec_end, e), Link::AfterEnd),
                    None => break,
                },
                _ => (req.at, Link::OwnTime),
            };
            if deadline && kind != Link::OwnTime && at > req.at {
                match chain_at(&client.queue, gap, at, horizon) {
                    Chain::Sending => {}
                    Chain::Stopped(n) => {
                        // The client stopped before `at`: its chain's
                        // remaining requests are never sent.
                        let last = client.queue[n - 1];
                        client.queue.drain(..n);
                        self.counts.dropped += n as u64;
                        Self::link(client, at, &last);
                        if let Some(l) = client.last.as_mut() {
                            l.sim_end = Some(at);
                        }
                        continue;
                    }
                    Chain::Unknown(need) => {
                        client.need = Some(need);
                        break;
                    }
                }
            }
            match kind {
                Link::Beside => self.counts.beside += 1,
                Link::AfterEnd => self.counts.after_end += 1,
                Link::OwnTime => self.counts.own_time += 1,
            }
            client.queue.pop_front();
            let chain = Self::link(client, at, &req);
            scheduled.push((at.max(now), req, chain));
        }
        if let Some(need) = client.need {
            self.pending.insert(cid, need);
            self.need_to = self.need_to.max(need);
        }
        if let Some(l) = client.last
            && client.queue.is_empty()
            && l.sim_end.is_some()
        {
            self.expiry
                .push_back((l.rec_end.saturating_add(gap), cid, l.seq));
        }
        for (at, req, chain) in scheduled.drain(..) {
            self.schedule(at, req, chain);
        }
        self.scratch = scheduled;
    }

    /// With deadlines: decides the clients left undecided, now that every
    /// request recorded before `horizon` has been read (`Nanos::MAX`: the
    /// whole trace).
    pub fn settle(&mut self, now: Nanos, horizon: Nanos) {
        if self.pending.is_empty() {
            return;
        }
        let pending: Vec<u64> = self.pending.keys().copied().collect();
        for cid in pending {
            self.advance(cid, now, Some(horizon));
        }
    }

    /// Forgets clients whose next request, if any, would start a new
    /// chain: the trace has been read past their last end plus the gap.
    fn forget_idle(&mut self) {
        while let Some(&(until, client, seq)) = self.expiry.front() {
            if until >= self.read_to {
                break;
            }
            self.expiry.pop_front();
            if let Entry::Occupied(o) = self.clients.entry(client) {
                let c = o.get();
                let idle = c.queue.is_empty()
                    && c.last.is_some_and(|l| l.seq == seq && l.sim_end.is_some());
                if idle {
                    o.remove();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poolcast::core::telemetry::QueryClass;

    fn req(client: u64, at: Nanos, end: Nanos) -> ReplayRequest {
        ReplayRequest {
            at,
            class: QueryClass::Read,
            pattern: 0,
            hold_ns: end - at,
            recorded_wait_ns: 0,
            granted: true,
            client,
            recorded_end: end,
        }
    }

    /// Drives `cl` like the engine does: every request is served for
    /// `hold(i)` ns from its arrival (i its arrival index). Returns the
    /// arrival times.
    fn drive(
        cl: &mut ClosedLoop,
        trace: &[ReplayRequest],
        hold: impl Fn(usize) -> Nanos,
    ) -> Vec<(u64, Nanos)> {
        let mut next = 0;
        let mut ends: BinaryHeap<std::cmp::Reverse<(Nanos, u64, u32)>> = BinaryHeap::new();
        let mut out = Vec::new();
        let mut now = 0;
        loop {
            loop {
                while next < trace.len() && cl.wants(now, trace[next].at) {
                    cl.offer(now, trace[next]);
                    next += 1;
                }
                cl.settle(now, trace.get(next).map_or(Nanos::MAX, |r| r.at));
                if !(next < trace.len() && cl.wants(now, trace[next].at)) {
                    break;
                }
            }
            let wake = cl.wake_at(now, trace.get(next).map(|r| r.at));
            let end = ends.peek().map(|e| e.0.0);
            let t = match (wake, end) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(t) => t,
                    None => break,
                },
            };
            assert!(t >= now, "time went back from {now} to {t}");
            now = t;
            if end == Some(t) {
                let std::cmp::Reverse((_, client, seq)) = ends.pop().unwrap();
                cl.ended(now, ChainRef { client, seq });
                continue;
            }
            while let Some((r, chain)) = cl.pop(now) {
                out.push((r.client, now));
                ends.push(std::cmp::Reverse((
                    now + hold(out.len() - 1),
                    chain.client,
                    chain.seq,
                )));
            }
        }
        out
    }

    #[test]
    fn as_recorded_when_the_pool_is_as_recorded() {
        // Two clients, 1-ms holds, 0.5-ms thinks.
        let mut trace = Vec::new();
        for k in 0..50u64 {
            for c in 1..=2u64 {
                let at = k * 1_500_000 + c * 100;
                trace.push(req(c, at, at + 1_000_000));
            }
        }
        trace.sort_by_key(|r| r.at);
        let mut cl = ClosedLoop::new(1_000_000_000);
        let got = drive(&mut cl, &trace, |_| 1_000_000);
        let want: Vec<(u64, Nanos)> = trace.iter().map(|r| (r.client, r.at)).collect();
        assert_eq!(got, want);
        assert_eq!(cl.counts().own_time, 2);
        assert_eq!(cl.counts().after_end, 98);
    }

    #[test]
    fn a_slower_pool_delays_the_chain_and_a_faster_one_brings_it_forward() {
        let trace: Vec<ReplayRequest> = (0..10u64)
            .map(|k| req(7, k * 3_000_000, k * 3_000_000 + 2_000_000))
            .collect();
        // Holds of 3 ms: each request 1 ms later than the one before.
        let mut cl = ClosedLoop::new(1_000_000_000);
        let slow = drive(&mut cl, &trace, |_| 3_000_000);
        let want: Vec<Nanos> = (0..10u64).map(|k| k * 4_000_000).collect();
        assert_eq!(slow.iter().map(|x| x.1).collect::<Vec<_>>(), want);
        // Holds of 1 ms: 1 ms earlier each time; read ahead to do it.
        let mut cl = ClosedLoop::new(1_000_000_000);
        let fast = drive(&mut cl, &trace, |_| 1_000_000);
        let want: Vec<Nanos> = (0..10u64).map(|k| k * 2_000_000).collect();
        assert_eq!(fast.iter().map(|x| x.1).collect::<Vec<_>>(), want);
    }

    #[test]
    fn with_a_tick_arrivals_move_by_whole_ticks() {
        // A client on a 1-ms timer: 0.4-ms holds, the next request on the
        // second tick after each end (every 3 ms).
        let trace: Vec<ReplayRequest> = (0..6u64)
            .map(|k| req(5, k * 3_000_000, k * 3_000_000 + 400_000))
            .collect();
        let run = |tick, hold| {
            let mut cl = ClosedLoop::new(1_000_000_000).with_tick(tick);
            drive(&mut cl, &trace, |_| hold)
                .iter()
                .map(|x| x.1)
                .collect::<Vec<_>>()
        };
        let recorded: Vec<Nanos> = trace.iter().map(|r| r.at).collect();
        // Ends 0.3 ms later: on the same ticks with one, not without.
        assert_eq!(run(1_000_000, 700_000), recorded);
        let drift: Vec<Nanos> = (0..6u64).map(|k| k * 3_300_000).collect();
        assert_eq!(run(0, 700_000), drift);
        // Ends 0.7 ms later: one tick later each time, 4 ms apart.
        let later: Vec<Nanos> = (0..6u64).map(|k| k * 4_000_000).collect();
        assert_eq!(run(1_000_000, 1_100_000), later);
        // Ends 0.3 ms earlier: the same ticks; 0.6 ms earlier, a tick
        // earlier, never before the end.
        assert_eq!(run(1_000_000, 100_000), recorded);
        assert_eq!(
            ClosedLoop::after_end(1_000_000, 3_000_000, 600_000, 0),
            2_000_000
        );
        assert_eq!(ClosedLoop::after_end(1_000_000, 1_000_000, 900_000, 0), 0);
        assert_eq!(
            ClosedLoop::after_end(1_000_000, 1_000_000, 100_000, 2_950_000),
            4_000_000
        );
    }

    #[test]
    fn with_deadlines_a_late_chain_stops_at_its_last_recorded_request() {
        // Client 7: 2-ms holds, 1-ms thinks, 10 requests from 0 to 27 ms;
        // 10 s later a second chain of 3. Client 8's two requests are
        // chains of their own (2 s apart), kept at their recorded times.
        let mut trace: Vec<ReplayRequest> = (0..10u64)
            .map(|k| req(7, k * 3_000_000, k * 3_000_000 + 2_000_000))
            .chain((0..3u64).map(|k| {
                let at = 10_000_000_000 + k * 3_000_000;
                req(7, at, at + 2_000_000)
            }))
            .collect();
        trace.push(req(8, 500_000, 600_000));
        trace.push(req(8, 2_000_500_000, 2_000_600_000));
        trace.sort_by_key(|r| r.at);
        // 3-ms holds: each request of client 7 1 ms later than the last.
        let times = |deadline: bool| {
            let mut cl = ClosedLoop::new(1_000_000_000).with_deadlines(deadline);
            let got = drive(&mut cl, &trace, |_| 3_000_000);
            (got, cl.counts())
        };
        let (work, wc) = times(false);
        let (dl, dc) = times(true);
        let of = |v: &[(u64, Nanos)], c| {
            v.iter()
                .filter(|x| x.0 == c)
                .map(|x| x.1)
                .collect::<Vec<_>>()
        };
        let late: Vec<Nanos> = (0..10u64).map(|k| k * 4_000_000).collect();
        let second: Vec<Nanos> = (0..3u64).map(|k| 10_000_000_000 + k * 4_000_000).collect();
        assert_eq!(of(&work, 7), [late.clone(), second.clone()].concat());
        assert_eq!(wc.dropped, 0);
        // Stops at 27 ms: the requests due at 28, 32 and 36 ms are not sent;
        // the next chain starts at its own time and is cut the same way
        // (its last recorded request at +6 ms, due at +8).
        assert_eq!(of(&dl, 7), [&late[..7], &second[..2]].concat());
        assert_eq!(dc.dropped, 4, "{dc:?}");
        // The other client is untouched.
        assert_eq!(of(&dl, 8), of(&work, 8));
        assert_eq!(of(&dl, 8), vec![500_000, 2_000_500_000]);
        // A faster pool: the same requests, earlier, with or without.
        let mut cl = ClosedLoop::new(1_000_000_000).with_deadlines(true);
        let fast = drive(&mut cl, &trace, |_| 1_000_000);
        assert_eq!(fast.len(), trace.len());
        assert_eq!(cl.counts().dropped, 0);
    }

    #[test]
    fn a_long_think_restarts_the_chain_at_its_recorded_time() {
        let trace = vec![req(3, 0, 1_000), req(3, 5_000_000, 5_001_000)];
        let mut cl = ClosedLoop::new(1_000_000);
        let got = drive(&mut cl, &trace, |_| 2_000_000);
        assert_eq!(got, vec![(3, 0), (3, 5_000_000)]);
        assert_eq!(cl.counts().own_time, 2);
    }

    #[test]
    fn overlapping_requests_keep_their_offset_and_unknown_clients_their_time() {
        // Client 1 runs two at once (the second 100 ns after the first),
        // then a third after both; client 0 is not chained.
        let trace = vec![
            req(1, 0, 1_000),
            req(0, 50, 60),
            req(1, 100, 900),
            req(1, 1_100, 1_200),
        ];
        let mut cl = ClosedLoop::new(1_000_000);
        let got = drive(&mut cl, &trace, |i| if i == 0 { 10_000 } else { 500 });
        // The third follows the second (its predecessor), which ended at
        // 100 + 500; think 1_100 − 900 = 200.
        assert_eq!(got, vec![(1, 0), (0, 50), (1, 100), (1, 800)]);
        assert_eq!(cl.counts().beside, 1);
    }

    #[test]
    fn memory_follows_the_clients_not_the_trace() {
        // 1,000 short-lived clients of 5 requests each, one after another.
        let mut trace = Vec::new();
        for c in 0..1_000u64 {
            for k in 0..5u64 {
                let at = c * 10_000_000 + k * 1_000_000;
                trace.push(req(c + 1, at, at + 500_000));
            }
        }
        let mut cl = ClosedLoop::new(2_000_000);
        let mut peak = 0;
        let mut next = 0;
        let mut now = 0;
        let mut pending: Vec<(Nanos, ChainRef)> = Vec::new();
        while next < trace.len() || !pending.is_empty() || cl.held() > 0 {
            while next < trace.len() && cl.wants(now, trace[next].at) {
                cl.offer(now, trace[next]);
                next += 1;
            }
            peak = peak.max(cl.held()).max(cl.clients.len());
            let wake = cl.wake_at(now, trace.get(next).map(|r| r.at));
            let end = pending.iter().map(|p| p.0).min();
            now = match (wake, end) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => a.or(b).unwrap(),
            };
            if let Some(i) = pending.iter().position(|p| p.0 == now) {
                let (_, chain) = pending.swap_remove(i);
                cl.ended(now, chain);
                continue;
            }
            while let Some((_, chain)) = cl.pop(now) {
                pending.push((now + 500_000, chain));
            }
        }
        assert!(peak <= 3, "held {peak}");
    }
}
