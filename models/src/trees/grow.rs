//! Growing one regression tree on binned data.
//!
//! The rows of the tree live in one index array; every node owns a
//! contiguous range of it, and a split partitions its range in place
//! (stably, so rows stay in ascending order and column reads stay
//! sequential). Each open leaf keeps its histogram: splitting it builds the
//! histogram of the child with fewer rows and gets the other by subtraction.
//!
//! Open leaves are expanded best-first (largest gain, as LightGBM) when the
//! leaf count is limited, and last-in-first-out otherwise. Without a leaf
//! limit both orders give the same tree, but LIFO keeps at most `depth + 1`
//! histograms alive instead of one per open leaf.

use poolcast::core::model::{FlatTree, LEAF};
use rand::RngExt;
use rand_pcg::Pcg64Mcg;

use super::binning::Binned;
use super::hist::{self, GH, Split, SplitRule};

/// Which features a split may use.
#[derive(Debug, Clone, Copy)]
pub(crate) enum FeaturePick<'a> {
    /// Every feature.
    All,
    /// The features marked `true` (boosting's per-tree feature fraction).
    Mask(&'a [bool]),
    /// Per node, features in random order until this many that are not
    /// constant on the node have been tried (scikit-learn's `max_features`).
    PerNode(usize),
}

/// Limits of one tree.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GrowConfig<'a> {
    pub max_depth: Option<usize>,
    pub max_leaves: Option<usize>,
    pub rule: SplitRule,
    pub features: FeaturePick<'a>,
    /// Build histograms and search splits across features with rayon.
    pub parallel: bool,
}

/// A node of a grown tree, in creation order.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// Sum of the node's rows' `g` and `h`.
    pub sum: GH,
    /// The split, for inner nodes.
    pub split: Option<Split>,
    pub left: u32,
    pub right: u32,
}

/// A grown tree: nodes in creation order and the row range of each leaf.
#[derive(Debug, Clone)]
pub(crate) struct Grown {
    pub nodes: Vec<Node>,
    /// `(node, start, end)`: the leaf's rows are `idx[start..end]`.
    pub leaves: Vec<(u32, usize, usize)>,
}

impl Grown {
    /// The leaf reached by training row `row`, following bin codes.
    pub fn leaf_of_row(&self, data: &Binned, row: usize) -> u32 {
        let mut n = 0usize;
        while let Some(s) = &self.nodes[n].split {
            let f = s.feature as usize;
            let c = data.codes[f * data.n_rows + row];
            let left = if c as usize == data.features[f].n_bins() {
                s.default_left
            } else {
                c <= s.bin
            };
            n = if left {
                self.nodes[n].left
            } else {
                self.nodes[n].right
            } as usize;
        }
        n as u32
    }

    /// Adds each split's gain to its feature.
    pub fn add_importance(&self, importance: &mut [f64]) {
        for n in &self.nodes {
            if let Some(s) = &n.split {
                importance[s.feature as usize] += s.gain;
            }
        }
    }

    /// The exported tree, nodes renumbered depth-first (left child right
    /// after its parent, so a left turn usually stays in the cache line).
    /// `value[node]` is the output of each leaf (by creation index).
    pub fn to_flat(&self, data: &Binned, value: &[f64]) -> FlatTree {
        let n = self.nodes.len();
        let mut order = Vec::with_capacity(n);
        let mut stack = vec![0u32];
        while let Some(k) = stack.pop() {
            order.push(k);
            let node = &self.nodes[k as usize];
            if node.split.is_some() {
                stack.push(node.right);
                stack.push(node.left);
            }
        }
        let mut new_id = vec![0u32; n];
        for (pos, &k) in order.iter().enumerate() {
            new_id[k as usize] = pos as u32;
        }
        let mut t = FlatTree {
            feature: Vec::with_capacity(n),
            threshold: Vec::with_capacity(n),
            default_left: Vec::with_capacity(n),
            left: Vec::with_capacity(n),
            right: Vec::with_capacity(n),
            value: Vec::with_capacity(n),
        };
        for &k in &order {
            let node = &self.nodes[k as usize];
            match &node.split {
                Some(s) => {
                    t.feature.push(s.feature);
                    t.threshold
                        .push(data.features[s.feature as usize].threshold(s.bin));
                    t.default_left.push(s.default_left);
                    t.left.push(new_id[node.left as usize]);
                    t.right.push(new_id[node.right as usize]);
                    t.value.push(0.0);
                }
                None => {
                    t.feature.push(0);
                    t.threshold.push(0.0);
                    t.default_left.push(true);
                    t.left.push(LEAF);
                    t.right.push(LEAF);
                    t.value.push(value[k as usize]);
                }
            }
        }
        t
    }
}

/// An open leaf: its rows, its histogram and its best split.
struct Open {
    node: u32,
    start: usize,
    end: usize,
    depth: usize,
    hist: Vec<GH>,
    split: Split,
}

/// Reusable buffers for growing trees on one binned matrix.
pub(crate) struct Grower<'d> {
    data: &'d Binned,
    pool: Vec<Vec<GH>>,
    tmp_idx: Vec<u32>,
    tmp_gh: Vec<GH>,
    perm: Vec<usize>,
}

impl<'d> Grower<'d> {
    pub fn new(data: &'d Binned) -> Self {
        Grower {
            data,
            pool: Vec::new(),
            tmp_idx: Vec::new(),
            tmp_gh: Vec::new(),
            perm: (0..data.n_features).collect(),
        }
    }

    fn take_hist(&mut self) -> Vec<GH> {
        self.pool
            .pop()
            .unwrap_or_else(|| vec![GH::default(); self.data.hist_len()])
    }

    /// Grows a tree over the rows `idx` (ascending) with their `gh`. Both
    /// are permuted so that every leaf's rows are contiguous.
    /// `identity` says `idx` is `0..n_rows`.
    pub fn grow(
        &mut self,
        idx: &mut [u32],
        gh: &mut [GH],
        identity: bool,
        cfg: &GrowConfig<'_>,
        rng: &mut Pcg64Mcg,
    ) -> Grown {
        let total = gh.iter().fold(GH::default(), |a, &b| a + b);
        let mut nodes = vec![Node {
            sum: total,
            split: None,
            left: LEAF,
            right: LEAF,
        }];
        let mut leaves = Vec::new();
        let mut open: Vec<Open> = Vec::new();
        let n = idx.len();
        if can_split(cfg, total, n, 0) {
            let mut h = self.take_hist();
            hist::build(self.data, &mut h, idx, gh, identity, cfg.parallel);
            self.open_or_close(&mut open, &mut leaves, 0, 0, n, 0, h, total, cfg, rng);
        } else {
            leaves.push((0, 0, n));
        }
        let mut n_leaves = 1usize;
        while !open.is_empty() && cfg.max_leaves.is_none_or(|m| n_leaves < m) {
            let k = if cfg.max_leaves.is_some() {
                // Best first; ties go to the earlier-created leaf.
                let mut k = 0;
                for (i, o) in open.iter().enumerate() {
                    let b = &open[k];
                    if o.split.gain > b.split.gain
                        || (o.split.gain == b.split.gain && o.node < b.node)
                    {
                        k = i;
                    }
                }
                k
            } else {
                open.len() - 1
            };
            let o = open.swap_remove(k);
            let s = o.split;
            let mid =
                o.start + self.partition(&mut idx[o.start..o.end], &mut gh[o.start..o.end], &s);
            let (l, r) = (nodes.len() as u32, nodes.len() as u32 + 1);
            nodes[o.node as usize].split = Some(s);
            nodes[o.node as usize].left = l;
            nodes[o.node as usize].right = r;
            for sum in [s.left, s.right] {
                nodes.push(Node {
                    sum,
                    split: None,
                    left: LEAF,
                    right: LEAF,
                });
            }
            n_leaves += 1;
            let d = o.depth + 1;
            let (ls, rs) = (
                can_split(cfg, s.left, mid - o.start, d),
                can_split(cfg, s.right, o.end - mid, d),
            );
            if !ls && !rs {
                leaves.push((l, o.start, mid));
                leaves.push((r, mid, o.end));
                self.pool.push(o.hist);
                continue;
            }
            // Children: (node, start, end, sum, splittable); the one with
            // fewer rows gets a fresh histogram, the other the parent's
            // minus it.
            let lc = (l, o.start, mid, s.left, ls);
            let rc = (r, mid, o.end, s.right, rs);
            let (small, large) = if mid - o.start <= o.end - mid {
                (lc, rc)
            } else {
                (rc, lc)
            };
            let mut small_hist = self.take_hist();
            hist::build(
                self.data,
                &mut small_hist,
                &idx[small.1..small.2],
                &gh[small.1..small.2],
                false,
                cfg.parallel,
            );
            let mut large_hist = o.hist;
            if large.4 {
                hist::subtract(&mut large_hist, &small_hist);
            }
            for (c, h) in [(small, small_hist), (large, large_hist)] {
                let (node, start, end, sum, splittable) = c;
                if splittable {
                    self.open_or_close(
                        &mut open,
                        &mut leaves,
                        node,
                        start,
                        end,
                        d,
                        h,
                        sum,
                        cfg,
                        rng,
                    );
                } else {
                    leaves.push((node, start, end));
                    self.pool.push(h);
                }
            }
        }
        for o in open {
            leaves.push((o.node, o.start, o.end));
            self.pool.push(o.hist);
        }
        Grown { nodes, leaves }
    }

    /// Searches the best split of a node with histogram `h`; opens the node
    /// if there is one, closes it as a leaf otherwise.
    #[allow(clippy::too_many_arguments)]
    fn open_or_close(
        &mut self,
        open: &mut Vec<Open>,
        leaves: &mut Vec<(u32, usize, usize)>,
        node: u32,
        start: usize,
        end: usize,
        depth: usize,
        h: Vec<GH>,
        sum: GH,
        cfg: &GrowConfig<'_>,
        rng: &mut Pcg64Mcg,
    ) {
        match self.find_split(&h, sum, cfg, rng) {
            Some(split) => open.push(Open {
                node,
                start,
                end,
                depth,
                hist: h,
                split,
            }),
            None => {
                leaves.push((node, start, end));
                self.pool.push(h);
            }
        }
    }

    fn find_split(
        &mut self,
        h: &[GH],
        total: GH,
        cfg: &GrowConfig<'_>,
        rng: &mut Pcg64Mcg,
    ) -> Option<Split> {
        let data = self.data;
        match cfg.features {
            FeaturePick::All => hist::best_split(data, h, total, &cfg.rule, None, cfg.parallel),
            FeaturePick::Mask(m) => {
                hist::best_split(data, h, total, &cfg.rule, Some(m), cfg.parallel)
            }
            FeaturePick::PerNode(k) => {
                let nf = data.n_features;
                let mut best = None;
                let mut tried = 0;
                for j in 0..nf {
                    let i = rng.random_range(j..nf);
                    self.perm.swap(j, i);
                    let f = self.perm[j];
                    let slot = &h[data.offsets[f]..data.offsets[f + 1]];
                    let (s, nonconstant) = cfg.rule.best_for_feature(f, slot, total);
                    best = hist::better(best, s);
                    if nonconstant {
                        tried += 1;
                        if tried >= k {
                            break;
                        }
                    }
                }
                best
            }
        }
    }

    /// Stable partition of a node's rows by `s`; returns the left count.
    fn partition(&mut self, idx: &mut [u32], gh: &mut [GH], s: &Split) -> usize {
        let f = s.feature as usize;
        let col = self.data.col(f);
        let missing = self.data.features[f].n_bins() as u8;
        self.tmp_idx.clear();
        self.tmp_gh.clear();
        let mut l = 0;
        for i in 0..idx.len() {
            let r = idx[i];
            let c = col[r as usize];
            let go_left = if c == missing {
                s.default_left
            } else {
                c <= s.bin
            };
            if go_left {
                idx[l] = r;
                gh[l] = gh[i];
                l += 1;
            } else {
                self.tmp_idx.push(r);
                self.tmp_gh.push(gh[i]);
            }
        }
        idx[l..].copy_from_slice(&self.tmp_idx);
        gh[l..].copy_from_slice(&self.tmp_gh);
        l
    }
}

fn can_split(cfg: &GrowConfig<'_>, sum: GH, rows: usize, depth: usize) -> bool {
    rows >= 2 && sum.h >= 2.0 * cfg.rule.min_leaf && cfg.max_depth.is_none_or(|d| depth < d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// Grows one tree on `x`, `y` and checks that every training row's raw
    /// values reach, through the exported thresholds, the leaf whose row
    /// range holds it.
    fn check_reproduction(x: &Array2<f64>, y: &[f64], cfg: &GrowConfig<'_>) -> usize {
        let data = Binned::new(x, 255, 3);
        let mut idx: Vec<u32> = (0..x.nrows() as u32).collect();
        let mut gh: Vec<GH> = y.iter().map(|&g| GH { g, h: 1.0 }).collect();
        let mut rng = super::super::rng::stream(1, 99, 0);
        let grown = Grower::new(&data).grow(&mut idx, &mut gh, true, cfg, &mut rng);
        // Value of a leaf = its creation index, so the flat tree names it.
        let value: Vec<f64> = (0..grown.nodes.len()).map(|k| k as f64).collect();
        let flat = grown.to_flat(&data, &value);
        flat.validate(x.ncols()).unwrap();
        let mut covered = 0;
        for &(leaf, start, end) in &grown.leaves {
            for &r in &idx[start..end] {
                let row = x.row(r as usize).to_vec();
                assert_eq!(flat.predict(&row), f64::from(leaf), "row {r}");
                assert_eq!(grown.leaf_of_row(&data, r as usize), leaf, "row {r}");
                covered += 1;
            }
        }
        assert_eq!(covered, x.nrows());
        grown.leaves.len()
    }

    fn messy(n: usize) -> (Array2<f64>, Vec<f64>) {
        let x = Array2::from_shape_fn((n, 4), |(i, j)| {
            let u = super::super::rng::splitmix64((i * 4 + j) as u64) as f64 / u64::MAX as f64;
            match j {
                0 => u,
                1 if u < 0.2 => f64::NAN,
                1 => (u * 10.0).floor(),
                2 => f64::from(u8::from(u < 0.3)),
                _ => 5.0,
            }
        });
        let y = (0..n)
            .map(|i| {
                let r = x.row(i);
                10.0 * r[0] + if r[1].is_nan() { 4.0 } else { r[1] * 0.3 } + 2.0 * r[2]
            })
            .collect();
        (x, y)
    }

    #[test]
    fn exported_thresholds_reproduce_the_binned_partition() {
        let (x, y) = messy(3000);
        let rule = SplitRule {
            min_leaf: 5.0,
            min_gain: 0.0,
            lambda: 0.0,
        };
        for (max_depth, max_leaves) in [(Some(6), None), (None, Some(40))] {
            let cfg = GrowConfig {
                max_depth,
                max_leaves,
                rule,
                features: FeaturePick::All,
                parallel: false,
            };
            let leaves = check_reproduction(&x, &y, &cfg);
            assert!(leaves > 10, "{leaves}");
            if let Some(m) = max_leaves {
                assert_eq!(leaves, m);
            }
        }
    }

    #[test]
    fn many_distinct_values_use_quantile_edges_and_still_reproduce() {
        let n = 20_000;
        let x = Array2::from_shape_fn((n, 2), |(i, j)| {
            let u = super::super::rng::splitmix64((i * 2 + j) as u64) as f64 / u64::MAX as f64;
            if j == 1 && u < 0.1 {
                f64::NAN
            } else {
                u * 100.0
            }
        });
        let y: Vec<f64> = (0..n).map(|i| (x[[i, 0]] / 10.0).sin()).collect();
        let cfg = GrowConfig {
            max_depth: Some(12),
            max_leaves: None,
            rule: SplitRule {
                min_leaf: 1.0,
                min_gain: 0.0,
                lambda: 0.0,
            },
            features: FeaturePick::PerNode(1),
            parallel: false,
        };
        check_reproduction(&x, &y, &cfg);
    }
}
