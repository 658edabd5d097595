//! Flat regression trees: one array of nodes per tree, evaluated without
//! recursion or allocation.
//!
//! A node either splits (`x[feature] <= threshold` goes left, `NaN` goes the
//! learned default way) or is a leaf holding a value. Nodes are stored
//! breadth- or depth-first, the root at index 0; children always have larger
//! indices than their parent, which [`FlatTree::validate`] checks so a
//! malformed artifact cannot loop.

use serde::{Deserialize, Serialize};

/// Marks a leaf in [`FlatTree::left`].
pub const LEAF: u32 = u32::MAX;

/// One regression tree as parallel arrays (one entry per node).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct FlatTree {
    /// Feature index tested by a split node (ignored for leaves).
    pub feature: Vec<u32>,
    /// Split threshold: `x <= threshold` goes left.
    pub threshold: Vec<f64>,
    /// Where a missing (`NaN`) value goes at a split node.
    pub default_left: Vec<bool>,
    /// Left child index, or [`LEAF`].
    pub left: Vec<u32>,
    /// Right child index (ignored for leaves).
    pub right: Vec<u32>,
    /// Leaf value (ignored for split nodes).
    pub value: Vec<f64>,
}

/// A packed node for the branch-free evaluation loop (16 bytes, four to a
/// cache line).
///
/// Every split is stored in one form: go to child A (the next node, laid
/// out depth-first) when `!(slot value > threshold)`, else to child B
/// (`other`). One comparison then also sends `NaN` the learned default
/// way, because `!(NaN > t)` is true:
/// - a split whose missing values go left reads `x[f]` and keeps its
///   threshold `t`: `!(v > t)` is `v <= t` or `NaN`; A is the left child;
/// - one whose missing values go right reads `-x[f]` against
///   `-next_up(t)`: `!(-v > -next_up(t))` is `v >= next_up(t)`, i.e.
///   `v > t`, or `NaN`; A is the right child.
///
/// A leaf reads the row buffer's `+∞` slot against `f64::MAX`, so it always
/// goes to B, itself: stepping past a tree's bottom is harmless. Leaf
/// values live in [`TreeEnsemble`]'s `values`.
#[derive(Debug, Clone, Copy)]
struct Node {
    threshold: f64,
    /// Index into the row buffer `[x, -x, +∞]` (see [`TreeEnsemble::predict`]).
    slot: u32,
    /// Child B (packed index); child A is the next node.
    other: u32,
}

/// Trees walked in lockstep by [`TreeEnsemble::predict`]: independent
/// chains of loads the CPU overlaps, where one tree at a time leaves it
/// waiting on each node's load and mispredicting each branch.
const LANES: usize = 8;

/// Size of the on-stack row buffer `[x, -x, +∞]`: rows of up to
/// `(ROW_BUF - 1) / 2` features use it (with a mask instead of a bounds
/// check); wider rows use a heap buffer.
const ROW_BUF: usize = 512;

impl FlatTree {
    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.feature.len()
    }

    /// True for a tree with no nodes (never valid).
    pub fn is_empty(&self) -> bool {
        self.feature.is_empty()
    }

    /// Checks the arrays agree in length, children point forward and inside
    /// the tree, features are below `n_features`, and values are finite.
    ///
    /// # Errors
    /// A message naming the first bad node.
    pub fn validate(&self, n_features: usize) -> Result<(), String> {
        let n = self.feature.len();
        if n == 0 {
            return Err("tree has no nodes".into());
        }
        for (name, len) in [
            ("threshold", self.threshold.len()),
            ("default_left", self.default_left.len()),
            ("left", self.left.len()),
            ("right", self.right.len()),
            ("value", self.value.len()),
        ] {
            if len != n {
                return Err(format!("`{name}` has {len} entries, `feature` has {n}"));
            }
        }
        for i in 0..n {
            if self.left[i] == LEAF {
                if !self.value[i].is_finite() {
                    return Err(format!("leaf {i} has a non-finite value"));
                }
                continue;
            }
            let (l, r) = (self.left[i] as usize, self.right[i] as usize);
            if l <= i || r <= i || l >= n || r >= n {
                return Err(format!(
                    "node {i} has children {l} and {r}; they must lie in ({i}, {n})"
                ));
            }
            if self.feature[i] as usize >= n_features {
                return Err(format!(
                    "node {i} tests feature {}, the model has {n_features}",
                    self.feature[i]
                ));
            }
            if self.threshold[i].is_nan() {
                return Err(format!("node {i} has a NaN threshold"));
            }
        }
        Ok(())
    }

    /// Evaluates one row (slow path, for tests and one-off use; ensembles use
    /// the packed form).
    pub fn predict(&self, x: &[f64]) -> f64 {
        let mut i = 0usize;
        while self.left[i] != LEAF {
            let v = x[self.feature[i] as usize];
            let go_left = if v.is_nan() {
                self.default_left[i]
            } else {
                v <= self.threshold[i]
            };
            i = if go_left {
                self.left[i] as usize
            } else {
                self.right[i] as usize
            };
        }
        self.value[i]
    }
}

/// A sum of trees: `prediction = base + scale × Σ tree(x)`.
///
/// A random forest has `base = 0`, `scale = 1 / n_trees`; gradient boosting
/// has `base` = the initial prediction and `scale = 1` (the learning rate is
/// folded into the leaf values).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "EnsembleRepr", into = "EnsembleRepr")]
pub struct TreeEnsemble {
    /// Number of input features.
    pub n_features: usize,
    /// Constant added to the scaled sum.
    pub base: f64,
    /// Factor applied to the sum of tree outputs.
    pub scale: f64,
    /// The trees.
    pub trees: Vec<FlatTree>,
    /// Packed copy of every tree's nodes, built on construction, then one
    /// spare leaf that idle lanes of the last group sit on.
    packed: Vec<Node>,
    /// Leaf value of each packed node (0 for split nodes).
    values: Vec<f64>,
    /// Offset of each tree's root in `packed`, padded with the spare leaf
    /// to a multiple of [`LANES`].
    roots: Vec<u32>,
    /// Per group of [`LANES`] trees, the most steps any of them needs to
    /// reach a leaf.
    group_depth: Vec<u32>,
}

impl PartialEq for Node {
    fn eq(&self, other: &Self) -> bool {
        self.threshold.to_bits() == other.threshold.to_bits()
            && self.slot == other.slot
            && self.other == other.other
    }
}

impl TreeEnsemble {
    /// Packs `trees` over `n_features` for [`predict`](Self::predict):
    /// the nodes, the leaf values, the padded roots and each group's
    /// depth. Each tree is laid out depth-first, child A first (see
    /// [`Node`]). A child index that does not point forward inside its tree,
    /// or a feature outside the row (both refused by
    /// [`validate`](Self::validate)), turns its node into a leaf here, and
    /// a node reachable twice is laid out once per path up to a cap, so even
    /// an unvalidated ensemble packs and evaluates in bounded time.
    fn pack(trees: &[FlatTree], n_features: usize) -> Packed {
        let total: usize = trees.iter().map(FlatTree::len).sum();
        let mut packed: Vec<Node> = Vec::with_capacity(total + 1);
        let mut values = Vec::with_capacity(total + 1);
        let mut roots = Vec::with_capacity(trees.len().div_ceil(LANES) * LANES);
        let mut depths = Vec::with_capacity(trees.len());
        let n = u32::try_from(n_features).unwrap_or(u32::MAX / 4);
        let inf_slot = 2 * n;
        let leaf = |at: u32| Node {
            threshold: f64::MAX,
            slot: inf_slot,
            other: at,
        };
        // (original node, depth, packed index of the parent whose child B
        // this is, if it is one).
        let mut stack: Vec<(usize, u32, Option<usize>)> = Vec::new();
        for t in trees {
            let off = packed.len();
            roots.push(off as u32);
            let len = t.len();
            let split = |i: usize| -> Option<(usize, usize)> {
                let l = t.left.get(i).copied().unwrap_or(LEAF) as usize;
                let r = t.right.get(i).copied().unwrap_or(0) as usize;
                let f = t.feature.get(i).copied().unwrap_or(u32::MAX);
                let ok = l != LEAF as usize && l > i && r > i && l < len && r < len && f < n;
                ok.then_some((l, r))
            };
            let mut deepest = 0;
            stack.clear();
            if len > 0 {
                stack.push((0, 0, None));
            }
            while let Some((i, d, parent)) = stack.pop() {
                let at = packed.len();
                if let Some(p) = parent {
                    packed[p].other = at as u32;
                }
                deepest = deepest.max(d);
                match split(i) {
                    Some((l, r)) if packed.len() - off < 2 * len => {
                        let f = t.feature.get(i).copied().unwrap_or(0);
                        let th = t.threshold.get(i).copied().unwrap_or(0.0);
                        let (node, a, b) = if t.default_left.get(i).copied().unwrap_or(true) {
                            (
                                Node {
                                    threshold: th,
                                    slot: f,
                                    other: 0,
                                },
                                l,
                                r,
                            )
                        } else {
                            (
                                Node {
                                    threshold: -th.next_up(),
                                    slot: n + f,
                                    other: 0,
                                },
                                r,
                                l,
                            )
                        };
                        packed.push(node);
                        values.push(0.0);
                        stack.push((b, d + 1, Some(at)));
                        stack.push((a, d + 1, None));
                    }
                    _ => {
                        packed.push(leaf(at as u32));
                        values.push(t.value.get(i).copied().unwrap_or(0.0));
                    }
                }
            }
            depths.push(deepest);
        }
        let spare = packed.len() as u32;
        packed.push(leaf(spare));
        values.push(0.0);
        while roots.len() % LANES != 0 {
            roots.push(spare);
        }
        let group_depth = depths
            .chunks(LANES)
            .map(|g| g.iter().copied().max().unwrap_or(0))
            .collect();
        Packed {
            nodes: packed,
            values,
            roots,
            group_depth,
        }
    }
}

/// What [`TreeEnsemble::pack`] builds.
struct Packed {
    nodes: Vec<Node>,
    values: Vec<f64>,
    roots: Vec<u32>,
    group_depth: Vec<u32>,
}

#[derive(Serialize, Deserialize)]
struct EnsembleRepr {
    n_features: usize,
    base: f64,
    scale: f64,
    trees: Vec<FlatTree>,
}

impl From<EnsembleRepr> for TreeEnsemble {
    fn from(r: EnsembleRepr) -> Self {
        TreeEnsemble::new(r.n_features, r.base, r.scale, r.trees)
    }
}

impl From<TreeEnsemble> for EnsembleRepr {
    fn from(e: TreeEnsemble) -> Self {
        EnsembleRepr {
            n_features: e.n_features,
            base: e.base,
            scale: e.scale,
            trees: e.trees,
        }
    }
}

impl TreeEnsemble {
    /// Builds an ensemble and its packed evaluation form. Call
    /// [`TreeEnsemble::validate`] before evaluating trees from outside.
    pub fn new(n_features: usize, base: f64, scale: f64, trees: Vec<FlatTree>) -> Self {
        let p = Self::pack(&trees, n_features);
        TreeEnsemble {
            n_features,
            base,
            scale,
            trees,
            packed: p.nodes,
            values: p.values,
            roots: p.roots,
            group_depth: p.group_depth,
        }
    }

    /// Validates every tree and the constants.
    ///
    /// # Errors
    /// A message naming the first bad tree and node.
    pub fn validate(&self) -> Result<(), String> {
        if self.trees.is_empty() {
            return Err("ensemble has no trees".into());
        }
        if !self.base.is_finite() || !self.scale.is_finite() {
            return Err("ensemble base or scale is not finite".into());
        }
        for (k, t) in self.trees.iter().enumerate() {
            t.validate(self.n_features)
                .map_err(|e| format!("tree {k}: {e}"))?;
        }
        Ok(())
    }

    /// Predicts one row. `x` must hold `n_features` values (`NaN` = missing).
    ///
    /// Copies the row into a buffer `[x, -x, +∞]` (see `Node`), walks
    /// `LANES` trees at a time in lockstep with one comparison and a
    /// conditional move per step, then adds the leaves in tree order: the
    /// result is bit-identical to summing [`FlatTree::predict`] over the
    /// trees one by one.
    ///
    /// # Panics
    /// If `x` is shorter than `n_features`; callers check the length once
    /// (the artifact does).
    #[inline]
    pub fn predict(&self, x: &[f64]) -> f64 {
        let n = self.n_features;
        let x = &x[..n];
        if 2 * n < ROW_BUF {
            let mut buf = [0.0f64; ROW_BUF];
            Self::fill_row(&mut buf, x);
            self.walk(&buf, ROW_BUF - 1)
        } else {
            let size = (2 * n + 1).next_power_of_two();
            let mut buf = vec![0.0f64; size];
            Self::fill_row(&mut buf, x);
            self.walk(&buf, size - 1)
        }
    }

    /// Writes `[x, -x, +∞]` at the front of `buf`.
    #[inline(always)]
    fn fill_row(buf: &mut [f64], x: &[f64]) {
        let n = x.len();
        let (pos, rest) = buf.split_at_mut(n);
        let (neg, rest) = rest.split_at_mut(n);
        pos.copy_from_slice(x);
        for (d, v) in neg.iter_mut().zip(x) {
            *d = -*v;
        }
        rest[0] = f64::INFINITY;
    }

    /// The lockstep walk over a row buffer whose length is `mask + 1`.
    // `!(v > t)` is meant: it is true for NaN, which is how missing values
    // take their default way (see `Node`); `partial_cmp` would hide that.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    #[inline(always)]
    fn walk(&self, buf: &[f64], mask: usize) -> f64 {
        let nodes = &self.packed[..];
        let mut sum = 0.0;
        let real = self.trees.len();
        for (g, (roots, &depth)) in self
            .roots
            .chunks_exact(LANES)
            .zip(&self.group_depth)
            .enumerate()
        {
            let mut at = [0u32; LANES];
            at.copy_from_slice(roots);
            for _ in 0..depth {
                for a in &mut at {
                    let node = &nodes[*a as usize];
                    let v = buf[node.slot as usize & mask];
                    // A `select_unpredictable`, not an `if`: the compiler
                    // turns the `if` (and even a mask) into a branch, which
                    // mispredicts half the time.
                    *a = std::hint::select_unpredictable(!(v > node.threshold), *a + 1, node.other);
                }
            }
            let lanes = (real - g * LANES).min(LANES);
            for &a in &at[..lanes] {
                sum += self.values[a as usize];
            }
        }
        self.base + self.scale * sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stump() -> FlatTree {
        FlatTree {
            feature: vec![1, 0, 0],
            threshold: vec![0.5, 0.0, 0.0],
            default_left: vec![false, true, true],
            left: vec![1, LEAF, LEAF],
            right: vec![2, 0, 0],
            value: vec![0.0, -1.0, 2.0],
        }
    }

    #[test]
    fn packed_and_slow_paths_agree_including_missing_values() {
        let t = stump();
        let e = TreeEnsemble::new(2, 10.0, 0.5, vec![t.clone(), t.clone()]);
        e.validate().unwrap();
        for x in [[0.0, 0.2], [0.0, 0.5], [0.0, 0.9], [0.0, f64::NAN]] {
            let want = 10.0 + 0.5 * 2.0 * t.predict(&x);
            assert_eq!(e.predict(&x), want, "row {x:?}");
        }
        assert_eq!(
            t.predict(&[0.0, f64::NAN]),
            2.0,
            "NaN follows default_left = false"
        );
    }

    /// A random tree of up to `max_depth` levels over `n_features`, leaves
    /// at uneven depths, built depth-first.
    fn random_tree(next: &mut impl FnMut() -> u64, n_features: u32, max_depth: u32) -> FlatTree {
        fn grow(t: &mut FlatTree, next: &mut dyn FnMut() -> u64, nf: u32, depth: u32) -> u32 {
            let i = t.feature.len() as u32;
            t.feature.push(0);
            t.threshold.push(0.0);
            t.default_left.push(true);
            t.left.push(LEAF);
            t.right.push(0);
            t.value.push((next() % 1000) as f64 / 7.0 - 70.0);
            if depth > 0 && !next().is_multiple_of(5) {
                t.feature[i as usize] = (next() % u64::from(nf)) as u32;
                t.threshold[i as usize] = (next() % 100) as f64 / 10.0;
                t.default_left[i as usize] = next().is_multiple_of(2);
                let l = grow(t, next, nf, depth - 1);
                let r = grow(t, next, nf, depth - 1);
                t.left[i as usize] = l;
                t.right[i as usize] = r;
            }
            i
        }
        let mut t = FlatTree::default();
        grow(&mut t, next, n_features, max_depth);
        t
    }

    #[test]
    fn lockstep_evaluation_is_bit_identical_to_one_tree_at_a_time() {
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        // Tree counts around the lane width, depths from 0 to 12.
        for (n_trees, depth) in [(1, 0), (3, 4), (8, 10), (13, 12), (100, 10)] {
            let trees: Vec<FlatTree> = (0..n_trees)
                .map(|_| random_tree(&mut next, 6, depth))
                .collect();
            let e = TreeEnsemble::new(6, 0.25, 1.0 / n_trees as f64, trees.clone());
            e.validate().unwrap();
            for _ in 0..200 {
                let x: Vec<f64> = (0..6)
                    .map(|_| {
                        if next() % 6 == 0 {
                            f64::NAN
                        } else {
                            (next() % 110) as f64 / 10.0
                        }
                    })
                    .collect();
                let slow: f64 = trees.iter().map(|t| t.predict(&x)).sum();
                let want = 0.25 + (1.0 / n_trees as f64) * slow;
                assert_eq!(
                    e.predict(&x).to_bits(),
                    want.to_bits(),
                    "{n_trees} trees, row {x:?}"
                );
            }
        }
    }

    #[test]
    fn wide_rows_use_the_heap_buffer_and_agree() {
        let mut t = stump();
        t.feature[0] = 299;
        let e = TreeEnsemble::new(300, 0.0, 1.0, vec![t.clone(); 9]);
        e.validate().unwrap();
        let mut x = vec![0.0; 300];
        for v in [0.2, 0.5, 0.9, f64::NAN, f64::INFINITY, -0.0] {
            x[299] = v;
            assert_eq!(e.predict(&x), 9.0 * t.predict(&x), "x[299] = {v}");
        }
    }

    #[test]
    fn thresholds_at_the_edges_of_f64_keep_their_meaning() {
        // Default-right splits compare against -next_up(t): check values
        // on both sides of t, at t, and the extremes.
        for th in [0.0, -0.0, 1.5, -1e300, f64::MAX, f64::MIN, 5e-324] {
            for dl in [true, false] {
                let t = FlatTree {
                    feature: vec![0, 0, 0],
                    threshold: vec![th, 0.0, 0.0],
                    default_left: vec![dl, true, true],
                    left: vec![1, LEAF, LEAF],
                    right: vec![2, 0, 0],
                    value: vec![0.0, -1.0, 2.0],
                };
                let e = TreeEnsemble::new(1, 0.0, 1.0, vec![t.clone()]);
                for v in [
                    th,
                    th.next_up(),
                    th.next_down(),
                    0.0,
                    -0.0,
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                    f64::NAN,
                ] {
                    assert_eq!(
                        e.predict(&[v]),
                        t.predict(&[v]),
                        "t = {th:e}, default_left = {dl}, v = {v:e}"
                    );
                }
            }
        }
    }

    #[test]
    fn an_unvalidated_backward_tree_still_evaluates_in_bounded_time() {
        let mut t = stump();
        t.left[0] = 0; // a loop
        let e = TreeEnsemble::new(2, 0.0, 1.0, vec![t]);
        assert!(e.validate().is_err());
        assert!(e.predict(&[0.0, 0.0]).is_finite());
    }

    #[test]
    fn validation_refuses_backward_children_and_bad_features() {
        let mut t = stump();
        t.left[0] = 0;
        assert!(t.validate(2).unwrap_err().contains("node 0"));
        let t = stump();
        assert!(t.validate(1).unwrap_err().contains("feature 1"));
        let mut t = stump();
        t.value.pop();
        assert!(t.validate(2).unwrap_err().contains("`value`"));
    }

    #[test]
    fn serde_round_trip_rebuilds_the_packed_form() {
        let e = TreeEnsemble::new(2, 1.0, 1.0, vec![stump()]);
        let json = serde_json::to_string(&e).unwrap();
        let back: TreeEnsemble = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.predict(&[0.0, 1.0]), 3.0);
    }
}
