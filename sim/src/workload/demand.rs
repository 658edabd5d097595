//! [`Demand`]: the offered traffic of one run, synthetic or replayed. The
//! engine and the oracle's pre-pass ([`crate::foresight`]) both draw from
//! it, so they see the same requests.

use std::collections::VecDeque;

use poolcast::core::Nanos;
use poolcast::core::telemetry::QueryClass;

use super::closed_loop::{ChainRef, ClosedLoop};
use super::replay::{ChainEnd, ReplayRequest, ReplayStream};
use super::{ArrivalProcess, HoldSample, MixSampler, RateFn, ms_to_ns};
use crate::rng::{SimRng, StreamKey};
use crate::scenario::Scenario;
use crate::valid_scenario::{Traffic, ValidScenario};

/// The arrival-rate function of replication `replication` of `sc` under
/// `seed`: the engine's own draws, so it is the rate the run's arrivals
/// followed (the oracle's [`foresight`](crate::foresight) and the
/// workbench's rate references read it too).
pub fn run_rate(sc: &Scenario, seed: u64, replication: u32) -> RateFn {
    let key = StreamKey::new(seed, sc.name.clone(), replication);
    RateFn::build(&sc.load, sc.horizon_ns(), &mut key.stream("patterns"))
}

/// One arriving request: its class, statement pattern and hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drawn {
    /// Query class.
    pub class: QueryClass,
    /// Statement pattern hash.
    pub pattern: u64,
    /// Connection hold and statement count.
    pub hold: HoldSample,
    /// The client that sent it: a replayed request's recorded one, 0 for
    /// synthetic traffic.
    pub client: u64,
}

enum Source {
    /// Arrivals from the scenario's rate function, requests from its mix.
    Synthetic {
        arrivals: ArrivalProcess,
        mix: MixSampler,
        rng_arrivals: SimRng,
        rng_classes: SimRng,
        rng_service: SimRng,
    },
    /// The requests of a trace, in order.
    Replay {
        stream: ReplayStream,
        /// Requests scheduled and not yet drawn (the engine schedules one
        /// arrival ahead).
        scheduled: VecDeque<ReplayRequest>,
        /// The last request drawn.
        last: Option<ReplayRequest>,
    },
    /// The requests of a trace, each client's next one waiting for its
    /// previous one ([`super::closed_loop`]).
    Closed {
        stream: std::iter::Peekable<ReplayStream>,
        chains: ClosedLoop,
    },
}

/// The requests of one run of a scenario, in arrival order.
///
/// Call [`Demand::next_arrival`] for the time of the next request, and
/// [`Demand::draw`] once per arrival, when it happens. A synthetic
/// request draws its class and pattern from the `classes` stream and its
/// hold from the `service` stream, independently of the pool, so the
/// offered traffic of a (seed, scenario, replication) is fixed.
pub struct Demand {
    source: Source,
}

impl Demand {
    /// The traffic of replication `replication` of `sc` under `seed`.
    pub fn new(sc: &ValidScenario, seed: u64, replication: u32) -> Demand {
        Self::build(sc, seed, replication, true)
    }

    /// As [`Demand::new`], but a closed-loop replay keeps its recorded
    /// arrival times: what the oracle's pre-pass, which runs no pool, can
    /// see of it.
    pub fn open_loop(sc: &ValidScenario, seed: u64, replication: u32) -> Demand {
        Self::build(sc, seed, replication, false)
    }

    fn build(sc: &ValidScenario, seed: u64, replication: u32, closed: bool) -> Demand {
        let source = match (sc.traffic(), &sc.replay) {
            (Traffic::Replay(trace), Some(r)) if closed && r.closed_loop => Source::Closed {
                stream: trace.stream().peekable(),
                chains: ClosedLoop::new(ms_to_ns(r.chain_gap_ms))
                    .with_tick(ms_to_ns(r.think_tick_ms))
                    .with_deadlines(r.chain_end == ChainEnd::Deadline),
            },
            (Traffic::Replay(trace), _) => Source::Replay {
                stream: trace.stream(),
                scheduled: VecDeque::new(),
                last: None,
            },
            (Traffic::Synthetic(mix), _) => {
                let key = StreamKey::new(seed, sc.name.clone(), replication);
                Source::Synthetic {
                    arrivals: ArrivalProcess::new(run_rate(sc, seed, replication), sc.horizon_ns()),
                    mix: mix.clone(),
                    rng_arrivals: key.stream("arrivals"),
                    rng_classes: key.stream("classes"),
                    rng_service: key.stream("service"),
                }
            }
        };
        Demand { source }
    }

    /// Whether arrivals depend on when requests end (a closed-loop
    /// replay): then drive it with [`Demand::wake_at`],
    /// [`Demand::pop_due`] and [`Demand::ended`], not
    /// [`Demand::next_arrival`] and [`Demand::draw`].
    pub fn is_closed(&self) -> bool {
        matches!(self.source, Source::Closed { .. })
    }

    /// Closed loop: reads the trace as far as it may be due, and returns
    /// when the engine must next call [`Demand::pop_due`] (`None`: no
    /// request is left). Call after every arrival and every end.
    pub fn wake_at(&mut self, now: Nanos) -> Option<Nanos> {
        let Source::Closed { stream, chains } = &mut self.source else {
            return None;
        };
        loop {
            while let Some(next) = stream.peek()
                && chains.wants(now, next.at)
            {
                let r = *next;
                stream.next();
                chains.offer(now, r);
            }
            // Chains whose end depends on requests not yet read: decided
            // now that the trace is read this far. Deciding may make a
            // chain want more of it.
            chains.settle(now, stream.peek().map_or(Nanos::MAX, |r| r.at));
            if !stream.peek().is_some_and(|r| chains.wants(now, r.at)) {
                break;
            }
        }
        chains.wake_at(now, stream.peek().map(|r| r.at))
    }

    /// Closed loop: a request due by `now`, with the chain to hand back to
    /// [`Demand::ended`] when it ends.
    pub fn pop_due(&mut self, now: Nanos) -> Option<(Drawn, ChainRef)> {
        let Source::Closed { chains, .. } = &mut self.source else {
            return None;
        };
        chains.pop(now).map(|(r, chain)| (drawn(&r), chain))
    }

    /// Closed loop: the request of `chain` ended at `now`.
    pub fn ended(&mut self, now: Nanos, chain: ChainRef) {
        if let Source::Closed { chains, .. } = &mut self.source {
            chains.ended(now, chain);
        }
    }

    /// Closed loop: how the requests read so far were linked.
    pub fn chain_counts(&self) -> Option<super::closed_loop::ChainCounts> {
        match &self.source {
            Source::Closed { chains, .. } => Some(chains.counts()),
            _ => None,
        }
    }

    /// The arrival after `now`, or `None` when there are no more.
    #[inline]
    pub fn next_arrival(&mut self, now: Nanos) -> Option<Nanos> {
        match &mut self.source {
            Source::Synthetic {
                arrivals,
                rng_arrivals,
                ..
            } => arrivals.next_arrival(now, rng_arrivals),
            Source::Replay {
                stream, scheduled, ..
            } => {
                let r = stream.next()?;
                scheduled.push_back(r);
                Some(r.at)
            }
            Source::Closed { .. } => {
                unreachable!("a closed-loop replay is driven by wake_at and pop_due")
            }
        }
    }

    /// The request arriving now (one call per arrival).
    #[inline]
    pub fn draw(&mut self) -> Drawn {
        match &mut self.source {
            Source::Synthetic {
                mix,
                rng_classes,
                rng_service,
                ..
            } => {
                let (class, idx) = mix.sample(rng_classes);
                let pattern = mix.sample_pattern(idx, rng_classes);
                let hold = mix.sample_hold(idx, rng_service);
                Drawn {
                    class,
                    pattern,
                    hold,
                    client: 0,
                }
            }
            Source::Replay {
                scheduled, last, ..
            } => {
                // More draws than arrivals is a bug of the caller; the
                // last request stands in rather than panicking mid-run.
                let r = scheduled
                    .pop_front()
                    .or(*last)
                    .expect("a replayed request is drawn after its arrival");
                *last = Some(r);
                drawn(&r)
            }
            Source::Closed { .. } => {
                unreachable!("a closed-loop replay is driven by wake_at and pop_due")
            }
        }
    }
}

fn drawn(r: &ReplayRequest) -> Drawn {
    Drawn {
        class: r.class,
        pattern: r.pattern,
        hold: HoldSample {
            hold_ns: r.hold_ns,
            statements: 1,
        },
        client: r.client,
    }
}
