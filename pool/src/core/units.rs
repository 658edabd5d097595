//! Time units: the one conversion from the human units of settings and
//! scenario files (milliseconds, seconds, as `f64`) to the core's integer
//! nanoseconds.

use super::{NANOS_PER_MS, NANOS_PER_SEC, Nanos};

/// Milliseconds to nanoseconds, rounded to the nearest; negative and NaN
/// give 0 and values beyond `u64` saturate.
pub fn ms_to_ns(ms: f64) -> Nanos {
    to_ns(ms, NANOS_PER_MS)
}

/// Seconds to nanoseconds, rounded to the nearest; negative and NaN give
/// 0 and values beyond `u64` saturate.
pub fn secs_to_ns(s: f64) -> Nanos {
    to_ns(s, NANOS_PER_SEC)
}

fn to_ns(v: f64, per: Nanos) -> Nanos {
    // `as` maps NaN to 0 and saturates; the clamp says so explicitly.
    (v * per as f64).round().clamp(0.0, u64::MAX as f64) as Nanos
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_and_saturates() {
        assert_eq!(ms_to_ns(1.5), 1_500_000);
        assert_eq!(ms_to_ns(0.0000004), 0);
        assert_eq!(ms_to_ns(0.0000006), 1);
        assert_eq!(secs_to_ns(2.0), 2_000_000_000);
        assert_eq!(ms_to_ns(-3.0), 0);
        assert_eq!(ms_to_ns(f64::NAN), 0);
        assert_eq!(secs_to_ns(f64::INFINITY), u64::MAX);
        assert_eq!(secs_to_ns(1e300), u64::MAX);
    }
}
