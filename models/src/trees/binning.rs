//! Quantile binning of the feature matrix into `u8` codes, column-major.
//!
//! Every feature gets at most `max_bins` (≤ 255) value bins plus one missing
//! bin whose code is the number of value bins. A bin is described by its
//! upper edge, a real feature value: bin `b` holds the values
//! `edges[b-1] < x <= edges[b]`. So the binned split "code ≤ b" is exactly
//! the raw split `x <= edges[b]` on any value, which is why exported
//! thresholds reproduce the training partition bit for bit. The last bin is
//! open above (values beyond the sampled maximum land in it), so a split
//! after it exports `f64::MAX`, not the sampled maximum: see
//! [`FeatureBins::threshold`].

use ndarray::{ArrayBase, ArrayView2, Data, Ix2, s};
use rand_pcg::Pcg64Mcg;
use rayon::prelude::*;

use super::rng;

/// Rows used to place bin edges (LightGBM's `bin_construct_sample_cnt`).
pub(crate) const BIN_SAMPLE_ROWS: usize = 200_000;

/// Features transposed together: 8 × f64 is one cache line of a row.
const BLOCK: usize = 8;

/// Features per group of the row-major copy (16 codes = a quarter line).
pub(crate) const GROUP: usize = 16;

/// The bins of one feature.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FeatureBins {
    /// Upper edges, strictly increasing; `edges.len()` value bins.
    pub edges: Vec<f64>,
}

impl FeatureBins {
    /// Number of value bins (the missing bin's code).
    pub fn n_bins(&self) -> usize {
        self.edges.len()
    }

    /// The exported threshold of the split "codes `<= b` go left": the
    /// upper edge of bin `b`, a real feature value, except for the last bin,
    /// which is open above and exports `f64::MAX` (still finite, so JSON
    /// artifacts stay valid; `+inf` only if the data held `+inf`). Then
    /// `x <= threshold` ⇔ `code(x) <= b` for every non-missing `x`.
    pub fn threshold(&self, b: u8) -> f64 {
        let b = b as usize;
        if b + 1 >= self.edges.len() {
            f64::MAX.max(self.edges[b])
        } else {
            self.edges[b]
        }
    }

    /// Code of a value: the first bin whose upper edge is `>= x`, or the
    /// missing bin for `NaN`. Values above the last edge (possible only for
    /// rows that were not binned at training) land in the last bin.
    pub fn code(&self, x: f64) -> u8 {
        if x.is_nan() || self.edges.is_empty() {
            return self.edges.len() as u8;
        }
        let b = self.edges.partition_point(|&e| e < x);
        b.min(self.edges.len() - 1) as u8
    }
}

/// The training matrix as bin codes.
#[derive(Debug, Clone)]
pub(crate) struct Binned {
    pub n_rows: usize,
    pub n_features: usize,
    /// Column-major codes: feature `f` is `codes[f * n_rows..(f + 1) * n_rows]`.
    pub codes: Vec<u8>,
    pub features: Vec<FeatureBins>,
    /// The same codes regrouped for the histogram kernel: features in groups
    /// of [`GROUP`], each group row-major (`GROUP` bytes per row), so a node's
    /// rows cost one cache line per group instead of one per feature. Group
    /// `g` is `grouped[g * n_rows * GROUP..]`; a short last group is padded.
    pub grouped: Vec<u8>,
    /// Start of each feature's slice in a histogram (`n_bins + 1` entries
    /// each: the value bins, then the missing bin); `offsets[n_features]` is
    /// the histogram length.
    pub offsets: Vec<usize>,
}

impl Binned {
    /// Bins `x` (rows × features, any memory layout; `NaN` = missing).
    /// Edges come from at most [`BIN_SAMPLE_ROWS`] rows drawn with `seed`.
    pub fn new<S: Data<Elem = f64>>(x: &ArrayBase<S, Ix2>, max_bins: usize, seed: u64) -> Self {
        let x = x.view();
        let (n_rows, n_features) = x.dim();
        let sample = sample_rows(n_rows, seed);
        let blocks: Vec<(Vec<FeatureBins>, Vec<Vec<u8>>)> = (0..n_features.div_ceil(BLOCK))
            .into_par_iter()
            .map(|blk| {
                let f0 = blk * BLOCK;
                let f1 = (f0 + BLOCK).min(n_features);
                let cols = transpose_block(&x, f0, f1);
                cols.iter()
                    .map(|col| {
                        let bins = feature_bins(col, sample.as_deref(), max_bins);
                        let codes = col.iter().map(|&v| bins.code(v)).collect();
                        (bins, codes)
                    })
                    .unzip()
            })
            .collect();
        let mut features = Vec::with_capacity(n_features);
        let mut codes = Vec::with_capacity(n_rows * n_features);
        for (bins, cols) in blocks {
            features.extend(bins);
            for c in cols {
                codes.extend_from_slice(&c);
            }
        }
        let grouped = regroup(&codes, n_rows, n_features);
        let mut offsets = Vec::with_capacity(n_features + 1);
        let mut off = 0;
        for f in &features {
            offsets.push(off);
            off += f.n_bins() + 1;
        }
        offsets.push(off);
        Binned {
            n_rows,
            n_features,
            codes,
            grouped,
            features,
            offsets,
        }
    }

    /// Number of feature groups.
    pub fn n_groups(&self) -> usize {
        self.n_features.div_ceil(GROUP)
    }

    /// The row-major codes of group `g`.
    #[inline]
    pub fn group(&self, g: usize) -> &[u8] {
        let len = self.n_rows * GROUP;
        &self.grouped[g * len..(g + 1) * len]
    }

    /// The codes of feature `f`, one per row.
    #[inline]
    pub fn col(&self, f: usize) -> &[u8] {
        &self.codes[f * self.n_rows..(f + 1) * self.n_rows]
    }

    /// Length of a full histogram.
    pub fn hist_len(&self) -> usize {
        self.offsets[self.n_features]
    }
}

/// Column-major codes to row-major groups of [`GROUP`] features.
fn regroup(codes: &[u8], n_rows: usize, n_features: usize) -> Vec<u8> {
    let n_groups = n_features.div_ceil(GROUP);
    let mut out = vec![0u8; n_groups * n_rows * GROUP];
    out.par_chunks_mut(n_rows * GROUP)
        .enumerate()
        .for_each(|(g, block)| {
            for k in 0..GROUP.min(n_features - g * GROUP) {
                let col = &codes[(g * GROUP + k) * n_rows..(g * GROUP + k + 1) * n_rows];
                for (row, &c) in block.chunks_exact_mut(GROUP).zip(col) {
                    row[k] = c;
                }
            }
        });
    out
}

/// Copies features `f0..f1` into contiguous columns.
fn transpose_block(x: &ArrayView2<'_, f64>, f0: usize, f1: usize) -> Vec<Vec<f64>> {
    let n = x.nrows();
    let mut cols: Vec<Vec<f64>> = (f0..f1).map(|_| Vec::with_capacity(n)).collect();
    for row in x.slice(s![.., f0..f1]).rows() {
        for (c, &v) in cols.iter_mut().zip(row.iter()) {
            c.push(v);
        }
    }
    cols
}

/// The sorted rows used for edges, or `None` for all rows.
fn sample_rows(n_rows: usize, seed: u64) -> Option<Vec<u32>> {
    if n_rows <= BIN_SAMPLE_ROWS {
        return None;
    }
    let mut rng: Pcg64Mcg = rng::stream(seed, rng::BINNING, 0);
    let mut rows = rng::sample_without_replacement(&mut rng, n_rows, BIN_SAMPLE_ROWS);
    rows.sort_unstable();
    Some(rows)
}

/// Edges of one column: every distinct value when there are at most
/// `max_bins` of them, otherwise greedy equal-count bins over the sample.
fn feature_bins(col: &[f64], sample: Option<&[u32]>, max_bins: usize) -> FeatureBins {
    let mut v: Vec<f64> = match sample {
        Some(rows) => rows
            .iter()
            .map(|&r| col[r as usize])
            .filter(|x| !x.is_nan())
            .collect(),
        None => col.iter().copied().filter(|x| !x.is_nan()).collect(),
    };
    if v.is_empty() {
        return FeatureBins { edges: Vec::new() };
    }
    v.sort_unstable_by(f64::total_cmp);
    // Distinct values and their counts (-0.0 and 0.0 compare equal: one bin).
    let mut vals: Vec<f64> = Vec::new();
    let mut counts: Vec<usize> = Vec::new();
    for &x in &v {
        match vals.last() {
            Some(&last) if last == x => *counts.last_mut().unwrap_or(&mut 0) += 1,
            _ => {
                vals.push(x);
                counts.push(1);
            }
        }
    }
    let edges = if vals.len() <= max_bins {
        vals
    } else {
        let mut edges = Vec::with_capacity(max_bins);
        let mut remaining = v.len();
        let mut i = 0;
        let mut bins_left = max_bins;
        while i < vals.len() {
            // The last bin takes everything left.
            let target = if bins_left <= 1 {
                usize::MAX
            } else {
                remaining.div_ceil(bins_left)
            };
            let mut acc = 0;
            while i < vals.len() && acc < target {
                acc += counts[i];
                i += 1;
            }
            edges.push(vals[i - 1]);
            remaining -= acc;
            bins_left = bins_left.saturating_sub(1);
        }
        edges
    };
    FeatureBins { edges }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn few_distinct_values_get_one_bin_each_and_nan_the_missing_bin() {
        let x = Array2::from_shape_vec((6, 1), vec![1.0, 0.0, f64::NAN, 1.0, 0.0, 1.0]).unwrap();
        let b = Binned::new(&x, 255, 0);
        assert_eq!(b.features[0].edges, vec![0.0, 1.0]);
        assert_eq!(b.col(0), &[1, 0, 2, 1, 0, 1]);
        assert_eq!(b.offsets, vec![0, 3]);
    }

    #[test]
    fn quantile_edges_are_real_values_and_reproduce_codes() {
        let n = 10_000;
        let x = Array2::from_shape_fn((n, 2), |(i, j)| {
            if j == 0 {
                ((i * 7919) % n) as f64 / 3.0
            } else if i % 3 == 0 {
                0.0
            } else {
                (i as f64).sqrt()
            }
        });
        let b = Binned::new(&x, 32, 1);
        for f in 0..2 {
            let fb = &b.features[f];
            assert!(fb.n_bins() <= 32 && fb.n_bins() >= 16, "{}", fb.n_bins());
            assert!(fb.edges.windows(2).all(|w| w[0] < w[1]));
            // Edges are values of the column.
            assert!(fb.edges.iter().all(|e| x.column(f).iter().any(|v| v == e)));
            for (r, &code) in b.col(f).iter().enumerate() {
                let v = x[[r, f]];
                for k in 0..fb.n_bins() {
                    let t = fb.threshold(k as u8);
                    assert_eq!(v <= t, code as usize <= k, "row {r} feature {f} bin {k}");
                }
            }
        }
    }

    #[test]
    fn constant_and_all_missing_columns() {
        let x = Array2::from_shape_fn((5, 2), |(_, j)| if j == 0 { 3.0 } else { f64::NAN });
        let b = Binned::new(&x, 255, 0);
        assert_eq!(b.features[0].edges, vec![3.0]);
        assert!(b.features[1].edges.is_empty());
        assert!(b.col(1).iter().all(|&c| c == 0));
        assert_eq!(b.hist_len(), 2 + 1);
    }
}
