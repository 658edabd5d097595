//! [`Demand`]: the offered traffic of one run, synthetic or replayed. The
//! engine and the oracle's pre-pass ([`crate::foresight`]) both draw from
//! it, so they see the same requests.

use std::collections::VecDeque;

use poolcast::core::Nanos;
use poolcast::core::telemetry::QueryClass;

use super::replay::{ReplayRequest, ReplayStream};
use super::{ArrivalProcess, HoldSample, MixSampler};
use crate::foresight::run_rate;
use crate::rng::{SimRng, StreamKey};
use crate::scenario::Scenario;

/// One arriving request: its class, statement pattern and hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drawn {
    /// Query class.
    pub class: QueryClass,
    /// Statement pattern hash.
    pub pattern: u64,
    /// Connection hold and statement count.
    pub hold: HoldSample,
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
    ///
    /// # Panics
    /// If `sc` has not passed [`Scenario::validate`] (a replay whose trace
    /// was not loaded, or an invalid class mix).
    pub fn new(sc: &Scenario, seed: u64, replication: u32) -> Demand {
        let source = match &sc.replay {
            Some(r) => Source::Replay {
                stream: r
                    .trace()
                    .unwrap_or_else(|| {
                        panic!(
                            "scenario {} replays a trace that was not loaded (validate it first)",
                            sc.name
                        )
                    })
                    .stream(),
                scheduled: VecDeque::new(),
                last: None,
            },
            None => {
                let key = StreamKey::new(seed, sc.name.clone(), replication);
                Source::Synthetic {
                    arrivals: ArrivalProcess::new(run_rate(sc, seed, replication), sc.horizon_ns()),
                    mix: MixSampler::new(&sc.mix()),
                    rng_arrivals: key.stream("arrivals"),
                    rng_classes: key.stream("classes"),
                    rng_service: key.stream("service"),
                }
            }
        };
        Demand { source }
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
                Drawn {
                    class: r.class,
                    pattern: r.pattern,
                    hold: HoldSample {
                        hold_ns: r.hold_ns,
                        statements: 1,
                    },
                }
            }
        }
    }
}
