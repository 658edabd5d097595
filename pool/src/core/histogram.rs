//! A log-linear histogram of nanosecond durations for quantiles.
//!
//! Hand-written rather than taken from `hdrhistogram` because the sans-IO
//! core keeps no dependencies beyond serde, and because the simulator resets
//! one histogram per class per interval millions of times: a reset clears
//! only the buckets between the exact minimum's and maximum's, the range
//! that was used.
//!
//! Buckets: values below 64 get one bucket each; above, every power of two
//! is split into 64 linear sub-buckets, so a reported quantile is within
//! 1/128 (0.8%) of the true sample value. Count, sum, min and max are exact.

use super::Nanos;

const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;
const BUCKETS: usize = ((64 - SUB_BITS as usize) + 1) * SUB as usize;

/// Histogram of durations in nanoseconds.
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u32]>,
    count: u64,
    sum: u128,
    min: Nanos,
    max: Nanos,
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.count)
            .field("min", &self.min)
            .field("max", &self.max)
            .finish()
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

#[inline]
fn index_of(v: Nanos) -> usize {
    if v < SUB {
        v as usize
    } else {
        let e = 63 - v.leading_zeros();
        let mantissa = (v >> (e - SUB_BITS)) & (SUB - 1);
        ((e - SUB_BITS + 1) as usize) * SUB as usize + mantissa as usize
    }
}

/// Lower bound and width of bucket `i`.
fn bucket_range(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < SUB {
        (i, 1)
    } else {
        let e = i / SUB + u64::from(SUB_BITS) - 1;
        let mantissa = i % SUB;
        let width = 1u64 << (e - u64::from(SUB_BITS));
        ((1u64 << e) + mantissa * width, width)
    }
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Histogram {
            counts: vec![0u32; BUCKETS].into_boxed_slice(),
            count: 0,
            sum: 0,
            min: Nanos::MAX,
            max: 0,
        }
    }

    /// The buckets that hold samples lie in this range: `index_of` is
    /// monotonic, so the exact min and max name the lowest and highest
    /// bucket used (kept this way instead of tracking the range on every
    /// sample, which costs the hot path two more compare-and-stores).
    /// Only meaningful when not empty.
    #[inline]
    fn used(&self) -> std::ops::RangeInclusive<usize> {
        index_of(self.min)..=index_of(self.max)
    }

    /// Adds one sample.
    #[inline]
    pub fn record(&mut self, v: Nanos) {
        let i = index_of(v);
        self.counts[i] = self.counts[i].saturating_add(1);
        self.count += 1;
        self.sum += u128::from(v);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Exact sum of the samples.
    pub fn sum(&self) -> u128 {
        self.sum
    }

    /// Exact mean, or `None` when empty.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum as f64 / self.count as f64)
    }

    /// Exact minimum, or `None` when empty.
    pub fn min(&self) -> Option<Nanos> {
        (self.count > 0).then_some(self.min)
    }

    /// Exact maximum, or `None` when empty.
    pub fn max(&self) -> Option<Nanos> {
        (self.count > 0).then_some(self.max)
    }

    /// The `q`-quantile (`q` in \[0, 1\]) as the midpoint of its bucket,
    /// clamped to the exact min and max; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let q = if q.is_nan() { 0.5 } else { q.clamp(0.0, 1.0) };
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0u64;
        for i in self.used() {
            seen += u64::from(self.counts[i]);
            if seen >= rank {
                let (low, width) = bucket_range(i);
                let mid = low as f64 + (width as f64 - 1.0) / 2.0;
                return Some(mid.clamp(self.min as f64, self.max as f64));
            }
        }
        Some(self.max as f64)
    }

    /// Samples at most `v`, counted by whole buckets: a bucket is counted
    /// when its upper edge is at most `v`, so the answer may leave out
    /// samples within one bucket width (1/64 of `v`) below `v`. For
    /// cumulative exposition buckets (Prometheus' `le`).
    pub fn count_at_most(&self, v: Nanos) -> u64 {
        if self.count == 0 || v < self.min {
            return 0;
        }
        if v >= self.max {
            return self.count;
        }
        let mut n = 0u64;
        for i in self.used() {
            let (low, width) = bucket_range(i);
            if low.saturating_add(width - 1) > v {
                break;
            }
            n += u64::from(self.counts[i]);
        }
        n
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        if other.count == 0 {
            return;
        }
        for i in other.used() {
            self.counts[i] = self.counts[i].saturating_add(other.counts[i]);
        }
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Empties the histogram, clearing only the buckets that were used.
    pub fn reset(&mut self) {
        if self.count > 0 {
            let used = self.used();
            self.counts[used].fill(0);
        }
        self.count = 0;
        self.sum = 0;
        self.min = Nanos::MAX;
        self.max = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_cover_u64() {
        let mut expected_low = 0u64;
        for i in 0..BUCKETS {
            let (low, width) = bucket_range(i);
            assert_eq!(low, expected_low, "bucket {i}");
            assert_eq!(index_of(low), i);
            assert_eq!(index_of(low + (width - 1)), i);
            expected_low = low.wrapping_add(width);
        }
        assert_eq!(index_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_are_within_bucket_precision() {
        let mut h = Histogram::new();
        for v in 1..=100_000u64 {
            h.record(v * 1000);
        }
        for q in [0.5, 0.95, 0.99] {
            let exact = q * 100_000.0 * 1000.0;
            let got = h.quantile(q).expect("non-empty");
            assert!(
                (got - exact).abs() / exact < 0.01,
                "q={q} got={got} exact={exact}"
            );
        }
        assert_eq!(h.mean(), Some(50_000.5 * 1000.0));
        assert_eq!(h.max(), Some(100_000_000));
    }

    #[test]
    fn reset_and_merge() {
        let mut a = Histogram::new();
        let mut b = Histogram::new();
        a.record(5);
        b.record(1_000_000);
        a.merge(&b);
        assert_eq!(a.count(), 2);
        assert_eq!(a.quantile(1.0), Some(1_000_000.0));
        a.reset();
        assert_eq!(a.count(), 0);
        assert_eq!(a.quantile(0.5), None);
        a.record(7);
        assert_eq!(a.quantile(0.5), Some(7.0));
    }
}
