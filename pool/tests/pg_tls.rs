//! TLS with libpq's semantics against a throwaway cluster with `ssl = on`,
//! a CA and a server certificate made here, and a pg_hba.conf that takes
//! only TLS connections over TCP (`hostssl`). The cluster is always this
//! test's own: it is configured for TLS.
//!
//! What must hold:
//! - `verify-full` with the CA and the certificate's host name connects,
//!   and `pg_stat_ssl` shows every pool connection encrypted;
//! - `verify-full` fails with a typed error naming the check: the wrong
//!   host name, a CA that did not sign the certificate; without any CA it
//!   is refused before connecting;
//! - `verify-ca` accepts the certificate whatever the host name;
//!   `require` and `prefer` encrypt without a CA;
//! - the `hostssl`-only server refuses `disable` with a clear error, and
//!   `allow` then retries with TLS;
//! - `require` against a server without TLS fails, saying so;
//! - a client certificate (`sslcert`, `sslkey`) logs in a `cert` user;
//! - no error shows the password.

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use common::cluster::Cluster;
use poolcast::core::settings::{PoolFile, PoolSettings};
use poolcast::runtime::postgres::{PgError, PgManager, TlsError};
use poolcast::runtime::{Manager, Pool};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

const SECRET: &str = "hunter2-tls-secret";

/// The TLS cluster and the files a client needs.
struct Tls {
    cluster: Cluster,
    ca: PathBuf,
    other_ca: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
}

/// A certificate for `names` (or for the user `cn`, a client's) signed by
/// `issuer`, with its key, both PEM.
fn leaf(
    issuer: &CertifiedIssuer<'static, KeyPair>,
    names: &[&str],
    cn: &str,
    usage: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut p =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.extended_key_usages = vec![usage];
    let cert = p.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// One TLS cluster for the tests of this binary.
fn tls() -> &'static Tls {
    static TLS: OnceLock<Tls> = OnceLock::new();
    TLS.get_or_init(|| {
        let root = ca("poolcast test CA");
        let other = ca("some other CA");
        let (server_cert, server_key) = leaf(
            &root,
            &["localhost"],
            "localhost",
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client_cert, client_key) =
            leaf(&root, &[], "certuser", ExtendedKeyUsagePurpose::ClientAuth);
        let cluster = Cluster::init();
        let crt = cluster.write_file("server.crt", &server_cert);
        let key = cluster.write_file("server.key", &server_key);
        let ca_file = cluster.write_file("ca.crt", &root.pem());
        let hba = "local all all trust\n\
                   hostssl all certuser 127.0.0.1/32 cert\n\
                   hostssl all all 127.0.0.1/32 trust\n";
        cluster.configure(
            &[
                ("ssl", "on"),
                ("ssl_cert_file", crt.to_str().unwrap()),
                ("ssl_key_file", key.to_str().unwrap()),
                ("ssl_ca_file", ca_file.to_str().unwrap()),
            ],
            Some(hba),
        );
        cluster.pg_ctl_start();
        let client_cert = cluster.write_file("client.crt", &client_cert);
        let client_key = cluster.write_file("client.key", &client_key);
        let other_ca = cluster.write_file("other-ca.crt", &other.pem());
        Tls {
            ca: ca_file,
            other_ca,
            client_cert,
            client_key,
            cluster,
        }
    })
}

/// A key=value string for the TLS cluster: `host` is what the
/// certificate is checked against; the socket goes to 127.0.0.1 whatever
/// it is.
fn conninfo(t: &Tls, host: &str, user: &str, tls: &str) -> String {
    format!(
        "host={host} hostaddr=127.0.0.1 port={} user={user} password={SECRET} dbname=postgres \
         application_name=poolcast_t_tls {tls}",
        t.cluster.port()
    )
}

async fn create(s: &str) -> Result<(), PgError> {
    let m = PgManager::from_url(s)?;
    let c = m.create().await?;
    let ssl: bool = c
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await?
        .get(0);
    assert!(ssl, "connected without encryption: {s}");
    Ok(())
}

fn no_secret(e: &PgError) {
    for text in [e.to_string(), format!("{e:?}")] {
        assert!(!text.contains(SECRET), "the password leaked: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_connects_and_every_pool_connection_is_encrypted() {
    let t = tls();
    let ca = t.ca.display();
    let s = conninfo(
        t,
        "localhost",
        "postgres",
        &format!("sslmode=verify-full sslrootcert={ca}"),
    );
    let pool = Pool::builder(PgManager::from_url(&s).unwrap())
        .config(PoolFile {
            pool: PoolSettings {
                min_size: 3,
                max_size: 3,
                ..PoolSettings::default()
            },
            policy: Some(poolcast::core::policy::PolicyConfig::Static { size: 3 }),
            ..PoolFile::default()
        })
        .build()
        .unwrap();
    let c = pool.get().await.unwrap();
    common::eventually(
        "three connections",
        std::time::Duration::from_secs(10),
        || pool.status().size == 3,
    )
    .await;
    let row = c
        .query_one(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_ssl s \
             JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'poolcast_t_tls'",
            &[],
        )
        .await
        .unwrap();
    let (encrypted, all): (i64, i64) = (row.get(0), row.get(1));
    assert!(all >= 3, "{all} sessions");
    assert_eq!(
        encrypted, all,
        "{encrypted} of {all} pool sessions encrypted"
    );
    drop(c);
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_names_the_check_that_failed() {
    let t = tls();
    let ca = t.ca.display();
    // The certificate names localhost, not 127.0.0.1.
    let e = create(&conninfo(
        t,
        "127.0.0.1",
        "postgres",
        &format!("sslmode=verify-full sslrootcert={ca}"),
    ))
    .await
    .unwrap_err();
    assert!(
        matches!(&e, PgError::Tls(TlsError::HostnameMismatch { host }) if host == "127.0.0.1"),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("does not match the host name"),
        "{e}"
    );
    no_secret(&e);
    // A CA that did not sign the server's certificate.
    let other = t.other_ca.display();
    let e = create(&conninfo(
        t,
        "localhost",
        "postgres",
        &format!("sslmode=verify-full sslrootcert={other}"),
    ))
    .await
    .unwrap_err();
    assert!(matches!(e, PgError::Tls(TlsError::UnknownCa)), "{e:?}");
    no_secret(&e);
    // No CA at all: refused when the manager is built, naming the way out.
    let e = PgManager::from_url(&conninfo(t, "localhost", "postgres", "sslmode=verify-full"))
        .unwrap_err();
    assert!(matches!(e, PgError::Tls(TlsError::Config(_))), "{e:?}");
    assert!(e.to_string().contains("sslrootcert"), "{e}");
    no_secret(&e);
    // A root file that does not exist.
    let e = PgManager::from_url(&conninfo(
        t,
        "localhost",
        "postgres",
        "sslmode=verify-ca sslrootcert=/nonexistent/ca.pem",
    ))
    .unwrap_err();
    assert!(
        matches!(
            &e,
            PgError::Tls(TlsError::File {
                option: "sslrootcert",
                ..
            })
        ),
        "{e:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weaker_modes_encrypt_as_libpq_does() {
    let t = tls();
    let ca = t.ca.display();
    // verify-ca: the chain, not the name.
    create(&conninfo(
        t,
        "127.0.0.1",
        "postgres",
        &format!("sslmode=verify-ca sslrootcert={ca}"),
    ))
    .await
    .unwrap();
    // require and prefer: encrypted, no CA needed.
    create(&conninfo(t, "127.0.0.1", "postgres", "sslmode=require"))
        .await
        .unwrap();
    create(&conninfo(t, "127.0.0.1", "postgres", "sslmode=prefer"))
        .await
        .unwrap();
    // The URL form reads the same options.
    let url = format!(
        "postgres://postgres:{SECRET}@localhost:{}/postgres?hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={}",
        t.cluster.port(),
        t.ca.display()
    );
    create(&url).await.unwrap();
    // allow: plain first, refused by hostssl, then TLS.
    create(&conninfo(t, "127.0.0.1", "postgres", "sslmode=allow"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostssl_only_server_refuses_disable_clearly() {
    let t = tls();
    let e = create(&conninfo(t, "127.0.0.1", "postgres", "sslmode=disable"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, PgError::Tls(TlsError::ServerRequiresTls { .. })),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("refuses connections without TLS"),
        "{e}"
    );
    no_secret(&e);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_against_a_server_without_tls_says_so() {
    let plain = Cluster::start();
    let s = format!(
        "host=127.0.0.1 port={} user=postgres password={SECRET} dbname=postgres sslmode=require",
        plain.port()
    );
    let e = create(&s).await.unwrap_err();
    assert!(
        matches!(
            e,
            PgError::Tls(TlsError::NoServerSupport { mode: "require" })
        ),
        "{e:?}"
    );
    no_secret(&e);
    // prefer falls back to a plain connection there.
    let m = PgManager::from_url(&s.replace("sslmode=require", "sslmode=prefer")).unwrap();
    m.create().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_logs_in_a_cert_user() {
    let t = tls();
    // The role, made over TLS as the superuser.
    let admin = PgManager::from_url(&conninfo(t, "127.0.0.1", "postgres", "sslmode=require"))
        .unwrap()
        .create()
        .await
        .unwrap();
    admin
        .batch_execute(
            "DO $$ BEGIN CREATE ROLE certuser LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$",
        )
        .await
        .unwrap();
    let ca = t.ca.display();
    let with_cert = format!(
        "sslmode=verify-full sslrootcert={ca} sslcert={} sslkey={}",
        t.client_cert.display(),
        t.client_key.display()
    );
    create(&conninfo(t, "localhost", "certuser", &with_cert))
        .await
        .unwrap();
    // Without it, the server refuses the user.
    let e = create(&conninfo(
        t,
        "localhost",
        "certuser",
        &format!("sslmode=verify-full sslrootcert={ca}"),
    ))
    .await
    .unwrap_err();
    assert!(matches!(e, PgError::Db(_)), "{e:?}");
    // A key others may read is refused, as libpq refuses it.
    use std::os::unix::fs::PermissionsExt;
    let loose = t.cluster.dir().join("loose.key");
    std::fs::copy(&t.client_key, &loose).unwrap();
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = PgManager::from_url(&conninfo(
        t,
        "localhost",
        "certuser",
        &format!(
            "sslmode=verify-full sslrootcert={ca} sslcert={} sslkey={}",
            t.client_cert.display(),
            loose.display()
        ),
    ))
    .unwrap_err();
    assert!(
        matches!(
            &e,
            PgError::Tls(TlsError::File {
                option: "sslkey",
                ..
            })
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("chmod 600"), "{e}");
}
