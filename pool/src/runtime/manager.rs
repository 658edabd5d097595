//! The [`Manager`] trait: how the pool opens, checks and classifies
//! connections of one kind of database.

use std::future::Future;

pub use crate::core::settings::RecycleMode;
use crate::core::telemetry::ErrorCategory;

pub use crate::core::sqlstate::ErrorClass;

/// Creates, checks and classifies connections for a [`Pool`](super::Pool).
///
/// Two methods are required, as in deadpool: [`create`](Manager::create)
/// and [`recycle`](Manager::recycle). [`classify`](Manager::classify)
/// feeds the per-category circuit breakers; the default calls every error
/// a connection fault.
///
/// ```
/// use poolcast::runtime::{Manager, RecycleMode};
///
/// /// A "connection" that is just a number.
/// struct Numbers;
///
/// impl Manager for Numbers {
///     type Connection = u64;
///     type Error = std::io::Error;
///     async fn create(&self) -> Result<u64, std::io::Error> {
///         Ok(42)
///     }
///     async fn recycle(&self, _c: &mut u64, _mode: RecycleMode) -> Result<(), std::io::Error> {
///         Ok(())
///     }
/// }
/// ```
pub trait Manager: Send + Sync + 'static {
    /// The connection type handed out by the pool.
    type Connection: Send + 'static;
    /// The error of [`create`](Manager::create) and
    /// [`recycle`](Manager::recycle).
    type Error: std::error::Error + Send + Sync + 'static;

    /// Opens a new connection. The pool bounds it with
    /// `pool.create_timeout_ms`.
    fn create(&self) -> impl Future<Output = Result<Self::Connection, Self::Error>> + Send;

    /// Checks a connection before it is handed out (when the pool's
    /// `health_check` asks for it). An error closes the connection and the
    /// request is served by another one.
    fn recycle(
        &self,
        conn: &mut Self::Connection,
        mode: RecycleMode,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Says what an error means for the breakers.
    fn classify(&self, _err: &Self::Error) -> ErrorClass {
        ErrorClass::fault(ErrorCategory::Connection)
    }

    /// A cheap, local check run when a connection comes back: a broken
    /// connection is closed instead of being parked (bb8's `has_broken`).
    fn is_broken(&self, _conn: &mut Self::Connection) -> bool {
        false
    }
}
