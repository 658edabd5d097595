//! The crate's error type.

use std::path::Path;

/// Everything the offline pipeline can refuse.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Bad input: a file, a column, a setting. The message names it.
    #[error("{0}")]
    Input(String),
    /// A trainer failed.
    #[error("training {model}: {message}")]
    Train {
        /// The model.
        model: String,
        /// What went wrong.
        message: String,
    },
}

impl ModelError {
    pub(crate) fn io(path: &Path, e: std::io::Error) -> Self {
        ModelError::Input(format!("{}: {e}", path.display()))
    }
}
