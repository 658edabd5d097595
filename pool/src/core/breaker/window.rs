//! The sliding windows a breaker counts in: by calls and by time.

use super::config::{MAX_COUNT_WINDOW, MAX_TIME_BUCKETS, Window};
use crate::core::Nanos;

/// Ring of the last `size` outcomes with a running failure count.
#[derive(Debug, Clone)]
pub(super) struct CountWindow {
    ring: Box<[bool]>,
    next: usize,
    len: u64,
    failures: u64,
}

impl CountWindow {
    pub(super) fn new(size: u32) -> Self {
        let size = size.clamp(1, MAX_COUNT_WINDOW) as usize;
        CountWindow {
            ring: vec![false; size].into_boxed_slice(),
            next: 0,
            len: 0,
            failures: 0,
        }
    }

    pub(super) fn push(&mut self, failed: bool) {
        let cap = self.ring.len();
        if let Some(slot) = self.ring.get_mut(self.next) {
            if self.len as usize == cap {
                if *slot {
                    self.failures -= 1;
                }
            } else {
                self.len += 1;
            }
            *slot = failed;
            if failed {
                self.failures += 1;
            }
        }
        self.next += 1;
        if self.next >= cap {
            self.next = 0;
        }
    }

    /// Pushes `n` successes, as `n` calls of [`push(false)`](Self::push).
    pub(super) fn push_successes(&mut self, n: u64) {
        let cap = self.ring.len();
        if n >= cap as u64 {
            // Every slot is overwritten; the ring ends where `n` pushes
            // would leave it.
            self.ring.fill(false);
            self.len = cap as u64;
            self.failures = 0;
            self.next = ((self.next as u64 + n) % cap as u64) as usize;
            return;
        }
        for _ in 0..n {
            self.push(false);
        }
    }

    pub(super) fn clear(&mut self) {
        // Slots past `len` are never read, so the ring needs no wipe.
        self.next = 0;
        self.len = 0;
        self.failures = 0;
    }
}

/// Calls and failures in one time bucket.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Bucket {
    calls: u64,
    failures: u64,
}

/// Ring of time buckets aligned to multiples of `width`.
#[derive(Debug, Clone)]
pub(super) struct TimeWindow {
    width: Nanos,
    buckets: Box<[Bucket]>,
    /// Index (`now / width`) of the newest bucket.
    head: u64,
    /// `head % buckets.len()`, cached: the hot path does no division.
    head_slot: usize,
    /// Start of the bucket after the newest one: calls before it land in
    /// the newest bucket without any arithmetic.
    next_edge: Nanos,
    calls: u64,
    failures: u64,
}

impl TimeWindow {
    pub(super) fn new(length_ns: Nanos, buckets: u32) -> Self {
        let n = buckets.clamp(1, MAX_TIME_BUCKETS);
        TimeWindow {
            width: (length_ns / u64::from(n)).max(1),
            buckets: vec![Bucket::default(); n as usize].into_boxed_slice(),
            head: 0,
            head_slot: 0,
            next_edge: (length_ns / u64::from(n)).max(1),
            calls: 0,
            failures: 0,
        }
    }

    /// Evicts the buckets older than the window ending at `now`. Time that
    /// goes backwards is treated as the newest bucket.
    #[inline]
    pub(super) fn advance(&mut self, now: Nanos) {
        if now < self.next_edge {
            return;
        }
        let epoch = now / self.width;
        if epoch <= self.head {
            return;
        }
        let n = self.buckets.len() as u64;
        if epoch - self.head >= n {
            self.clear();
        } else {
            for e in self.head + 1..=epoch {
                if let Some(b) = self.buckets.get_mut((e % n) as usize) {
                    self.calls -= b.calls;
                    self.failures -= b.failures;
                    *b = Bucket::default();
                }
            }
        }
        self.head = epoch;
        self.head_slot = (epoch % n) as usize;
        self.next_edge = epoch.saturating_add(1).saturating_mul(self.width);
    }

    #[inline]
    pub(super) fn push(&mut self, now: Nanos, failed: bool) {
        self.advance(now);
        if let Some(b) = self.buckets.get_mut(self.head_slot) {
            b.calls += 1;
            self.calls += 1;
            if failed {
                b.failures += 1;
                self.failures += 1;
            }
        }
    }

    /// Adds `n` successes to the newest bucket, as `n` calls of
    /// [`push`](Self::push) at a time inside it would.
    pub(super) fn push_successes(&mut self, n: u64) {
        if let Some(b) = self.buckets.get_mut(self.head_slot) {
            b.calls += n;
            self.calls += n;
        }
    }

    pub(super) fn clear(&mut self) {
        self.buckets.fill(Bucket::default());
        self.calls = 0;
        self.failures = 0;
    }
}

#[derive(Debug, Clone)]
pub(super) enum WindowState {
    Count(CountWindow),
    Time(TimeWindow),
}

impl WindowState {
    pub(super) fn new(window: Window) -> Self {
        match window {
            Window::Count { size } => WindowState::Count(CountWindow::new(size)),
            Window::Time { length_ns, buckets } => {
                WindowState::Time(TimeWindow::new(length_ns, buckets))
            }
        }
    }

    /// Records one call; returns `(calls, failures)` in the window.
    #[inline]
    pub(super) fn push(&mut self, now: Nanos, failed: bool) -> (u64, u64) {
        match self {
            WindowState::Count(w) => {
                w.push(failed);
                (w.len, w.failures)
            }
            WindowState::Time(w) => {
                w.push(now, failed);
                (w.calls, w.failures)
            }
        }
    }

    /// Until when successes recorded from `now` on all land where one
    /// recorded at `now` would: the end of the newest bucket of a time
    /// window (after moving it to `now`), forever for a count window.
    #[inline]
    pub(super) fn same_bucket_until(&mut self, now: Nanos) -> Nanos {
        match self {
            WindowState::Count(_) => Nanos::MAX,
            WindowState::Time(w) => {
                w.advance(now);
                w.next_edge
            }
        }
    }

    pub(super) fn push_successes(&mut self, n: u64) {
        match self {
            WindowState::Count(w) => w.push_successes(n),
            WindowState::Time(w) => w.push_successes(n),
        }
    }

    pub(super) fn counts(&mut self, now: Nanos) -> (u64, u64) {
        match self {
            WindowState::Count(w) => (w.len, w.failures),
            WindowState::Time(w) => {
                w.advance(now);
                (w.calls, w.failures)
            }
        }
    }

    pub(super) fn clear(&mut self) {
        match self {
            WindowState::Count(w) => w.clear(),
            WindowState::Time(w) => w.clear(),
        }
    }
}
