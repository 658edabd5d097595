//! The one error type of this crate.
//!
//! Every variant carries the path of the file involved and says what was
//! expected, so a message read in a log is enough to find and fix the file.

use std::path::{Path, PathBuf};

/// Result alias used throughout this crate.
pub type Result<T, E = DatasetError> = std::result::Result<T, E>;

/// Everything that can go wrong reading or writing a dataset file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    /// An operating-system I/O call failed.
    #[error("{}: could not {action}: {source}", .path.display())]
    Io {
        /// The file (or temporary file) involved.
        path: PathBuf,
        /// What was being attempted, e.g. "open for reading".
        action: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The Parquet library rejected the file or the data: when reading, the
    /// file is usually not Parquet, truncated or corrupt.
    #[error("{}: {action} failed (expected {expected}): {source}", .path.display())]
    Parquet {
        /// The file involved.
        path: PathBuf,
        /// What was being attempted, e.g. "reading the Parquet footer".
        action: &'static str,
        /// What the file should have been.
        expected: &'static str,
        /// The underlying error.
        #[source]
        source: parquet::errors::ParquetError,
    },

    /// An Arrow operation (batch assembly, cast) failed.
    #[error("{}: {action} failed: {source}", .path.display())]
    Arrow {
        /// The file involved.
        path: PathBuf,
        /// What was being attempted.
        action: &'static str,
        /// The underlying error.
        #[source]
        source: arrow::error::ArrowError,
    },

    /// The Parquet decoder gave up on the file in a way it does not report as
    /// an error (it panicked); the file is corrupt.
    #[error("{}: corrupt Parquet file (expected a well-formed Parquet file): {detail}", .path.display())]
    Corrupt {
        /// The file involved.
        path: PathBuf,
        /// What the decoder said.
        detail: String,
    },

    /// A column the dataset needs is absent from the file.
    #[error("{}: missing column `{column}` (expected type {expected})", .path.display())]
    MissingColumn {
        /// The file involved.
        path: PathBuf,
        /// The column name.
        column: String,
        /// The type the column must have.
        expected: String,
    },

    /// A column exists but has the wrong type.
    #[error(
        "{}: column `{column}` has type {found}, expected {expected}",
        .path.display()
    )]
    ColumnType {
        /// The file involved.
        path: PathBuf,
        /// The column name.
        column: String,
        /// The type the column must have.
        expected: String,
        /// The type found in the file.
        found: String,
    },

    /// A non-nullable column holds a null.
    #[error(
        "{}: column `{column}` is null at row {row}, expected a non-null value",
        .path.display()
    )]
    UnexpectedNull {
        /// The file involved.
        path: PathBuf,
        /// The column name.
        column: String,
        /// Zero-based row index in the file.
        row: u64,
    },

    /// A value is outside the set the column allows.
    #[error(
        "{}: column `{column}` has value {value:?} at row {row}, expected {expected}",
        .path.display()
    )]
    InvalidValue {
        /// The file involved.
        path: PathBuf,
        /// The column name.
        column: String,
        /// Zero-based row index in the file.
        row: u64,
        /// The offending value, rendered as text.
        value: String,
        /// What the column allows.
        expected: String,
    },

    /// A line of a text trace (recorder CSV or JSONL) cannot be read.
    #[error("{}:{line}: {message}", .path.display())]
    Line {
        /// The file involved.
        path: PathBuf,
        /// One-based line number.
        line: u64,
        /// What is wrong and what was expected.
        message: String,
    },

    /// The write options or the output path are unusable.
    #[error("{}: invalid write options: {message}", .path.display())]
    InvalidOptions {
        /// The output file.
        path: PathBuf,
        /// What is wrong and what was expected.
        message: String,
    },

    /// A writer was used after an earlier error made it unusable; its
    /// temporary file has already been removed.
    #[error(
        "{}: writer is unusable after an earlier error (expected a fresh writer)",
        .path.display()
    )]
    Poisoned {
        /// The output file.
        path: PathBuf,
    },
}

impl DatasetError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            DatasetError::Io { path, .. }
            | DatasetError::Parquet { path, .. }
            | DatasetError::Arrow { path, .. }
            | DatasetError::Corrupt { path, .. }
            | DatasetError::MissingColumn { path, .. }
            | DatasetError::ColumnType { path, .. }
            | DatasetError::UnexpectedNull { path, .. }
            | DatasetError::InvalidValue { path, .. }
            | DatasetError::Line { path, .. }
            | DatasetError::InvalidOptions { path, .. }
            | DatasetError::Poisoned { path } => path,
        }
    }

    pub(crate) fn io(path: &Path, action: &'static str, source: std::io::Error) -> Self {
        DatasetError::Io {
            path: path.to_path_buf(),
            action,
            source,
        }
    }

    /// A [`DatasetError::Line`] for line `line` of `path`.
    pub(crate) fn line(path: &Path, line: u64, message: impl Into<String>) -> Self {
        DatasetError::Line {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }

    pub(crate) fn parquet(
        path: &Path,
        action: &'static str,
        expected: &'static str,
        source: parquet::errors::ParquetError,
    ) -> Self {
        DatasetError::Parquet {
            path: path.to_path_buf(),
            action,
            expected,
            source,
        }
    }
}
