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

use super::prefix_scan::Scanner;
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

/// The longest prefix and severity read: PostgreSQL truncates the names
/// a prefix expands (user, database, application) to 63 bytes each.
const MAX_PREFIX_BYTES: usize = 1024;

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
    /// The prefix and the severity, anchored at the start; the message is
    /// the rest of the line, which the pattern never scans (statements
    /// are most of a log's bytes).
    re: Regex,
    /// Capture group indices of the time, the session (`%c`, else `%p`),
    /// the SQLSTATE and the severity.
    groups: [Option<usize>; 4],
    /// The same prefix read without backtracking: a name escape (`%u`,
    /// `%d`, ...) stops at the literal character after it, so the regex
    /// crate can take the captures in one pass, several times faster. A
    /// line it does not match (a user name holding that character, an
    /// IPv6 `%r`) is read by `re`; where both match they read the same
    /// parts, since `re`'s lazy names take the shortest text that lets the
    /// rest match.
    fast: Regex,
    fast_groups: [Option<usize>; 4],
    /// The same prefix read by hand, tried first ([`Scanner`]); `None`
    /// when a part of it is lazy.
    scan: Option<Scanner>,
    /// Whether the session is `%c` (else `%p`).
    has_session: bool,
}

/// A piece of a `log_line_prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Token {
    Literal(char),
    Escape(char),
}

/// The pieces of `prefix`.
fn tokens(prefix: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = prefix.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(Token::Literal(c));
            continue;
        }
        match chars.next() {
            None => out.push(Token::Literal('%')),
            Some('%') => out.push(Token::Literal('%')),
            Some(e) => out.push(Token::Escape(e)),
        }
    }
    out
}

/// The anchored pattern of a prefix and the severity after it; `fast`
/// makes names stop at the literal that follows them.
fn pattern(tokens: &[Token], fast: bool) -> std::result::Result<String, String> {
    let mut pat = String::from("^");
    let (mut has_time, mut has_session, mut has_pid, mut optional) = (false, false, false, false);
    for (i, t) in tokens.iter().enumerate() {
        let e = match t {
            Token::Literal(c) => {
                pat.push_str(&regex::escape(&c.to_string()));
                continue;
            }
            Token::Escape(e) => *e,
        };
        // The literal character right after this escape, if any.
        let next = match tokens.get(i + 1) {
            Some(Token::Literal(c)) => Some(*c),
            _ => None,
        };
        let stop = |c: char| format!("[^{}\\n]*", regex::escape(&c.to_string()));
        // A time zone's name or offset; in the fast pattern without the
        // literal after it.
        let zone = {
            let extra: String = [('+', "+"), (':', ":"), ('-', "\\-")]
                .iter()
                .filter(|(c, _)| !(fast && next == Some(*c)))
                .map(|(_, s)| *s)
                .collect();
            format!("(?: [A-Za-z0-9{extra}]+)?")
        };
        let part = match e {
            't' if !has_time => {
                has_time = true;
                format!(r"(?P<t>\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d{zone})")
            }
            'm' if !has_time => {
                has_time = true;
                format!(r"(?P<t>\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+{zone})")
            }
            't' | 'm' | 's' => format!(r"\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?{zone}"),
            'n' => r"\d+\.\d+".to_string(),
            'p' if !has_pid => {
                has_pid = true;
                r"(?P<p>\d+)".to_string()
            }
            'c' if !has_session => {
                has_session = true;
                r"(?P<c>[0-9a-f]+\.[0-9a-f]+)".to_string()
            }
            'e' => r"(?P<e>[0-9A-Z]{5})".to_string(),
            'p' | 'P' | 'l' | 'x' => r"\d*".to_string(),
            'c' => r"[0-9a-f]+\.[0-9a-f]+".to_string(),
            'v' => r"[0-9/]*".to_string(),
            'Q' => r"-?\d*".to_string(),
            'u' | 'd' | 'a' | 'r' | 'h' | 'b' | 'i' => match next {
                Some(c) if fast => stop(c),
                _ => r".*?".to_string(),
            },
            'q' => {
                optional = true;
                "(?:".to_string()
            }
            other => return Err(format!("unknown escape %{other} in log_line_prefix")),
        };
        pat.push_str(&part);
    }
    if optional {
        pat.push_str(")?");
    }
    if !has_time {
        return Err(
            "a log_line_prefix without %t or %m: the lines would carry no time".to_string(),
        );
    }
    pat.push_str(r"(?P<sev>[A-Z][A-Z0-9]*):  ");
    Ok(pat)
}

impl Prefix {
    /// Compiles `prefix` (PostgreSQL's `log_line_prefix` escapes).
    ///
    /// # Errors
    /// An escape the prefix cannot be read back with (`%n` aside, every
    /// escape of PostgreSQL 17 is known), or a prefix with no time
    /// (`%t`, `%m`): the log's lines would have none.
    pub fn new(prefix: &str) -> std::result::Result<Prefix, String> {
        let tokens = tokens(prefix);
        let general = pattern(&tokens, false)?;
        let fast = pattern(&tokens, true)?;
        let re = Regex::new(&general).map_err(|e| format!("log_line_prefix: {e}"))?;
        let fast = Regex::new(&fast).map_err(|e| format!("log_line_prefix: {e}"))?;
        let has_session = tokens.contains(&Token::Escape('c'));
        let index = |re: &Regex, name: &str| re.capture_names().position(|n| n == Some(name));
        let groups = |re: &Regex| {
            [
                index(re, "t"),
                index(re, if has_session { "c" } else { "p" }),
                index(re, "e"),
                index(re, "sev"),
            ]
        };
        Ok(Prefix {
            scan: Scanner::new(&tokens),
            has_session,
            text: prefix.to_string(),
            groups: groups(&re),
            fast_groups: groups(&fast),
            re,
            fast,
        })
    }

    /// The prefix as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Reusable capture slots for [`Prefix::parse`].
    fn slots(&self) -> Slots {
        (self.fast.capture_locations(), self.re.capture_locations())
    }

    /// The parts of `line`, if it starts with this prefix (`slots` from
    /// [`Prefix::slots`], reused from line to line).
    fn parse<'a>(&self, slots: &mut Slots, line: &'a str) -> Option<Parts<'a>> {
        // Only the head of the line can hold the prefix: the regex engine
        // that reports captures clears state in proportion to the text it
        // is given, and a line may be a long statement.
        let mut end = line.len().min(MAX_PREFIX_BYTES);
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        let head = &line[..end];
        if let Some(sp) = self.scan.as_ref().and_then(|s| s.scan(head)) {
            let get = |(a, b): (usize, usize)| &line[a..b];
            return Some(Parts {
                time: get(sp.time),
                session: get(if self.has_session { sp.session } else { sp.pid }),
                sqlstate: get(sp.sqlstate),
                severity: get(sp.severity),
                message: &line[sp.end..],
            });
        }
        let (m, groups) = match self.fast.captures_read(&mut slots.0, head) {
            Some(m) => (m, &self.fast_groups),
            None => (self.re.captures_read(&mut slots.1, head)?, &self.groups),
        };
        let locs = if std::ptr::eq(groups, &self.fast_groups) {
            &slots.0
        } else {
            &slots.1
        };
        let get = |g: Option<usize>| g.and_then(|g| locs.get(g)).map_or("", |(a, b)| &line[a..b]);
        Some(Parts {
            time: get(groups[0]),
            session: get(groups[1]),
            sqlstate: get(groups[2]),
            severity: get(groups[3]),
            message: &line[m.end()..],
        })
    }

    /// Whether `line` starts with this prefix.
    pub(super) fn matches(&self, line: &str) -> bool {
        self.re.is_match(line)
    }
}

/// Capture slots of the fast and the general pattern.
type Slots = (regex::CaptureLocations, regex::CaptureLocations);

struct Parts<'a> {
    time: &'a str,
    session: &'a str,
    sqlstate: &'a str,
    severity: &'a str,
    message: &'a str,
}

/// An entry being assembled: its first line's parts, owned, and what
/// follows.
#[derive(Default)]
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
    let mut slots = prefix.slots();
    // One entry's buffers, reused from entry to entry: a log has millions.
    let mut entry = Entry::default();
    let mut open = false;
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
            if open {
                let e = &mut entry;
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
        let Some(p) = prefix.parse(&mut slots, line) else {
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
        if QUALIFIERS.contains(&p.severity) && open && entry.session == p.session {
            if p.severity == "STATEMENT" {
                entry.statement.clear();
                entry.statement.push_str(p.message);
            }
            fold.skip();
            continue;
        }
        let time =
            parse_time(p.time).ok_or_else(|| bad_time(path, n, "the prefix's time", p.time))?;
        if open {
            emit(path, &entry, fold)?;
        }
        entry.fill(n, time, &p);
        open = true;
    }
    if open {
        emit(path, &entry, fold)?;
    }
    Ok(prefix.as_str().to_string())
}

impl Entry {
    /// Starts the entry of line `n` (its buffers reused).
    fn fill(&mut self, n: u64, time: i64, p: &Parts<'_>) {
        self.line = n;
        self.time = time;
        for (to, from) in [
            (&mut self.session, p.session),
            (&mut self.sqlstate, p.sqlstate),
            (&mut self.severity, p.severity),
            (&mut self.message, p.message),
            (&mut self.statement, ""),
        ] {
            to.clear();
            to.push_str(from);
        }
    }
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

#[cfg(test)]
mod fast_tests {
    use super::*;

    /// Where the one-pass pattern matches, it reads what the general one
    /// reads; where it does not (a name holding the stop character, an
    /// IPv6 `%r`), the general one still reads the line.
    #[test]
    fn the_fast_pattern_reads_what_the_general_one_reads() {
        let cases = [
            (
                "%t:%r:%u@%d:[%p]:",
                "2026-12-07 13:13:46 UTC:127.0.0.1(43946):postgres@postgres:[6364]:LOG:  duration: 1 ms",
            ),
            (
                "%t:%r:%u@%d:[%p]:",
                "2026-12-07 13:13:46 UTC:::1(43946):app@user@db:[6364]:ERROR:  boom",
            ),
            (
                "%m [%p] %q%u@%d ",
                "2026-12-07 13:13:46.123 UTC [77] bob@shop LOG:  statement: SELECT 1",
            ),
            (
                "%m [%p] %q%u@%d ",
                "2026-12-07 13:13:46.123 UTC [77] LOG:  checkpoint",
            ),
            (
                "%t [%p]: user=%u,db=%d,app=%a,client=%h ",
                "2026-12-07 13:13:46 CET [9]: user=a,b,db=x,app=psql,client=::1 LOG:  hi",
            ),
        ];
        for (prefix, line) in cases {
            let p = Prefix::new(prefix).unwrap();
            let mut slots = p.slots();
            // The time without its zone, which the reader ignores (and the
            // general pattern may read greedily into the next field).
            let got = p
                .parse(&mut slots, line)
                .map(|x| (&x.time[..19], x.session, x.severity, x.message));
            let general = p.re.captures(line).map(|c| {
                let g = |i: Option<usize>| i.and_then(|i| c.get(i)).map_or("", |m| m.as_str());
                (
                    &g(p.groups[0])[..19],
                    g(p.groups[1]),
                    g(p.groups[3]),
                    &line[c.get(0).unwrap().end()..],
                )
            });
            assert!(got.is_some(), "{prefix:?} {line:?}");
            assert_eq!(got, general, "{prefix:?} {line:?}");
        }
    }

    /// A line of each known prefix, and one of a prefix with every
    /// escape the scanner reads.
    const LINES: [(&str, &str); 9] = [
        (
            "%m [%p] ",
            "2026-12-07 13:13:46.123 UTC [77] LOG:  duration: 0.5 ms",
        ),
        (
            "%m [%p] %q%u@%d ",
            "2026-12-07 13:13:46.123 UTC [77] bob@shop LOG:  statement: SELECT 1",
        ),
        (
            "%t:%r:%u@%d:[%p]:",
            "2026-12-07 13:13:46 UTC:127.0.0.1(43946):postgres@postgres:[6364]:LOG:  x",
        ),
        (
            "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
            "2026-12-07 13:13:46 CET [9]: [3-1] user=a,db=x,app=psql,client=::1 LOG:  hi",
        ),
        (
            "%t [%p]: user=%u,db=%d,app=%a,client=%h ",
            "2026-12-07 13:13:46 +02 [9]: user=a,db=x,app=psql,client=10.0.0.1 ERROR:  boom",
        ),
        (
            "%t-%c-",
            "2026-12-07 13:13:46 UTC-6571a1b2.2f4-LOG:  duration: 1 ms",
        ),
        (
            "%m [%p] %u@%d ",
            "2026-12-07 13:13:46.9 -03:30 [1] u@d STATEMENT:  select",
        ),
        ("%t ", "2026-12-07 13:13:46 UTC LOG:  x"),
        (
            "%m|%n|%s|%c|%e|%v|%Q|%x|%P|%l|%p|%u|",
            "2026-12-07 13:13:46.1|1733577226.123|2026-12-07 13:00:00 UTC|6571a1b2.2f4|42P01|3/7|-12|0|5|2|77|bob|PANIC:  z",
        ),
    ];

    /// The parts a prefix reads from a line, as owned strings.
    fn parts(p: &Prefix, line: &str) -> Option<[String; 5]> {
        let mut slots = p.slots();
        p.parse(&mut slots, line)
            .map(|x| [x.time, x.session, x.sqlstate, x.severity, x.message].map(str::to_string))
    }

    /// Every sample line is read by the scanner itself.
    #[test]
    fn the_scanner_reads_every_sample_line() {
        for (prefix, line) in LINES {
            let p = Prefix::new(prefix).unwrap();
            let scan = p
                .scan
                .as_ref()
                .unwrap_or_else(|| panic!("{prefix:?}: no scanner"));
            assert!(scan.scan(line).is_some(), "{prefix:?} {line:?}");
            let mut regex_only = p.clone();
            regex_only.scan = None;
            assert_eq!(
                parts(&p, line),
                parts(&regex_only, line),
                "{prefix:?} {line:?}"
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]

        /// Mutated lines (bytes of the prefix's own alphabet, Unicode
        /// digits, spaces) read the same parts with the scanner as with
        /// the regexes alone, or fail alike.
        #[test]
        fn the_scanner_reads_what_the_regexes_read(
            which in 0..LINES.len(),
            edits in proptest::collection::vec(
                (0usize..200, 0u8..3, proptest::sample::select(vec![
                    '0', '7', '.', ':', ' ', '-', '+', '@', '[', ']', '(', ')', ',', '|', '=',
                    'A', 'Z', 'a', 'f', 'U', '/', '\t', '٣', 'é',
                ])),
                0..4,
            ),
        ) {
            let (prefix, line) = LINES[which];
            let mut chars: Vec<char> = line.chars().collect();
            for (at, kind, c) in edits {
                let at = at % (chars.len() + 1);
                match kind {
                    0 => chars.insert(at, c),
                    1 if at < chars.len() => {
                        chars.remove(at);
                    }
                    _ if at < chars.len() => chars[at] = c,
                    _ => {}
                }
            }
            let line: String = chars.into_iter().collect();
            let p = Prefix::new(prefix).unwrap();
            let mut regex_only = p.clone();
            regex_only.scan = None;
            proptest::prop_assert_eq!(parts(&p, &line), parts(&regex_only, &line), "{:?}", line);
        }
    }
}
