//! `log_destination = 'stderr'`: free text behind a `log_line_prefix`.
//!
//! An entry is a line `<prefix><SEVERITY>:  <message>`, the lines that
//! continue it (a multi-line statement's next lines start with a tab), and
//! the lines of the same process that qualify it (`DETAIL`, `HINT`,
//! `CONTEXT`, `QUERY`, `LOCATION`, and `STATEMENT`, which names the
//! statement of an `ERROR`).
//!
//! The prefix is compiled into one anchored pattern: each escape becomes
//! what it can expand to (`%t` a time to the second, `%m` to the
//! millisecond, `%p` digits, `%c` the session id, `%e` a SQLSTATE; `%u`,
//! `%d`, `%a`, `%r`, `%h` the shortest text that lets the rest match),
//! `%q` makes the rest optional (processes that are not sessions). The
//! session is `%c` when the prefix has it, else `%p` (a pid is reused
//! after its session ends, which only matters for a session left open).
//! Without `%e` an error has no SQLSTATE and counts as a query error.

use std::io::BufRead;
use std::path::Path;

use regex::Regex;

use super::{Event, Folder, bad_time, open_bounded, parse_time};
use crate::error::{DatasetError, Result};

/// Prefixes tried, in order, when none is given: PostgreSQL's default
/// since 10, Debian's and Ubuntu's, RDS and Aurora's, the one pgBadger's
/// documentation recommends (two spellings), Azure's, and a bare time.
pub const KNOWN_PREFIXES: [&str; 8] = [
    "%m [%p] ",
    "%m [%p] %q%u@%d ",
    "%t:%r:%u@%d:[%p]:",
    "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
    "%t [%p]: user=%u,db=%d,app=%a,client=%h ",
    "%t-%c-",
    "%m [%p] %u@%d ",
    "%t ",
];

/// Lines that qualify the entry before them.
const QUALIFIERS: [&str; 6] = [
    "DETAIL",
    "HINT",
    "CONTEXT",
    "QUERY",
    "LOCATION",
    "STATEMENT",
];

/// A compiled `log_line_prefix`.
#[derive(Debug, Clone)]
pub struct Prefix {
    text: String,
    re: Regex,
    /// The prefix has `%c` (else the session is `%p`).
    has_session: bool,
}

impl Prefix {
    /// Compiles `prefix` (PostgreSQL's `log_line_prefix` escapes).
    ///
    /// # Errors
    /// An escape the prefix cannot be read back with (`%n` aside, every
    /// escape of PostgreSQL 17 is known), or a prefix with no time
    /// (`%t`, `%m`): the log's lines would have none.
    pub fn new(prefix: &str) -> std::result::Result<Prefix, String> {
        let mut pat = String::from("^");
        let mut has_time = false;
        let mut has_session = false;
        let mut has_pid = false;
        let mut optional = false;
        let mut chars = prefix.chars();
        let mut literal = String::new();
        let flush = |lit: &mut String, pat: &mut String| {
            pat.push_str(&regex::escape(lit));
            lit.clear();
        };
        while let Some(c) = chars.next() {
            if c != '%' {
                literal.push(c);
                continue;
            }
            let Some(e) = chars.next() else {
                literal.push('%');
                break;
            };
            if e == '%' {
                literal.push('%');
                continue;
            }
            flush(&mut literal, &mut pat);
            let part = match e {
                't' if !has_time => {
                    has_time = true;
                    r"(?P<t>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?: [A-Za-z0-9+:-]+)?)"
                }
                'm' if !has_time => {
                    has_time = true;
                    r"(?P<t>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+(?: [A-Za-z0-9+:-]+)?)"
                }
                't' | 'm' | 's' => r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?: [A-Za-z0-9+:-]+)?",
                'n' => r"\d+\.\d+",
                'p' if !has_pid => {
                    has_pid = true;
                    r"(?P<p>\d+)"
                }
                'c' if !has_session => {
                    has_session = true;
                    r"(?P<c>[0-9a-f]+\.[0-9a-f]+)"
                }
                'e' => r"(?P<e>[0-9A-Z]{5})",
                'p' | 'P' | 'l' | 'x' => r"\d*",
                'c' => r"[0-9a-f]+\.[0-9a-f]+",
                'v' => r"[0-9/]*",
                'Q' => r"-?\d*",
                'u' | 'd' | 'a' | 'r' | 'h' | 'b' | 'i' => r".*?",
                'q' => {
                    optional = true;
                    "(?:"
                }
                other => return Err(format!("unknown escape %{other} in log_line_prefix")),
            };
            pat.push_str(part);
        }
        flush(&mut literal, &mut pat);
        if optional {
            pat.push_str(")?");
        }
        if !has_time {
            return Err(
                "a log_line_prefix without %t or %m: the lines would carry no time".to_string(),
            );
        }
        pat.push_str(r"(?P<sev>[A-Z][A-Z0-9]*):  (?P<msg>.*)$");
        let re = Regex::new(&pat).map_err(|e| format!("log_line_prefix: {e}"))?;
        Ok(Prefix {
            text: prefix.to_string(),
            re,
            has_session,
        })
    }

    /// The prefix as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parts of `line`, if it starts with this prefix.
    fn parse<'a>(&self, line: &'a str) -> Option<Parts<'a>> {
        let c = self.re.captures(line)?;
        let get = |n: &str| c.name(n).map_or("", |m| m.as_str());
        Some(Parts {
            time: get("t"),
            session: if self.has_session { get("c") } else { get("p") },
            sqlstate: get("e"),
            severity: get("sev"),
            message: get("msg"),
        })
    }

    /// Whether `line` starts with this prefix.
    pub(super) fn matches(&self, line: &str) -> bool {
        self.re.is_match(line)
    }
}

struct Parts<'a> {
    time: &'a str,
    session: &'a str,
    sqlstate: &'a str,
    severity: &'a str,
    message: &'a str,
}

/// An entry being assembled: its first line's parts, owned, and what
/// follows.
struct Entry {
    line: u64,
    time: i64,
    session: String,
    sqlstate: String,
    severity: String,
    message: String,
    statement: String,
}

/// Folds the stderr log `path` into `fold`, with `prefix` or the known
/// prefix that fits its first lines; returns the prefix used.
pub(super) fn read(path: &Path, prefix: Option<&str>, fold: &mut Folder<'_>) -> Result<String> {
    let prefix = match prefix {
        Some(p) => Prefix::new(p).map_err(|e| DatasetError::line(path, 1, e))?,
        None => detect(path)?,
    };
    let mut reader = open_bounded(path)?;
    let mut buf = String::new();
    let mut n = 0u64;
    let mut entry: Option<Entry> = None;
    loop {
        buf.clear();
        let read = reader
            .read_line(&mut buf)
            .map_err(|e| DatasetError::line(path, n + 1, format!("cannot be read: {e}")))?;
        if read == 0 {
            break;
        }
        n += 1;
        let line = buf.trim_end_matches(['\n', '\r']);
        if let Some(rest) = line.strip_prefix('\t') {
            // A continuation of the entry's message or statement.
            if let Some(e) = &mut entry {
                let target = if e.statement.is_empty() {
                    &mut e.message
                } else {
                    &mut e.statement
                };
                target.push('\n');
                target.push_str(rest);
            }
            continue;
        }
        let Some(p) = prefix.parse(line) else {
            if line.trim().is_empty() {
                continue;
            }
            return Err(DatasetError::line(
                path,
                n,
                format!(
                    "does not start with the log_line_prefix {:?} and a severity \
                     (`LOG:  `, `ERROR:  `, ...): give the server's log_line_prefix",
                    prefix.as_str()
                ),
            ));
        };
        if QUALIFIERS.contains(&p.severity)
            && let Some(e) = &mut entry
            && e.session == p.session
        {
            if p.severity == "STATEMENT" {
                e.statement = p.message.to_string();
            }
            fold.skip();
            continue;
        }
        let time =
            parse_time(p.time).ok_or_else(|| bad_time(path, n, "the prefix's time", p.time))?;
        if let Some(e) = entry.take() {
            emit(path, &e, fold)?;
        }
        entry = Some(Entry {
            line: n,
            time,
            session: p.session.to_string(),
            sqlstate: p.sqlstate.to_string(),
            severity: p.severity.to_string(),
            message: p.message.to_string(),
            statement: String::new(),
        });
    }
    if let Some(e) = entry.take() {
        emit(path, &e, fold)?;
    }
    Ok(prefix.as_str().to_string())
}

fn emit(path: &Path, e: &Entry, fold: &mut Folder<'_>) -> Result<()> {
    fold.event(
        path,
        &Event {
            line: e.line,
            time: e.time,
            session: &e.session,
            severity: &e.severity,
            sqlstate: &e.sqlstate,
            message: &e.message,
            query: &e.statement,
            // A stderr line does not name its process type; background
            // processes log no statements with durations.
            client_backend: true,
        },
    )
}

/// The known prefix that fits most of the first lines of `path` (at least
/// half of those that are not continuations).
fn detect(path: &Path) -> Result<Prefix> {
    let lines = super::detect::first_lines(path, 200)?;
    let candidates: Vec<Prefix> = KNOWN_PREFIXES
        .iter()
        .map(|p| Prefix::new(p).expect("the known prefixes compile"))
        .collect();
    let heads: Vec<&str> = lines
        .iter()
        .map(String::as_str)
        .filter(|l| !l.starts_with('\t') && !l.trim().is_empty())
        .collect();
    let best = candidates
        .into_iter()
        .map(|p| (heads.iter().filter(|l| p.matches(l)).count(), p))
        // The first of equals: the list is ordered from the most
        // specific readings of a line to the least.
        .fold(None::<(usize, Prefix)>, |best, (n, p)| match best {
            Some((b, _)) if b >= n => best,
            _ => Some((n, p)),
        });
    match best {
        Some((n, p)) if n > 0 && 2 * n >= heads.len() => Ok(p),
        _ => Err(DatasetError::line(
            path,
            1,
            format!(
                "no known log_line_prefix fits its first lines (tried {}); give the server's \
                 log_line_prefix",
                KNOWN_PREFIXES
                    .iter()
                    .map(|p| format!("{p:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}
