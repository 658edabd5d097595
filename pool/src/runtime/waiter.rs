//! Queued requests: the one module of the workspace with `unsafe` code.
//!
//! A request that cannot be served at once waits in a [`Node`] that lives
//! in its own acquiring future, pinned there (tokio's semaphore keeps its
//! waiters the same way): no allocation and no channel per waiter. The
//! pool links the node into its [`Waiters`], an intrusive FIFO list that
//! lives inside the state the pool's mutex guards, under a request id the
//! list hands out. The task that carries out the core's answer to that id
//! finds the node in the list (at its head, as the core answers in FIFO
//! order), unlinks it, writes the reply into it and raises its `ready`
//! flag; the waiting task takes the reply with one atomic load, without
//! the lock.
//!
//! Hand-written rather than a oneshot channel or a slab of waiters: a
//! channel allocates per waiter and its shared state is one more cache
//! line between the cores on every contended checkout; the node in the
//! waiter's own future is what the pool's benchmarks against deadpool
//! were measured with.
//!
//! # Safety argument
//!
//! Every `unsafe` block below rests on these rules, each kept inside this
//! module:
//!
//! 1. **A linked node is alive.** A node is linked only through
//!    `Pin<&Node>`, so it stays at its address until it is dropped, and
//!    its `Drop` aborts the process if it is still linked, rather than let
//!    its memory go while a list points at it. A list is the only holder
//!    of node pointers, and it reaches only nodes linked into it. So no
//!    pointer the list follows ever dangles, whatever the pool core says:
//!    an id the list does not hold is answered with an error, not a guess.
//! 2. **Links and registrations are touched under the lock.** A node's
//!    `prev`, `next`, `id` and registration are read and written only
//!    through `&mut Waiters` (the list lives in the mutex-guarded state, so
//!    that borrow is the lock), and only while the node is linked into that
//!    very list (each node records the key of the list holding it, in an
//!    atomic, so another pool's list can tell it is not its own without
//!    touching anything else).
//! 3. **A reply is handed over once.** The answering task writes the reply
//!    under the lock, then raises `ready` (release); the owner reads the
//!    reply only after seeing `ready` raised (acquire), or under the lock.
//!    Raising `ready` is the answerer's last touch of the node: it unlinks
//!    the node first, and the owner drops its node only after seeing
//!    `ready` raised or under the lock, so the node outlives the answer.
//!
//! The pool keeps the protocol on top (a request withdraws its node on
//! drop, under the lock, before the node goes away); if it ever failed to,
//! rule 1 turns the bug into an abort instead of a use after free. The
//! core's side (it names only queued requests, in FIFO order) is
//! property-tested in `pool/tests/core_state_machine.rs`; it matters for
//! liveness, not for memory safety.

use std::cell::UnsafeCell;
use std::marker::PhantomPinned;
use std::pin::Pin;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::core::pool::RequestId;

/// The list fields of a node, touched under the lock only (rule 2).
struct Links<R, T> {
    prev: *const Node<R, T>,
    next: *const Node<R, T>,
    id: RequestId,
    /// What the pool left with the request: read by the task that answers.
    registration: Option<R>,
}

/// A queued request's node: `R` is what the pool leaves with it (the
/// task's waker and the request), `T` its reply.
pub(crate) struct Node<R, T> {
    links: UnsafeCell<Links<R, T>>,
    /// The [`Waiters::key`] of the list holding the node, 0 when none:
    /// only that list follows or unlinks it. Written under that list's
    /// lock; read without it by the owner's `Drop` and by other lists.
    list: AtomicU64,
    ready: AtomicBool,
    /// Written once, under the lock, before `ready` is raised.
    reply: UnsafeCell<Option<T>>,
    _pinned: PhantomPinned,
}

// SAFETY: a node is shared between its owner and the task answering it:
// `links` is only touched under the lock (rule 2) and `reply` is handed
// over through `ready` (rule 3), so `&Node` may cross threads when what it
// carries may be sent.
unsafe impl<R: Send, T: Send> Sync for Node<R, T> {}
// SAFETY: the raw pointers in `links` are owned by the list that the lock
// guards (rule 2); nothing else in a node is tied to a thread.
unsafe impl<R: Send, T: Send> Send for Node<R, T> {}

impl<R, T> Default for Node<R, T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R, T> Node<R, T> {
    /// A node not linked into any list.
    pub(crate) fn new() -> Self {
        Node {
            links: UnsafeCell::new(Links {
                prev: ptr::null(),
                next: ptr::null(),
                id: 0,
                registration: None,
            }),
            list: AtomicU64::new(0),
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
        // SAFETY: rule 3: `ready` was raised after the only write, and the
        // owner (the one caller) sees it; no one writes after.
        unsafe { (*self.reply.get()).take() }
    }
}

impl<R, T> Drop for Node<R, T> {
    fn drop(&mut self) {
        if self.list.load(Ordering::Acquire) != 0 {
            // Rule 1: a list still points here. The pool withdraws every
            // node before it goes, so this is a bug; dying is the only
            // sound way out.
            eprintln!("poolcast: a queued request's node was dropped while still queued; aborting");
            std::process::abort();
        }
    }
}

/// The queued requests of one pool, oldest first; it hands out request
/// ids. Lives in the pool's mutex-guarded state: `&mut Waiters` is the
/// lock.
pub(crate) struct Waiters<R, T> {
    /// Tells this list from every other (never 0).
    key: u64,
    head: *const Node<R, T>,
    tail: *const Node<R, T>,
    len: usize,
    next_id: RequestId,
}

// SAFETY: the list's pointers lead to nodes that are `Send + Sync` for
// these `R`, `T`, and are followed only through `&mut self` (rule 2).
unsafe impl<R: Send, T: Send> Send for Waiters<R, T> {}

impl<R, T> Default for Waiters<R, T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R, T> Waiters<R, T> {
    /// An empty list; ids start at 1.
    pub(crate) fn new() -> Self {
        // Unique per list for the process's life, so a node linked into
        // one pool's list is never taken for another's.
        static KEYS: AtomicU64 = AtomicU64::new(1);
        Waiters {
            key: KEYS.fetch_add(1, Ordering::Relaxed),
            head: ptr::null(),
            tail: ptr::null(),
            len: 0,
            next_id: 1,
        }
    }

    /// A fresh request id (ids are never reused).
    #[inline]
    pub(crate) fn next_id(&mut self) -> RequestId {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Queued nodes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Links `node` at the back (`front = false`, a new request) or the
    /// front (a request served again after a failed health check) as
    /// request `id`, leaving `registration` with it.
    ///
    /// # Panics
    /// If `node` is already linked (a pool bug: a node waits once).
    pub(crate) fn link(
        &mut self,
        node: Pin<&Node<R, T>>,
        id: RequestId,
        registration: R,
        front: bool,
    ) {
        assert_eq!(
            node.list.load(Ordering::Acquire),
            0,
            "a node is queued once at a time"
        );
        let me: *const Node<R, T> = &*node;
        let (prev, next) = if front {
            (ptr::null(), self.head)
        } else {
            (self.tail, ptr::null())
        };
        // SAFETY: rule 2: we hold the lock (`&mut self`) and the node is
        // not linked anywhere, so no one else touches its links.
        unsafe {
            *node.links.get() = Links {
                prev,
                next,
                id,
                registration: Some(registration),
            };
        }
        // SAFETY: `prev` and `next` are null or linked here, so alive
        // (rule 1), and we hold the lock (rule 2).
        unsafe {
            match prev.as_ref() {
                Some(p) => (*p.links.get()).next = me,
                None => self.head = me,
            }
            match next.as_ref() {
                Some(n) => (*n.links.get()).prev = me,
                None => self.tail = me,
            }
        }
        self.len += 1;
        node.list.store(self.key, Ordering::Release);
    }

    /// Whether `node` is linked into this list.
    fn holds(&self, node: &Node<R, T>) -> bool {
        node.list.load(Ordering::Acquire) == self.key
    }

    /// The registration of `node`, when it is queued in this list.
    pub(crate) fn registration<'a>(&'a mut self, node: Pin<&'a Node<R, T>>) -> Option<&'a mut R> {
        if !self.holds(&node) {
            return None;
        }
        // SAFETY: rule 2: linked here, and we hold the lock.
        unsafe { (*node.links.get()).registration.as_mut() }
    }

    /// Unlinks `node`, when it is queued in this list (a request that is
    /// withdrawn), and returns its registration.
    pub(crate) fn unlink(&mut self, node: Pin<&Node<R, T>>) -> Option<R> {
        if !self.holds(&node) {
            return None;
        }
        Some(self.unlink_ptr(&*node))
    }

    /// Answers request `req` with `build(payload, registration)`: unlinks
    /// its node, leaves the reply in it and raises its `ready` flag, and
    /// returns the registration (to wake its task). When no queued node
    /// has that id, nothing changes and `payload` comes back.
    #[inline]
    pub(crate) fn answer<P>(
        &mut self,
        req: RequestId,
        payload: P,
        build: impl FnOnce(P, &R) -> T,
    ) -> Result<R, P> {
        let Some(node) = self.find(req) else {
            return Err(payload);
        };
        // SAFETY: `find` returns only linked nodes (alive, rule 1), and we
        // hold the lock.
        let node = unsafe { &*node };
        // Unlinked first: once `ready` is raised the owner may drop the
        // node at once, so that store must be the last touch (rule 3).
        let registration = self.unlink_ptr(node);
        let reply = build(payload, &registration);
        // SAFETY: rule 3: the one write of the reply, under the lock,
        // before `ready` is raised; the owner reads only after. The node is
        // still alive: its owner drops it only after seeing `ready`, or
        // under the lock we hold.
        unsafe { *node.reply.get() = Some(reply) };
        node.ready.store(true, Ordering::Release);
        Ok(registration)
    }

    /// The linked node of request `req`: the head in the common case (the
    /// core answers in FIFO order), else found by walking the list.
    #[inline]
    fn find(&self, req: RequestId) -> Option<*const Node<R, T>> {
        let mut at = self.head;
        // SAFETY: every pointer followed is the head or a `next` of a
        // linked node: linked, so alive (rule 1), and we hold the lock.
        while let Some(n) = unsafe { at.as_ref() } {
            // SAFETY: as above.
            let links = unsafe { &*n.links.get() };
            if links.id == req {
                return Some(at);
            }
            at = links.next;
        }
        None
    }

    /// Unlinks `node`, known to be linked here; returns its registration.
    fn unlink_ptr(&mut self, node: &Node<R, T>) -> R {
        // SAFETY: rule 2: linked here (checked by every caller), and we
        // hold the lock; its neighbours are linked here too (rule 1).
        let registration = unsafe {
            let links = &mut *node.links.get();
            match links.prev.as_ref() {
                Some(p) => (*p.links.get()).next = links.next,
                None => self.head = links.next,
            }
            match links.next.as_ref() {
                Some(n) => (*n.links.get()).prev = links.prev,
                None => self.tail = links.prev,
            }
            links.prev = ptr::null();
            links.next = ptr::null();
            links.registration.take()
        };
        self.len -= 1;
        node.list.store(0, Ordering::Release);
        registration.expect("a linked node carries its registration")
    }
}

impl<R, T> Drop for Waiters<R, T> {
    fn drop(&mut self) {
        // A list dropped with nodes linked (the pool's state going while
        // requests wait: it cannot, as every waiter holds the pool) would
        // leave them pointing at it; unlink them first.
        while let Some(n) = self.find_head() {
            // SAFETY: linked here, so alive (rule 1).
            let n = unsafe { &*n };
            drop(self.unlink_ptr(n));
        }
    }
}

impl<R, T> Waiters<R, T> {
    fn find_head(&self) -> Option<*const Node<R, T>> {
        (!self.head.is_null()).then_some(self.head)
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
        let (ia, ib, ic) = (list.next_id(), list.next_id(), list.next_id());
        list.link(a.as_ref(), ia, 10, false);
        list.link(b.as_ref(), ib, 20, false);
        list.link(c.as_ref(), ic, 30, true);
        assert_eq!(list.len(), 3);
        assert_eq!(list.registration(b.as_ref()).copied(), Some(20));
        // An id nobody holds is refused.
        assert_eq!(list.answer(99, "x", |p, _| p), Err("x"));
        // Out of order: the middle one.
        assert_eq!(
            list.answer(ia, "a", |p, r| if *r == 10 { p } else { "?" }),
            Ok(10)
        );
        assert_eq!(a.as_ref().take(), Some("a"));
        assert_eq!(a.as_ref().take(), None);
        assert_eq!(list.unlink(c.as_ref()), Some(30));
        assert_eq!(list.unlink(c.as_ref()), None);
        assert_eq!(list.answer(ic, "c", |p, _| p), Err("c"));
        assert_eq!(list.answer(ib, "b", |p, _| p), Ok(20));
        assert_eq!(b.as_ref().take(), Some("b"));
        assert_eq!(list.len(), 0);
    }

    #[test]
    fn another_list_cannot_touch_a_node() {
        let mut one = Waiters::<u32, u8>::new();
        let mut two = Waiters::<u32, u8>::new();
        let n = std::pin::pin!(Node::<u32, u8>::new());
        let id = one.next_id();
        one.link(n.as_ref(), id, 1, false);
        assert_eq!(two.registration(n.as_ref()), None);
        assert_eq!(two.unlink(n.as_ref()), None);
        assert_eq!(two.answer(id, 5, |p, _| p), Err(5));
        assert_eq!(one.unlink(n.as_ref()), Some(1));
    }
}
