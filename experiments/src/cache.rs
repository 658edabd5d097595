//! Step reuse: every finished step (one simulated run, the features, the
//! training, ...) leaves a stamp beside its outputs with the hash of
//! everything that decides them and the SHA-256 of each file it wrote. A
//! re-run skips a step whose stamp has the same key and whose files are all
//! still there with the same bytes; anything else runs again. So an
//! interrupted sweep resumes where it stopped, and a changed setting
//! re-runs only what depends on it.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The stamp of a finished step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stamp {
    /// Hash of the step's inputs.
    pub key: String,
    /// Output file (relative to the stamp's directory) → SHA-256.
    pub files: BTreeMap<String, String>,
}

/// Builds a step key from its parts.
#[derive(Debug, Clone)]
pub struct Key(Sha256);

impl Key {
    /// A key for step `name`. It starts from the identity of this build of
    /// the program, so new code never reuses old results.
    pub fn new(name: &str) -> Key {
        let mut h = Sha256::new();
        h.update(code_identity().as_bytes());
        h.update([0]);
        h.update(name.as_bytes());
        Key(h)
    }

    /// Adds a serializable input (as canonical JSON).
    pub fn with<T: Serialize + ?Sized>(mut self, part: &T) -> Key {
        let json = serde_json::to_vec(part).expect("step inputs always serialize");
        self.0.update((json.len() as u64).to_le_bytes());
        self.0.update(json);
        self
    }

    /// The key as hex.
    pub fn finish(self) -> String {
        format!("{:x}", self.0.finalize())
    }
}

/// SHA-256 of this executable (computed once): a cheap, exact notion of
/// "the same code". `POOLCAST_CODE_ID` overrides it (tests of reuse across
/// builds; not for general use).
pub fn code_identity() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        if let Ok(id) = std::env::var("POOLCAST_CODE_ID") {
            return id;
        }
        std::env::current_exe()
            .ok()
            .and_then(|p| sha256_file(&p).ok())
            .unwrap_or_else(|| format!("poolcast-lab {}", env!("CARGO_PKG_VERSION")))
    })
}

/// SHA-256 of a file, streamed.
///
/// # Errors
/// The file cannot be read.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("{:x}", h.finalize()))
}

/// Writes `bytes` to `path` through a temporary sibling, creating parent
/// directories ([`poolcast_datasets::write_atomic`]).
///
/// # Errors
/// Names the file that could not be written.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(poolcast_datasets::write_atomic(path, bytes)?)
}

/// The stamp file of a step whose outputs live in `dir`.
pub fn stamp_path(dir: &Path, step: &str) -> PathBuf {
    dir.join(format!("_{step}.done.json"))
}

/// Whether the step stamped in `dir` under `step` finished with `key` and
/// its files are intact.
pub fn is_done(dir: &Path, step: &str, key: &str) -> bool {
    intact_stamp(dir, step).is_some_and(|stamp| stamp.key == key)
}

/// Whether the step stamped in `dir` under `step` finished, with whatever
/// key, and its files are intact (`poolcast status` counts the
/// simulations whose keys depend on a model this way).
pub fn is_stamped(dir: &Path, step: &str) -> bool {
    intact_stamp(dir, step).is_some()
}

/// The stamp in `dir` of `step` when it reads and every file it lists is
/// as stamped.
fn intact_stamp(dir: &Path, step: &str) -> Option<Stamp> {
    let text = std::fs::read(stamp_path(dir, step)).ok()?;
    let stamp = serde_json::from_slice::<Stamp>(&text).ok()?;
    stamp
        .files
        .iter()
        .all(|(f, h)| sha256_file(&dir.join(f)).is_ok_and(|x| &x == h))
        .then_some(stamp)
}

/// Records that the step in `dir` finished with `key`, having written
/// `files` (relative to `dir`). Written last, so a step cut short leaves
/// no stamp.
///
/// # Errors
/// A file cannot be read or the stamp cannot be written.
pub fn mark_done(dir: &Path, step: &str, key: &str, files: &[&str]) -> Result<()> {
    let mut map = BTreeMap::new();
    for f in files {
        map.insert(f.to_string(), sha256_file(&dir.join(f))?);
    }
    let stamp = Stamp {
        key: key.into(),
        files: map,
    };
    write_atomic(
        &stamp_path(dir, step),
        &serde_json::to_vec_pretty(&stamp).expect("a stamp serializes"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_holds_until_its_key_or_a_file_changes() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path();
        write_atomic(&dir.join("a.txt"), b"one").unwrap();
        assert!(!is_done(dir, "s", "k1"));
        mark_done(dir, "s", "k1", &["a.txt"]).unwrap();
        assert!(is_done(dir, "s", "k1"));
        assert!(!is_done(dir, "s", "k2"), "another key");
        std::fs::write(dir.join("a.txt"), b"two").unwrap();
        assert!(!is_done(dir, "s", "k1"), "a file changed");
        std::fs::remove_file(dir.join("a.txt")).unwrap();
        assert!(!is_done(dir, "s", "k1"), "a file is gone");
    }

    #[test]
    fn keys_depend_on_every_part() {
        let a = Key::new("x").with(&1).with("b").finish();
        assert_eq!(a, Key::new("x").with(&1).with("b").finish());
        assert_ne!(a, Key::new("y").with(&1).with("b").finish());
        assert_ne!(a, Key::new("x").with(&2).with("b").finish());
        // Length-prefixed: moving bytes between parts changes the key.
        assert_ne!(
            Key::new("x").with("ab").with("c").finish(),
            Key::new("x").with("a").with("bc").finish()
        );
    }
}
