//! A TCP proxy that holds every chunk of bytes for a fixed time in each
//! direction: a database some milliseconds away, on one machine. The
//! closed-loop replay check in `docs/findings/2026-12-03-replay-fidelity.md`
//! ("A database 1 ms away") runs
//! the example service through it, so that a query's time is mostly the
//! network's, as with a database on its own host.
//!
//! ```sh
//! cargo run --release -p poolcast --example delay_proxy -- 127.0.0.1:15432 127.0.0.1:5432 1.0
//! POOLCAST_TEST_PG=postgres://postgres@127.0.0.1:15432/test \
//!     cargo run --release -p poolcast --example pg_service --features postgres,prometheus
//! ```
//!
//! Arguments: the address to listen on, the server's address, and the
//! one-way delay in ms (so a round trip takes twice it). Each direction of
//! each connection is a reader thread and a writer thread: the writer
//! sleeps until a chunk is due (`std::thread::sleep`, which keeps
//! sub-millisecond times, where tokio's timer ticks every millisecond) and
//! writes chunks in the order they were read. Hand-written because it is
//! thirty lines of `std`; `tc netem` does this in the kernel, but this
//! machine's kernel has no queueing disciplines.
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

fn main() {
    if let Err(e) = run() {
        eprintln!("delay_proxy: {e}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [listen, upstream, ms] = &args[..] else {
        return Err("usage: delay_proxy <listen addr> <server addr> <one-way delay ms>".into());
    };
    let delay = ms
        .parse::<f64>()
        .ok()
        .filter(|d| d.is_finite() && (0.0..=10_000.0).contains(d))
        .map(|d| Duration::from_secs_f64(d / 1000.0))
        .ok_or_else(|| format!("one-way delay: expected milliseconds in 0..=10000, got {ms:?}"))?;
    let listener = TcpListener::bind(listen).map_err(|e| format!("listen on {listen}: {e}"))?;
    eprintln!("delay_proxy: {listen} -> {upstream}, {delay:?} each way");
    for client in listener.incoming() {
        let Ok(client) = client else { continue };
        let upstream = upstream.clone();
        thread::spawn(move || {
            if let Err(e) = connect(client, &upstream, delay) {
                eprintln!("delay_proxy: {upstream}: {e}");
            }
        });
    }
    Ok(())
}

/// Joins `client` to a new connection to `upstream`, both ways delayed.
fn connect(client: TcpStream, upstream: &str, delay: Duration) -> std::io::Result<()> {
    let server = TcpStream::connect(upstream)?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    pipe(client.try_clone()?, server.try_clone()?, delay);
    pipe(server, client, delay);
    Ok(())
}

/// Copies `from` to `to`, each chunk `delay` after it was read; at the end
/// of `from`, what is queued is written and `to`'s write half is closed.
fn pipe(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0
                || tx
                    .send((Instant::now() + delay, buf[..n].to_vec()))
                    .is_err()
            {
                break;
            }
        }
    });
    thread::spawn(move || {
        for (due, bytes) in rx {
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
            if to.write_all(&bytes).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}
