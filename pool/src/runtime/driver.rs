//! The pool's background task: the core's timers (idle retirement,
//! lifetimes, creation back-off), one telemetry snapshot per interval, the
//! scaling policy, and leak detection.
//!
//! It holds only a weak reference to the pool, so it ends when the last
//! handle is dropped, or when the pool is closed and drained.

use std::sync::{Arc, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;

use super::manager::Manager;
use super::shared::Shared;
use super::unwind::{self, Panicked};
use crate::core::config_error::ConfigError;
use crate::core::interval::SystemSignals;
use crate::core::policy::{
    PolicyConfig, PolicyContext, PredictivePolicy, ReactiveConfig, ReactivePolicy, ScalingPolicy,
};
use crate::core::telemetry::Snapshot;
use crate::core::{NANOS_PER_MS, NANOS_PER_SEC, Nanos};

const WEEK_NS: u64 = 7 * 86_400 * NANOS_PER_SEC;

/// Maps the pool's clock (ns since it started) onto the feature week clock
/// (ns since a Monday 00:00 UTC): the Unix epoch was a Thursday, three days
/// after a Monday.
pub(crate) fn clock_offset_ns(pool_now: Nanos) -> Nanos {
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let week = (unix + 3 * 86_400 * NANOS_PER_SEC) % WEEK_NS;
    (week + WEEK_NS - pool_now % WEEK_NS) % WEEK_NS
}

/// The policy `cfg` describes, for a pool whose clock starts now.
///
/// # Errors
/// The oracle needs the future and exists only in the simulator.
pub(crate) fn build_policy(cfg: &PolicyConfig) -> Result<Box<dyn ScalingPolicy>, ConfigError> {
    Ok(match cfg {
        PolicyConfig::Predictive(c) if c.foresight => {
            return Err(ConfigError {
                path: "policy.foresight".into(),
                message: "foresight is the simulator's perfect forecast (`predictive-ideal`); a runtime pool forecasts with its artifact: set foresight = false".into(),
            });
        }
        PolicyConfig::Predictive(c) => {
            let p = PredictivePolicy::new(c.clone(), clock_offset_ns(0));
            if let Some(e) = p.load_error() {
                tracing::error!(error = %e, "predictive policy: model artifact refused; scaling reactively instead");
            }
            Box::new(p)
        }
        PolicyConfig::Oracle(_) => {
            return Err(ConfigError {
                path: "policy.kind".into(),
                message: "the oracle needs perfect foresight and runs only in the simulator; use \"predictive\" with an exported artifact".into(),
            });
        }
        other => other.build(),
    })
}

/// What replaces a scaling policy that panicked: the reactive policy with
/// its default settings, named for what happened.
#[derive(Debug)]
struct PanickedFallback {
    reactive: ReactivePolicy,
    why: String,
}

impl PanickedFallback {
    fn new(p: &Panicked) -> Self {
        PanickedFallback {
            reactive: ReactivePolicy::new(ReactiveConfig::default()),
            why: p.to_string(),
        }
    }
}

impl ScalingPolicy for PanickedFallback {
    fn name(&self) -> String {
        self.reactive.name()
    }
    fn decide(&mut self, ctx: &PolicyContext<'_>, snap: &Snapshot) -> Option<u32> {
        self.reactive.decide(ctx, snap)
    }
    fn describe(&self) -> String {
        format!("reactive (fallback: the scaling policy {})", self.why)
    }
}

/// Runs the controller ([`run`]) and starts it again if it dies anyway (a
/// bug of ours: the calls into user code are caught), so acquire timeouts
/// and create retries always fire. A restarted controller scales
/// reactively: the policy it had went down with it.
pub(crate) async fn supervise<M: Manager>(
    weak: Weak<Shared<M>>,
    wake: Arc<Notify>,
    policy: Box<dyn ScalingPolicy>,
) {
    let mut policy = Some(policy);
    loop {
        let p = policy.take().unwrap_or_else(|| {
            Box::new(PanickedFallback::new(&Panicked(
                "died with the controller".into(),
            )))
        });
        let task = tokio::spawn(run(weak.clone(), Arc::clone(&wake), p));
        match task.await {
            Err(e) if e.is_panic() => {
                let Some(shared) = weak.upgrade() else {
                    return;
                };
                let p = Panicked(format!("{e}"));
                shared.log_panic("the pool's controller", &p);
                shared.lock().counters.panics += 1;
            }
            // Ended (the pool is gone or closed), or cancelled (the
            // runtime is shutting down).
            _ => return,
        }
    }
}

/// The controller loop.
pub(crate) async fn run<M: Manager>(
    weak: Weak<Shared<M>>,
    wake: Arc<Notify>,
    mut policy: Box<dyn ScalingPolicy>,
) {
    let mut next_tick: Nanos = 0;
    let mut first = true;
    loop {
        let Some(shared) = weak.upgrade() else {
            return;
        };
        let interval = shared.opts.interval_ns;
        if first {
            next_tick = interval;
            first = false;
        }
        let now = shared.now();
        let mut tick = None;
        let wake_at = {
            let mut st = shared.lock();
            st.core.handle_timeout(now);
            shared.dispatch(&mut st, now, None);
            if st.closed {
                return;
            }
            if now >= next_tick {
                // Housekeeping: an idle connection whose socket closed (the
                // server restarted, a backend was terminated) is retired
                // now rather than on its next grant, so the pool refills
                // while nobody is waiting. The check is local, no round
                // trip (`Manager::is_broken`).
                let s = &mut *st;
                let mut broken = Vec::new();
                for (conn, c) in s.conns.iter_mut().enumerate() {
                    if let Some(c) = c
                        && s.core.is_idle(conn as u32)
                        && shared.is_broken(c).unwrap_or_else(|b| {
                            s.counters.panics += 1;
                            b
                        })
                    {
                        broken.push(conn as u32);
                    }
                }
                for conn in broken {
                    s.core.discard_idle(now, conn);
                }
                shared.dispatch(&mut st, now, None);
                let states = st.breaker.states(now);
                let s = &mut *st;
                shared.shards.drain(&mut s.recorder, &mut s.core);
                s.recorder.merge_holds_into(&mut s.use_times);
                let snap = s
                    .recorder
                    .finish(now, &mut s.core, states, SystemSignals::default());
                if shared.opts.keep_snapshots > 0 {
                    if s.snapshots.len() >= shared.opts.keep_snapshots {
                        s.snapshots.pop_front();
                    }
                    s.snapshots.push_back(snap.clone());
                }
                if let Some(t) = &s.trace {
                    t.snapshot(&snap);
                }
                let cfg = s.core.config();
                tick = Some((snap, cfg.min_size, cfg.max_size, s.core.target()));
                while next_tick <= now {
                    next_tick += interval;
                }
            }
            let mut wake_at = next_tick;
            if let Some(limit) = shared.opts.leak_threshold {
                let s = &mut *st;
                for (conn, c) in s.checkouts.iter_mut().enumerate() {
                    let Some(since) = c.since else { continue };
                    let due = since.saturating_add(limit);
                    if c.warned {
                        continue;
                    }
                    if due <= now {
                        c.warned = true;
                        s.counters.leaks += 1;
                        let loc = c
                            .location
                            .map_or_else(|| "unknown".to_string(), ToString::to_string);
                        tracing::warn!(
                            pool = %shared.opts.name,
                            conn,
                            held_ms = (now - since) / NANOS_PER_MS,
                            taken_at = %loc,
                            "connection held longer than leak_detection_threshold_ms: possible leak"
                        );
                    } else {
                        wake_at = wake_at.min(due);
                    }
                }
            }
            if let Some(t) = st.core.poll_timeout() {
                wake_at = wake_at.min(t.max(now));
            }
            st.driver_wake_at = wake_at;
            wake_at
        };
        if let Some((snap, min_size, max_size, target)) = tick {
            let ctx = PolicyContext {
                now,
                min_size,
                max_size,
                target,
                foresight: None,
            };
            // A policy that panics is replaced by the reactive one: the
            // pool keeps scaling, and says so in its policy name.
            let decided = match unwind::call(|| (policy.decide(&ctx, &snap), policy.describe())) {
                Ok(d) => Some(d),
                Err(p) => {
                    shared.note_panic("ScalingPolicy::decide", &p);
                    policy = Box::new(PanickedFallback::new(&p));
                    None
                }
            };
            let (decided, description) = decided.unwrap_or_else(|| (None, policy.describe()));
            let mut st = shared.lock();
            if st.policy_name != description {
                tracing::info!(pool = %shared.opts.name, policy = %description, "scaling policy mode");
                st.policy_name = description;
            }
            if let Some(mut t) = decided {
                let cur = st.core.target();
                if let Some(up) = shared.opts.max_step_up {
                    t = t.min(cur.saturating_add(up));
                }
                if let Some(down) = shared.opts.max_step_down {
                    t = t.max(cur.saturating_sub(down));
                }
                if t != cur {
                    let now = shared.now();
                    st.core.set_target(now, t);
                    shared.dispatch(&mut st, now, None);
                    // Logged after the state is consistent: a subscriber
                    // that panics here poisons the lock, and the next
                    // caller's check must find the pool in order.
                    tracing::debug!(pool = %shared.opts.name, from = cur, to = t, "scaling target");
                }
            }
            drop(st);
            if let Some(hook) = &shared.on_snapshot
                && let Err(p) = unwind::call(|| hook(&snap))
            {
                shared.note_panic("on_snapshot hook", &p);
            }
        }
        let wait = shared.until(wake_at);
        drop(shared);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = wake.notified() => {}
        }
        // Never spin: a deadline in the past still yields to other tasks.
        if wait.is_zero() {
            tokio::task::yield_now().await;
        }
    }
}
