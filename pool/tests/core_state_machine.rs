//! A property test of [`PoolCore`] as a state machine: random requests,
//! cancels, releases, failed health checks, create results, timeouts,
//! targets, resizes, discards and a close, against a model of what a
//! driver knows. After every step it checks that:
//!
//! - no action names a request that is not queued: nothing withdrawn,
//!   answered or never seen is granted, timed out or rejected (the runtime
//!   pool's waiter nodes rely on it for memory safety, see
//!   `runtime/waiter.rs`);
//! - requests are answered in FIFO order: every grant, timeout and
//!   rejection is for the oldest queued request;
//! - slots are conserved: the core's size, idle, busy, creating and
//!   waiting counts equal the driver's, a connection is granted only when
//!   idle, closed only when not checked out, and created only within
//!   `max_size`;
//! - no request waits while a connection sits idle;
//! - once closed, with every checkout returned and every creation
//!   answered, the pool drains.

use std::collections::{BTreeMap, HashSet, VecDeque};

use poolcast::core::Nanos;
use poolcast::core::pool::{
    Action, CloseReason, ConnId, HealthCheck, PoolConfig, PoolCore, RequestId,
};
use proptest::prelude::*;

const MS: Nanos = 1_000_000;

/// What the driver knows about one connection slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conn {
    /// A `Create` was asked for and not yet answered.
    Creating,
    Idle,
    /// Checked out by a request that arrived at `arrived`.
    Busy {
        check: bool,
        arrived: Nanos,
    },
    /// Handed back to the core in this step (released, created, failed
    /// its check, found broken); the core decides its fate.
    Returned {
        reusable: bool,
    },
}

#[derive(Debug, Clone)]
enum Op {
    Acquire,
    AcquirePreferring(u16),
    Cancel(usize),
    CancelAnswered(usize),
    Release(usize, bool),
    CheckFailed(usize),
    Created(usize),
    CreateFailed(usize),
    Tick(u64),
    SetTarget(u32),
    Resize(u32, u32),
    DiscardIdle(usize),
    Close,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => Just(Op::Acquire),
        2 => any::<u16>().prop_map(Op::AcquirePreferring),
        2 => any::<usize>().prop_map(Op::Cancel),
        1 => any::<usize>().prop_map(Op::CancelAnswered),
        6 => (any::<usize>(), prop::bool::weighted(0.85)).prop_map(|(i, r)| Op::Release(i, r)),
        1 => any::<usize>().prop_map(Op::CheckFailed),
        5 => any::<usize>().prop_map(Op::Created),
        1 => any::<usize>().prop_map(Op::CreateFailed),
        5 => (0u64..60).prop_map(Op::Tick),
        1 => (0u32..8).prop_map(Op::SetTarget),
        1 => (0u32..5, 0u32..7).prop_map(|(a, b)| Op::Resize(a, b)),
        1 => any::<usize>().prop_map(Op::DiscardIdle),
        1 => Just(Op::Close),
    ]
}

fn config() -> impl Strategy<Value = PoolConfig> {
    (
        (1u32..6, 0u32..6, 0u32..3, 0u32..6),
        (
            prop::option::of(10u64..200),
            prop::option::of(20u64..400),
            prop::option::of(50u64..800),
        ),
        (
            1u32..4,
            1u64..20,
            0u64..40,
            any::<bool>(),
            0u8..3,
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (max, min, min_idle, initial),
                (acquire, idle, life),
                (creates, backoff, backoff_extra, grow, check, jitter),
            )| PoolConfig {
                min_size: min.min(max),
                max_size: max,
                min_idle: min_idle.min(max),
                initial_size: initial.min(max),
                acquire_timeout: acquire.map(|v| v * MS),
                idle_timeout: idle.map(|v| v * MS),
                max_lifetime: life.map(|v| v * MS),
                max_lifetime_jitter: if jitter { 0.1 } else { 0.0 },
                max_concurrent_creates: creates,
                create_backoff_initial: backoff * MS,
                create_backoff_max: (backoff + backoff_extra) * MS,
                grow_on_demand: grow,
                health_check: match check {
                    0 => HealthCheck::Never,
                    1 => HealthCheck::Always,
                    _ => HealthCheck::AfterIdle(5 * MS),
                },
            },
        )
}

/// The driver's side of the machine.
struct Model {
    core: PoolCore,
    now: Nanos,
    next_req: RequestId,
    /// Requests the driver believes queued, oldest first, with their
    /// arrival times.
    queue: VecDeque<(RequestId, Nanos)>,
    /// Requests answered or withdrawn: the core must never name them again.
    gone: HashSet<RequestId>,
    conns: BTreeMap<ConnId, Conn>,
    closing: bool,
    max_size: u32,
    health_check: HealthCheck,
    acquire_timeout: Option<Nanos>,
}

impl Model {
    fn new(cfg: PoolConfig) -> Self {
        let mut m = Model {
            max_size: cfg.max_size,
            health_check: cfg.health_check,
            acquire_timeout: cfg.acquire_timeout,
            core: PoolCore::new(cfg, 0).expect("the strategy builds valid configs"),
            now: 0,
            next_req: 1,
            queue: VecDeque::new(),
            gone: HashSet::new(),
            conns: BTreeMap::new(),
            closing: false,
        };
        m.drain();
        m
    }

    fn pick(&self, sel: usize, want: impl Fn(&Conn) -> bool) -> Option<ConnId> {
        let found: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| want(c))
            .map(|(&id, _)| id)
            .collect();
        (!found.is_empty()).then(|| found[sel % found.len()])
    }

    fn new_request(&mut self) -> RequestId {
        let r = self.next_req;
        self.next_req += 1;
        r
    }

    fn apply(&mut self, op: &Op) {
        let now = self.now;
        match *op {
            Op::Acquire => {
                let req = self.new_request();
                self.queue.push_back((req, now));
                self.core.acquire(now, req);
            }
            Op::AcquirePreferring(mask) => {
                let req = self.new_request();
                self.queue.push_back((req, now));
                self.core
                    .acquire_preferring(now, req, |c| mask & (1 << (c % 16)) != 0);
            }
            Op::Cancel(sel) => {
                if self.queue.is_empty() {
                    return;
                }
                let (req, _) = self
                    .queue
                    .remove(sel % self.queue.len())
                    .expect("index in range");
                assert!(self.core.cancel(now, req), "a queued request cancels");
                self.gone.insert(req);
            }
            Op::CancelAnswered(sel) => {
                let mut gone: Vec<_> = self.gone.iter().copied().collect();
                gone.sort_unstable();
                if let Some(&req) = gone.get(sel % gone.len().max(1)) {
                    let waiting = self.core.waiting();
                    assert!(!self.core.cancel(now, req), "request {req} is not queued");
                    assert_eq!(self.core.waiting(), waiting);
                }
            }
            Op::Release(sel, reusable) => {
                if let Some(c) = self.pick(sel, |c| matches!(c, Conn::Busy { .. })) {
                    self.conns.insert(c, Conn::Returned { reusable });
                    self.core.release(now, c, reusable);
                }
            }
            Op::CheckFailed(sel) => {
                let Some(c) = self.pick(sel, |c| matches!(c, Conn::Busy { check: true, .. }))
                else {
                    return;
                };
                let Conn::Busy { arrived, .. } = self.conns[&c] else {
                    unreachable!()
                };
                // The runtime queues the request again under a new id.
                let req = self.new_request();
                self.queue.push_front((req, arrived));
                self.conns.insert(c, Conn::Returned { reusable: false });
                self.core.check_failed(now, req, c, arrived);
            }
            Op::Created(sel) => {
                if let Some(c) = self.pick(sel, |c| *c == Conn::Creating) {
                    self.conns.insert(c, Conn::Returned { reusable: true });
                    self.core.created(now, c);
                }
            }
            Op::CreateFailed(sel) => {
                if let Some(c) = self.pick(sel, |c| *c == Conn::Creating) {
                    self.conns.remove(&c);
                    self.core.create_failed(now, c);
                }
            }
            Op::Tick(ms) => {
                self.now += ms * MS;
                if self.core.poll_timeout().is_some_and(|t| t <= self.now) || ms % 7 == 0 {
                    self.core.handle_timeout(self.now);
                }
            }
            Op::SetTarget(t) => self.core.set_target(now, t),
            Op::Resize(min, max) => {
                if self.core.resize(now, min, max).is_ok() {
                    self.max_size = max;
                } else {
                    assert!(max == 0 || min > max, "resize({min}, {max}) refused");
                }
            }
            Op::DiscardIdle(sel) => {
                if let Some(c) = self.pick(sel, |c| *c == Conn::Idle) {
                    self.conns.insert(c, Conn::Returned { reusable: false });
                    assert!(self.core.discard_idle(now, c));
                }
            }
            Op::Close => {
                self.closing = true;
                self.core.close(now);
            }
        }
        self.drain();
    }

    /// Takes every action, checking each against what the driver knows,
    /// then the counts.
    fn drain(&mut self) {
        let now = self.now;
        while let Some(action) = self.core.poll_action() {
            match action {
                Action::Grant {
                    req,
                    conn,
                    waited,
                    check,
                } => {
                    let arrived = self.answer_head(req, "grant");
                    assert_eq!(waited, now - arrived.min(now), "grant's wait");
                    let state = self.conns.get(&conn).copied();
                    assert!(
                        matches!(state, Some(Conn::Idle | Conn::Returned { reusable: true })),
                        "grant of connection {conn} in state {state:?}"
                    );
                    match self.health_check {
                        HealthCheck::Never => assert!(!check),
                        HealthCheck::Always => assert!(check),
                        HealthCheck::AfterIdle(_) => {}
                    }
                    self.conns.insert(conn, Conn::Busy { check, arrived });
                }
                Action::Create { conn } => {
                    assert!(!self.closing, "create after close");
                    assert!(
                        !self.conns.contains_key(&conn),
                        "create into slot {conn} in use: {:?}",
                        self.conns[&conn]
                    );
                    let in_use = self.conns.len() as u32;
                    assert!(
                        in_use < self.max_size,
                        "create with {in_use} slots in use and max_size {}",
                        self.max_size
                    );
                    self.conns.insert(conn, Conn::Creating);
                }
                Action::Close { conn, reason } => {
                    let state = self.conns.remove(&conn);
                    assert!(
                        matches!(state, Some(Conn::Idle | Conn::Returned { .. })),
                        "close of connection {conn} in state {state:?}"
                    );
                    if reason == CloseReason::PoolClosed {
                        assert!(self.closing);
                    }
                }
                Action::Timeout { req, waited } => {
                    let arrived = self.answer_head(req, "timeout");
                    assert_eq!(waited, now - arrived);
                    let to = self
                        .acquire_timeout
                        .expect("a timeout needs acquire_timeout");
                    assert!(waited >= to, "timed out after {waited} ns, limit {to}");
                }
                Action::Reject { req, .. } => {
                    assert!(self.closing, "rejection of an open pool");
                    self.answer_head(req, "rejection");
                }
            }
        }
        for (&id, c) in self.conns.iter_mut() {
            if let Conn::Returned { reusable } = *c {
                assert!(
                    reusable && !self.closing,
                    "connection {id} handed back (reusable {reusable}, closing {}) was neither closed nor granted",
                    self.closing
                );
                *c = Conn::Idle;
            }
        }
        self.check_counts();
    }

    /// `req` is answered: it must be the oldest queued request.
    fn answer_head(&mut self, req: RequestId, what: &str) -> Nanos {
        assert!(
            !self.gone.contains(&req),
            "{what} of withdrawn or answered request {req}"
        );
        let Some(&(head, arrived)) = self.queue.front() else {
            panic!("{what} of request {req}, which the driver never queued");
        };
        assert_eq!(head, req, "{what} out of FIFO order");
        self.queue.pop_front();
        self.gone.insert(req);
        arrived
    }

    fn check_counts(&self) {
        let count = |f: fn(&Conn) -> bool| self.conns.values().filter(|c| f(c)).count() as u32;
        let idle = count(|c| *c == Conn::Idle);
        let busy = count(|c| matches!(c, Conn::Busy { .. }));
        let creating = count(|c| *c == Conn::Creating);
        assert_eq!(self.core.idle(), idle, "idle");
        assert_eq!(self.core.busy(), busy, "busy");
        assert_eq!(self.core.size(), idle + busy, "size");
        assert_eq!(self.core.creating(), creating, "creating");
        assert_eq!(self.core.waiting() as usize, self.queue.len(), "waiting");
        assert!(
            self.queue.is_empty() || idle == 0,
            "{} requests wait beside {idle} idle connections",
            self.queue.len()
        );
        // The core's own check, which a driver runs after a poisoned lock,
        // agrees with the model.
        if let Err(e) = self.core.check_invariants() {
            panic!("check_invariants: {e}");
        }
    }

    /// Closes, hands back every checkout and answers every creation: the
    /// pool must drain.
    fn shut_down(&mut self) {
        self.apply(&Op::Close);
        for _ in 0..64 {
            let Some((&c, &state)) = self.conns.iter().next() else {
                break;
            };
            match state {
                Conn::Busy { .. } => self.apply(&Op::Release(0, true)),
                Conn::Creating => {
                    self.conns.insert(c, Conn::Returned { reusable: true });
                    self.core.created(self.now, c);
                    self.drain();
                }
                other => panic!("connection {c} left {other:?} after close"),
            }
        }
        assert!(self.queue.is_empty(), "requests left queued after close");
        assert!(self.core.is_drained(), "the pool did not drain");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn pool_core_keeps_its_invariants(cfg in config(), ops in prop::collection::vec(op(), 1..250)) {
        let mut m = Model::new(cfg);
        for op in &ops {
            m.apply(op);
        }
        m.shut_down();
    }
}
