//! A `log_line_prefix` read by hand, without a regex: the stderr reader's
//! fastest path.
//!
//! Hand-written although the regex crate reads the same prefix (and does,
//! for every line this scanner declines): taking the captures of the
//! prefix pattern was a third of `poolcast inspect`'s time on an RDS log
//! (`perf`, 2026-12-07), and a prefix is a short sequence of fixed-shape
//! fields that a byte walk reads in a few nanoseconds.
//!
//! The scanner follows the one-pass pattern of [`super::stderr`] and takes,
//! at every choice, the option that pattern prefers first: the longest run
//! of a class, an optional zone or `%q` group present. When that path
//! reads the line, it is the path the regex crate's leftmost-first search
//! returns, so the parts are the same; when it does not, the scanner says
//! `None` and the regexes read the line (a time with no zone before a
//! literal space, a `%q` line of a process that is not a session). Escapes
//! whose pattern is lazy (a name at the end of the prefix or right before
//! another escape) leave the whole prefix to the regexes.

use super::stderr::Token;

/// One step of the walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// This byte.
    Lit(u8),
    /// `YYYY-MM-DD HH:MM:SS`, a fraction, and an optional zone whose
    /// characters are letters, digits and the `extra` ones allowed.
    Time {
        capture: bool,
        fraction: Fraction,
        extra: [bool; 3],
    },
    /// Digits: at least one if `one`; `pid` marks the first `%p`.
    Digits { one: bool, pid: bool },
    /// `%c`: hex digits, a dot, hex digits.
    Session { capture: bool },
    /// `%e`: five of `[0-9A-Z]`.
    Sqlstate,
    /// `%n`: digits, a dot, digits.
    Epoch,
    /// `%v`: `[0-9/]*`.
    Vxid,
    /// `%Q`: an optional minus, then digits.
    Signed,
    /// A name: every byte up to the next occurrence of this one.
    Until(u8),
    /// `%q`: the rest is an optional group, taken as present.
    Group,
}

/// What follows a time's seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fraction {
    /// Nothing (`%t`).
    None,
    /// `.` and digits (`%m`).
    Required,
    /// Maybe `.` and digits (a time after the first).
    Optional,
}

/// The characters a zone may hold besides letters and digits, in
/// [`Step::Time`]'s `extra` order.
const ZONE_EXTRA: [u8; 3] = [b'+', b':', b'-'];

/// The parts the scanner found: byte ranges of `line`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Spans {
    pub time: (usize, usize),
    pub pid: (usize, usize),
    pub session: (usize, usize),
    pub sqlstate: (usize, usize),
    pub severity: (usize, usize),
    /// Where the message starts.
    pub end: usize,
}

/// A compiled prefix walk.
#[derive(Debug, Clone)]
pub(super) struct Scanner {
    steps: Vec<Step>,
}

impl Scanner {
    /// The walk of a prefix's tokens, or `None` when a part of it is lazy
    /// in the pattern (left to the regexes).
    pub(super) fn new(tokens: &[Token]) -> Option<Scanner> {
        let mut steps = Vec::new();
        let (mut time, mut pid, mut session) = (false, false, false);
        for (i, t) in tokens.iter().enumerate() {
            let e = match *t {
                Token::Literal(c) => {
                    steps.push(Step::Lit(u8::try_from(c).ok().filter(u8::is_ascii)?));
                    continue;
                }
                Token::Escape(e) => e,
            };
            let next = match tokens.get(i + 1) {
                Some(Token::Literal(c)) => u8::try_from(*c).ok().filter(u8::is_ascii),
                _ => None,
            };
            let extra = ZONE_EXTRA.map(|x| next != Some(x));
            steps.push(match e {
                't' if !time => {
                    time = true;
                    Step::Time {
                        capture: true,
                        fraction: Fraction::None,
                        extra,
                    }
                }
                'm' if !time => {
                    time = true;
                    Step::Time {
                        capture: true,
                        fraction: Fraction::Required,
                        extra,
                    }
                }
                't' | 'm' | 's' => Step::Time {
                    capture: false,
                    fraction: Fraction::Optional,
                    extra,
                },
                'n' => Step::Epoch,
                'p' if !pid => {
                    pid = true;
                    Step::Digits {
                        one: true,
                        pid: true,
                    }
                }
                'c' if !session => {
                    session = true;
                    Step::Session { capture: true }
                }
                'e' => Step::Sqlstate,
                'p' | 'P' | 'l' | 'x' => Step::Digits {
                    one: false,
                    pid: false,
                },
                'c' => Step::Session { capture: false },
                'v' => Step::Vxid,
                'Q' => Step::Signed,
                'u' | 'd' | 'a' | 'r' | 'h' | 'b' | 'i' => Step::Until(next?),
                'q' => Step::Group,
                _ => return None,
            });
        }
        time.then_some(Scanner { steps })
    }

    /// Reads the prefix and the severity at the start of `line`.
    pub(super) fn scan(&self, line: &str) -> Option<Spans> {
        let b = line.as_bytes();
        let mut at = 0;
        let mut out = Spans::default();
        for step in &self.steps {
            let start = at;
            match *step {
                Step::Lit(c) => {
                    if b.get(at) != Some(&c) {
                        return None;
                    }
                    at += 1;
                }
                Step::Time {
                    capture,
                    fraction,
                    extra,
                } => {
                    at = time(b, at, fraction)?;
                    if capture {
                        at = zone(b, at, extra);
                        out.time = (start, at);
                    } else {
                        at = zone(b, at, extra);
                    }
                }
                Step::Digits { one, pid } => {
                    at = digits(b, at)?;
                    if one && at == start {
                        return None;
                    }
                    if pid {
                        out.pid = (start, at);
                    }
                }
                Step::Session { capture } => {
                    at = hex_dot_hex(b, at)?;
                    if capture {
                        out.session = (start, at);
                    }
                }
                Step::Sqlstate => {
                    let s = b.get(at..at + 5)?;
                    if !s
                        .iter()
                        .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
                    {
                        return None;
                    }
                    at += 5;
                    out.sqlstate = (start, at);
                }
                Step::Epoch => {
                    let d = digits(b, at)?;
                    if d == at || b.get(d) != Some(&b'.') {
                        return None;
                    }
                    at = digits(b, d + 1)?;
                    if at == d + 1 {
                        return None;
                    }
                }
                Step::Vxid => at = run(b, at, |c| c.is_ascii_digit() || c == b'/'),
                Step::Signed => {
                    if b.get(at) == Some(&b'-') {
                        at += 1;
                    }
                    at = digits(b, at)?;
                }
                Step::Until(c) => at = run(b, at, |x| x != c && x != b'\n'),
                Step::Group => {}
            }
        }
        // The severity: an upper-case letter, then upper-case letters and
        // digits, then a colon and two spaces.
        let s = at;
        if !b.get(at).is_some_and(u8::is_ascii_uppercase) {
            return None;
        }
        at = run(b, at + 1, |c| c.is_ascii_uppercase() || c.is_ascii_digit());
        out.severity = (s, at);
        if b.get(at..at + 3) != Some(b":  ") {
            return None;
        }
        out.end = at + 3;
        Some(out)
    }
}

/// The end of the longest run of ASCII digits from `at`, or `None` when a
/// non-ASCII character follows it: the pattern's `\d` is Unicode's and
/// might read on, so the line is left to the regexes.
fn digits(b: &[u8], at: usize) -> Option<usize> {
    let e = run(b, at, |c| c.is_ascii_digit());
    (b.get(e).is_none_or(u8::is_ascii)).then_some(e)
}

/// The end of the longest run from `at` of bytes `keep` accepts.
fn run(b: &[u8], mut at: usize, keep: impl Fn(u8) -> bool) -> usize {
    while at < b.len() && keep(b[at]) {
        at += 1;
    }
    at
}

/// `YYYY-MM-DD HH:MM:SS` at `at` and its fraction: the end.
fn time(b: &[u8], at: usize, fraction: Fraction) -> Option<usize> {
    const SHAPE: &[u8; 19] = b"dddd-dd-dd dd:dd:dd";
    let s = b.get(at..at + SHAPE.len())?;
    let ok = s.iter().zip(SHAPE).all(|(c, k)| match k {
        b'd' => c.is_ascii_digit(),
        k => c == k,
    });
    if !ok {
        return None;
    }
    let end = at + SHAPE.len();
    // A Unicode digit right after the seconds or the fraction: the
    // pattern's `\d` could read it, so the regexes take the line.
    if b.get(end).is_some_and(|c| !c.is_ascii()) {
        return None;
    }
    if b.get(end) != Some(&b'.') {
        return (fraction != Fraction::Required).then_some(end);
    }
    match fraction {
        Fraction::None => Some(end),
        Fraction::Required | Fraction::Optional => {
            let e = digits(b, end + 1)?;
            if e > end + 1 {
                Some(e)
            } else if fraction == Fraction::Optional {
                Some(end)
            } else {
                None
            }
        }
    }
}

/// An optional zone at `at` (a space and a run of its characters),
/// present when it can be: the end.
fn zone(b: &[u8], at: usize, extra: [bool; 3]) -> usize {
    let ok = |c: u8| {
        c.is_ascii_alphanumeric() || ZONE_EXTRA.iter().zip(extra).any(|(&x, on)| on && c == x)
    };
    if b.get(at) == Some(&b' ') && b.get(at + 1).is_some_and(|&c| ok(c)) {
        run(b, at + 1, ok)
    } else {
        at
    }
}

/// `%c`: hex digits, a dot, hex digits; the end.
fn hex_dot_hex(b: &[u8], at: usize) -> Option<usize> {
    let hex = |c: u8| c.is_ascii_digit() || (b'a'..=b'f').contains(&c);
    let d = run(b, at, hex);
    if d == at || b.get(d) != Some(&b'.') {
        return None;
    }
    let e = run(b, d + 1, hex);
    (e > d + 1).then_some(e)
}
