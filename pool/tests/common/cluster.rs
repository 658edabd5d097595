//! Throwaway PostgreSQL clusters for the tests: `initdb` into a temporary
//! directory, a free port on 127.0.0.1, trust authentication, torn down
//! when the cluster is dropped or, at the latest, when the test process
//! exits.
//!
//! Why not a crate: `pgtemp` (the maintained one that runs installed
//! binaries) cannot restart a cluster, which the restart test needs, runs
//! `sudo` when the caller is root (this CI image has none), and panics with
//! "is it on your path?" where we want the package to install;
//! `postgresql_embedded` downloads its binaries, and CI has no internet.
//! What is needed is small: `initdb`, `pg_ctl start/stop`, a watchdog.
//!
//! Invariant: a test stops, restarts or reconfigures only a [`Cluster`] it
//! started. A server named by `POOLCAST_TEST_PG` is only ever connected to.

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// What to tell a user whose machine has no PostgreSQL server binaries.
const INSTALL_HINT: &str = "PostgreSQL's server binaries (initdb, pg_ctl, postgres) were not \
     found. The PostgreSQL tests start their own throwaway cluster from them. Install the server \
     package: Debian/Ubuntu `apt install postgresql`, Fedora `dnf install postgresql-server`, \
     Arch `pacman -S postgresql`, macOS `brew install postgresql`. Or set POOLCAST_PG_BIN to the \
     directory that holds them, or point POOLCAST_TEST_PG at a running server \
     (postgres://user@host:port/db).";

/// A PostgreSQL cluster this test process started and owns.
pub struct Cluster {
    /// The temporary directory: `data/` and the Unix socket.
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    /// `Some(uid)` when commands run as the `postgres` user (we are root).
    run_as: Option<u32>,
}

impl Cluster {
    /// Initializes and starts a cluster with the default settings.
    pub fn start() -> Cluster {
        Self::start_with(&[], None)
    }

    /// Initializes and starts a cluster. `settings` are
    /// `postgresql.conf` lines (`("ssl", "on")`); `hba` replaces
    /// `pg_hba.conf` when given (the default trusts every local and
    /// loopback connection). Files the settings name (certificates) must
    /// be readable by the server: put them in [`Cluster::dir`] with
    /// [`Cluster::write_file`] first, through [`Cluster::init`].
    pub fn start_with(settings: &[(&str, &str)], hba: Option<&str>) -> Cluster {
        let c = Self::init();
        c.configure(settings, hba);
        c.pg_ctl_start();
        c
    }

    /// Initializes a cluster without starting it (to add files before the
    /// first start); then [`Cluster::configure`] and
    /// [`Cluster::pg_ctl_start`].
    pub fn init() -> Cluster {
        let bin = server_bin();
        let run_as = postgres_uid_if_root();
        let dir = tempfile::Builder::new()
            .prefix("poolcast-pg-")
            .tempdir()
            .expect("a temporary directory for the test cluster")
            .keep();
        if let Some(uid) = run_as {
            std::os::unix::fs::chown(&dir, Some(uid), None)
                .expect("the test cluster's directory can be given to the postgres user");
        }
        let c = Cluster {
            dir,
            port: free_port(),
            bin,
            run_as,
        };
        c.watchdog();
        let data = c.data_dir();
        let out = c
            .command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-N", "-E", "UTF8"])
            .args(["--locale=C"])
            .output()
            .expect("initdb runs");
        assert!(
            out.status.success(),
            "initdb failed in {}: {}",
            data.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        c
    }

    /// Appends `settings` to `postgresql.conf` (on top of the test
    /// defaults: this port, 127.0.0.1 only, the socket in the temporary
    /// directory, no durability) and replaces `pg_hba.conf` with `hba`
    /// when given. Takes effect at the next start.
    pub fn configure(&self, settings: &[(&str, &str)], hba: Option<&str>) {
        let mut conf = format!(
            "\n# poolcast test cluster\nport = {}\nlisten_addresses = '127.0.0.1'\n\
             unix_socket_directories = '{}'\nfsync = off\nsynchronous_commit = off\n\
             full_page_writes = off\nmax_connections = 200\n",
            self.port,
            self.dir.display()
        );
        for (k, v) in settings {
            conf.push_str(&format!("{k} = '{v}'\n"));
        }
        let path = self.data_dir().join("postgresql.conf");
        let mut text = std::fs::read_to_string(&path).expect("postgresql.conf reads");
        text.push_str(&conf);
        std::fs::write(&path, text).expect("postgresql.conf writes");
        if let Some(hba) = hba {
            self.write_file("data/pg_hba.conf", hba);
        }
    }

    /// Writes `text` to `rel` under the cluster's directory, owned by the
    /// server's user and readable by it only (as a key must be).
    pub fn write_file(&self, rel: &str, text: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.join(rel);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .expect("permissions of a test cluster file");
        if let Some(uid) = self.run_as {
            std::os::unix::fs::chown(&path, Some(uid), None).expect("chown of a test cluster file");
        }
        path
    }

    /// The cluster's temporary directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The port it listens on, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL of database `postgres` as user `postgres` over TCP.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server and waits until it accepts connections.
    pub fn pg_ctl_start(&self) {
        let log = self.dir.join("server.log");
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "start"])
            .stdout(Stdio::null())
            .output()
            .expect("pg_ctl runs");
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Stops the server (fast: sessions are cut, as a crash-restart or a
    /// failover would).
    pub fn pg_ctl_stop(&self) {
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-w", "-t", "60", "-m", "fast", "stop"])
            .stdout(Stdio::null())
            .output()
            .expect("pg_ctl runs");
        assert!(
            out.status.success(),
            "pg_ctl stop failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// A server binary, run as the `postgres` user when we are root
    /// (PostgreSQL refuses to run as root).
    fn command(&self, name: &str) -> Command {
        let exe = self.bin.join(name);
        match self.run_as {
            Some(_) => {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(exe);
                c
            }
            None => Command::new(exe),
        }
    }

    /// Stops the server and removes the directory once this process has
    /// exited, however it exits: a cluster held in a `static` is never
    /// dropped, and a failed test may not unwind.
    fn watchdog(&self) {
        let script = format!(
            "while [ -d /proc/{pid} ]; do sleep 0.2; done; \
             {pg_ctl} -D '{data}' -m immediate stop >/dev/null 2>&1; rm -rf '{dir}'",
            pid = std::process::id(),
            pg_ctl = self.bin.join("pg_ctl").display(),
            data = self.data_dir().display(),
            dir = self.dir.display(),
        );
        let mut cmd = match self.run_as {
            Some(_) => {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--", "sh", "-c", &script]);
                c
            }
            None => {
                let mut c = Command::new("sh");
                c.args(["-c", &script]);
                c
            }
        };
        // Never waited for: it outlives this process by design (it waits
        // for us to exit), so it cannot become our zombie.
        #[allow(clippy::zombie_processes)]
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the test cluster's watchdog starts");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The test database: `POOLCAST_TEST_PG` when it is set (only ever
/// connected to), else this process's own throwaway cluster, started on
/// first use and shared by the tests of this binary.
pub fn shared_url() -> String {
    if let Ok(u) = std::env::var("POOLCAST_TEST_PG")
        && !u.trim().is_empty()
    {
        return u;
    }
    static SHARED: OnceLock<Cluster> = OnceLock::new();
    SHARED.get_or_init(Cluster::start).url()
}

/// The directory of `initdb`, `pg_ctl` and `postgres`: `POOLCAST_PG_BIN`,
/// else the newest `/usr/lib/postgresql/<version>/bin` (Debian, Ubuntu),
/// else the `PATH`. Panics with [`INSTALL_HINT`] when there is none.
fn server_bin() -> PathBuf {
    let has_all = |d: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|b| d.join(b).is_file())
    };
    if let Ok(d) = std::env::var("POOLCAST_PG_BIN") {
        let d = PathBuf::from(d);
        assert!(
            has_all(&d),
            "POOLCAST_PG_BIN={} holds no initdb, pg_ctl and postgres.\n{INSTALL_HINT}",
            d.display()
        );
        return d;
    }
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            has_all(&bin).then_some((v, bin))
        })
        .collect();
    debian.sort();
    if let Some((_, bin)) = debian.pop() {
        return bin;
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    for d in on_path.into_iter().chain(["/usr/local/pgsql/bin".into()]) {
        if has_all(&d) {
            return d;
        }
    }
    panic!("{INSTALL_HINT}");
}

/// The `postgres` user's id when this process runs as root, else `None`.
fn postgres_uid_if_root() -> Option<u32> {
    // The owner of /proc/self is this process's effective user: no libc
    // call (and no unsafe) needed.
    let me = std::fs::metadata("/proc/self").map(|m| m.uid()).ok()?;
    if me != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let uid = passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next() == Some("postgres"))
            .then(|| f.nth(1)?.parse().ok())
            .flatten()
    });
    Some(uid.unwrap_or_else(|| {
        panic!(
            "these tests run as root, and PostgreSQL refuses to: they start the test cluster as \
             the `postgres` user, which this machine does not have. Install PostgreSQL's server \
             package (it creates the user) or run the tests as another user."
        )
    }))
}

/// A port nothing listens on now, on 127.0.0.1.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("a free port on 127.0.0.1");
    l.local_addr().expect("its address").port()
}

/// Waits until `url` accepts a connection (a restarted server).
pub async fn wait_until_up(url: &str, limit: Duration) {
    let start = Instant::now();
    loop {
        if let Ok(Ok((client, conn))) = tokio::time::timeout(
            Duration::from_millis(500),
            tokio_postgres::connect(url, tokio_postgres::NoTls),
        )
        .await
        {
            tokio::spawn(conn);
            if client.simple_query("SELECT 1").await.is_ok() {
                return;
            }
        }
        assert!(
            start.elapsed() < limit,
            "PostgreSQL at {url} did not answer within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
