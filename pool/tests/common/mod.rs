//! Shared helpers of the PostgreSQL tests.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The test database's URL from `POOLCAST_TEST_PG`. Panics with the fix when
/// it is unset: a PostgreSQL test never passes silently without a database.
pub fn pg_url() -> String {
    match std::env::var("POOLCAST_TEST_PG") {
        Ok(u) if !u.trim().is_empty() => u,
        _ => panic!(
            "POOLCAST_TEST_PG is not set. These tests need a real PostgreSQL:\n  \
             export POOLCAST_TEST_PG=postgres://postgres@127.0.0.1:5432/test\n\
             (`bash .ci/run` starts PostgreSQL and sets it; if PostgreSQL is down: \
             pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start)"
        ),
    }
}

/// `url` with `application_name` set, so a test can find its own backends in
/// `pg_stat_activity`. Takes both forms libpq does: a URL
/// (`postgres://...`) or key=value pairs (`host=... user=...`).
pub fn with_app_name(url: &str, app: &str) -> String {
    if !url.contains("://") {
        return format!("{url} application_name={app}");
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}application_name={app}")
}

/// Polls `f` every 10 ms until it is true or `limit` passes.
pub async fn eventually(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A tracing writer that keeps every log line, so a test can read what the
/// pool logged.
#[derive(Clone, Default)]
pub struct LogBuffer(pub Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
