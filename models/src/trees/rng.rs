//! Seeded random streams: each tree (forest) or round (boosting) gets its own
//! generator keyed by (seed, purpose, index), so results do not depend on
//! which thread grows which tree.

use rand::RngExt;
use rand_pcg::Pcg64Mcg;

/// Stream purposes (kept distinct so two uses of one seed never collide).
pub(crate) const BINNING: u64 = 1;
pub(crate) const FOREST_TREE: u64 = 2;
pub(crate) const BOOST_ROUND: u64 = 3;

/// SplitMix64 step: a fixed, well-mixed function of its input.
pub(crate) fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The generator for (`seed`, `purpose`, `index`). PCG-64 MCG's output is
/// fixed by its algorithm, so models reproduce across rand releases.
pub(crate) fn stream(seed: u64, purpose: u64, index: u64) -> Pcg64Mcg {
    let hi = splitmix64(seed ^ splitmix64(purpose ^ splitmix64(index)));
    let lo = splitmix64(hi ^ index.rotate_left(17) ^ purpose);
    Pcg64Mcg::new((u128::from(hi) << 64) | u128::from(lo))
}

/// `k` distinct indices from `0..n` (partial Fisher–Yates), unsorted.
pub(crate) fn sample_without_replacement(rng: &mut Pcg64Mcg, n: usize, k: usize) -> Vec<u32> {
    let mut all: Vec<u32> = (0..n as u32).collect();
    let k = k.min(n);
    for i in 0..k {
        let j = rng.random_range(i..n);
        all.swap(i, j);
    }
    all.truncate(k);
    all
}
