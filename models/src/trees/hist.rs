//! Gradient histograms and the split search over them.
//!
//! A histogram holds, per feature and bin, the sums of the rows' `g`
//! (gradient, or weighted centred target for a forest) and `h` (hessian, or
//! weight). Row weights are whole numbers (bootstrap counts, or 1), so `h`
//! sums are exact in `f64` and subtraction never leaves a phantom row.

use std::ops::{Add, AddAssign, Sub, SubAssign};

use rayon::prelude::*;

use super::binning::{Binned, GROUP};

/// Sum of gradients and hessians (weights).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct GH {
    pub g: f64,
    pub h: f64,
}

impl Add for GH {
    type Output = GH;
    #[inline]
    fn add(self, o: GH) -> GH {
        GH {
            g: self.g + o.g,
            h: self.h + o.h,
        }
    }
}

impl Sub for GH {
    type Output = GH;
    #[inline]
    fn sub(self, o: GH) -> GH {
        GH {
            g: self.g - o.g,
            h: self.h - o.h,
        }
    }
}

impl AddAssign for GH {
    #[inline]
    fn add_assign(&mut self, o: GH) {
        self.g += o.g;
        self.h += o.h;
    }
}

impl SubAssign for GH {
    #[inline]
    fn sub_assign(&mut self, o: GH) {
        self.g -= o.g;
        self.h -= o.h;
    }
}

/// Rows × features below which a histogram is built on the calling thread:
/// smaller nodes cost less than rayon's task overhead.
const PAR_MIN_WORK: usize = 1 << 16;

/// Rows below which a feature's histogram is summed straight into its slot.
const SMALL_NODE: usize = 512;

/// Builds the full histogram of the rows `idx` (with their `gh`, in the same
/// order) into `out`, which must be `data.hist_len()` long.
///
/// `identity` says `idx` is `0..n_rows`, which allows sequential reads.
pub(crate) fn build(
    data: &Binned,
    out: &mut [GH],
    idx: &[u32],
    gh: &[GH],
    identity: bool,
    parallel: bool,
) {
    if !identity && idx.len() >= SMALL_NODE {
        build_grouped(data, out, idx, gh, parallel);
        return;
    }
    let one = |f: usize, slot: &mut [GH]| {
        let col = data.col(f);
        if identity {
            build_feature_seq(slot, col, gh);
        } else {
            build_feature(slot, col, idx, gh);
        }
    };
    if parallel && idx.len() * data.n_features >= PAR_MIN_WORK {
        let slots = split_by_offsets(out, &data.offsets);
        let min_len = (PAR_MIN_WORK / idx.len().max(1)).max(1);
        slots
            .into_par_iter()
            .enumerate()
            .with_min_len(min_len)
            .for_each(|(f, slot)| one(f, slot));
    } else {
        for f in 0..data.n_features {
            one(f, &mut out[data.offsets[f]..data.offsets[f + 1]]);
        }
    }
}

/// Histogram over a subset of rows from the row-major feature groups: one
/// pass over the rows per group, updating the group's features together.
fn build_grouped(data: &Binned, out: &mut [GH], idx: &[u32], gh: &[GH], parallel: bool) {
    let nf = data.n_features;
    let bounds: Vec<usize> = (0..=data.n_groups())
        .map(|g| data.offsets[(g * GROUP).min(nf)])
        .collect();
    let one = |g: usize, slot: &mut [GH]| {
        let f0 = g * GROUP;
        let f1 = (f0 + GROUP).min(nf);
        let mut off = [0usize; GROUP];
        for (k, o) in off.iter_mut().enumerate().take(f1 - f0) {
            *o = data.offsets[f0 + k] - data.offsets[f0];
        }
        build_group(slot, &off[..f1 - f0], data.group(g), idx, gh);
    };
    if parallel && idx.len() * nf >= PAR_MIN_WORK {
        split_by_offsets(out, &bounds)
            .into_par_iter()
            .enumerate()
            .for_each(|(g, slot)| one(g, slot));
    } else {
        for g in 0..data.n_groups() {
            one(g, &mut out[bounds[g]..bounds[g + 1]]);
        }
    }
}

/// Rows gathered per batch of [`build_group`] (16 KiB of codes, in L1).
const GATHER: usize = 1024;

/// Histogram of one feature group over the rows `idx`.
///
/// Two phases per batch of rows: a tight loop copies each row's 16 codes
/// into a small buffer (its cache misses overlap, the loop being short),
/// then the histogram is updated from the buffer without misses. Updating
/// straight from the scattered rows stalls on one miss per row.
#[inline]
fn build_group(slot: &mut [GH], off: &[usize], grp: &[u8], idx: &[u32], gh: &[GH]) {
    slot.fill(GH::default());
    let (rows, _) = grp.as_chunks::<GROUP>();
    let mut buf = [[0u8; GROUP]; GATHER];
    for (ids, ghs) in idx.chunks(GATHER).zip(gh.chunks(GATHER)) {
        for (b, &r) in buf.iter_mut().zip(ids) {
            *b = rows[r as usize];
        }
        let buf = &buf[..ids.len()];
        if let Ok(off) = <&[usize; GROUP]>::try_from(off) {
            for (codes, &v) in buf.iter().zip(ghs) {
                for k in 0..GROUP {
                    slot[off[k] + codes[k] as usize] += v;
                }
            }
        } else {
            for (codes, &v) in buf.iter().zip(ghs) {
                for (&o, &c) in off.iter().zip(codes) {
                    slot[o + c as usize] += v;
                }
            }
        }
    }
}

/// One mutable slice per feature.
fn split_by_offsets<'a>(mut out: &'a mut [GH], offsets: &[usize]) -> Vec<&'a mut [GH]> {
    let mut slots = Vec::with_capacity(offsets.len().saturating_sub(1));
    for w in offsets.windows(2) {
        let (head, tail) = out.split_at_mut(w[1] - w[0]);
        slots.push(head);
        out = tail;
    }
    slots
}

/// Histogram of one feature over the rows `idx`.
///
/// Two interleaved accumulators halve the store-to-load stalls when runs of
/// rows fall in the same bin (0/1 flags, heavy ties).
#[inline]
fn build_feature(slot: &mut [GH], col: &[u8], idx: &[u32], gh: &[GH]) {
    if idx.len() < SMALL_NODE {
        // Zeroing two 4 KiB accumulators would cost more than the rows.
        slot.fill(GH::default());
        for (&r, &v) in idx.iter().zip(gh) {
            slot[col[r as usize] as usize] += v;
        }
        return;
    }
    let mut a = [GH::default(); 256];
    let mut b = [GH::default(); 256];
    let nb = slot.len();
    let pairs = idx.len() / 2;
    for k in 0..pairs {
        let (i0, i1) = (2 * k, 2 * k + 1);
        let c0 = col[idx[i0] as usize];
        let c1 = col[idx[i1] as usize];
        a[c0 as usize] += gh[i0];
        b[c1 as usize] += gh[i1];
    }
    if idx.len() % 2 == 1 {
        let i = idx.len() - 1;
        a[col[idx[i] as usize] as usize] += gh[i];
    }
    for k in 0..nb {
        slot[k] = a[k] + b[k];
    }
}

/// Histogram of one feature over all rows in order.
#[inline]
fn build_feature_seq(slot: &mut [GH], col: &[u8], gh: &[GH]) {
    let mut a = [GH::default(); 256];
    let mut b = [GH::default(); 256];
    let nb = slot.len();
    let mut cp = col.chunks_exact(2);
    let mut gp = gh.chunks_exact(2);
    for (c, g) in (&mut cp).zip(&mut gp) {
        a[c[0] as usize] += g[0];
        b[c[1] as usize] += g[1];
    }
    for (&c, &g) in cp.remainder().iter().zip(gp.remainder()) {
        a[c as usize] += g;
    }
    for k in 0..nb {
        slot[k] = a[k] + b[k];
    }
}

/// `large -= small`, elementwise: the larger child from its parent.
pub(crate) fn subtract(large: &mut [GH], small: &[GH]) {
    for (l, s) in large.iter_mut().zip(small) {
        *l -= *s;
    }
}

/// Constraints and regularisation of the split search.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SplitRule {
    /// Least `h` (weight) on each side.
    pub min_leaf: f64,
    /// Least gain to accept a split.
    pub min_gain: f64,
    /// L2 penalty on leaf values.
    pub lambda: f64,
}

/// The best split of one node on one feature.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Split {
    pub feature: u32,
    /// Codes `<= bin` go left.
    pub bin: u8,
    /// Where the missing bin goes.
    pub default_left: bool,
    pub gain: f64,
    pub left: GH,
    pub right: GH,
}

impl SplitRule {
    #[inline]
    fn score(&self, s: GH) -> f64 {
        s.g * s.g / (s.h + self.lambda)
    }

    /// The best split of feature `f` whose histogram slice is `hist`, and
    /// whether the node's rows take more than one code on it.
    pub(crate) fn best_for_feature(
        &self,
        f: usize,
        hist: &[GH],
        total: GH,
    ) -> (Option<Split>, bool) {
        let nb = hist.len() - 1;
        let miss = hist[nb];
        let has_miss = miss.h > 0.0;
        let parent = self.score(total);
        let mut best: Option<Split> = None;
        let mut best_gain = f64::NEG_INFINITY;
        let mut nonempty = usize::from(has_miss);
        let mut cum = GH::default();
        for (b, &hb) in hist[..nb].iter().enumerate() {
            if hb.h == 0.0 {
                // Same partition as the previous non-empty bin.
                continue;
            }
            nonempty += 1;
            cum += hb;
            // Missing right.
            let right = total - cum;
            if cum.h >= self.min_leaf && right.h >= self.min_leaf {
                let gain = self.score(cum) + self.score(right) - parent;
                if gain > best_gain {
                    best_gain = gain;
                    best = Some(Split {
                        feature: f as u32,
                        bin: b as u8,
                        default_left: false,
                        gain,
                        left: cum,
                        right,
                    });
                }
            }
            if has_miss {
                let left = cum + miss;
                let right = total - left;
                if left.h >= self.min_leaf && right.h >= self.min_leaf {
                    let gain = self.score(left) + self.score(right) - parent;
                    if gain > best_gain {
                        best_gain = gain;
                        best = Some(Split {
                            feature: f as u32,
                            bin: b as u8,
                            default_left: true,
                            gain,
                            left,
                            right,
                        });
                    }
                }
            }
        }
        let best = best.filter(|s| self.accept(s));
        (best, nonempty > 1)
    }

    /// Rejects splits below `min_gain` and gains that are rounding noise
    /// (a node whose targets are all equal).
    fn accept(&self, s: &Split) -> bool {
        let noise = 1e-12 * (self.score(s.left) + self.score(s.right));
        s.gain > self.min_gain && s.gain > noise
    }
}

/// Picks the better of two candidates; ties keep the first (lower feature
/// or earlier visit), so the choice never depends on evaluation order.
#[inline]
pub(crate) fn better(a: Option<Split>, b: Option<Split>) -> Option<Split> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if y.gain > x.gain { y } else { x }),
        (x, None) => x,
        (None, y) => y,
    }
}

/// Best split over the features allowed by `mask` (all when `None`).
pub(crate) fn best_split(
    data: &Binned,
    hist: &[GH],
    total: GH,
    rule: &SplitRule,
    mask: Option<&[bool]>,
    parallel: bool,
) -> Option<Split> {
    let eval = |f: usize| -> Option<Split> {
        if mask.is_some_and(|m| !m[f]) {
            return None;
        }
        let slot = &hist[data.offsets[f]..data.offsets[f + 1]];
        rule.best_for_feature(f, slot, total).0
    };
    if parallel && data.hist_len() >= 4096 {
        let per: Vec<Option<Split>> = (0..data.n_features)
            .into_par_iter()
            .with_min_len(8)
            .map(eval)
            .collect();
        per.into_iter().fold(None, better)
    } else {
        (0..data.n_features).map(eval).fold(None, better)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gh(g: f64, h: f64) -> GH {
        GH { g, h }
    }

    #[test]
    fn split_search_finds_the_step_and_routes_missing() {
        let rule = SplitRule {
            min_leaf: 1.0,
            min_gain: 0.0,
            lambda: 0.0,
        };
        // Bins 0,1 have mean 0; bin 2 and the missing bin have mean 10.
        let hist = [gh(0.0, 2.0), gh(0.0, 2.0), gh(20.0, 2.0), gh(30.0, 3.0)];
        let total = hist.iter().fold(GH::default(), |a, &b| a + b);
        let (s, nonconst) = rule.best_for_feature(0, &hist, total);
        let s = s.unwrap();
        assert!(nonconst);
        assert_eq!((s.bin, s.default_left), (1, false));
        assert_eq!(s.right, gh(50.0, 5.0));
    }

    #[test]
    fn every_kernel_agrees_with_a_naive_histogram() {
        use crate::trees::rng::splitmix64;
        // 37 features: two full groups and a short one; some NaN.
        let (n, nf) = (5000, 37);
        let x = ndarray::Array2::from_shape_fn((n, nf), |(i, j)| {
            let u = splitmix64((i * nf + j) as u64) % 1000;
            if u < 30 {
                f64::NAN
            } else {
                (u % (j as u64 * 7 + 2)) as f64
            }
        });
        let data = Binned::new(&x, 255, 0);
        let all: Vec<u32> = (0..n as u32).collect();
        let some: Vec<u32> = (0..n as u32).filter(|r| r % 3 != 1).collect();
        let few: Vec<u32> = (0..n as u32).step_by(41).collect();
        for (rows, identity) in [(&all, true), (&some, false), (&few, false)] {
            let ghs: Vec<GH> = rows
                .iter()
                .map(|&r| gh((splitmix64(u64::from(r) + 77) % 100) as f64 - 50.0, 1.0))
                .collect();
            let mut want = vec![GH::default(); data.hist_len()];
            for (&r, &v) in rows.iter().zip(&ghs) {
                for f in 0..nf {
                    want[data.offsets[f] + data.col(f)[r as usize] as usize] += v;
                }
            }
            for parallel in [false, true] {
                let mut got = vec![gh(f64::NAN, f64::NAN); data.hist_len()];
                build(&data, &mut got, rows, &ghs, identity, parallel);
                // Integer-valued gradients: every order sums exactly.
                assert_eq!(got, want, "{} rows, parallel {parallel}", rows.len());
            }
        }
    }

    #[test]
    fn constant_node_yields_no_split() {
        let rule = SplitRule {
            min_leaf: 1.0,
            min_gain: 0.0,
            lambda: 0.0,
        };
        let hist = [gh(0.0, 0.0), gh(7.0, 7.0), gh(0.0, 0.0)];
        let (s, nonconst) = rule.best_for_feature(0, &hist, gh(7.0, 7.0));
        assert!(s.is_none());
        assert!(!nonconst);
        // Equal targets in two bins: the gain is rounding noise at most.
        let hist = [gh(0.3, 3.0), gh(0.7, 7.0), gh(0.0, 0.0)];
        let (s, nonconst) = rule.best_for_feature(0, &hist, gh(1.0, 10.0));
        assert!(s.is_none(), "{s:?}");
        assert!(nonconst);
    }
}
