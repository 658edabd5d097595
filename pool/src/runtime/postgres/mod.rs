//! The PostgreSQL manager (feature `postgres`), on tokio-postgres.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use poolcast::runtime::Pool;
//! use poolcast::runtime::postgres::PgManager;
//!
//! let manager = PgManager::from_url("postgres://app@127.0.0.1/app")?;
//! let pool = Pool::builder(manager).build()?;
//! const SQL: &str = "SELECT name FROM users WHERE id = $1";
//! let mut conn = pool.get_for(SQL).await?;     // prefers a connection that prepared SQL
//! let rows = conn.query_cached(SQL, &[&42_i32]).await?;
//! # let _ = rows; Ok(()) }
//! ```
//!
//! Every connection keeps an LRU cache of prepared statements
//! ([`Object::prepare_cached`]); the pool learns which connection holds
//! which statement pattern and routes [`Pool::get_for`] to it when it is
//! idle. Errors are classified by SQLSTATE ([`classify_sqlstate`]) for the
//! circuit breakers. The connection string's password never appears in
//! `Debug` output, errors or logs.
//!
//! TLS follows libpq: `sslmode` (disable, allow, prefer — the default —,
//! require, verify-ca, verify-full), `sslrootcert` (a PEM file or
//! `system`), `sslcert` and `sslkey`, in the URL's query string or the
//! key=value string, or set with [`PgManager::with_tls`]; see [`tls`] for
//! what each mode checks. A failed check is a [`TlsError`] that says which
//! one (no TLS on the server, an unknown CA, a host name mismatch).
//!
//! ```no_run
//! # fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use poolcast::runtime::postgres::PgManager;
//!
//! // A managed database: encrypted, and the server proven to be the host.
//! let manager = PgManager::from_url(
//!     "postgres://app@db.example.com/app?sslmode=verify-full&sslrootcert=/etc/ssl/rds-ca.pem",
//! )?;
//! # let _ = manager; Ok(()) }
//! ```

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};

use tokio::task::JoinHandle;
use tokio_postgres::config::{Host, SslMode as PgSslMode};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls, Row, Statement};

mod conninfo;
pub mod tls;

use tls::Connector;
pub use tls::{PgTls, RootCert, SslMode, TlsError};

use super::manager::{ErrorClass, Manager};
use super::object::Object;
use super::pool::Pool;
use crate::core::affinity::pattern_hash;
use crate::core::settings::RecycleMode;
use crate::core::telemetry::ErrorCategory;

/// An error of the PostgreSQL manager.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// An error from the server or the driver.
    #[error(transparent)]
    Db(#[from] tokio_postgres::Error),
    /// The connection was found closed.
    #[error("the connection is closed")]
    Closed,
    /// The connection string could not be parsed. The string itself is not
    /// repeated: it may hold a password.
    #[error(
        "invalid PostgreSQL connection string ({0}); expected postgres://user@host:port/dbname or key=value pairs"
    )]
    Config(String),
    /// TLS could not be set up or a check of the server failed.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

impl PgError {
    /// The SQLSTATE code of a server error.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            PgError::Db(e) => e.code().map(|c| c.code()),
            _ => None,
        }
    }
}

pub use crate::core::sqlstate::classify_sqlstate;

/// Classifies any [`PgError`]: server errors by SQLSTATE, everything else
/// (closed socket, refused connection, I/O) as a connection fault.
pub fn classify(err: &PgError) -> ErrorClass {
    match (err, err.sqlstate()) {
        // A server that cannot prove who it is, or a TLS set-up that does
        // not work, is a security fault, not a network blip.
        (PgError::Tls(_), _) => ErrorClass::fault(ErrorCategory::Security),
        (_, Some(code)) => classify_sqlstate(code),
        (_, None) => ErrorClass::fault(ErrorCategory::Connection),
    }
}

/// Opens tokio-postgres connections, with TLS as libpq would (see the
/// [module documentation](self)).
#[derive(Clone)]
pub struct PgManager {
    config: Config,
    statement_cache: usize,
    tls: PgTls,
    /// Built from `tls` when it is set; an error surfaces at every create
    /// (for a manager from [`PgManager::new`], which cannot fail).
    connector: Result<Option<Connector>, TlsError>,
}

impl std::fmt::Debug for PgManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // tokio-postgres' own Debug already redacts the password; we print
        // only what an operator needs, so nothing secret can slip in.
        f.debug_struct("PgManager")
            .field("hosts", &self.config.get_hosts().len())
            .field("ports", &self.config.get_ports())
            .field("user", &self.config.get_user())
            .field("dbname", &self.config.get_dbname())
            .field("sslmode", &self.tls.mode.as_str())
            .field("statement_cache", &self.statement_cache)
            .finish_non_exhaustive()
    }
}

impl PgManager {
    /// A manager for `config` with libpq's default TLS (`sslmode=prefer`),
    /// caching up to 256 prepared statements per connection. Set TLS with
    /// [`with_tls`](Self::with_tls).
    pub fn new(config: Config) -> Self {
        let tls = PgTls::default();
        PgManager {
            config,
            statement_cache: 256,
            connector: tls.connector(),
            tls,
        }
    }

    /// Parses a URL (`postgres://user:pass@host:port/db?sslmode=...`) or a
    /// key=value string, with libpq's TLS options (`sslmode`,
    /// `sslrootcert`, `sslcert`, `sslkey`).
    ///
    /// # Errors
    /// [`PgError::Config`], which does not repeat the string;
    /// [`PgError::Tls`] for TLS options that cannot work (a root
    /// certificate file that cannot be read, `verify-full` without one).
    pub fn from_url(url: &str) -> Result<Self, PgError> {
        let (rest, options) = conninfo::split(url)?;
        let config: Config = rest.parse().map_err(|e: tokio_postgres::Error| {
            // The parser's message names the problem, never the value.
            PgError::Config(e.to_string())
        })?;
        Self::new(config).with_tls(PgTls::from_options(&options)?)
    }

    /// Uses `tls`; the certificate files are read now.
    ///
    /// # Errors
    /// [`PgError::Tls`] names the file or the option that cannot work.
    pub fn with_tls(mut self, tls: PgTls) -> Result<Self, PgError> {
        self.connector = Ok(tls.connector()?);
        self.tls = tls;
        Ok(self)
    }

    /// The TLS settings.
    pub fn tls(&self) -> &PgTls {
        &self.tls
    }

    /// Sets the per-connection prepared-statement cache size (0 disables
    /// caching: every `prepare_cached` prepares anew).
    pub fn statement_cache(mut self, capacity: usize) -> Self {
        self.statement_cache = capacity;
        self
    }

    /// The connection settings.
    pub fn config(&self) -> &Config {
        &self.config
    }
}

/// An LRU map from SQL text to its prepared statement.
#[derive(Debug, Default)]
struct StatementCache {
    map: HashMap<String, (Statement, u64, u64)>,
    capacity: usize,
    tick: u64,
}

impl StatementCache {
    fn get(&mut self, sql: &str) -> Option<Statement> {
        self.tick += 1;
        let tick = self.tick;
        self.map.get_mut(sql).map(|e| {
            e.2 = tick;
            e.0.clone()
        })
    }

    /// Inserts; returns the pattern no longer held by any entry after an
    /// eviction, if any.
    fn insert(&mut self, sql: &str, pattern: u64, stmt: Statement) -> Option<u64> {
        if self.capacity == 0 {
            return None;
        }
        self.tick += 1;
        let mut gone = None;
        if self.map.len() >= self.capacity && !self.map.contains_key(sql) {
            // Eviction is rare next to lookups; a linear scan over a few
            // hundred entries beats keeping an ordered index current.
            let oldest = self
                .map
                .iter()
                .min_by_key(|(_, e)| e.2)
                .map(|(k, e)| (k.clone(), e.1));
            if let Some((k, p)) = oldest {
                self.map.remove(&k);
                if !self.map.values().any(|e| e.1 == p) && p != pattern {
                    gone = Some(p);
                }
            }
        }
        self.map.insert(sql.to_string(), (stmt, pattern, self.tick));
        gone
    }
}

/// A PostgreSQL connection: derefs to [`tokio_postgres::Client`].
pub struct PgConnection {
    client: Client,
    cache: StatementCache,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for PgConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConnection")
            .field("closed", &self.client.is_closed())
            .field("cached_statements", &self.cache.map.len())
            .finish()
    }
}

impl PgConnection {
    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Statements in this connection's cache.
    pub fn cached_statements(&self) -> usize {
        self.cache.map.len()
    }
}

impl Drop for PgConnection {
    fn drop(&mut self) {
        // Dropping the client ends the session; the task would notice, but
        // aborting frees it at once.
        self.task.abort();
    }
}

impl Deref for PgConnection {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl DerefMut for PgConnection {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

impl Manager for PgManager {
    type Connection = PgConnection;
    type Error = PgError;

    async fn create(&self) -> Result<PgConnection, PgError> {
        let (client, task) = match &self.connector {
            Err(e) => return Err(PgError::Tls(e.clone())),
            Ok(None) => self.connect_plain(SslMode::Disable).await?,
            Ok(Some(c)) if c.mode == SslMode::Allow => {
                // libpq's `allow`: plain first, TLS if the server wants it.
                match self.connect_plain(SslMode::Allow).await {
                    Err(PgError::Tls(TlsError::ServerRequiresTls { .. })) => {
                        self.connect_tls(c, PgSslMode::Require).await?
                    }
                    other => other?,
                }
            }
            Ok(Some(c)) if c.mode == SslMode::Prefer => {
                self.connect_tls(c, PgSslMode::Prefer).await?
            }
            Ok(Some(c)) => self.connect_tls(c, PgSslMode::Require).await?,
        };
        Ok(PgConnection {
            client,
            cache: StatementCache {
                capacity: self.statement_cache,
                ..StatementCache::default()
            },
            task,
        })
    }

    async fn recycle(&self, conn: &mut PgConnection, mode: RecycleMode) -> Result<(), PgError> {
        if conn.client.is_closed() {
            return Err(PgError::Closed);
        }
        if mode == RecycleMode::Verified {
            conn.client.simple_query("SELECT 1").await?;
        }
        Ok(())
    }

    fn classify(&self, err: &PgError) -> ErrorClass {
        classify(err)
    }

    fn is_broken(&self, conn: &mut PgConnection) -> bool {
        conn.client.is_closed()
    }
}

impl PgManager {
    /// The host connected to, for messages.
    fn host(&self) -> String {
        match self.config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        }
    }

    /// The TLS failure inside a failed connect, if it is one.
    fn connect_error(&self, e: tokio_postgres::Error, mode: SslMode) -> PgError {
        match TlsError::from_connect(&e, mode, &self.host()) {
            Some(t) => PgError::Tls(t),
            None => PgError::Db(e),
        }
    }

    async fn connect_plain(&self, mode: SslMode) -> Result<(Client, JoinHandle<()>), PgError> {
        let mut config = self.config.clone();
        config.ssl_mode(PgSslMode::Disable);
        // A refusal of a plain connection is read as "the server requires
        // TLS" under `disable` (and `allow`, which then retries with it).
        let as_mode = if mode == SslMode::Allow {
            SslMode::Disable
        } else {
            mode
        };
        let (client, connection) = config
            .connect(NoTls)
            .await
            .map_err(|e| self.connect_error(e, as_mode))?;
        Ok((client, spawn_connection(connection)))
    }

    async fn connect_tls(
        &self,
        c: &Connector,
        ssl: PgSslMode,
    ) -> Result<(Client, JoinHandle<()>), PgError> {
        let mut config = self.config.clone();
        config.ssl_mode(ssl);
        let (client, connection) = config
            .connect(c.make.clone())
            .await
            .map_err(|e| self.connect_error(e, c.mode))?;
        Ok((client, spawn_connection(connection)))
    }
}

/// Drives a connection's socket on its own task until the client goes.
fn spawn_connection<F>(connection: F) -> JoinHandle<()>
where
    F: std::future::Future<Output = Result<(), tokio_postgres::Error>> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "postgres connection ended with an error");
        }
    })
}

impl Object<PgManager> {
    /// The prepared statement for `sql` from this connection's cache,
    /// preparing it on a miss. Hits and misses feed the pool's
    /// statement-cache hit rate; the connection is noted as holding the
    /// statement's pattern for affinity routing.
    ///
    /// # Errors
    /// The server's error (also reported to the pool, see
    /// [`Object::report_error`]).
    pub async fn prepare_cached(&mut self, sql: &str) -> Result<Statement, PgError> {
        if let Some(s) = self.cache.get(sql) {
            self.note_cache_lookup(true);
            return Ok(s);
        }
        self.note_cache_lookup(false);
        match self.client.prepare(sql).await {
            Ok(stmt) => {
                let pattern = pattern_hash(sql);
                if let Some(gone) = self.cache.insert(sql, pattern, stmt.clone()) {
                    self.note_evicted(gone);
                }
                self.note_prepared(pattern);
                Ok(stmt)
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Runs `sql` through the statement cache and returns its rows.
    ///
    /// # Errors
    /// The server's error (also reported to the pool).
    pub async fn query_cached(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, PgError> {
        let stmt = self.prepare_cached(sql).await?;
        match self.client.query(&stmt, params).await {
            Ok(rows) => Ok(rows),
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Runs `sql` through the statement cache and returns the rows
    /// affected.
    ///
    /// # Errors
    /// The server's error (also reported to the pool).
    pub async fn execute_cached(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, PgError> {
        let stmt = self.prepare_cached(sql).await?;
        match self.client.execute(&stmt, params).await {
            Ok(n) => Ok(n),
            Err(e) => Err(self.fail(e)),
        }
    }

    fn fail(&mut self, e: tokio_postgres::Error) -> PgError {
        let closed = e.is_closed();
        let e = PgError::Db(e);
        self.report_error(&e);
        if closed {
            self.mark_broken();
        }
        e
    }
}

impl Pool<PgManager> {
    /// A pool for a URL or key=value connection string with default
    /// settings.
    ///
    /// # Errors
    /// The string is invalid (the error does not repeat it), or no tokio
    /// runtime is running.
    pub fn postgres(url: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Pool::builder(PgManager::from_url(url)?).build()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_map_to_categories() {
        use ErrorCategory::*;
        let cases = [
            ("08006", Connection, false),
            ("08001", Connection, false),
            ("53300", Connection, false),
            ("57P01", Connection, false),
            ("57014", Timeout, false),
            ("55P03", Timeout, false),
            ("40001", Transaction, false),
            ("40P01", Transaction, false),
            ("28P01", Security, false),
            ("28000", Security, false),
            ("42601", Query, true),
            ("23505", Query, true),
            ("22012", Query, true),
            ("25P02", Transaction, true),
            ("XX000", Query, false),
            ("", Query, false),
        ];
        for (code, cat, client) in cases {
            let c = classify_sqlstate(code);
            assert_eq!((c.category, c.client), (cat, client), "{code}");
        }
    }

    #[test]
    fn bad_url_error_does_not_echo_the_string() {
        let secret = "hunter2-secret";
        let url = format!("postgres://u:{secret}@host:notaport/db");
        let err = PgManager::from_url(&url).unwrap_err().to_string();
        assert!(!err.contains(secret), "{err}");
        assert!(
            err.contains("invalid PostgreSQL connection string"),
            "{err}"
        );
    }

    #[test]
    fn debug_never_shows_the_password() {
        let m = PgManager::from_url("postgres://u:hunter2-secret@localhost:5432/db").unwrap();
        let d = format!("{m:?}");
        assert!(!d.contains("hunter2"), "{d}");
        assert!(d.contains("db"), "{d}");
    }
}
