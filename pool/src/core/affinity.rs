//! Statement-cache affinity: normalize a statement to a pattern, and know
//! which connections already hold a prepared statement for it.
//!
//! A server-side prepared statement lives on one connection. When a request
//! for pattern `p` can be served by an idle connection that already prepared
//! `p`, it skips a parse/plan round trip. The pool asks
//! [`AffinityIndex::candidates`] for such connections and prefers an idle one
//! among them; it never waits for a specific connection (see
//! [`PoolCore::acquire_preferring`](super::pool::PoolCore::acquire_preferring)).
//!
//! ```
//! use poolcast::core::affinity::{normalize, pattern_hash};
//!
//! assert_eq!(
//!     normalize("SELECT *  FROM t WHERE id = 42 AND name = 'bob'"),
//!     "select * from t where id = ? and name = ?"
//! );
//! assert_eq!(
//!     pattern_hash("select * from t where id in (1, 2, 3)"),
//!     pattern_hash("SELECT * FROM t WHERE id IN (7)")
//! );
//! ```

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use super::pool::ConnId;

/// The statement with its literals replaced by `?`, comments dropped,
/// whitespace collapsed and everything outside quoted identifiers
/// lower-cased; lists of literals (`IN (1, 2, 3)`) collapse to one `?`.
/// Placeholders (`$1`) are kept: they are not literals.
///
/// Hand-written rather than a SQL parser crate: the pool only needs a
/// stable fingerprint of the statement's shape on the hot path, not a
/// syntax tree, and a full parser (sqlparser) would be the runtime's
/// largest dependency.
pub fn normalize(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    normalize_into(sql, &mut out);
    out
}

/// [`normalize`] into `out` (cleared first), allocating nothing once `out`
/// has room: what [`pattern_hash`] runs on every statement of a log.
pub fn normalize_into(sql: &str, out: &mut String) {
    out.clear();
    let b = sql.as_bytes();
    let mut i = 0;
    // Whether a space is owed before the next token.
    let mut space = false;
    let push_tok = |out: &mut String, space: &mut bool, s: &str| {
        if *space && !out.is_empty() {
            out.push(' ');
        }
        *space = false;
        out.push_str(s);
    };
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            space = true;
            i += 1;
        } else if c == b'-' && b.get(i + 1) == Some(&b'-') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            space = true;
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                i += 1;
            }
            i = (i + 2).min(b.len());
            space = true;
        } else if c == b'\'' || ((c == b'e' || c == b'E') && b.get(i + 1) == Some(&b'\'')) {
            // A string literal, with '' as an escaped quote (and \' in E'').
            let escapes = c != b'\'';
            i += if escapes { 2 } else { 1 };
            while i < b.len() {
                if escapes && b[i] == b'\\' {
                    i += 2;
                    continue;
                }
                if b[i] == b'\'' {
                    if b.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                i += 1;
            }
            push_tok(out, &mut space, "?");
        } else if c == b'$' && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
            let start = i;
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            push_tok(out, &mut space, &sql[start..i]);
        } else if c == b'$' {
            // A dollar-quoted string: $tag$ ... $tag$.
            let start = i;
            let mut j = i + 1;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                j += 1;
            }
            if j < b.len() && b[j] == b'$' {
                let tag = &sql[start..=j];
                let body = j + 1;
                i = sql[body..]
                    .find(tag)
                    .map_or(b.len(), |k| body + k + tag.len());
                push_tok(out, &mut space, "?");
            } else {
                push_tok(out, &mut space, "$");
                i += 1;
            }
        } else if c == b'"' {
            // A quoted identifier keeps its case.
            let start = i;
            i += 1;
            while i < b.len() {
                if b[i] == b'"' {
                    if b.get(i + 1) == Some(&b'"') {
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                i += 1;
            }
            push_tok(out, &mut space, &sql[start..i]);
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            // A number: digits, a decimal point, an exponent, hex digits.
            i += 1;
            while i < b.len() {
                let d = b[i];
                let exponent_sign = (d == b'+' || d == b'-') && matches!(b[i - 1], b'e' | b'E');
                if d.is_ascii_alphanumeric() || d == b'.' || d == b'_' || exponent_sign {
                    i += 1;
                } else {
                    break;
                }
            }
            push_tok(out, &mut space, "?");
        } else if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] >= 0x80) {
                i += 1;
            }
            push_tok(out, &mut space, &sql[start..i]);
            let len = out.len();
            out[len - (i - start)..].make_ascii_lowercase();
        } else {
            // Punctuation: commas and parentheses hug their neighbours so
            // that `f( a ,b )` and `f(a, b)` agree.
            let s = &sql[i..i + 1];
            match c {
                b',' => {
                    out.push_str(", ");
                    space = false;
                }
                b'(' | b')' => {
                    if c == b'(' {
                        push_tok(out, &mut space, s);
                    } else {
                        out.push(')');
                    }
                    space = false;
                    if c == b'(' {
                        // No space after an opening parenthesis.
                        while b.get(i + 1).is_some_and(u8::is_ascii_whitespace) {
                            i += 1;
                        }
                    }
                }
                _ => push_tok(out, &mut space, s),
            }
            i += 1;
            // A comma's own space is already written.
            if c == b',' {
                while i < b.len() && b[i].is_ascii_whitespace() {
                    i += 1;
                }
            }
        }
    }
    tidy(out);
}

/// Drops a space before a closing parenthesis, collapses runs of literal
/// lists (`?, ?, ?` → `?`) and trims trailing spaces and semicolons, in
/// place. The same as replacing every `" )"` with `")"`, then `"?, ?"`
/// with `"?"` until none is left (the rewriting is confluent: its only
/// overlap, `?, ?, ?`, gives `?` either way), then trimming.
fn tidy(out: &mut String) {
    let mut v = std::mem::take(out).into_bytes();
    let mut w = 0;
    for r in 0..v.len() {
        if !(v[r] == b' ' && v.get(r + 1) == Some(&b')')) {
            v[w] = v[r];
            w += 1;
        }
    }
    v.truncate(w);
    let (mut r, mut w) = (0, 0);
    while r < v.len() {
        let c = v[r];
        v[w] = c;
        w += 1;
        r += 1;
        if c == b'?' {
            while v[r..].starts_with(b", ?") {
                r += 3;
            }
        }
    }
    v.truncate(w);
    while matches!(v.last(), Some(b' ' | b';')) {
        v.pop();
    }
    // Only ASCII bytes were removed, each a whole character.
    *out =
        String::from_utf8(v).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
}

/// FNV-1a (64-bit) of the normalized statement: the statement's pattern.
///
/// Hand-written rather than `std`'s `DefaultHasher` because the value is
/// stored in traces (`RequestRecord::pattern_hash`) and must not change
/// between Rust releases; FNV-1a is eight lines and fixed forever.
pub fn pattern_hash(sql: &str) -> u64 {
    thread_local! {
        /// The normalized statement's buffer, kept between calls.
        static BUF: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    BUF.with(|b| match b.try_borrow_mut() {
        Ok(mut buf) => {
            normalize_into(sql, &mut buf);
            fnv1a(buf.as_bytes())
        }
        // Not reentrant in practice; a fresh buffer if it ever were.
        Err(_) => fnv1a(normalize(sql).as_bytes()),
    })
}

/// FNV-1a, 64-bit.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // 0 means "unknown pattern" in a RequestRecord.
    h.max(1)
}

/// Hashes a pattern for [`AffinityIndex`]'s map with one 64 × 64 → 128-bit
/// multiply whose halves are folded together.
///
/// The keys are already hashes ([`pattern_hash`] here, a SplitMix64 output
/// in the simulator), so `std`'s default SipHash only burnt time: it was
/// most of the cost of [`AffinityIndex::candidates`], which the pool calls
/// on every affinity-routed acquire. The fold spreads every input bit over
/// the bits the map uses for its bucket and tag. Keys come from the
/// application's statement shapes (literals are normalized away), not
/// from its users, so there is no flooding adversary to defend against.
#[derive(Debug, Default, Clone, Copy)]
struct PatternHasher(u64);

impl Hasher for PatternHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write_u64(&mut self, v: u64) {
        let m = u128::from(v ^ self.0) * 0x9E37_79B9_7F4A_7C15;
        self.0 = (m as u64) ^ ((m >> 64) as u64);
    }

    /// Only `u64` keys are hashed; anything else goes eight bytes at a
    /// time through [`write_u64`](Self::write_u64).
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }
}

/// Which connections hold a prepared statement for which pattern.
#[derive(Debug, Default, Clone)]
pub struct AffinityIndex {
    by_pattern: HashMap<u64, Vec<ConnId>, BuildHasherDefault<PatternHasher>>,
    /// Per connection, its patterns: a set, so that [`holds`](Self::holds)
    /// (called on the acquire path) is one probe whatever the cache size.
    by_conn: Vec<HashSet<u64, BuildHasherDefault<PatternHasher>>>,
}

impl AffinityIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Connection `conn` now holds a statement of `pattern`.
    pub fn insert(&mut self, conn: ConnId, pattern: u64) {
        let i = conn as usize;
        if self.by_conn.len() <= i {
            self.by_conn.resize_with(i + 1, HashSet::default);
        }
        if !self.by_conn[i].insert(pattern) {
            return;
        }
        self.by_pattern.entry(pattern).or_default().push(conn);
    }

    /// Connection `conn` dropped its statement of `pattern` (cache eviction).
    pub fn remove(&mut self, conn: ConnId, pattern: u64) {
        if let Some(list) = self.by_conn.get_mut(conn as usize) {
            list.remove(&pattern);
        }
        self.unlink(conn, pattern);
    }

    fn unlink(&mut self, conn: ConnId, pattern: u64) {
        if let Some(conns) = self.by_pattern.get_mut(&pattern) {
            conns.retain(|&c| c != conn);
            if conns.is_empty() {
                self.by_pattern.remove(&pattern);
            }
        }
    }

    /// Connection `conn` closed: it holds nothing any more.
    pub fn forget_conn(&mut self, conn: ConnId) {
        let Some(list) = self.by_conn.get_mut(conn as usize) else {
            return;
        };
        let list = std::mem::take(list);
        // The order of unlinking does not matter: each pattern's list
        // loses `conn` and keeps the others in their order.
        for p in list {
            self.unlink(conn, p);
        }
    }

    /// Connections holding `pattern`, most recently prepared last.
    pub fn candidates(&self, pattern: u64) -> &[ConnId] {
        self.by_pattern.get(&pattern).map_or(&[], Vec::as_slice)
    }

    /// Whether `conn` holds a statement of `pattern`: what
    /// [`PoolCore::acquire_preferring`](super::pool::PoolCore::acquire_preferring)
    /// asks of each idle connection.
    pub fn holds(&self, conn: ConnId, pattern: u64) -> bool {
        self.by_conn
            .get(conn as usize)
            .is_some_and(|s| s.contains(&pattern))
    }

    /// Patterns held by `conn`, sorted.
    pub fn patterns_of(&self, conn: ConnId) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .by_conn
            .get(conn as usize)
            .map_or(Vec::new(), |s| s.iter().copied().collect());
        v.sort_unstable();
        v
    }

    /// Number of distinct patterns prepared somewhere.
    pub fn len(&self) -> usize {
        self.by_pattern.len()
    }

    /// Whether no connection holds anything.
    pub fn is_empty(&self) -> bool {
        self.by_pattern.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first `normalize`, allocating a string per word and per
    /// clean-up step: the in-place one must give the same bytes, since
    /// the hashes of its output are stored in traces.
    fn normalize_reference(sql: &str) -> String {
        let b = sql.as_bytes();
        let mut out = String::with_capacity(sql.len());
        let mut i = 0;
        // Whether a space is owed before the next token.
        let mut space = false;
        let push_tok = |out: &mut String, space: &mut bool, s: &str| {
            if *space && !out.is_empty() {
                out.push(' ');
            }
            *space = false;
            out.push_str(s);
        };
        while i < b.len() {
            let c = b[i];
            if c.is_ascii_whitespace() {
                space = true;
                i += 1;
            } else if c == b'-' && b.get(i + 1) == Some(&b'-') {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                space = true;
            } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
                i += 2;
                while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i = (i + 2).min(b.len());
                space = true;
            } else if c == b'\'' || ((c == b'e' || c == b'E') && b.get(i + 1) == Some(&b'\'')) {
                // A string literal, with '' as an escaped quote (and \' in E'').
                let escapes = c != b'\'';
                i += if escapes { 2 } else { 1 };
                while i < b.len() {
                    if escapes && b[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if b[i] == b'\'' {
                        if b.get(i + 1) == Some(&b'\'') {
                            i += 2;
                            continue;
                        }
                        i += 1;
                        break;
                    }
                    i += 1;
                }
                push_tok(&mut out, &mut space, "?");
            } else if c == b'$' && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                let start = i;
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                push_tok(&mut out, &mut space, &sql[start..i]);
            } else if c == b'$' {
                // A dollar-quoted string: $tag$ ... $tag$.
                let start = i;
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                if j < b.len() && b[j] == b'$' {
                    let tag = &sql[start..=j];
                    let body = j + 1;
                    i = sql[body..]
                        .find(tag)
                        .map_or(b.len(), |k| body + k + tag.len());
                    push_tok(&mut out, &mut space, "?");
                } else {
                    push_tok(&mut out, &mut space, "$");
                    i += 1;
                }
            } else if c == b'"' {
                // A quoted identifier keeps its case.
                let start = i;
                i += 1;
                while i < b.len() {
                    if b[i] == b'"' {
                        if b.get(i + 1) == Some(&b'"') {
                            i += 2;
                            continue;
                        }
                        i += 1;
                        break;
                    }
                    i += 1;
                }
                push_tok(&mut out, &mut space, &sql[start..i]);
            } else if c.is_ascii_digit()
                || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
            {
                // A number: digits, a decimal point, an exponent, hex digits.
                i += 1;
                while i < b.len() {
                    let d = b[i];
                    let exponent_sign = (d == b'+' || d == b'-') && matches!(b[i - 1], b'e' | b'E');
                    if d.is_ascii_alphanumeric() || d == b'.' || d == b'_' || exponent_sign {
                        i += 1;
                    } else {
                        break;
                    }
                }
                push_tok(&mut out, &mut space, "?");
            } else if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] >= 0x80)
                {
                    i += 1;
                }
                let word = sql[start..i].to_ascii_lowercase();
                push_tok(&mut out, &mut space, &word);
            } else {
                // Punctuation: commas and parentheses hug their neighbours so
                // that `f( a ,b )` and `f(a, b)` agree.
                let s = &sql[i..i + 1];
                match c {
                    b',' => {
                        out.push_str(", ");
                        space = false;
                    }
                    b'(' | b')' => {
                        if c == b'(' {
                            push_tok(&mut out, &mut space, s);
                        } else {
                            out.push(')');
                        }
                        space = false;
                        if c == b'(' {
                            // No space after an opening parenthesis.
                            while b.get(i + 1).is_some_and(u8::is_ascii_whitespace) {
                                i += 1;
                            }
                        }
                    }
                    _ => push_tok(&mut out, &mut space, s),
                }
                i += 1;
                // A comma's own space is already written.
                if c == b',' {
                    while i < b.len() && b[i].is_ascii_whitespace() {
                        i += 1;
                    }
                }
            }
        }
        // Trailing spaces before a closing parenthesis or at the end, and runs
        // of literal lists.
        let mut s = out.replace(" )", ")");
        while s.contains("?, ?") {
            s = s.replace("?, ?", "?");
        }
        let trimmed = s.trim_end_matches([' ', ';']);
        trimmed.to_string()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Any text, and SQL-shaped text heavy in the characters the
        /// clean-up steps look at.
        #[test]
        fn in_place_normalize_gives_the_same_bytes(
            any in ".{0,80}",
            sqlish in "([a-zA-Z_ ]{1,4}|[0-9.eE+-]{1,3}|'[a-z']{0,3}'|\"[a-z ?,)]{0,4}\"|\\$[0-9]|\\$t\\$x\\$t\\$|--[a-z]*\n|/\\*x\\*/|[ ,?();\\n]{1,3}|é){0,24}",
        ) {
            for sql in [any.as_str(), sqlish.as_str()] {
                proptest::prop_assert_eq!(normalize(sql), normalize_reference(sql));
                proptest::prop_assert_eq!(pattern_hash(sql), fnv1a(normalize_reference(sql).as_bytes()));
            }
        }
    }

    #[test]
    fn literals_comments_and_whitespace_go() {
        let cases = [
            ("SELECT 1", "select ?"),
            (
                "select  a,b  from t -- hi\n where x=1.5e-3",
                "select a, b from t where x=?",
            ),
            (
                "select /* c */ 'it''s', E'a\\'b' , $$x$$, $t$y$t$ from t",
                "select ? from t",
            ),
            (
                "SELECT \"Mixed\" FROM \"T\" WHERE id = $1",
                "select \"Mixed\" from \"T\" where id = $1",
            ),
            (
                "insert into t values (1, 'a'), (2, 'b');",
                "insert into t values (?), (?)",
            ),
            (
                "select * from t where id in ( 1 , 2 , 3 )",
                "select * from t where id in (?)",
            ),
            ("select 0x1F, .5, 12", "select ?"),
            (
                "update t set n = n + 1 where k = 'x'",
                "update t set n = n + ? where k = ?",
            ),
        ];
        for (sql, want) in cases {
            assert_eq!(normalize(sql), want, "{sql}");
        }
    }

    #[test]
    fn same_shape_same_hash_different_shape_different_hash() {
        assert_eq!(
            pattern_hash("SELECT * FROM t WHERE id = 1"),
            pattern_hash("select *\n  from t where id = 2")
        );
        assert_eq!(
            pattern_hash("SELECT * FROM t WHERE id = 1"),
            pattern_hash("SELECT * FROM t WHERE id = 99")
        );
        assert_ne!(
            pattern_hash("SELECT * FROM t WHERE id = 1"),
            pattern_hash("SELECT * FROM u WHERE id = 1")
        );
        assert_ne!(pattern_hash(""), 0);
    }

    #[test]
    fn hash_is_fixed_forever() {
        // Traces store this value: it must never change.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn unterminated_quotes_do_not_panic() {
        for sql in [
            "select 'abc",
            "select \"abc",
            "select $a$ abc",
            "select /* x",
            "e'",
            "$",
            "1e+",
        ] {
            let _ = normalize(sql);
        }
    }

    #[test]
    fn index_tracks_conns_and_patterns() {
        let mut ix = AffinityIndex::new();
        ix.insert(3, 10);
        ix.insert(1, 10);
        ix.insert(1, 10);
        ix.insert(1, 11);
        assert_eq!(ix.candidates(10), &[3, 1]);
        assert_eq!(ix.patterns_of(1), vec![10, 11]);
        ix.remove(3, 10);
        assert_eq!(ix.candidates(10), &[1]);
        ix.forget_conn(1);
        assert!(ix.candidates(10).is_empty());
        assert!(ix.is_empty());
        assert!(ix.candidates(99).is_empty());
        ix.forget_conn(42);
    }

    #[test]
    fn the_pattern_hasher_spreads_structured_keys() {
        use std::hash::BuildHasher;
        let b = BuildHasherDefault::<PatternHasher>::default();
        // Keys that differ only in high bits, or only in low bits, land in
        // distinct buckets of a small table and carry distinct tag bits.
        for keys in [
            (1..=64u64).map(|k| k << 40).collect::<Vec<_>>(),
            (1..=64u64).collect(),
        ] {
            let mut low: Vec<u64> = keys.iter().map(|&k| b.hash_one(k) & 127).collect();
            let mut top: Vec<u64> = keys.iter().map(|&k| b.hash_one(k) >> 57).collect();
            low.sort_unstable();
            low.dedup();
            top.sort_unstable();
            top.dedup();
            assert!(
                low.len() > 40 && top.len() > 40,
                "{} {}",
                low.len(),
                top.len()
            );
        }
        let mut ix = AffinityIndex::new();
        for k in 0..1000u64 {
            ix.insert((k % 7) as ConnId, k << 32);
        }
        assert_eq!(ix.len(), 1000);
        assert_eq!(ix.candidates(5 << 32), &[5]);
    }
}
