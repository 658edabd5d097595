//! The query-class mix: which class each request belongs to, how long it
//! holds its connection, and which statement shape (pattern) it runs.

use poolcast::core::{Nanos, QueryClass};
use rand::RngExt;
use rand_distr::{Distribution, Zipf};
use serde::{Deserialize, Serialize};

use super::service::{ServiceDist, ServiceSampler};
use super::{check, indexed};
use crate::config_error::{ConfigError, join};
use crate::rng::{SimRng, splitmix64};

fn default_statements() -> u32 {
    1
}
fn default_patterns() -> u32 {
    20
}
fn default_pattern_zipf() -> f64 {
    1.1
}

/// One class of the mix. In TOML: `[[mix.classes]]` with `class = "read"`,
/// `share = 0.7`, `service = { kind = "exponential", mean_ms = 2.0 }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassSpec {
    /// The query class.
    pub class: QueryClass,
    /// Relative weight among the classes (>= 0; shares need not sum to 1).
    pub share: f64,
    /// Service time of one statement.
    pub service: ServiceDist,
    /// Statements per request (>= 1, default 1). Above 1 the connection is
    /// held across all of them (a transaction).
    #[serde(default = "default_statements")]
    pub statements: u32,
    /// Client think time between consecutive statements of one request,
    /// during which the connection stays held (default: none).
    #[serde(default)]
    pub think_ms: Option<ServiceDist>,
    /// Number of distinct statement shapes (>= 1, default 20).
    #[serde(default = "default_patterns")]
    pub patterns: u32,
    /// Zipf exponent of the statement-shape popularity (>= 0, default 1.1;
    /// 0 is uniform).
    #[serde(default = "default_pattern_zipf")]
    pub pattern_zipf: f64,
}

impl ClassSpec {
    /// A single-statement class with default pattern settings.
    pub fn new(class: QueryClass, share: f64, service: ServiceDist) -> Self {
        ClassSpec {
            class,
            share,
            service,
            statements: default_statements(),
            think_ms: None,
            patterns: default_patterns(),
            pattern_zipf: default_pattern_zipf(),
        }
    }

    /// Checks every field; `path` is this class's own path (e.g.
    /// `mix.classes[1]`).
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        check::non_negative(path, "share", self.share)?;
        self.service.validate(&join(path, "service"))?;
        if self.statements == 0 {
            return Err(ConfigError::new(
                join(path, "statements"),
                "expected at least 1 statement per request",
            ));
        }
        if let Some(think) = &self.think_ms {
            think.validate(&join(path, "think_ms"))?;
        }
        if self.patterns == 0 {
            return Err(ConfigError::new(
                join(path, "patterns"),
                "expected at least 1 statement pattern",
            ));
        }
        check::non_negative(path, "pattern_zipf", self.pattern_zipf)
    }

    /// Mean connection hold time of one request, nanoseconds: the
    /// statements' service times plus the think times between them.
    pub fn mean_hold_ns(&self) -> f64 {
        let n = f64::from(self.statements.max(1));
        let think = self.think_ms.as_ref().map_or(0.0, ServiceDist::mean_ns);
        n * self.service.mean_ns() + (n - 1.0) * think
    }
}

/// The classes requests are drawn from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassMix {
    /// The classes, each at most once.
    pub classes: Vec<ClassSpec>,
}

impl ClassMix {
    /// Checks the mix; `path` is its own path (e.g. `mix`). An empty mix,
    /// shares that are all zero and a class listed twice are errors.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if self.classes.is_empty() {
            return Err(ConfigError::new(
                join(path, "classes"),
                "empty class mix: expected at least one class",
            ));
        }
        for (i, c) in self.classes.iter().enumerate() {
            let p = indexed(path, "classes", i);
            c.validate(&p)?;
            if let Some(j) = self.classes[..i].iter().position(|o| o.class == c.class) {
                return Err(ConfigError::new(
                    join(&p, "class"),
                    format!(
                        "duplicate class `{}` (already at classes[{j}])",
                        c.class.name()
                    ),
                ));
            }
        }
        if self.classes.iter().all(|c| c.share == 0.0) {
            return Err(ConfigError::new(
                join(path, "classes"),
                "empty class mix: every share is zero, expected at least one share > 0",
            ));
        }
        Ok(())
    }

    /// Share-weighted mean hold time, nanoseconds (0 for an empty mix).
    pub fn mean_hold_ns(&self) -> f64 {
        let total: f64 = self.classes.iter().map(|c| c.share).sum();
        if total <= 0.0 {
            return 0.0;
        }
        self.classes
            .iter()
            .map(|c| c.share / total * c.mean_hold_ns())
            .sum()
    }
}

/// One request's connection hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldSample {
    /// Total time the connection is held: every statement's service time
    /// plus the think times between statements.
    pub hold_ns: Nanos,
    /// Number of statements run.
    pub statements: u32,
}

/// The stable 64-bit hash of statement pattern `rank` (1 = most popular) of
/// `class`. Fixed by its algorithm (FNV-1a of the class name, mixed with the
/// rank by SplitMix64), so it never changes between releases or runs.
pub fn pattern_hash(class: QueryClass, rank: u32) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in class.name().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    splitmix64(h ^ splitmix64(u64::from(rank)))
}

/// Pattern counts up to this use an alias table; larger ones use
/// rejection sampling.
const ZIPF_TABLE_MAX: u32 = 4096;

/// Draws a Zipf rank in `1..=n`.
#[derive(Debug, Clone)]
enum RankSampler {
    One,
    Table(AliasTable),
    Zipf(Zipf<f64>, u32),
}

/// A Walker/Vose alias table over `0..n`: one 64-bit draw picks a column
/// (its high 32 bits) and flips that column's biased coin (its low 32
/// bits), so a draw costs the same whatever `n`.
///
/// Hand-written rather than rand_distr's `WeightedAliasIndex`, which spends
/// two draws per sample (a column and a uniform) and is generic over the
/// weight type; this sampler runs once per simulated request, and an
/// inverse-CDF binary search here was the simulator's largest single cost.
#[derive(Debug, Clone)]
struct AliasTable {
    /// Keep column `i` when the coin (a uniform `u32`) is below
    /// `keep[i]` (`2^32`: always).
    keep: Vec<u64>,
    alias: Vec<u32>,
}

impl AliasTable {
    /// The table for `weights` (finite, non-negative, not all zero).
    fn new(weights: &[f64]) -> Self {
        let n = weights.len();
        let total: f64 = weights.iter().sum();
        let mut p: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut keep = vec![1u64 << 32; n];
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| p[i] < 1.0);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            keep[s] = (p[s] * 4_294_967_296.0).round() as u64;
            alias[s] = l as u32;
            p[l] -= 1.0 - p[s];
            if p[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // What is left has probability 1 up to rounding: always kept.
        AliasTable { keep, alias }
    }

    #[inline]
    fn sample(&self, rng: &mut SimRng) -> usize {
        let r = rng.random::<u64>();
        let col = (((r >> 32) * self.keep.len() as u64) >> 32) as usize;
        if (r & 0xFFFF_FFFF) < self.keep[col] {
            col
        } else {
            self.alias[col] as usize
        }
    }
}

impl RankSampler {
    fn new(n: u32, s: f64) -> Self {
        let s = if s.is_finite() && s >= 0.0 { s } else { 0.0 };
        match n {
            0 | 1 => RankSampler::One,
            n if n <= ZIPF_TABLE_MAX => {
                let weights: Vec<f64> = (1..=n).map(|k| f64::from(k).powf(-s)).collect();
                RankSampler::Table(AliasTable::new(&weights))
            }
            n => RankSampler::Zipf(
                Zipf::new(f64::from(n), s).expect("valid Zipf parameters"),
                n,
            ),
        }
    }

    #[inline]
    fn sample(&self, rng: &mut SimRng) -> u32 {
        match self {
            RankSampler::One => 1,
            RankSampler::Table(t) => t.sample(rng) as u32 + 1,
            RankSampler::Zipf(z, n) => (z.sample(rng) as u32).clamp(1, *n),
        }
    }
}

#[derive(Debug, Clone)]
struct CompiledClass {
    class: QueryClass,
    /// Cumulative share up to and including this class.
    cum_share: f64,
    service: ServiceSampler,
    think: Option<ServiceSampler>,
    statements: u32,
    ranks: RankSampler,
    /// `pattern_hash` of ranks 1..=n, precomputed for table-sized n.
    hashes: Vec<u64>,
    mean_hold_ns: f64,
}

/// A compiled [`ClassMix`]: draws a class, its hold and its pattern.
#[derive(Debug, Clone)]
pub struct MixSampler {
    classes: Vec<CompiledClass>,
    total_share: f64,
    /// The last class with a positive share (the fallback for rounding).
    last_positive: usize,
    mean_hold_ns: f64,
}

impl MixSampler {
    /// Compiles `mix`; `path` names it in errors (as in
    /// [`ClassMix::validate`]).
    ///
    /// # Errors
    /// As [`ClassMix::validate`] (for example every share is zero), or a
    /// class's service or think time makes no distribution
    /// ([`ServiceDist::sampler`]).
    pub fn new(mix: &ClassMix, path: &str) -> Result<Self, ConfigError> {
        mix.validate(path)?;
        let mut acc = 0.0;
        let mut classes = Vec::with_capacity(mix.classes.len());
        for (i, c) in mix.classes.iter().enumerate() {
            let at = indexed(path, "classes", i);
            acc += c.share;
            classes.push(CompiledClass {
                class: c.class,
                cum_share: acc,
                service: c.service.sampler(&join(&at, "service"))?,
                think: match &c.think_ms {
                    Some(t) => Some(t.sampler(&join(&at, "think_ms"))?),
                    None => None,
                },
                statements: c.statements.max(1),
                ranks: RankSampler::new(c.patterns, c.pattern_zipf),
                hashes: (1..=c.patterns.min(ZIPF_TABLE_MAX))
                    .map(|r| pattern_hash(c.class, r))
                    .collect(),
                mean_hold_ns: c.mean_hold_ns(),
            });
        }
        let last_positive = mix.classes.iter().rposition(|c| c.share > 0.0).unwrap_or(0);
        Ok(MixSampler {
            classes,
            total_share: acc,
            last_positive,
            mean_hold_ns: mix.mean_hold_ns(),
        })
    }

    /// Number of classes in the mix (indices are `0..len()`).
    pub fn len(&self) -> usize {
        self.classes.len()
    }

    /// Whether the mix has no class (never true for a compiled mix).
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// The class at `idx` in the mix.
    pub fn class(&self, idx: usize) -> QueryClass {
        self.classes[idx].class
    }

    /// Draws a class by share: the class and its index in the mix.
    #[inline]
    pub fn sample(&self, rng: &mut SimRng) -> (QueryClass, usize) {
        let u = rng.random::<f64>() * self.total_share;
        let idx = self
            .classes
            .iter()
            .position(|c| u < c.cum_share)
            .unwrap_or(self.last_positive);
        (self.classes[idx].class, idx)
    }

    /// Draws the connection hold of one request of class `idx`: the service
    /// times of its statements plus the think times between them.
    #[inline]
    pub fn sample_hold(&self, idx: usize, rng: &mut SimRng) -> HoldSample {
        let c = &self.classes[idx];
        let mut hold = c.service.sample(rng);
        for _ in 1..c.statements {
            if let Some(think) = &c.think {
                hold = hold.saturating_add(think.sample(rng));
            }
            hold = hold.saturating_add(c.service.sample(rng));
        }
        HoldSample {
            hold_ns: hold,
            statements: c.statements,
        }
    }

    /// Draws the statement pattern of a request of class `idx`: a Zipf rank
    /// turned into its stable [`pattern_hash`].
    #[inline]
    pub fn sample_pattern(&self, idx: usize, rng: &mut SimRng) -> u64 {
        let c = &self.classes[idx];
        let rank = c.ranks.sample(rng);
        match c.hashes.get(rank as usize - 1) {
            Some(&h) => h,
            None => pattern_hash(c.class, rank),
        }
    }

    /// Mean hold time of class `idx`, nanoseconds.
    pub fn class_mean_hold_ns(&self, idx: usize) -> f64 {
        self.classes[idx].mean_hold_ns
    }

    /// Share-weighted mean hold time, nanoseconds: offered load in erlangs is
    /// `rate (1/s) × mean_hold_ns / 1e9`.
    pub fn mean_hold_ns(&self) -> f64 {
        self.mean_hold_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// The probability each rank gets from the table: its own column's
    /// keep share plus what other columns hand it as their alias.
    fn table_probabilities(t: &AliasTable) -> Vec<f64> {
        let n = t.keep.len();
        let mut p = vec![0.0; n];
        for col in 0..n {
            let keep = t.keep[col] as f64 / 4_294_967_296.0;
            p[col] += keep / n as f64;
            p[t.alias[col] as usize] += (1.0 - keep) / n as f64;
        }
        p
    }

    #[test]
    fn the_alias_table_reproduces_its_weights() {
        for (n, s) in [(2u32, 0.0), (5, 1.0), (20, 1.1), (64, 0.7), (4096, 1.3)] {
            let weights: Vec<f64> = (1..=n).map(|k| f64::from(k).powf(-s)).collect();
            let total: f64 = weights.iter().sum();
            let t = AliasTable::new(&weights);
            for (i, (got, w)) in table_probabilities(&t).iter().zip(&weights).enumerate() {
                let want = w / total;
                assert!(
                    (got - want).abs() < 1e-9,
                    "n={n} s={s} rank {}: {got} vs {want}",
                    i + 1
                );
            }
        }
    }

    #[test]
    fn zipf_draws_follow_the_law() {
        let sampler = RankSampler::new(20, 1.1);
        let mut rng = SimRng::seed_from_u64(7);
        let draws = 400_000;
        let mut counts = [0u32; 21];
        for _ in 0..draws {
            counts[sampler.sample(&mut rng) as usize] += 1;
        }
        assert_eq!(counts[0], 0, "ranks start at 1");
        let total: f64 = (1..=20).map(|k| f64::from(k).powf(-1.1)).sum();
        for k in 1..=20u32 {
            let p = f64::from(k).powf(-1.1) / total;
            let want = p * f64::from(draws);
            let sd = (want * (1.0 - p)).sqrt();
            let got = f64::from(counts[k as usize]);
            assert!(
                (got - want).abs() < 5.0 * sd,
                "rank {k}: {got} vs {want:.0}"
            );
        }
    }
}
