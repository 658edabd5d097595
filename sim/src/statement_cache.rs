//! The simulated statement caches: one LRU of prepared statement patterns
//! per connection. Affinity routing ([`PoolCore::acquire_preferring`]) asks
//! [`StatementCaches::holds`] of each idle connection, as the runtime pool
//! asks its `AffinityIndex`, so it sees exactly which connection holds
//! which pattern.
//!
//! A request looks its pattern up in the cache of the connection it was
//! granted: a hit costs nothing, a miss prepares the statement (the engine
//! adds `pool.affinity.prepare_ms` to the hold) and inserts it, evicting the
//! least recently used pattern when the cache is full. A closed connection
//! forgets everything it had prepared.
//!
//! Everything here is a deterministic function of the calls: recency is a
//! counter, not a clock, and no hash map is ever iterated.
//!
//! [`PoolCore::acquire_preferring`]: poolcast::core::pool::PoolCore::acquire_preferring

use poolcast::core::pool::ConnId;

/// One slot of a [`ConnCache`] table.
#[derive(Debug, Default, Clone, Copy)]
struct Entry {
    pattern: u64,
    /// Tick of the last use; 0 marks an empty slot.
    tick: u64,
}

/// One connection's cache: an open-addressing table (linear probing) of
/// patterns and the tick of their last use, at most a quarter full so that
/// a lookup is a multiply and almost always one probe, whatever the cache
/// size. Eviction scans the table for the oldest tick; only a miss on a
/// full cache pays it.
#[derive(Debug, Default, Clone)]
struct ConnCache {
    slots: Vec<Entry>,
    /// `64 - log2(slots.len())`: the home slot is the top bits of
    /// `pattern × φ` (Fibonacci hashing).
    shift: u32,
    len: usize,
}

const PHI: u64 = 0x9E37_79B9_7F4A_7C15;

impl ConnCache {
    #[inline]
    fn home(&self, pattern: u64) -> usize {
        (pattern.wrapping_mul(PHI) >> self.shift) as usize
    }

    #[inline]
    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// The slot holding `pattern`.
    #[inline]
    fn position(&self, pattern: u64) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let mask = self.mask();
        let mut i = self.home(pattern);
        loop {
            let e = self.slots[i];
            if e.tick == 0 {
                return None;
            }
            if e.pattern == pattern {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// The entry of `pattern`.
    #[inline]
    fn find(&mut self, pattern: u64) -> Option<&mut Entry> {
        self.position(pattern).map(|i| &mut self.slots[i])
    }

    /// Whether `pattern` is in the table.
    #[inline]
    fn contains(&self, pattern: u64) -> bool {
        self.position(pattern).is_some()
    }

    /// Inserts `pattern`, known to be absent.
    fn insert(&mut self, pattern: u64, tick: u64) {
        if (self.len + 1) * 4 > self.slots.len() {
            self.grow();
        }
        let mask = self.mask();
        let mut i = self.home(pattern);
        while self.slots[i].tick != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = Entry { pattern, tick };
        self.len += 1;
    }

    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(8);
        let old = std::mem::replace(&mut self.slots, vec![Entry::default(); size]);
        self.shift = 64 - size.trailing_zeros();
        self.len = 0;
        for e in old.into_iter().filter(|e| e.tick != 0) {
            self.insert(e.pattern, e.tick);
        }
    }

    /// Removes the least recently used pattern and returns it. Ticks are
    /// unique, so the victim does not depend on the table's layout.
    fn evict_oldest(&mut self) -> Option<u64> {
        let (i, e) = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, e)| e.tick != 0)
            .min_by_key(|(_, e)| e.tick)?;
        let victim = e.pattern;
        self.remove_at(i);
        Some(victim)
    }

    /// Empties slot `hole`, shifting later entries of its probe run back
    /// so that every entry stays reachable from its home slot.
    fn remove_at(&mut self, mut hole: usize) {
        let mask = self.mask();
        let mut j = (hole + 1) & mask;
        while self.slots[j].tick != 0 {
            let h = self.home(self.slots[j].pattern);
            // The entry at `j` may stay when its home lies cyclically in
            // (hole, j]; otherwise the hole would cut it off.
            let stays = if hole <= j {
                hole < h && h <= j
            } else {
                hole < h || h <= j
            };
            if !stays {
                self.slots[hole] = self.slots[j];
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.slots[hole] = Entry::default();
        self.len -= 1;
    }

    fn clear(&mut self) {
        self.slots.fill(Entry::default());
        self.len = 0;
    }
}

/// Every connection's statement cache plus the affinity index over them,
/// and the hit and miss counts.
#[derive(Debug, Clone)]
pub(crate) struct StatementCaches {
    capacity: usize,
    conns: Vec<ConnCache>,
    tick: u64,
    hits: u64,
    misses: u64,
}

impl StatementCaches {
    /// Caches of `capacity` patterns per connection (0: no cache, every
    /// lookup misses and nothing is remembered).
    pub(crate) fn new(capacity: u32) -> Self {
        StatementCaches {
            capacity: capacity as usize,
            conns: Vec::new(),
            tick: 0,
            hits: 0,
            misses: 0,
        }
    }

    /// Whether `conn` has `pattern` prepared: what
    /// [`PoolCore::acquire_preferring`] asks of each idle connection. Does
    /// not count as a use.
    ///
    /// [`PoolCore::acquire_preferring`]: poolcast::core::pool::PoolCore::acquire_preferring
    #[inline]
    pub(crate) fn holds(&self, conn: ConnId, pattern: u64) -> bool {
        self.conns
            .get(conn as usize)
            .is_some_and(|c| c.contains(pattern))
    }

    /// Looks `pattern` up in `conn`'s cache and counts the result. On a
    /// miss the pattern is prepared: inserted, evicting the least recently
    /// used pattern when the cache is full. Returns whether it was a hit.
    #[inline(always)]
    pub(crate) fn lookup(&mut self, conn: ConnId, pattern: u64) -> bool {
        self.tick += 1;
        let tick = self.tick;
        if let Some(e) = self
            .conns
            .get_mut(conn as usize)
            .and_then(|c| c.find(pattern))
        {
            e.tick = tick;
            self.hits += 1;
            return true;
        }
        self.miss(conn, pattern, tick);
        false
    }

    /// The miss path of [`lookup`](Self::lookup), kept out of line.
    #[inline(never)]
    fn miss(&mut self, conn: ConnId, pattern: u64, tick: u64) {
        self.misses += 1;
        if self.capacity == 0 {
            return;
        }
        let i = conn as usize;
        if self.conns.len() <= i {
            self.conns.resize_with(i + 1, ConnCache::default);
        }
        let c = &mut self.conns[i];
        if c.len >= self.capacity {
            c.evict_oldest();
        }
        c.insert(pattern, tick);
    }

    /// Connection `conn` closed (or its slot is about to hold a new
    /// connection): it holds no prepared statement any more.
    #[inline]
    pub(crate) fn forget(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(conn as usize)
            && c.len > 0
        {
            c.clear();
        }
    }

    /// Lookups that found the pattern prepared.
    pub(crate) fn hits(&self) -> u64 {
        self.hits
    }

    /// Lookups that had to prepare the pattern.
    pub(crate) fn misses(&self) -> u64 {
        self.misses
    }

    /// Connections (of the first 16) holding `pattern`, in id order.
    #[cfg(test)]
    fn holders(&self, pattern: u64) -> Vec<ConnId> {
        (0..16).filter(|&c| self.holds(c, pattern)).collect()
    }

    /// Patterns held by `conn`, sorted.
    #[cfg(test)]
    fn held(&self, conn: ConnId) -> Vec<u64> {
        let mut v: Vec<u64> = self.conns.get(conn as usize).map_or(Vec::new(), |c| {
            c.slots
                .iter()
                .filter(|e| e.tick != 0)
                .map(|e| e.pattern)
                .collect()
        });
        v.sort_unstable();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_misses_and_lru_eviction_keep_holds_in_step() {
        let mut c = StatementCaches::new(2);
        assert!(!c.lookup(0, 10));
        assert!(!c.lookup(0, 11));
        assert!(c.lookup(0, 10)); // 10 is now the most recent, 11 the least
        assert!(!c.lookup(0, 12)); // evicts 11
        assert_eq!(c.holders(11), Vec::<ConnId>::new());
        assert_eq!(c.holders(10), vec![0]);
        assert_eq!(c.holders(12), vec![0]);
        assert!(c.lookup(0, 10));
        assert!(!c.lookup(0, 11)); // evicts 12
        assert!(c.holders(12).is_empty());
        assert_eq!(c.held(0), [10, 11]);
        assert_eq!((c.hits(), c.misses()), (2, 4));
    }

    #[test]
    fn holds_does_not_count_as_a_use() {
        let mut c = StatementCaches::new(8);
        c.lookup(3, 7);
        c.lookup(1, 7);
        assert!(c.holds(3, 7) && c.holds(1, 7) && !c.holds(2, 7) && !c.holds(3, 8));
        assert_eq!((c.hits(), c.misses()), (0, 2));
    }

    #[test]
    fn a_forgotten_connection_misses_again() {
        let mut c = StatementCaches::new(4);
        c.lookup(2, 5);
        c.lookup(2, 6);
        assert!(c.lookup(2, 5));
        c.forget(2);
        assert!(c.holders(5).is_empty() && c.holders(6).is_empty());
        assert!(!c.lookup(2, 5));
        assert_eq!(c.holders(5), vec![2]);
        // Forgetting a slot that never held anything is harmless.
        c.forget(9);
        c.forget(2);
        c.forget(2);
        assert!(c.holders(5).is_empty());
    }

    /// The table against a plain LRU list, under random lookups and
    /// forgets on a few connections, with patterns picked to collide on
    /// their home slots, tables that grow, and caches that evict.
    #[test]
    fn the_table_behaves_like_a_plain_lru_list() {
        let mut state = 0x1234_5678_9abc_def0_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for capacity in [1u32, 3, 7, 16, 40] {
            let mut c = StatementCaches::new(capacity);
            let mut model: Vec<Vec<(u64, u64)>> = vec![Vec::new(); 4];
            let mut tick = 0;
            // Multiples of 2^60 share their top bits after the multiply
            // only rarely, so mix them with small numbers and a few that
            // differ in high bits alone.
            let patterns: Vec<u64> = (1..=60u64)
                .map(|k| match k % 3 {
                    0 => k,
                    1 => k << 58,
                    _ => k.wrapping_mul(PHI),
                })
                .collect();
            for _ in 0..20_000 {
                let conn = (next() % 4) as usize;
                if next() % 200 == 0 {
                    c.forget(conn as ConnId);
                    model[conn].clear();
                    continue;
                }
                // Skewed: low indices far more often.
                let r = next() % 1000;
                let p = patterns[((r * r / 1000) as usize * patterns.len() / 1000).min(59)];
                tick += 1;
                let m = &mut model[conn];
                let want = match m.iter().position(|&(q, _)| q == p) {
                    Some(k) => {
                        m[k].1 = tick;
                        true
                    }
                    None => {
                        if m.len() >= capacity as usize {
                            let k = (0..m.len()).min_by_key(|&k| m[k].1).unwrap();
                            m.remove(k);
                        }
                        m.push((p, tick));
                        false
                    }
                };
                assert_eq!(c.lookup(conn as ConnId, p), want);
                let mut held: Vec<u64> = m.iter().map(|&(q, _)| q).collect();
                held.sort_unstable();
                assert_eq!(c.held(conn as ConnId), held);
            }
            for &p in &patterns {
                let mut want: Vec<ConnId> = (0..4)
                    .filter(|&k| model[k as usize].iter().any(|&(q, _)| q == p))
                    .collect();
                let mut got = c.holders(p);
                want.sort_unstable();
                got.sort_unstable();
                assert_eq!(got, want, "holds in step for pattern {p:#x}");
            }
        }
    }

    #[test]
    fn a_zero_capacity_cache_never_hits_and_never_routes() {
        let mut c = StatementCaches::new(0);
        for _ in 0..3 {
            assert!(!c.lookup(0, 1));
        }
        assert!(c.holders(1).is_empty());
        assert_eq!((c.hits(), c.misses()), (0, 3));
    }
}
