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

/// A packed node for the evaluation loop: one cache line holds two.
#[derive(Debug, Clone, Copy)]
struct Node {
    threshold: f64,
    feature: u32,
    /// Left child or LEAF; the right child is `right`.
    left: u32,
    right: u32,
    default_left: bool,
}

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
    /// Packed copy of every tree's nodes, built on construction.
    packed: Vec<Node>,
    /// Offset of each tree's root in `packed`.
    roots: Vec<u32>,
}

impl PartialEq for Node {
    fn eq(&self, other: &Self) -> bool {
        self.threshold.to_bits() == other.threshold.to_bits()
            && self.feature == other.feature
            && self.left == other.left
            && self.right == other.right
            && self.default_left == other.default_left
    }
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
        let mut packed = Vec::with_capacity(trees.iter().map(FlatTree::len).sum());
        let mut roots = Vec::with_capacity(trees.len());
        for t in &trees {
            let off = packed.len() as u32;
            roots.push(off);
            for i in 0..t.len() {
                let leaf = t.left.get(i).is_none_or(|&l| l == LEAF);
                packed.push(if leaf {
                    Node {
                        threshold: t.value.get(i).copied().unwrap_or(0.0),
                        feature: 0,
                        left: LEAF,
                        right: LEAF,
                        default_left: true,
                    }
                } else {
                    Node {
                        threshold: t.threshold.get(i).copied().unwrap_or(0.0),
                        feature: t.feature.get(i).copied().unwrap_or(0),
                        left: off + t.left[i],
                        right: off + t.right.get(i).copied().unwrap_or(0),
                        default_left: t.default_left.get(i).copied().unwrap_or(true),
                    }
                });
            }
        }
        TreeEnsemble {
            n_features,
            base,
            scale,
            trees,
            packed,
            roots,
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
    /// # Panics
    /// If `x` is shorter than a tested feature index; callers check the
    /// length once (the artifact does).
    #[inline]
    pub fn predict(&self, x: &[f64]) -> f64 {
        let nodes = &self.packed[..];
        let mut sum = 0.0;
        for &root in &self.roots {
            let mut n = nodes[root as usize];
            while n.left != LEAF {
                let v = x[n.feature as usize];
                let go_left = if v.is_nan() {
                    n.default_left
                } else {
                    v <= n.threshold
                };
                n = nodes[if go_left { n.left } else { n.right } as usize];
            }
            sum += n.threshold;
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
