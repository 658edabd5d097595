//! TLS for the PostgreSQL manager, with libpq's `sslmode` semantics, on
//! rustls (ring as its crypto provider) through tokio-postgres-rustls.
//!
//! | `sslmode` | encrypts | checks the certificate |
//! |---|---|---|
//! | `disable` | never | — |
//! | `allow` | only if the server insists (plain first, TLS if refused) | as `require` |
//! | `prefer` (libpq's default) | if the server supports it | as `require` |
//! | `require` | always | only against `sslrootcert` when there is one (libpq: "as verify-ca") |
//! | `verify-ca` | always | chain to `sslrootcert` |
//! | `verify-full` | always | chain to `sslrootcert` and the host name |
//!
//! `sslrootcert` is a PEM file, or `system` for the operating system's
//! roots (then `sslmode` must be `verify-full`, as in libpq 16); without
//! it, `~/.postgresql/root.crt` is used when it exists, as libpq does.
//! `sslcert` and `sslkey` (PEM; default `~/.postgresql/postgresql.crt` and
//! `.key` when both exist) present a client certificate; the key must not
//! be readable by group or others, as libpq requires.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::conninfo::TlsOptions;

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Never encrypt.
    Disable,
    /// Plain first; TLS only if the server refuses a plain connection.
    Allow,
    /// TLS if the server supports it (libpq's default).
    #[default]
    Prefer,
    /// Always TLS; the certificate is checked only against an explicit
    /// root certificate.
    Require,
    /// Always TLS; the certificate must chain to the root certificate.
    VerifyCa,
    /// As `VerifyCa`, and the certificate must name the host.
    VerifyFull,
}

impl SslMode {
    /// Parses libpq's spelling (`verify-full`, ...).
    ///
    /// # Errors
    /// Names the value and the ones expected (the value is not secret).
    pub fn parse(s: &str) -> Result<SslMode, TlsError> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(TlsError::Config(format!(
                    "sslmode {:?} is not one of disable, allow, prefer, require, verify-ca, verify-full",
                    other.chars().take(32).collect::<String>()
                )));
            }
        })
    }

    /// libpq's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Where the trusted roots come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCert {
    /// A PEM file of one or more certificates.
    File(PathBuf),
    /// The operating system's trusted roots (`sslrootcert=system`).
    System,
}

/// The TLS settings of a [`PgManager`](super::PgManager), as libpq names
/// them. Build one with [`PgTls::new`] or read it from a connection string
/// ([`PgManager::from_url`](super::PgManager::from_url)).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PgTls {
    /// `sslmode`.
    pub mode: SslMode,
    /// `sslrootcert`; `None`: `~/.postgresql/root.crt` if it exists.
    pub root_cert: Option<RootCert>,
    /// `sslcert` and `sslkey`; `None`: `~/.postgresql/postgresql.crt` and
    /// `.key` if both exist.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// Whether the mode was given (a `system` root defaults it to
    /// `verify-full`, and refuses a weaker one that was asked for).
    mode_given: bool,
}

impl PgTls {
    /// TLS settings with `mode` and nothing else.
    pub fn new(mode: SslMode) -> Self {
        PgTls {
            mode,
            mode_given: true,
            ..PgTls::default()
        }
    }

    /// Trusts the certificates of the PEM file `path` (`sslrootcert`).
    pub fn root_cert_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.root_cert = Some(RootCert::File(path.into()));
        self
    }

    /// Trusts the operating system's roots (`sslrootcert=system`).
    pub fn system_roots(mut self) -> Self {
        self.root_cert = Some(RootCert::System);
        self
    }

    /// Presents the client certificate `cert` with its key `key` (PEM
    /// files, `sslcert` and `sslkey`).
    pub fn client_cert(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.client_cert = Some((cert.into(), key.into()));
        self
    }

    /// The settings a connection string's options give.
    pub(super) fn from_options(o: &TlsOptions) -> Result<PgTls, TlsError> {
        let mut t = PgTls::default();
        if let Some(m) = &o.sslmode {
            t.mode = SslMode::parse(m)?;
            t.mode_given = true;
        }
        t.root_cert = o.sslrootcert.as_ref().map(|r| {
            if r == "system" {
                RootCert::System
            } else {
                RootCert::File(PathBuf::from(r))
            }
        });
        t.client_cert = match (&o.sslcert, &o.sslkey) {
            (Some(c), Some(k)) => Some((c.into(), k.into())),
            (None, None) => None,
            (Some(_), None) => {
                return Err(TlsError::Config(
                    "sslcert is given without sslkey: a client certificate needs its key".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(TlsError::Config(
                    "sslkey is given without sslcert: a client key needs its certificate".into(),
                ));
            }
        };
        Ok(t)
    }

    /// The rustls connector these settings describe, or `None` for
    /// `disable`. Reads the certificate files now, so a missing or bad
    /// file is an error when the manager is built, not at every connect.
    pub(super) fn connector(&self) -> Result<Option<Connector>, TlsError> {
        if self.mode == SslMode::Disable {
            return Ok(None);
        }
        let root = match (&self.root_cert, default_file("root.crt")) {
            (Some(r), _) => Some(r.clone()),
            (None, Some(f)) => Some(RootCert::File(f)),
            (None, None) => None,
        };
        let mode = match (&root, self.mode_given) {
            (Some(RootCert::System), false) => SslMode::VerifyFull,
            (Some(RootCert::System), true) if self.mode != SslMode::VerifyFull => {
                return Err(TlsError::Config(format!(
                    "sslrootcert=system requires sslmode=verify-full, not {} (as libpq)",
                    self.mode.as_str()
                )));
            }
            _ => self.mode,
        };
        let provider = crypto_provider();
        let roots = match &root {
            Some(r) => Some(Arc::new(load_roots(r)?)),
            None if matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull) => {
                return Err(TlsError::Config(format!(
                    "sslmode={} needs a root certificate: set sslrootcert to a PEM file, or \
                     sslrootcert=system for the system's trusted roots (no \
                     ~/.postgresql/root.crt either), or use sslmode=require to encrypt without \
                     checking the certificate",
                    mode.as_str()
                )));
            }
            None => None,
        };
        let check = match (&roots, mode) {
            (None, _) => Check::Nothing,
            (Some(_), SslMode::VerifyFull) => Check::Full,
            (Some(_), _) => Check::Chain,
        };
        let verifier = Arc::new(Verifier::new(check, roots, Arc::clone(&provider))?);
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(format!("TLS set-up: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let client = match self.client_pair()? {
            Some((cert, key)) => {
                let certs = read_certs("sslcert", &cert)?;
                let key_der = read_key(&key)?;
                builder
                    .with_client_auth_cert(certs, key_der)
                    .map_err(|e| TlsError::File {
                        option: "sslkey",
                        path: key.clone(),
                        message: format!("does not fit the certificate of sslcert: {e}"),
                    })?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(Some(Connector {
            mode,
            make: MakeRustlsConnect::new(client),
        }))
    }

    /// The client certificate and key: the given ones, or libpq's default
    /// files when both exist.
    fn client_pair(&self) -> Result<Option<(PathBuf, PathBuf)>, TlsError> {
        if let Some(p) = &self.client_cert {
            return Ok(Some(p.clone()));
        }
        Ok(default_file("postgresql.crt").zip(default_file("postgresql.key")))
    }
}

/// A built TLS connector and the mode it serves.
#[derive(Clone)]
pub(super) struct Connector {
    /// The effective mode (`system` roots make it `verify-full`).
    pub(super) mode: SslMode,
    pub(super) make: MakeRustlsConnect,
}

/// A TLS failure, saying which check failed. Never holds a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    /// The server does not support TLS and `sslmode` requires it.
    #[error("the server does not support TLS, and sslmode={mode} requires it")]
    NoServerSupport {
        /// The mode asked for.
        mode: &'static str,
    },
    /// The server accepts only TLS connections (`hostssl` in pg_hba.conf)
    /// and `sslmode=disable` forbids TLS.
    #[error(
        "the server refuses connections without TLS ({server}); use sslmode=require or stronger"
    )]
    ServerRequiresTls {
        /// The server's message.
        server: String,
    },
    /// The server's certificate does not chain to a trusted root.
    #[error(
        "the server's certificate is not signed by a trusted CA (sslrootcert); \
         check sslrootcert, or the server's certificate chain"
    )]
    UnknownCa,
    /// The server's certificate does not name the host connected to.
    #[error("the server's certificate does not match the host name {host:?} (sslmode=verify-full)")]
    HostnameMismatch {
        /// The host connected to.
        host: String,
    },
    /// Another problem with the server's certificate (expired, revoked,
    /// not for a server, ...).
    #[error("the server's certificate was refused: {0}")]
    Certificate(String),
    /// A certificate or key file could not be used.
    #[error("{option} {path:?} {message}")]
    File {
        /// The libpq option that named it.
        option: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The TLS settings contradict each other.
    #[error("{0}")]
    Config(String),
    /// The handshake failed otherwise.
    #[error("TLS handshake failed: {0}")]
    Handshake(String),
}

impl TlsError {
    /// The TLS failure inside `e`, if it is one: the rustls error is
    /// found by walking `e`'s sources (tokio-rustls wraps it in an
    /// `io::Error`), and tokio-postgres' refusal of a server without TLS
    /// by its message (it has no type of its own).
    pub(super) fn from_connect(
        e: &tokio_postgres::Error,
        mode: SslMode,
        host: &str,
    ) -> Option<TlsError> {
        let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(s) = src {
            let rustls_err = s.downcast_ref::<rustls::Error>().or_else(|| {
                s.downcast_ref::<std::io::Error>()
                    .and_then(|io| io.get_ref())
                    .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            });
            if let Some(r) = rustls_err {
                return Some(Self::from_rustls(r, host));
            }
            if s.to_string().contains("server does not support TLS") {
                return Some(TlsError::NoServerSupport {
                    mode: mode.as_str(),
                });
            }
            src = s.source();
        }
        if mode == SslMode::Disable
            && let Some(db) = e.as_db_error()
            && db.code().code() == "28000"
            && db.message().contains("no encryption")
        {
            return Some(TlsError::ServerRequiresTls {
                server: db.message().to_string(),
            });
        }
        None
    }

    fn from_rustls(e: &rustls::Error, host: &str) -> TlsError {
        match e {
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
                TlsError::UnknownCa
            }
            rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            ) => TlsError::HostnameMismatch { host: host.into() },
            rustls::Error::InvalidCertificate(c) => TlsError::Certificate(format!("{c:?}")),
            other => TlsError::Handshake(other.to_string()),
        }
    }
}

/// What the verifier checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Nothing about the certificate (`prefer`, `require` without a root:
    /// libpq encrypts without authenticating the server). The handshake's
    /// signatures are still verified.
    Nothing,
    /// The chain to the roots, not the name (`verify-ca`).
    Chain,
    /// The chain and the name (`verify-full`).
    Full,
}

/// libpq's three levels of server certificate checking over rustls'
/// WebPKI verifier: rustls has no "chain but not name" or "nothing"
/// verifier of its own, so this one runs the WebPKI check and keeps the
/// parts the mode asks for.
#[derive(Debug)]
struct Verifier {
    check: Check,
    webpki: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl Verifier {
    fn new(
        check: Check,
        roots: Option<Arc<RootCertStore>>,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, TlsError> {
        let webpki = match roots {
            Some(r) => Some(
                WebPkiServerVerifier::builder_with_provider(r, Arc::clone(&provider))
                    .build()
                    .map_err(|e| TlsError::Config(format!("the root certificates: {e}")))?,
            ),
            None => None,
        };
        Ok(Verifier {
            check,
            webpki,
            provider,
        })
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(webpki) = &self.webpki else {
            return Ok(ServerCertVerified::assertion());
        };
        match webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Ok(v) => Ok(v),
            // The chain held (the name is checked last): enough for
            // verify-ca.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if self.check == Check::Chain => Ok(ServerCertVerified::assertion()),
            Err(e) => Err(e),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The application's process-wide rustls provider when it installed one
/// (`CryptoProvider::install_default`, for example aws-lc-rs for its
/// post-quantum key exchange), else ring.
///
/// ring's provider is deprecated in rustls 0.23.48 for lacking
/// post-quantum key exchange; it stays the fallback because aws-lc-rs
/// would add a C library build of several minutes to every clean build on
/// this project's 2-core CI, and tokio-postgres-rustls links ring anyway.
fn crypto_provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default().cloned().unwrap_or_else(|| {
        #[allow(deprecated)]
        let ring = rustls::crypto::ring::default_provider();
        Arc::new(ring)
    })
}

/// `~/.postgresql/<name>`, when it exists (libpq's default locations).
fn default_file(name: &str) -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    let p = Path::new(&home).join(".postgresql").join(name);
    p.is_file().then_some(p)
}

fn load_roots(r: &RootCert) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    match r {
        RootCert::File(path) => {
            for c in read_certs("sslrootcert", path)? {
                store.add(c).map_err(|e| TlsError::File {
                    option: "sslrootcert",
                    path: path.clone(),
                    message: format!("holds a certificate that is not a usable root: {e}"),
                })?;
            }
        }
        RootCert::System => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(TlsError::Config(format!(
                    "sslrootcert=system: no trusted root certificate found in the system's store{}",
                    found
                        .errors
                        .first()
                        .map_or(String::new(), |e| format!(" ({e})"))
                )));
            }
        }
    }
    Ok(store)
}

fn read_certs(option: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let file_err = |message: String| TlsError::File {
        option,
        path: path.to_path_buf(),
        message,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_err(format!("cannot be read: {e}")))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_err(format!("is not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(file_err("holds no PEM certificate".into()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let file_err = |message: String| TlsError::File {
        option: "sslkey",
        path: path.to_path_buf(),
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| file_err(format!("cannot be read: {e}")))?;
    check_key_permissions(&meta).map_err(file_err)?;
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| file_err(format!("is not a PEM private key: {e}")))
}

/// libpq refuses a key that group or others may read (root-owned keys may
/// be group-readable, for system-wide set-ups).
#[cfg(unix)]
fn check_key_permissions(meta: &std::fs::Metadata) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let mode = meta.mode() & 0o777;
    let ok = if meta.uid() == 0 {
        mode & 0o037 == 0
    } else {
        mode & 0o077 == 0
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "has permissions {mode:o}: it must not be readable by group or others \
             (chmod 600, or 640 when owned by root), as libpq requires"
        ))
    }
}

#[cfg(not(unix))]
fn check_key_permissions(_meta: &std::fs::Metadata) -> Result<(), String> {
    Ok(())
}
