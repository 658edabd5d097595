//! The error every configuration check returns: the dotted path of the
//! offending field and what was expected.

use std::fmt;

/// A bad value in a scenario or manifest, with the field's path
/// (for example `scenarios[2].load.patterns[0].multiplier`).
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Joins a parent path and a field name (`join("a.b", "c")` is `a.b.c`).
pub fn join(parent: &str, field: &str) -> String {
    if parent.is_empty() {
        field.to_string()
    } else {
        format!("{parent}.{field}")
    }
}
