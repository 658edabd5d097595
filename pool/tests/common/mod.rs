//! Shared helpers of the PostgreSQL tests.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub mod cluster;

/// The test database's URL: `POOLCAST_TEST_PG` when it is set (a server
/// the tests only connect to), else a throwaway cluster this test binary
/// starts on first use (see [`cluster`]). A test that stops, terminates or
/// reconfigures the server uses a [`cluster::Cluster`] of its own instead.
pub fn pg_url() -> String {
    cluster::shared_url()
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

/// Runs `act` until `check` is true, or fails after `limit`.
pub async fn eventually_doing<F: std::future::Future<Output = ()>>(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> bool,
    mut act: impl FnMut() -> F,
) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for: {what}"
        );
        act().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
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
