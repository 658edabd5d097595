//! Errors of the runtime pool.

use std::time::Duration;

use crate::core::config_error::ConfigError;
use crate::core::telemetry::ErrorCategory;

/// Why [`Pool::get`](super::Pool::get) returned no connection.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PoolError {
    /// No connection became available within `acquire_timeout_ms`.
    #[error(
        "timed out after {:.1} ms waiting for a connection (pool size {size}, max_size {max_size}, {waiting} waiting){}",
        waited.as_secs_f64() * 1e3,
        last_error.as_deref().map(|e| format!("; last connection error: {e}")).unwrap_or_default()
    )]
    Timeout {
        /// How long the request waited.
        waited: Duration,
        /// Open connections when it gave up.
        size: u32,
        /// The pool's `max_size`.
        max_size: u32,
        /// Requests still queued.
        waiting: u32,
        /// The last error seen while opening a connection, if any (often
        /// the real cause: the database is down or refuses logins).
        last_error: Option<String>,
    },
    /// A circuit breaker is open: the request failed fast without touching
    /// the database.
    #[error("circuit breaker open for {}: failing fast; retry after {:.0} ms", category.map_or("all requests (global breaker)", ErrorCategory::name), retry_in.as_secs_f64() * 1e3)]
    BreakerOpen {
        /// The category whose breaker is open; `None` for the global one.
        category: Option<ErrorCategory>,
        /// When the breaker will let a probe through.
        retry_in: Duration,
    },
    /// The pool is closing or closed.
    #[error("the pool is closed")]
    Closed,
}

impl PoolError {
    /// The failure category this error counts as in the telemetry.
    pub fn category(&self) -> Option<ErrorCategory> {
        match self {
            PoolError::Timeout { .. } => Some(ErrorCategory::Timeout),
            PoolError::BreakerOpen { category, .. } => *category,
            PoolError::Closed => None,
        }
    }
}

/// Why a pool could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A setting is out of range; the path names it.
    #[error("invalid pool settings: {0}")]
    Settings(#[from] ConfigError),
    /// `build` was called outside a tokio runtime.
    #[error(
        "the pool must be built inside a tokio runtime (call build() from async code or after Runtime::enter())"
    )]
    NoRuntime,
    /// `pool.toml` could not be read or parsed.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What went wrong (with line and column for a syntax error).
        message: String,
    },
}
