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
//! cause (measured on `pg_service`: README "Closed loop"). Rounding to the
//! nearest tick is unbiased when the recorded end fell anywhere in its tick.
//!
//! A chain keeps its length: a client that waits longer than it did in the
//! trace sends the same requests later, as a client that loops over a
//! fixed amount of work does. A client that stops at a deadline would send
//! fewer; the trace cannot tell the two apart.
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
        }
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
    #[inline]
    pub fn wants(&self, now: Nanos, next_at: Nanos) -> bool {
        next_at.saturating_sub(self.lead) <= now
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
        let (gap, tick) = (self.chain_gap, self.tick);
        let client = match self.clients.entry(req.client) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => v.insert(Client::default()),
        };
        if !client.queue.is_empty() {
            client.queue.push_back(req);
            return;
        }
        let at = match client.last {
            Some(l) if req.at < l.rec_end => {
                self.counts.beside += 1;
                Some(l.sim_at + (req.at - l.rec_at))
            }
            Some(l) if req.at - l.rec_end <= gap => match l.sim_end {
                Some(e) => {
                    self.counts.after_end += 1;
                    Some(Self::after_end(tick, req.at, l.rec_end, e))
                }
                None => None,
            },
            _ => {
                self.counts.own_time += 1;
                Some(req.at)
            }
        };
        match at {
            Some(at) => {
                let chain = Self::link(client, at, &req);
                self.schedule(at.max(now), req, chain);
            }
            None => client.queue.push_back(req),
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
        let mut scheduled = Vec::new();
        // Every waiting request linked beside the one before it follows at
        // once; one linked after the end of its predecessor stops the run
        // unless that predecessor has ended (only the first can have).
        while let Some(&req) = client.queue.front() {
            let l = client.last.expect("a queue has a request before it");
            let at = if req.at < l.rec_end {
                self.counts.beside += 1;
                l.sim_at + (req.at - l.rec_at)
            } else if req.at - l.rec_end > self.chain_gap {
                self.counts.own_time += 1;
                req.at
            } else if let Some(e) = l.sim_end {
                self.counts.after_end += 1;
                Self::after_end(self.tick, req.at, l.rec_end, e)
            } else {
                break;
            };
            client.queue.pop_front();
            let chain = Self::link(client, at, &req);
            scheduled.push((at.max(now), req, chain));
        }
        let l = client.last.expect("just set");
        if client.queue.is_empty() && l.sim_end.is_some() {
            self.expiry.push_back((
                l.rec_end.saturating_add(self.chain_gap),
                chain.client,
                l.seq,
            ));
        }
        for (at, req, chain) in scheduled {
            self.schedule(at, req, chain);
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
            while next < trace.len() && cl.wants(now, trace[next].at) {
                cl.offer(now, trace[next]);
                next += 1;
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
