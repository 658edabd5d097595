//! What a database error means for the pool: [`ErrorClass`], and
//! [`classify_sqlstate`], PostgreSQL's SQLSTATE codes mapped to the failure
//! categories. In the core so that the runtime's PostgreSQL manager and the
//! server-log reader of `poolcast-datasets` classify errors alike.

use crate::core::telemetry::ErrorCategory;

/// What an error means for the pool and its circuit breakers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorClass {
    /// The failure category (connection, timeout, query, transaction,
    /// security).
    pub category: ErrorCategory,
    /// A client error (syntax, constraint violation, bad input): reported
    /// in the telemetry but not counted by the breakers unless
    /// `controller.breaker_counts_client_errors` is set. The database is
    /// healthy; the request was wrong.
    pub client: bool,
}

impl ErrorClass {
    /// A fault of the database or the network: counts for the breakers.
    pub fn fault(category: ErrorCategory) -> Self {
        ErrorClass {
            category,
            client: false,
        }
    }

    /// A client error: reported, not counted by the breakers by default.
    pub fn client(category: ErrorCategory) -> Self {
        ErrorClass {
            category,
            client: true,
        }
    }
}

/// What a SQLSTATE means for the pool's breakers:
///
/// | class | category | trips breakers |
/// |---|---|---|
/// | `08` connection exception, `53` insufficient resources, `57P01..03` shutdown | connection | yes |
/// | `57014` statement timeout, `55P03` lock timeout, `25P03` idle-in-transaction timeout | timeout | yes |
/// | `40` transaction rollback (`40001` serialization, `40P01` deadlock) | transaction | yes |
/// | `28` invalid authorization, `42501` insufficient privilege | security | yes |
/// | `22` data, `23` constraint, `42` syntax/access, `2B`, `2F`, `44` | query | no (client error) |
/// | `25` invalid transaction state | transaction | no (client error) |
/// | anything else (`XX` internal, `58` system, ...) | query | yes |
pub fn classify_sqlstate(code: &str) -> ErrorClass {
    use ErrorCategory::{Connection, Query, Security, Timeout, Transaction};
    let class = code.get(..2).unwrap_or("");
    match (class, code) {
        (_, "57014" | "55P03" | "25P03") => ErrorClass::fault(Timeout),
        (_, "57P01" | "57P02" | "57P03") => ErrorClass::fault(Connection),
        (_, "42501") => ErrorClass::fault(Security),
        ("08" | "53", _) => ErrorClass::fault(Connection),
        ("40", _) => ErrorClass::fault(Transaction),
        ("28", _) => ErrorClass::fault(Security),
        ("22" | "23" | "42" | "2B" | "2F" | "44", _) => ErrorClass::client(Query),
        ("25", _) => ErrorClass::client(Transaction),
        _ => ErrorClass::fault(Query),
    }
}
