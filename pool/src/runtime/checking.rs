//! [`Checking`]: a granted connection whose health check is running.
//!
//! The check awaits ([`Manager::recycle`]), and the caller's future may be
//! dropped at that await (a `tokio::time::timeout`, a `select!`, a client
//! that went away). The guard owns the grant meanwhile, so whatever ends
//! the check gives the slot back: the check passes (an `Object` takes the
//! grant), fails (the core takes it back and serves the request again),
//! or the future is dropped (the guard's `Drop` closes the connection,
//! whose state a cut-off check leaves unknown, and frees its slot, its
//! breaker permit and its checkout record).

use std::sync::Arc;

use super::manager::Manager;
use super::shared::{Granted, Me, Shared};
use crate::core::telemetry::Outcome;

/// Owns a grant while its health check runs; see the module documentation.
pub(crate) struct Checking<'a, M: Manager> {
    shared: &'a Arc<Shared<M>>,
    granted: Option<Granted<M::Connection>>,
    me: Me,
}

impl<'a, M: Manager> Checking<'a, M> {
    /// Takes charge of `g`, granted to `me`.
    pub(crate) fn new(shared: &'a Arc<Shared<M>>, g: Granted<M::Connection>, me: Me) -> Self {
        Checking {
            shared,
            granted: Some(g),
            me,
        }
    }

    /// The request the grant answers.
    pub(crate) fn me(&self) -> Me {
        self.me
    }

    /// The connection under check.
    pub(crate) fn conn(&mut self) -> &mut M::Connection {
        match &mut self.granted {
            Some(g) => &mut g.conn,
            None => unreachable!("the grant is only taken by a consuming method"),
        }
    }

    /// Ends the check, handing the grant on (to an `Object`, or back to
    /// the core after a failed check).
    pub(crate) fn into_granted(mut self) -> Granted<M::Connection> {
        match self.granted.take() {
            Some(g) => g,
            None => unreachable!("the grant is only taken by a consuming method"),
        }
    }
}

impl<M: Manager> Drop for Checking<'_, M> {
    fn drop(&mut self) {
        let Some(g) = self.granted.take() else {
            return;
        };
        let shared = self.shared;
        let now = shared.now();
        let mut st = shared.lock();
        st.clear_checkout(g.id);
        st.affinity.forget_conn(g.id);
        st.breaker.cancel(g.permit);
        st.counters.cancelled += 1;
        // As a queued request its caller gave up on (`Wait`'s drop): from
        // its side an acquire timeout, but not one the breakers count.
        let m = self.me;
        Shared::<M>::record_request(
            &mut st,
            m.record(g.at.saturating_sub(m.arrived), Outcome::AcquireTimeout),
        );
        st.core.release(now, g.id, false);
        shared.dispatch(&mut st, now, None);
        drop(st);
        // Closed outside the lock: dropping a client may do some work.
        drop(g.conn);
    }
}
