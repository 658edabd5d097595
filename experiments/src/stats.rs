//! Means with 95% confidence intervals over replications.
//!
//! Replications of one scenario are independent (their random streams
//! differ), so the interval is Student's t on their values. The t table is
//! written out here rather than pulling a statistics crate for one
//! quantile function.

use poolcast_reports::Estimate;

/// Student's t 0.975 quantile for 1..=30 degrees of freedom.
const T975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042,
];

/// The 0.975 quantile of Student's t with `df` degrees of freedom.
pub fn t975(df: usize) -> f64 {
    match df {
        0 => f64::NAN,
        1..=30 => T975[df - 1],
        // Beyond the table: the Cornish–Fisher expansion around the normal
        // quantile, accurate to 1e-3 from 30 on.
        _ => {
            let z: f64 = 1.959_964;
            let d = df as f64;
            z + (z.powi(3) + z) / (4.0 * d)
                + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * d * d)
        }
    }
}

/// Mean and 95% interval of the finite values of `xs` (NaN everywhere when
/// none is finite; a zero-width interval for one value).
pub fn estimate(xs: &[f64]) -> Estimate {
    let v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    let n = v.len();
    if n == 0 {
        return Estimate {
            mean: f64::NAN,
            lo: f64::NAN,
            hi: f64::NAN,
        };
    }
    let mean = v.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return Estimate {
            mean,
            lo: mean,
            hi: mean,
        };
    }
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let half = t975(n - 1) * (var / n as f64).sqrt();
    Estimate {
        mean,
        lo: mean - half,
        hi: mean + half,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_match_the_textbook() {
        let e = estimate(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(e.mean, 3.0);
        // sd = 1.5811, se = 0.7071, t(4) = 2.776
        assert!((e.hi - 3.0 - 2.776 * 0.5_f64.sqrt()).abs() < 1e-9, "{e:?}");
        let one = estimate(&[7.0, f64::NAN]);
        assert_eq!((one.lo, one.mean, one.hi), (7.0, 7.0, 7.0));
        assert!(estimate(&[]).mean.is_nan());
    }

    #[test]
    fn the_t_expansion_continues_the_table() {
        assert!((t975(30) - 2.042).abs() < 1e-9);
        assert!((t975(31) - 2.040).abs() < 2e-3, "{}", t975(31));
        assert!((t975(120) - 1.980).abs() < 2e-3, "{}", t975(120));
        assert!(t975(0).is_nan());
    }
}
