//! What the binary's tests share.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `poolcast run` of the shipped manifest `name` (`manifests/<name>.toml`)
/// into `out`, quietly; its run directory.
#[allow(dead_code)] // not every test file runs a shipped manifest
pub fn run_shipped(name: &str, out: &Path) -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("manifests/{name}.toml"));
    let o = Command::new(env!("CARGO_BIN_EXE_poolcast"))
        .arg("run")
        .arg(&manifest)
        .arg("--out")
        .arg(out)
        .arg("-q")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut runs: Vec<PathBuf> = std::fs::read_dir(out.join(name))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1);
    runs.pop().unwrap()
}

/// A manager whose connections are nothing: a runtime pool with no
/// database, for tests of sizing and policy alone.
#[allow(dead_code)] // not every test file builds a runtime pool
pub struct Noop;

impl poolcast::runtime::Manager for Noop {
    type Connection = ();
    type Error = std::convert::Infallible;
    async fn create(&self) -> Result<(), Self::Error> {
        Ok(())
    }
    async fn recycle(
        &self,
        _: &mut (),
        _: poolcast::runtime::RecycleMode,
    ) -> Result<(), Self::Error> {
        Ok(())
    }
}
