//! Queued requests: the one module of the workspace with `unsafe` code.
//!
//! A request that cannot be served at once waits in a [`Node`] that lives
//! in its own acquiring future, pinned there (tokio's semaphore keeps its
//! waiters the same way): no allocation and no channel per waiter. Its id
//! in the pool core is the node's address, exposed
//! ([`pointer::expose_provenance`]) and recovered
//! ([`std::ptr::with_exposed_provenance`]) explicitly, so a grant follows
//! one pointer. The task that carries out the core's answer writes the
//! reply into the node under the pool's lock and raises its `ready` flag;
//! the waiting task takes the reply with one atomic load, without the lock.
//!
//! Hand-written rather than a oneshot channel, and ids that are addresses
//! rather than a table of waiters: a channel allocates per waiter, and a
//! channel's shared state or a table's slots are more cache lines moving
//! between the cores on every contended checkout. Measured on 2026-12-07
//! (`cargo bench -p poolcast --bench runtime -- paired/noop`, 10
//! sessions): a slot table made the contended checkout 0.90–0.99× of
//! deadpool's time where addresses give 0.78–0.81×.
//!
//! # Safety argument
//!
//! Every `unsafe` block below rests on these rules:
//!
//! 1. **The core names only queued requests** (in a grant, a timeout or a
//!    rejection), each at most once, and never one that was withdrawn.
//!    This is [`PoolCore`](crate::core::pool::PoolCore)'s contract,
//!    checked by the property test `pool/tests/core_state_machine.rs`
//!    (random requests, cancels, releases, failed checks, create results,
//!    timeouts, resizes and a close against a model of the driver).
//! 2. **A queued node is alive.** A node is queued ([`Waiters::link`])
//!    only through `Pin<&Node>`, so it stays at its address until dropped;
//!    the pool queues a request in the core and links its node under one
//!    lock, and withdraws both (`Wait`'s drop: [`Waiters::unlink`] and
//!    `PoolCore::cancel`) under one lock before the node goes. As a last
//!    line, a node's `Drop` aborts the process if it is still linked,
//!    rather than let its memory go while the core may name it. Every
//!    entry point carries out the core's actions under the lock that
//!    produced them, so no answer to a withdrawn request is ever pending.
//! 3. **Registrations are touched under the lock.** A node's registration
//!    is read and written only through `&mut Waiters` (it lives in the
//!    mutex-guarded state, so that borrow is the lock), and only while the
//!    node is linked into that very pool (each node records, in an atomic,
//!    the key of the pool's `Waiters`; another pool refuses it).
//! 4. **A reply is handed over once.** The answering task unlinks the
//!    node, writes the reply under the lock, then raises `ready`
//!    (release): its last touch of the node. The owner reads the reply
//!    only after seeing `ready` raised (acquire), or under the lock, and
//!    drops the node only after one of the two, so the node outlives the
//!    answer.

use std::cell::UnsafeCell;
use std::marker::{PhantomData, PhantomPinned};
use std::pin::Pin;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::core::pool::RequestId;

/// A queued request's node: `R` is what the pool leaves with it (the
/// task's waker and the request), `T` its reply.
pub(crate) struct Node<R, T> {
    /// What the pool left with the request: read by the task that
    /// answers. Touched under the lock only (rule 3).
    registration: UnsafeCell<Option<R>>,
    /// The [`Waiters::key`] of the pool holding the node, 0 when none.
    /// Written under that pool's lock; read without it by the owner's
    /// `Drop` and by other pools.
    linked: AtomicU64,
    ready: AtomicBool,
    /// Written once, under the lock, before `ready` is raised.
    reply: UnsafeCell<Option<T>>,
    _pinned: PhantomPinned,
}

// SAFETY: a node is shared between its owner and the task answering it:
// `registration` is only touched under the lock (rule 3) and `reply` is
// handed over through `ready` (rule 4), so `&Node` may cross threads when
// what it carries may be sent.
unsafe impl<R: Send, T: Send> Sync for Node<R, T> {}

impl<R, T> Default for Node<R, T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R, T> Node<R, T> {
    /// A node not linked into any pool.
    pub(crate) fn new() -> Self {
        Node {
            registration: UnsafeCell::new(None),
            linked: AtomicU64::new(0),
            ready: AtomicBool::new(false),
            reply: UnsafeCell::new(None),
            _pinned: PhantomPinned,
        }
    }

    /// Takes the reply, if it has come. Only the node's owner calls this.
    #[inline]
    pub(crate) fn take(self: Pin<&Self>) -> Option<T> {
        if !self.ready.load(Ordering::Acquire) {
            return None;
        }
        self.ready.store(false, Ordering::Relaxed);
        // SAFETY: rule 4: `ready` was raised after the only write, and the
        // owner (the one caller) sees it; no one writes after.
        unsafe { (*self.reply.get()).take() }
    }
}

impl<R, T> Drop for Node<R, T> {
    fn drop(&mut self) {
        if self.linked.load(Ordering::Acquire) != 0 {
            // Rule 2: the core may still name this node. The pool withdraws
            // every node before it goes, so this is a bug; dying is the
            // only sound way out.
            eprintln!("poolcast: a queued request's node was dropped while still queued; aborting");
            std::process::abort();
        }
    }
}

/// The queued requests of one pool. Lives in the pool's mutex-guarded
/// state: `&mut Waiters` is the lock.
pub(crate) struct Waiters<R, T> {
    /// Tells this pool's nodes from every other's (never 0).
    key: u64,
    len: usize,
    _nodes: PhantomData<fn(R, T)>,
}

impl<R, T> Default for Waiters<R, T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R, T> Waiters<R, T> {
    /// No queued request.
    pub(crate) fn new() -> Self {
        // Unique per pool for the process's life, so a node linked into
        // one pool is never taken for another's.
        static KEYS: AtomicU64 = AtomicU64::new(1);
        Waiters {
            key: KEYS.fetch_add(1, Ordering::Relaxed),
            len: 0,
            _nodes: PhantomData,
        }
    }

    /// The id of `node`'s request: its address, exposed so that
    /// [`answer`](Self::answer) may turn it back into a pointer.
    #[inline]
    pub(crate) fn id(node: Pin<&Node<R, T>>) -> RequestId {
        ptr::from_ref::<Node<R, T>>(&node).expose_provenance() as RequestId
    }

    /// Queued nodes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Links `node` (request [`id(node)`](Self::id), queued in the core
    /// under this same lock), leaving `registration` with it.
    ///
    /// # Panics
    /// If `node` is already linked (a pool bug: a node waits once).
    #[inline]
    pub(crate) fn link(&mut self, node: Pin<&Node<R, T>>, registration: R) {
        assert_eq!(
            node.linked.load(Ordering::Relaxed),
            0,
            "a node is queued once at a time"
        );
        // SAFETY: rule 3: we hold the lock (`&mut self`) and the node is
        // not linked anywhere, so no one else touches its registration.
        unsafe { *node.registration.get() = Some(registration) };
        self.len += 1;
        node.linked.store(self.key, Ordering::Release);
    }

    /// Whether `node` is linked into this pool.
    #[inline]
    fn holds(&self, node: &Node<R, T>) -> bool {
        node.linked.load(Ordering::Acquire) == self.key
    }

    /// The registration of `node`, when it is queued in this pool.
    pub(crate) fn registration<'a>(&'a mut self, node: Pin<&'a Node<R, T>>) -> Option<&'a mut R> {
        if !self.holds(&node) {
            return None;
        }
        // SAFETY: rule 3: linked here, and we hold the lock.
        unsafe { (*node.registration.get()).as_mut() }
    }

    /// Unlinks `node`, when it is queued in this pool (a request that is
    /// withdrawn; withdraw it from the core under the same lock), and
    /// returns its registration.
    pub(crate) fn unlink(&mut self, node: Pin<&Node<R, T>>) -> Option<R> {
        if !self.holds(&node) {
            return None;
        }
        Some(self.vacate(&node))
    }

    /// Answers request `req`, which the core has just granted, timed out
    /// or rejected under this same lock, with `build(payload,
    /// registration)`: unlinks its node, leaves the reply in it and raises
    /// its `ready` flag, and returns the registration (to wake its task).
    /// When the node is not linked into this pool (which rule 1 excludes),
    /// nothing changes and `payload` comes back.
    #[inline]
    pub(crate) fn answer<P>(
        &mut self,
        req: RequestId,
        payload: P,
        build: impl FnOnce(P, &R) -> T,
    ) -> Result<R, P> {
        let node = ptr::with_exposed_provenance::<Node<R, T>>(req as usize);
        // SAFETY: rules 1 and 2: the core names only queued requests, and a
        // queued request's node is alive; its address was exposed by `id`.
        let node = unsafe { &*node };
        if !self.holds(node) {
            return Err(payload);
        }
        // Unlinked first: once `ready` is raised the owner may drop the
        // node at once, so that store must be the last touch (rule 4).
        let registration = self.vacate(node);
        let reply = build(payload, &registration);
        // SAFETY: rule 4: the one write of the reply, under the lock,
        // before `ready` is raised; the owner reads only after. The node is
        // still alive: its owner drops it only after seeing `ready`, or
        // under the lock we hold.
        unsafe { *node.reply.get() = Some(reply) };
        node.ready.store(true, Ordering::Release);
        Ok(registration)
    }

    /// Unlinks `node`, known to be linked here; returns its registration.
    #[inline]
    fn vacate(&mut self, node: &Node<R, T>) -> R {
        self.len -= 1;
        // SAFETY: rule 3: linked here (checked by every caller), and we
        // hold the lock.
        let registration = unsafe { (*node.registration.get()).take() };
        node.linked.store(0, Ordering::Release);
        registration.expect("a linked node carries its registration")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type N = Node<u32, &'static str>;

    #[test]
    fn answers_in_any_order_and_withdraws() {
        let mut list = Waiters::<u32, &'static str>::new();
        let (a, b, c) = (
            std::pin::pin!(N::new()),
            std::pin::pin!(N::new()),
            std::pin::pin!(N::new()),
        );
        let (ia, ib, ic) = (
            Waiters::id(a.as_ref()),
            Waiters::id(b.as_ref()),
            Waiters::id(c.as_ref()),
        );
        list.link(a.as_ref(), 10);
        list.link(b.as_ref(), 20);
        list.link(c.as_ref(), 30);
        assert_eq!(list.len(), 3);
        assert_eq!(list.registration(b.as_ref()).copied(), Some(20));
        assert_eq!(
            list.answer(ia, "a", |p, r| if *r == 10 { p } else { "?" }),
            Ok(10)
        );
        assert_eq!(a.as_ref().take(), Some("a"));
        assert_eq!(a.as_ref().take(), None);
        // Answered: no longer linked.
        assert_eq!(list.answer(ia, "a", |p, _| p), Err("a"));
        assert_eq!(list.unlink(c.as_ref()), Some(30));
        assert_eq!(list.unlink(c.as_ref()), None);
        assert_eq!(list.answer(ic, "c", |p, _| p), Err("c"));
        assert_eq!(list.answer(ib, "b", |p, _| p), Ok(20));
        assert_eq!(b.as_ref().take(), Some("b"));
        assert_eq!(list.len(), 0);
    }

    #[test]
    fn another_pool_cannot_touch_a_node() {
        let mut one = Waiters::<u32, u8>::new();
        let mut two = Waiters::<u32, u8>::new();
        let n = std::pin::pin!(Node::<u32, u8>::new());
        let id = Waiters::id(n.as_ref());
        one.link(n.as_ref(), 1);
        assert_eq!(two.registration(n.as_ref()), None);
        assert_eq!(two.unlink(n.as_ref()), None);
        assert_eq!(two.answer(id, 5, |p, _| p), Err(5));
        assert_eq!(one.unlink(n.as_ref()), Some(1));
    }
}
