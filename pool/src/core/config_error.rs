//! [`ConfigError`], the one error of every configuration check in the
//! workspace (`pool.toml`, the pool core's bounds, breakers, features,
//! scenario files and experiment manifests): the dotted path of the
//! offending field and what was expected. The helpers build paths and run
//! the common numeric checks.

/// A bad value in a configuration, with the field's path as written in the
/// file (for example `scenario[2].load.patterns[0].multiplier` or
/// `pool.max_size`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    /// Dotted path of the field, as written in the TOML file.
    pub path: String,
    /// What was wrong and what is expected instead.
    pub message: String,
}

impl ConfigError {
    /// Builds an error for the field at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The same error one level down: under `parent` (`pool` makes
    /// `max_size` into `pool.max_size`).
    pub fn under(self, parent: &str) -> Self {
        let path = if self.path.is_empty() {
            parent.to_string()
        } else {
            join(parent, &self.path)
        };
        ConfigError {
            path,
            message: self.message,
        }
    }
}

/// Joins a parent path and a field name (`join("a.b", "c")` is `a.b.c`).
pub fn join(parent: &str, field: &str) -> String {
    if parent.is_empty() {
        field.to_string()
    } else {
        format!("{parent}.{field}")
    }
}

/// Small checks shared by the `validate` methods. Each takes the path of the
/// value's parent and the field name, and reports `parent.field`.
pub mod check {
    use super::{ConfigError, join};

    /// A finite number strictly greater than zero.
    pub fn positive(parent: &str, field: &str, v: f64) -> Result<(), ConfigError> {
        if v.is_finite() && v > 0.0 {
            Ok(())
        } else {
            Err(ConfigError::new(
                join(parent, field),
                format!("expected a finite number > 0, found {v}"),
            ))
        }
    }

    /// A finite number greater than or equal to zero.
    pub fn non_negative(parent: &str, field: &str, v: f64) -> Result<(), ConfigError> {
        if v.is_finite() && v >= 0.0 {
            Ok(())
        } else {
            Err(ConfigError::new(
                join(parent, field),
                format!("expected a finite number >= 0, found {v}"),
            ))
        }
    }

    /// A finite number at least `min`.
    pub fn at_least(parent: &str, field: &str, v: f64, min: f64) -> Result<(), ConfigError> {
        if v.is_finite() && v >= min {
            Ok(())
        } else {
            Err(ConfigError::new(
                join(parent, field),
                format!("expected a finite number >= {min}, found {v}"),
            ))
        }
    }

    /// A number at most `max`; `unit` follows `max` in the message (its
    /// unit, and what the bound means).
    pub fn at_most(
        parent: &str,
        field: &str,
        v: f64,
        max: f64,
        unit: &str,
    ) -> Result<(), ConfigError> {
        if v <= max {
            Ok(())
        } else {
            Err(ConfigError::new(
                join(parent, field),
                format!("expected at most {max} {unit}, found {v}"),
            ))
        }
    }

    /// A number in `[lo, hi)` (or `[lo, hi]` when `hi_inclusive`).
    pub fn in_range(
        parent: &str,
        field: &str,
        v: f64,
        lo: f64,
        hi: f64,
        hi_inclusive: bool,
    ) -> Result<(), ConfigError> {
        let ok = v >= lo && if hi_inclusive { v <= hi } else { v < hi };
        if ok {
            Ok(())
        } else {
            let close = if hi_inclusive { ']' } else { ')' };
            Err(ConfigError::new(
                join(parent, field),
                format!("expected a number in [{lo}, {hi}{close}, found {v}"),
            ))
        }
    }
}
