//! The discrete-event kernel: an integer-nanosecond clock and an event
//! queue that breaks ties by insertion order.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use poolcast::core::Nanos;

struct Entry<E> {
    time: Nanos,
    seq: u64,
    event: E,
}

impl<E> Entry<E> {
    #[inline]
    fn key(&self) -> (Nanos, u64) {
        (self.time, self.seq)
    }
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: reverse so the earliest key pops first.
        other.key().cmp(&self.key())
    }
}

/// A future-event list. Events at the same time pop in the order they
/// were pushed (the key is `(time, sequence)`), which makes every run
/// reproducible.
///
/// One *side slot* holds the pending event of a stream that always has
/// exactly one (the next arrival): it skips the heap but keeps the same
/// key, so the pop order is exactly that of a single heap. This halves the
/// heap traffic of an open queueing model.
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    side: Option<Entry<E>>,
    seq: u64,
    now: Nanos,
    popped: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    /// An empty queue at time 0.
    pub fn new() -> Self {
        EventQueue {
            heap: BinaryHeap::with_capacity(256),
            side: None,
            seq: 0,
            now: 0,
            popped: 0,
        }
    }

    /// Schedules `event` at `at`. A time in the past is moved to now, so the
    /// clock never runs backwards.
    #[inline]
    pub fn push(&mut self, at: Nanos, event: E) {
        let time = at.max(self.now);
        let seq = self.seq;
        self.seq += 1;
        self.heap.push(Entry { time, seq, event });
    }

    /// Schedules `event` at `at` in the side slot, replacing what it held.
    #[inline]
    pub fn push_side(&mut self, at: Nanos, event: E) {
        let time = at.max(self.now);
        let seq = self.seq;
        self.seq += 1;
        self.side = Some(Entry { time, seq, event });
    }

    /// Removes the earliest event and advances the clock to it.
    #[inline]
    pub fn pop(&mut self) -> Option<(Nanos, E)> {
        let side_first = match (&self.side, self.heap.peek()) {
            (Some(s), Some(h)) => s.key() < h.key(),
            (Some(_), None) => true,
            (None, _) => false,
        };
        let e = if side_first {
            self.side.take()?
        } else {
            self.heap.pop()?
        };
        let t = e.time;
        self.now = t;
        self.popped += 1;
        Some((t, e.event))
    }

    /// Time of the earliest event.
    pub fn peek_time(&self) -> Option<Nanos> {
        let h = self.heap.peek().map(Entry::key);
        let s = self.side.as_ref().map(Entry::key);
        let k = match (h, s) {
            (Some(h), Some(s)) => h.min(s),
            (k, None) | (None, k) => k?,
        };
        Some(k.0)
    }

    /// The clock: the time of the last popped event.
    pub fn now(&self) -> Nanos {
        self.now
    }

    /// Events popped so far.
    pub fn events(&self) -> u64 {
        self.popped
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.heap.len() + usize::from(self.side.is_some())
    }

    /// Whether no event waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_time_then_insertion_order() {
        let mut q = EventQueue::new();
        q.push(5, 'a');
        q.push(1, 'b');
        q.push(5, 'c');
        q.push(1, 'd');
        q.push(3, 'e');
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(
            order,
            vec![(1, 'b'), (1, 'd'), (3, 'e'), (5, 'a'), (5, 'c')]
        );
        assert_eq!(q.events(), 5);
        assert_eq!(q.now(), 5);
    }

    #[test]
    fn side_slot_keeps_insertion_order() {
        let mut q = EventQueue::new();
        q.push(5, 'a');
        q.push_side(5, 's');
        q.push(5, 'b');
        q.push(1, 'c');
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, vec![(1, 'c'), (5, 'a'), (5, 's'), (5, 'b')]);
        q.push_side(9, 'x');
        q.push_side(7, 'y');
        assert_eq!(q.len(), 1);
        assert_eq!(q.pop(), Some((7, 'y')));
    }

    #[test]
    fn past_events_run_now() {
        let mut q = EventQueue::new();
        q.push(10, 1);
        assert_eq!(q.pop(), Some((10, 1)));
        q.push(3, 2);
        assert_eq!(q.pop(), Some((10, 2)));
    }
}
