//! [`Object`]: a checked-out connection that goes back to the pool on drop.

use std::ops::{Deref, DerefMut};

use super::manager::{ErrorClass, Manager};
use std::sync::Arc;

use super::shared::{Granted, Shared};
use crate::core::breaker::Permit;
use crate::core::pool::ConnId;
use crate::core::telemetry::{Outcome, QueryClass};
use crate::core::{Nanos, RequestRecord};

/// A connection checked out of a [`Pool`](super::Pool). It derefs to the connection
/// and returns to the pool when dropped.
///
/// Tell the pool how the request went with
/// [`report_error`](Object::report_error) (it feeds the circuit breakers
/// and the telemetry); a connection the pool should not reuse is marked with
/// [`mark_broken`](Object::mark_broken).
pub struct Object<M: Manager> {
    conn: Option<Box<M::Connection>>,
    id: ConnId,
    shared: Arc<Shared<M>>,
    permit: Permit,
    class: QueryClass,
    pattern: u64,
    arrived: Nanos,
    /// The caller's client, for the trace (0 when none is kept).
    client: u64,
    granted: Nanos,
    error: Option<ErrorClass>,
    broken: bool,
    prepared: Vec<u64>,
    evicted: Vec<u64>,
    cache_hits: u32,
    cache_misses: u32,
}

impl<M: Manager> Object<M> {
    pub(crate) fn new(
        shared: Arc<Shared<M>>,
        g: Granted<M::Connection>,
        class: QueryClass,
        pattern: u64,
        arrived: Nanos,
        client: u64,
    ) -> Self {
        let granted = g.at;
        Object {
            conn: Some(g.conn),
            id: g.id,
            shared,
            permit: g.permit,
            class,
            pattern,
            arrived,
            client,
            granted,
            error: None,
            broken: false,
            prepared: Vec::new(),
            evicted: Vec::new(),
            cache_hits: 0,
            cache_misses: 0,
        }
    }

    /// The connection's slot in the pool (stable while it is open; reused
    /// after it closes).
    pub fn slot(&self) -> ConnId {
        self.id
    }

    /// The statement pattern this checkout was routed for (0: none).
    pub fn pattern(&self) -> u64 {
        self.pattern
    }

    /// Reports that the request failed with `err`: the manager classifies
    /// it, the telemetry counts it and, unless it is a client error, the
    /// circuit breaker of its category sees a failure when the connection
    /// comes back. The first error reported wins. Returns the class.
    pub fn report_error(&mut self, err: &M::Error) -> ErrorClass {
        let class = self.shared.classify(err).unwrap_or_else(|fallback| {
            self.shared.lock().counters.panics += 1;
            fallback
        });
        self.report_class(class);
        class
    }

    /// Like [`report_error`](Self::report_error) for an already classified
    /// error.
    pub fn report_class(&mut self, class: ErrorClass) {
        if self.error.is_none() {
            self.error = Some(class);
        }
    }

    /// The pool closes this connection when it comes back instead of
    /// reusing it.
    pub fn mark_broken(&mut self) {
        self.broken = true;
    }

    /// Notes that this connection now holds a prepared statement of
    /// `pattern` (affinity routing will prefer it for that pattern).
    pub fn note_prepared(&mut self, pattern: u64) {
        self.prepared.push(pattern);
    }

    /// Notes that this connection dropped its statement of `pattern`.
    pub fn note_evicted(&mut self, pattern: u64) {
        self.evicted.push(pattern);
    }

    /// Counts a statement-cache lookup (hit or miss) for the pool's hit
    /// rate.
    pub fn note_cache_lookup(&mut self, hit: bool) {
        if hit {
            self.cache_hits += 1;
        } else {
            self.cache_misses += 1;
        }
    }

    /// Takes the connection out of the pool for good; the pool opens a
    /// replacement if it needs one.
    pub fn take(mut this: Self) -> M::Connection {
        let conn = *this
            .conn
            .take()
            .expect("an Object holds its connection until dropped");
        let shared = &this.shared;
        let mut st = shared.lock();
        let now = shared.now();
        st.clear_checkout(this.id);
        st.affinity.forget_conn(this.id);
        st.breaker.record(now, this.permit, None);
        st.core.release(now, this.id, false);
        Shared::dispatch(shared, &mut st, now, None);
        conn
    }
}

impl<M: Manager> std::fmt::Debug for Object<M>
where
    M::Connection: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Object")
            .field("slot", &self.id)
            .field("conn", &self.conn)
            .finish_non_exhaustive()
    }
}

impl<M: Manager> Deref for Object<M> {
    type Target = M::Connection;
    fn deref(&self) -> &M::Connection {
        // Present from construction until drop or `take`, which consumes.
        self.conn
            .as_deref()
            .expect("an Object holds its connection until dropped")
    }
}

impl<M: Manager> DerefMut for Object<M> {
    fn deref_mut(&mut self) -> &mut M::Connection {
        self.conn
            .as_deref_mut()
            .expect("an Object holds its connection until dropped")
    }
}

impl<M: Manager> Drop for Object<M> {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let shared = &self.shared;
        let mut panicked = false;
        let broken = self.broken
            || shared.is_broken(&mut conn).unwrap_or_else(|b| {
                panicked = true;
                b
            });
        // The clock is read before locking: a clock read is as long as the
        // rest of the bookkeeping on some VMs, and other tasks wait for the
        // lock meanwhile (see `Shared::now`).
        let now = shared.now();
        let outcome = match self.error {
            Some(e) => Outcome::Error(e.category),
            None => Outcome::Ok,
        };
        let hold = now.saturating_sub(self.granted);
        // This thread's shard, outside the lock (see `Shards`).
        shared.shards.with(|s| s.end(self.class, hold, outcome));
        let mut st = shared.lock();
        st.counters.panics += u64::from(panicked);
        let i = self.id as usize;
        st.clear_checkout(self.id);
        if broken {
            st.affinity.forget_conn(self.id);
            // User code under the lock (see `Shared::dispatch`'s close).
            if let Err(p) = super::unwind::call(|| drop(conn)) {
                shared.log_panic("dropping a connection", &p);
                st.counters.panics += 1;
            }
        } else {
            st.conns[i] = Some(conn);
            for &p in &self.evicted {
                st.affinity.remove(self.id, p);
            }
            for &p in &self.prepared {
                st.affinity.insert(self.id, p);
            }
        }
        st.core.release(now, self.id, !broken);
        let trips = self
            .error
            .filter(|e| !e.client || shared.opts.breaker_counts_client_errors)
            .map(|e| e.category);
        st.breaker.record(now, self.permit, trips);
        if let Some(e) = self.error {
            st.counters.errors[e.category.index()] += 1;
            if e.client {
                st.counters.client_errors += 1;
            }
        }
        // Only when there is something to add: a line written on every
        // release moves between cores on every release.
        if self.cache_hits | self.cache_misses != 0 {
            st.counters.cache_hits += u64::from(self.cache_hits);
            st.counters.cache_misses += u64::from(self.cache_misses);
        }
        Shared::<M>::trace_request(
            &st,
            RequestRecord {
                arrival_ns: self.arrived,
                class: self.class,
                pattern_hash: self.pattern,
                acquire_wait_ns: self.granted.saturating_sub(self.arrived),
                hold_ns: hold,
                outcome,
                client: self.client,
            },
        );
        Shared::dispatch(shared, &mut st, now, None);
    }
}
