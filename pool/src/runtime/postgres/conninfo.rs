//! The TLS options of a libpq connection string, taken out before the rest
//! goes to tokio-postgres.
//!
//! tokio-postgres knows `sslmode` only as disable / prefer / require and
//! refuses `sslrootcert`, `sslcert` and `sslkey`; libpq users write all of
//! them, in either of libpq's two forms:
//!
//! - a URL, `postgres://user@host/db?sslmode=verify-full&sslrootcert=ca.pem`
//!   (options in the query string, percent-encoded);
//! - key=value pairs, `host=db user=app sslmode=verify-full
//!   sslrootcert='/etc/ssl/my ca.pem'` (a value may be single-quoted, with
//!   `\'` and `\\` escapes).
//!
//! [`split`] returns the string without those options (everything else
//! as it was written) and the options themselves. It never panics and its
//! errors never repeat the string, which may hold a password.

use super::PgError;

/// The libpq TLS options poolcast reads itself.
pub(super) const TLS_KEYS: [&str; 4] = ["sslmode", "sslrootcert", "sslcert", "sslkey"];

/// libpq TLS options poolcast does not implement: refused by name rather
/// than ignored (ignoring a certificate revocation list would weaken the
/// check its author asked for).
const UNSUPPORTED: [&str; 5] = [
    "sslcrl",
    "sslcrldir",
    "sslpassword",
    "sslcompression",
    "ssl_max_protocol_version",
];

/// The TLS options found in a connection string, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct TlsOptions {
    /// `sslmode`.
    pub(super) sslmode: Option<String>,
    /// `sslrootcert`.
    pub(super) sslrootcert: Option<String>,
    /// `sslcert`.
    pub(super) sslcert: Option<String>,
    /// `sslkey`.
    pub(super) sslkey: Option<String>,
}

impl TlsOptions {
    fn set(&mut self, key: &str, value: String) {
        let slot = match key {
            "sslmode" => &mut self.sslmode,
            "sslrootcert" => &mut self.sslrootcert,
            "sslcert" => &mut self.sslcert,
            _ => &mut self.sslkey,
        };
        // As libpq: a later setting wins.
        *slot = Some(value);
    }
}

/// Splits `s` into the connection string without its TLS options and the
/// options.
///
/// # Errors
/// [`PgError::Config`] for a malformed string (an unterminated quote, a
/// key without `=`, a bad percent escape) or an option poolcast does not
/// implement; the message names the problem, never the string.
pub(super) fn split(s: &str) -> Result<(String, TlsOptions), PgError> {
    if s.starts_with("postgres://") || s.starts_with("postgresql://") {
        split_url(s)
    } else {
        split_pairs(s)
    }
}

fn refuse_unsupported(key: &str) -> Result<(), PgError> {
    if UNSUPPORTED.contains(&key) {
        return Err(PgError::Config(format!(
            "the libpq option `{key}` is not supported by poolcast"
        )));
    }
    Ok(())
}

fn split_url(s: &str) -> Result<(String, TlsOptions), PgError> {
    let mut opts = TlsOptions::default();
    let Some((base, query)) = s.split_once('?') else {
        return Ok((s.to_string(), opts));
    };
    let mut kept = Vec::new();
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(k)?;
        refuse_unsupported(&key)?;
        if TLS_KEYS.contains(&key.as_str()) {
            opts.set(&key, percent_decode(v)?);
        } else if !pair.is_empty() {
            kept.push(pair);
        }
    }
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, opts))
}

/// Decodes `%XX` escapes (and nothing else: libpq does not read `+` as a
/// space).
fn percent_decode(s: &str) -> Result<String, PgError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    PgError::Config("a `%` in the URL is not followed by two hex digits".into())
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map_err(|_| PgError::Config("a percent-encoded URL option is not UTF-8".into()))
}

/// One `key=value` pair of the key=value form: the key, the value
/// (unquoted) and the pair's text as written.
struct Pair<'a> {
    key: &'a str,
    value: String,
    text: &'a str,
}

fn split_pairs(s: &str) -> Result<(String, TlsOptions), PgError> {
    let mut opts = TlsOptions::default();
    let mut kept = Vec::new();
    for pair in pairs(s)? {
        refuse_unsupported(pair.key)?;
        if TLS_KEYS.contains(&pair.key) {
            opts.set(pair.key, pair.value);
        } else {
            kept.push(pair.text);
        }
    }
    Ok((kept.join(" "), opts))
}

/// The pairs of libpq's key=value form.
fn pairs(s: &str) -> Result<Vec<Pair<'_>>, PgError> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let skip_ws = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    loop {
        i = skip_ws(i);
        if i >= b.len() {
            return Ok(out);
        }
        let start = i;
        while i < b.len() && b[i] != b'=' && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = &s[start..i];
        i = skip_ws(i);
        if i >= b.len() || b[i] != b'=' {
            return Err(PgError::Config(format!(
                "missing `=` after the key `{}`",
                printable(key)
            )));
        }
        i = skip_ws(i + 1);
        let mut value = Vec::new();
        if i < b.len() && b[i] == b'\'' {
            i += 1;
            loop {
                match b.get(i) {
                    None => {
                        return Err(PgError::Config(format!(
                            "unterminated quoted value of `{}`",
                            printable(key)
                        )));
                    }
                    Some(b'\'') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') if i + 1 < b.len() => {
                        value.push(b[i + 1]);
                        i += 2;
                    }
                    Some(&c) => {
                        value.push(c);
                        i += 1;
                    }
                }
            }
        } else {
            while i < b.len() && !b[i].is_ascii_whitespace() {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                }
                value.push(b[i]);
                i += 1;
            }
        }
        let value = String::from_utf8(value).map_err(|_| {
            PgError::Config(format!("the value of `{}` is not UTF-8", printable(key)))
        })?;
        out.push(Pair {
            key,
            value,
            text: &s[start..i],
        });
    }
}

/// A key as it may appear in an error: keys are not secret, but a
/// malformed string could put a password where a key should be, so only a
/// short, plain key is repeated.
fn printable(key: &str) -> String {
    if !key.is_empty()
        && key.len() <= 32
        && key.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
    {
        key.to_string()
    } else {
        "(unreadable key)".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn url_options_are_taken_out_and_the_rest_kept() {
        let (rest, o) = split(
            "postgres://u:p@db.example.com:5432/app?application_name=svc&sslmode=verify-full\
             &sslrootcert=%2Fetc%2Fssl%2Fca%20root.pem&connect_timeout=5",
        )
        .unwrap();
        assert_eq!(
            rest,
            "postgres://u:p@db.example.com:5432/app?application_name=svc&connect_timeout=5"
        );
        assert_eq!(o.sslmode.as_deref(), Some("verify-full"));
        assert_eq!(o.sslrootcert.as_deref(), Some("/etc/ssl/ca root.pem"));
        let (rest, o) = split("postgresql://h/db?sslmode=require").unwrap();
        assert_eq!(rest, "postgresql://h/db");
        assert_eq!(o.sslmode.as_deref(), Some("require"));
    }

    #[test]
    fn key_value_options_are_taken_out_with_quotes_and_escapes() {
        let (rest, o) = split(
            "host=db user=app password='a b' sslmode = verify-ca \
             sslrootcert='/etc/my ca\\'s.pem' sslcert=/c.pem sslkey=/k.pem dbname=x",
        )
        .unwrap();
        assert_eq!(rest, "host=db user=app password='a b' dbname=x");
        assert_eq!(o.sslmode.as_deref(), Some("verify-ca"));
        assert_eq!(o.sslrootcert.as_deref(), Some("/etc/my ca's.pem"));
        assert_eq!(o.sslcert.as_deref(), Some("/c.pem"));
        assert_eq!(o.sslkey.as_deref(), Some("/k.pem"));
    }

    #[test]
    fn malformed_strings_and_unsupported_options_are_named_not_echoed() {
        let secret = "hunter2-secret";
        for s in [
            format!("host=db password='{secret}"),
            format!("host=db {secret}"),
            format!("postgres://u:{secret}@h/db?sslrootcert=%zz"),
            format!("host=db password={secret} sslcrl=/crl.pem"),
        ] {
            let e = split(&s).unwrap_err().to_string();
            assert!(!e.contains(secret), "{e}");
        }
        let e = split("host=db sslcrl=/crl.pem").unwrap_err().to_string();
        assert!(e.contains("sslcrl"), "{e}");
        let e = split("host=db user").unwrap_err().to_string();
        assert!(e.contains("missing `=` after the key `user`"), "{e}");
    }

    proptest! {
        /// Any string: an answer or an error, never a panic; what is kept
        /// holds no TLS option.
        #[test]
        fn any_string_splits_or_errs(s in ".{0,80}") {
            if let Ok((rest, _)) = split(&s) {
                // What is kept splits again to the same, with no option.
                let (again, opts) = split(&rest).expect("the kept part is well formed");
                prop_assert_eq!(again, rest);
                prop_assert_eq!(opts, TlsOptions::default());
            }
        }

        /// A valid key=value string with TLS options mixed in, then mutated
        /// (a byte dropped or duplicated): never a panic.
        #[test]
        fn mutated_strings_never_panic(
            mode in "(disable|allow|prefer|require|verify-ca|verify-full)",
            path in "[a-z/ .']{0,20}",
            cut in 0usize..120,
            dup in proptest::bool::ANY,
        ) {
            let quoted = path.replace('\\', "\\\\").replace('\'', "\\'");
            let s = format!("host=h sslmode={mode} sslrootcert='{quoted}' user=u");
            let (rest, o) = split(&s).unwrap();
            prop_assert_eq!(rest, "host=h user=u");
            prop_assert_eq!(o.sslmode.as_deref(), Some(mode.as_str()));
            prop_assert_eq!(o.sslrootcert.as_deref(), Some(path.as_str()));
            let mut b = s.into_bytes();
            let i = cut % b.len();
            if dup { b.insert(i, b[i]); } else { b.remove(i); }
            if let Ok(m) = String::from_utf8(b) {
                let _ = split(&m);
                let _ = split(&format!("postgres://h/db?{}", m.replace(' ', "&")));
            }
        }
    }
}
