//! Fixed, locale-free formatting of numbers and names.
//!
//! Every number in a report goes through here, so the same value always
//! prints the same way and a non-finite value prints as "n/a".

use crate::model::Estimate;

/// What a non-finite or missing value renders as.
pub(crate) const NA: &str = "n/a";

/// A number with a precision that follows its magnitude: `1234`, `123.4`,
/// `12.34`, `1.234`, `0.123`, and scientific notation outside 1e-3..1e9.
pub(crate) fn num(x: f64) -> String {
    if !x.is_finite() {
        return NA.to_string();
    }
    let a = x.abs();
    let s = if a == 0.0 {
        "0".to_string()
    } else if !(1e-3..1e9).contains(&a) {
        format!("{x:.2e}")
    } else if a >= 1000.0 {
        format!("{x:.0}")
    } else if a >= 100.0 {
        format!("{x:.1}")
    } else if a >= 10.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    };
    no_negative_zero(s)
}

/// Like [`num`] with trailing zeros dropped: `5.000` → `5`, `0.100` → `0.1`.
pub(crate) fn num_short(x: f64) -> String {
    let s = num(x);
    if s.contains('.') && !s.contains('e') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A number with a fixed count of decimals.
pub(crate) fn fixed(x: f64, decimals: usize) -> String {
    if !x.is_finite() {
        return NA.to_string();
    }
    no_negative_zero(format!("{x:.decimals$}"))
}

/// A fraction as a percentage with one decimal: `0.873` → `87.3%`.
pub(crate) fn pct(x: f64) -> String {
    if !x.is_finite() {
        return NA.to_string();
    }
    let p = x * 100.0;
    let a = p.abs();
    if a >= 1e6 || (a > 0.0 && a < 1e-3) {
        return format!("{p:.1e}%");
    }
    if a > 0.0 && a < 0.1 {
        return format!("{}%", fixed(p, 3));
    }
    format!("{}%", fixed(p, 1))
}

/// A fraction as a signed percentage: `0.12` → `+12.0%`.
pub(crate) fn signed_pct(x: f64) -> String {
    let s = pct(x);
    if x.is_finite() && !s.starts_with('-') && s != "0.0%" {
        format!("+{s}")
    } else {
        s
    }
}

/// An optional fraction as a percentage, "n/a" when absent.
pub(crate) fn opt_pct(x: Option<f64>) -> String {
    x.map_or_else(|| NA.to_string(), pct)
}

/// An optional fraction as a signed percentage, "n/a" when absent.
pub(crate) fn opt_signed_pct(x: Option<f64>) -> String {
    x.map_or_else(|| NA.to_string(), signed_pct)
}

/// An estimate as `mean [lo, hi]`.
pub(crate) fn est(e: &Estimate) -> String {
    format!("{} [{}, {}]", num(e.mean), num(e.lo), num(e.hi))
}

/// A fractional estimate as `mean [lo, hi]` in percent.
pub(crate) fn est_pct(e: &Estimate) -> String {
    format!("{} [{}, {}]", pct(e.mean), pct(e.lo), pct(e.hi))
}

/// Seconds in the largest unit that keeps the number readable.
pub(crate) fn duration_s(s: f64) -> String {
    if !s.is_finite() {
        return NA.to_string();
    }
    let a = s.abs();
    if a >= 7200.0 {
        format!("{} h", num_short(s / 3600.0))
    } else if a >= 120.0 {
        format!("{} min", num_short(s / 60.0))
    } else {
        format!("{} s", num_short(s))
    }
}

/// Replication indices, with runs of consecutive indices compressed:
/// `[0, 1, 2, 5]` → `0–2, 5`.
pub(crate) fn index_ranges(values: &[u32]) -> String {
    if values.is_empty() {
        return "none".to_string();
    }
    let mut parts = Vec::new();
    let mut start = values[0];
    let mut prev = values[0];
    for &v in &values[1..] {
        if prev.checked_add(1) == Some(v) {
            prev = v;
            continue;
        }
        parts.push(range_text(start, prev));
        start = v;
        prev = v;
    }
    parts.push(range_text(start, prev));
    parts.join(", ")
}

fn range_text(a: u32, b: u32) -> String {
    if a == b {
        a.to_string()
    } else {
        format!("{a}–{b}")
    }
}

/// "yes" or "no".
pub(crate) fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// A name made safe for a file name: lower case ASCII letters, digits,
/// `-`, `_` and `.`; anything else becomes `-`. Never empty, never starts
/// with a dot.
pub(crate) fn sanitize_file_stem(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    while out.starts_with('.') {
        out.replace_range(0..1, "-");
    }
    if out.is_empty() {
        out.push_str("unnamed");
    }
    out
}

/// Turns `-0.0`-style output into `0.0`.
fn no_negative_zero(s: String) -> String {
    match s.strip_prefix('-') {
        Some(rest) if rest.chars().all(|c| c == '0' || c == '.') => rest.to_string(),
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_magnitude_and_never_fail() {
        assert_eq!(num(1234.56), "1235");
        assert_eq!(num(123.456), "123.5");
        assert_eq!(num(12.3456), "12.35");
        assert_eq!(num(1.23456), "1.235");
        assert_eq!(num(0.0123), "0.012");
        assert_eq!(num(0.0), "0");
        assert_eq!(num(-0.0), "0");
        assert_eq!(num(-0.0001), "-1.00e-4");
        assert_eq!(num(2.5e7), "25000000");
        assert_eq!(num(2.5e9), "2.50e9");
        assert_eq!(num_short(5.0), "5");
        assert_eq!(num_short(0.1), "0.1");
        assert_eq!(num(f64::NAN), "n/a");
        assert_eq!(num(f64::INFINITY), "n/a");
        assert_eq!(fixed(-0.0004, 2), "0.00");
    }

    #[test]
    fn percentages() {
        assert_eq!(pct(0.8734), "87.3%");
        assert_eq!(pct(f64::NAN), "n/a");
        assert_eq!(signed_pct(0.12), "+12.0%");
        assert_eq!(signed_pct(-0.05), "-5.0%");
        assert_eq!(signed_pct(0.0), "0.0%");
        assert_eq!(opt_pct(None), "n/a");
        assert_eq!(pct(1e300), "1.0e302%");
        assert_eq!(pct(0.00009), "0.009%");
        assert_eq!(pct(1e-7), "1.0e-5%");
        assert_eq!(pct(-0.0), "0.0%");
    }

    #[test]
    fn estimates_and_ranges() {
        let e = Estimate {
            mean: 12.0,
            lo: 10.5,
            hi: f64::NAN,
        };
        assert_eq!(est(&e), "12.00 [10.50, n/a]");
        assert_eq!(index_ranges(&[0, 1, 2, 5, 7, 8]), "0–2, 5, 7–8");
        assert_eq!(index_ranges(&[]), "none");
        assert_eq!(index_ranges(&[u32::MAX]), "4294967295");
    }

    #[test]
    fn file_stems_are_safe() {
        assert_eq!(sanitize_file_stem("Spike Load/β"), "spike-load--");
        assert_eq!(sanitize_file_stem("diurnal_v1.2"), "diurnal_v1.2");
        assert_eq!(sanitize_file_stem(""), "unnamed");
        assert_eq!(sanitize_file_stem("../x"), "-.-x");
    }

    #[test]
    fn durations() {
        assert_eq!(duration_s(30.0), "30 s");
        assert_eq!(duration_s(600.0), "10 min");
        assert_eq!(duration_s(86400.0), "24 h");
        assert_eq!(duration_s(7.5), "7.5 s");
    }
}
