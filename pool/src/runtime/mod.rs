//! The tokio runtime pool (feature `runtime`): the async driver of the
//! sans-IO [`core`](crate::core), generic over a [`Manager`].
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use poolcast::runtime::{Manager, Pool, RecycleMode};
//! use poolcast::core::settings::PoolSettings;
//!
//! struct Numbers;
//! impl Manager for Numbers {
//!     type Connection = u64;
//!     type Error = std::io::Error;
//!     async fn create(&self) -> Result<u64, std::io::Error> { Ok(7) }
//!     async fn recycle(&self, _: &mut u64, _: RecycleMode) -> Result<(), std::io::Error> { Ok(()) }
//! }
//!
//! let pool = Pool::builder(Numbers)
//!     .settings(PoolSettings { max_size: 4, ..PoolSettings::default() })
//!     .build()?;
//! let conn = pool.get().await?;   // derefs to the connection
//! assert_eq!(*conn, 7);
//! drop(conn);                     // back to the pool
//! assert_eq!(pool.status().idle, 1);
//! pool.close().await;
//! # Ok(()) }
//! ```
//!
//! What the pool does beside handing out connections:
//! - a controller task takes a [`Snapshot`](crate::core::Snapshot) every
//!   `controller.interval_s` and asks the scaling policy (static, reactive,
//!   adaptive, or predictive from an exported model) for a target; the
//!   core pre-warms toward it and retires idle connections above it;
//! - per-category circuit breakers fed by [`Manager::classify`]: an open
//!   breaker fails acquires fast with [`PoolError::BreakerOpen`];
//! - statement affinity ([`Pool::get_for`]); leak detection; metrics
//!   ([`Pool::metrics`], Prometheus text with feature `prometheus`); an
//!   optional [`TraceRecorder`].
//!
//! Configuration is a [`PoolFile`] (`pool.toml`), loaded with
//! [`load_pool_file`].

mod checking;
mod driver;
mod error;
mod manager;
mod metrics;
mod object;
mod pool;
#[cfg(feature = "postgres")]
pub mod postgres;
mod recorder;
mod shards;
mod shared;
mod unwind;
mod wait;
// The one module with `unsafe` code (see its safety argument).
#[allow(unsafe_code)]
mod waiter;

use std::path::Path;

pub use crate::core::settings::{PoolFile, PoolSettings, RecycleMode};
pub use error::{BuildError, PoolError};
pub use manager::{ErrorClass, Manager};
pub use metrics::{CLOSE_REASONS, LATENCY_BUCKETS_S, LatencyBuckets, Metrics};
pub use object::Object;
pub use pool::{AcquireOptions, Builder, Pool, Status};
pub use recorder::{
    MAX_RECORDER_CAPACITY, MAX_RECORDER_FILES, REQUEST_HEADER, RecorderConfig, TraceRecorder,
};
pub use shared::SnapshotHook;

/// Reads and checks a `pool.toml`; a relative artifact path is resolved
/// against the file's directory.
///
/// # Errors
/// [`BuildError::File`] names the file and, for a syntax error or an
/// unknown field, the line and column; [`BuildError::Settings`] names the
/// field whose value is out of range.
pub fn load_pool_file(path: impl AsRef<Path>) -> Result<PoolFile, BuildError> {
    let path = path.as_ref();
    let file_err = |message: String| BuildError::File {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| file_err(e.to_string()))?;
    let mut file: PoolFile = toml::from_str(&text).map_err(|e| file_err(e.to_string()))?;
    file.validate()?;
    if let Some(dir) = path.parent() {
        file.resolve_paths(dir);
    }
    Ok(file)
}
