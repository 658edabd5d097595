//! [`Wait`]: the future of a queued acquire.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::error::PoolError;
use super::manager::Manager;
use super::shared::{Reply, Shared, WaitNode};
use crate::core::telemetry::Outcome;

/// A queued acquire: takes its answer from its node once woken. If it is
/// dropped first, it withdraws the request, or gives back the connection
/// granted to it in the meantime, under the lock, before its node goes
/// away (declare the node before the `Wait`, so it is dropped after).
pub(crate) struct Wait<'a, M: Manager> {
    shared: &'a Arc<Shared<M>>,
    node: Pin<&'a WaitNode<M::Connection>>,
    /// The waker was registered when the request was queued, in this same
    /// poll of the task: the first poll has only the node to look at.
    fresh: bool,
    done: bool,
}

impl<'a, M: Manager> Wait<'a, M> {
    /// The wait of the request queued, in this poll, with `node`.
    pub(crate) fn new(shared: &'a Arc<Shared<M>>, node: Pin<&'a WaitNode<M::Connection>>) -> Self {
        Wait {
            shared,
            node,
            fresh: true,
            done: false,
        }
    }
}

impl<M: Manager> Future for Wait<'_, M> {
    type Output = Reply<M::Connection>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(reply) = this.node.take() {
            this.done = true;
            return Poll::Ready(reply);
        }
        if this.fresh {
            this.fresh = false;
            return Poll::Pending;
        }
        this.register(cx)
    }
}

impl<M: Manager> Wait<'_, M> {
    /// [`poll`](Future::poll) past the first, with no answer yet (a poll
    /// the pool did not cause): registers the task's waker again if it
    /// changed. Out of line, as it is rare.
    #[inline(never)]
    fn register(&mut self, cx: &mut Context<'_>) -> Poll<Reply<M::Connection>> {
        let mut st = self.shared.lock();
        // Answered between the load above and the lock.
        if let Some(reply) = self.node.take() {
            self.done = true;
            return Poll::Ready(reply);
        }
        match st.waiters.registration(self.node) {
            Some(q) => {
                if !q.waker.will_wake(cx.waker()) {
                    q.waker = cx.waker().clone();
                }
                Poll::Pending
            }
            None => {
                // Neither queued nor answered: cannot happen while the pool
                // lives; fail rather than hang.
                self.done = true;
                Poll::Ready(Err(PoolError::Closed))
            }
        }
    }

    /// Withdraws the request, or gives back the connection granted to it.
    fn withdraw(&mut self) {
        let shared = self.shared;
        let now = shared.now();
        let mut st = shared.lock();
        if let Some(q) = st.waiters.unlink(self.node) {
            // Still queued: every entry point carries out the core's
            // actions before it unlocks, so the core holds it too.
            let m = q.me;
            let was_queued = st.core.cancel(now, m.req);
            debug_assert!(was_queued, "a queued request is in the core's queue");
            debug_assert_eq!(st.waiters.len(), st.core.waiting() as usize);
            st.breaker.cancel(m.permit);
            st.counters.cancelled += 1;
            // The caller gave up waiting: from its side an acquire
            // timeout, but not one the breakers should count.
            Shared::<M>::record_request(
                &mut st,
                m.record(now - m.arrived.min(now), Outcome::AcquireTimeout),
            );
            return;
        }
        // Answered: the answer is in the node.
        if let Some(Ok(g)) = self.node.take() {
            // The core counted the grant; its wait counts too.
            shared.shards.with(|s| s.wait(g.waited));
            st.clear_checkout(g.id);
            st.conns[g.id as usize] = Some(g.conn);
            st.breaker.cancel(g.permit);
            st.counters.cancelled += 1;
            st.core.release(now, g.id, true);
            shared.dispatch(&mut st, now, None);
        }
    }
}

impl<M: Manager> Drop for Wait<'_, M> {
    fn drop(&mut self) {
        if !self.done {
            self.withdraw();
        }
    }
}
