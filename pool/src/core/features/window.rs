//! Streaming history of one signal: lags, rolling mean/std/min/max/slope
//! over several windows, and EWMAs, each O(1) amortized per push.
//!
//! Running sums drift under floating point, so each window recomputes its
//! sums exactly from the ring every `w` pushes (O(1) amortized). The
//! offline pipeline and the runtime run this same code over the same
//! sequence, so they agree bit for bit whatever the drift.

use std::collections::VecDeque;

/// The last `cap` values, newest last.
#[derive(Debug, Clone)]
pub(crate) struct Ring {
    buf: Vec<f64>,
    head: usize,
    len: usize,
}

impl Ring {
    pub(crate) fn new(cap: usize) -> Self {
        Ring {
            buf: vec![0.0; cap.max(1)],
            head: 0,
            len: 0,
        }
    }

    pub(crate) fn push(&mut self, v: f64) {
        let cap = self.buf.len();
        self.buf[self.head] = v;
        self.head = (self.head + 1) % cap;
        self.len = (self.len + 1).min(cap);
    }

    /// The value `k` pushes ago (0 = newest), or `NaN` without one.
    #[inline]
    pub(crate) fn ago(&self, k: usize) -> f64 {
        if k >= self.len {
            return f64::NAN;
        }
        let cap = self.buf.len();
        self.buf[(self.head + cap - 1 - k) % cap]
    }

    pub(crate) fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }
}

/// Rolling statistics over the last `w` values.
#[derive(Debug, Clone)]
struct Window {
    w: usize,
    n: usize,
    sum: f64,
    sumsq: f64,
    /// Σ i·y with i = 0 for the oldest value in the window.
    sxy: f64,
    since_exact: usize,
    /// Monotonic deques of (push index, value).
    mins: VecDeque<(u64, f64)>,
    maxs: VecDeque<(u64, f64)>,
}

impl Window {
    fn new(w: usize) -> Self {
        Window {
            w,
            n: 0,
            sum: 0.0,
            sumsq: 0.0,
            sxy: 0.0,
            since_exact: 0,
            mins: VecDeque::with_capacity(w + 1),
            maxs: VecDeque::with_capacity(w + 1),
        }
    }

    /// Adds `y` (push number `idx`); `ring` still holds the values before
    /// `y`, so the value leaving a full window is `ring.ago(w - 1)`.
    fn push(&mut self, idx: u64, y: f64, ring: &Ring) {
        if self.n == self.w {
            let y0 = ring.ago(self.w - 1);
            self.sum -= y0;
            self.sumsq -= y0 * y0;
            self.sxy -= self.sum; // every remaining index shifts down by one
            self.sum += y;
            self.sumsq += y * y;
            self.sxy += (self.w - 1) as f64 * y;
        } else {
            self.sxy += self.n as f64 * y;
            self.n += 1;
            self.sum += y;
            self.sumsq += y * y;
        }
        while self.mins.back().is_some_and(|&(_, v)| v >= y) {
            self.mins.pop_back();
        }
        self.mins.push_back((idx, y));
        while self.maxs.back().is_some_and(|&(_, v)| v <= y) {
            self.maxs.pop_back();
        }
        self.maxs.push_back((idx, y));
        let first = (idx + 1).saturating_sub(self.w as u64);
        while self.mins.front().is_some_and(|&(i, _)| i < first) {
            self.mins.pop_front();
        }
        while self.maxs.front().is_some_and(|&(i, _)| i < first) {
            self.maxs.pop_front();
        }
        self.since_exact += 1;
        if self.since_exact >= self.w {
            self.since_exact = 0;
            self.exact(y, ring);
        }
    }

    /// Recomputes the sums from the ring (which lacks the newest `y`).
    fn exact(&mut self, y: f64, ring: &Ring) {
        let (mut s, mut s2, mut sxy) = (0.0, 0.0, 0.0);
        for i in 0..self.n {
            // oldest first: i = 0 is n-1 pushes ago
            let ago = self.n - 1 - i;
            let v = if ago == 0 { y } else { ring.ago(ago - 1) };
            s += v;
            s2 += v * v;
            sxy += i as f64 * v;
        }
        self.sum = s;
        self.sumsq = s2;
        self.sxy = sxy;
    }

    /// Writes mean, std, min, max, slope.
    fn write(&self, out: &mut [f64]) {
        let n = self.n as f64;
        let mean = self.sum / n;
        let std = if self.n >= 2 {
            ((self.sumsq - self.sum * mean) / (n - 1.0)).max(0.0).sqrt()
        } else {
            f64::NAN
        };
        let slope = if self.n >= 2 {
            let sx = n * (n - 1.0) / 2.0;
            let sxx = (n - 1.0) * n * (2.0 * n - 1.0) / 6.0;
            (n * self.sxy - sx * self.sum) / (n * sxx - sx * sx)
        } else {
            f64::NAN
        };
        out[0] = mean;
        out[1] = std;
        out[2] = self.mins.front().map_or(f64::NAN, |&(_, v)| v);
        out[3] = self.maxs.front().map_or(f64::NAN, |&(_, v)| v);
        out[4] = slope;
    }

    fn clear(&mut self) {
        *self = Window::new(self.w);
    }
}

/// Number of values one window writes.
pub(crate) const WINDOW_STATS: [&str; 5] = ["mean", "std", "min", "max", "slope"];

/// The history of one signal.
#[derive(Debug, Clone)]
pub(crate) struct SignalHistory {
    ring: Ring,
    windows: Vec<Window>,
    ewma: Vec<(f64, f64)>,
    pushes: u64,
}

impl SignalHistory {
    pub(crate) fn new(windows: &[u32], max_lag: u32, spans: &[u32]) -> Self {
        let wmax = windows.iter().copied().max().unwrap_or(1);
        SignalHistory {
            ring: Ring::new(wmax.max(max_lag + 1) as usize),
            windows: windows.iter().map(|&w| Window::new(w as usize)).collect(),
            ewma: spans
                .iter()
                .map(|&s| (2.0 / (f64::from(s) + 1.0), f64::NAN))
                .collect(),
            pushes: 0,
        }
    }

    pub(crate) fn push(&mut self, y: f64) {
        for w in &mut self.windows {
            w.push(self.pushes, y, &self.ring);
        }
        for (alpha, e) in &mut self.ewma {
            *e = if e.is_nan() {
                y
            } else {
                *alpha * y + (1.0 - *alpha) * *e
            };
        }
        self.ring.push(y);
        self.pushes += 1;
    }

    #[inline]
    pub(crate) fn lag(&self, k: u32) -> f64 {
        self.ring.ago(k as usize)
    }

    /// Writes 5 values per window, in window order.
    pub(crate) fn write_windows(&self, out: &mut [f64]) {
        for (i, w) in self.windows.iter().enumerate() {
            w.write(&mut out[i * 5..i * 5 + 5]);
        }
    }

    pub(crate) fn write_ewma(&self, out: &mut [f64]) {
        for (o, (_, e)) in out.iter_mut().zip(&self.ewma) {
            *o = *e;
        }
    }

    pub(crate) fn clear(&mut self) {
        self.ring.clear();
        self.windows.iter_mut().for_each(Window::clear);
        self.ewma.iter_mut().for_each(|(_, e)| *e = f64::NAN);
        self.pushes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(vals: &[f64], w: usize) -> [f64; 5] {
        let s = &vals[vals.len().saturating_sub(w)..];
        let n = s.len() as f64;
        let mean = s.iter().sum::<f64>() / n;
        let var = s.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let xm = (n - 1.0) / 2.0;
        let slope = s
            .iter()
            .enumerate()
            .map(|(i, v)| (i as f64 - xm) * (v - mean))
            .sum::<f64>()
            / s.iter()
                .enumerate()
                .map(|(i, _)| (i as f64 - xm).powi(2))
                .sum::<f64>();
        let min = s.iter().copied().fold(f64::INFINITY, f64::min);
        let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        [mean, var.sqrt(), min, max, slope]
    }

    #[test]
    fn rolling_stats_match_a_naive_recomputation() {
        let mut h = SignalHistory::new(&[3, 7], 4, &[5]);
        let mut vals = Vec::new();
        let mut x = 0.37_f64;
        for step in 0..200 {
            x = (x * 3.9 * (1.0 - x)).clamp(0.01, 0.99); // chaotic, deterministic
            let y = 100.0 * x + step as f64;
            vals.push(y);
            h.push(y);
            let mut out = [0.0; 10];
            h.write_windows(&mut out);
            if vals.len() >= 2 {
                for (k, w) in [3usize, 7].into_iter().enumerate() {
                    let want = naive(&vals, w);
                    for j in 0..5 {
                        let got = out[k * 5 + j];
                        assert!(
                            (got - want[j]).abs() <= 1e-9 * want[j].abs().max(1.0),
                            "step {step} window {w} stat {}: {got} vs {}",
                            WINDOW_STATS[j],
                            want[j]
                        );
                    }
                }
            }
            assert_eq!(h.lag(0), y);
            if vals.len() > 4 {
                assert_eq!(h.lag(4), vals[vals.len() - 5]);
            } else {
                assert!(h.lag(4).is_nan());
            }
        }
    }

    #[test]
    fn first_value_has_no_spread_and_clear_forgets() {
        let mut h = SignalHistory::new(&[4], 1, &[3]);
        h.push(5.0);
        let mut out = [0.0; 5];
        h.write_windows(&mut out);
        assert_eq!(out[0], 5.0);
        assert!(out[1].is_nan() && out[4].is_nan());
        h.clear();
        assert!(h.lag(0).is_nan());
        let mut e = [0.0];
        h.write_ewma(&mut e);
        assert!(e[0].is_nan());
    }
}
