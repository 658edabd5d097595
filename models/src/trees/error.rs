//! The one error type of the tree learners.

/// Why a tree learner refused to train or predict.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// A parameter is out of its range; `field` is the builder method's name.
    #[error("invalid parameter `{field}`: got {got}, expected {expected}")]
    InvalidParam {
        /// The parameter (same name as its builder method).
        field: &'static str,
        /// The value given, printed.
        got: String,
        /// The accepted range, in words.
        expected: &'static str,
    },
    /// The feature matrix has no rows or no columns.
    #[error("{what} is empty ({rows} rows × {cols} features); a tree needs at least one of each")]
    EmptyData {
        /// Which input (`training set`, `validation set`).
        what: &'static str,
        /// Rows given.
        rows: usize,
        /// Columns given.
        cols: usize,
    },
    /// Features and targets disagree in length.
    #[error("{what}: the feature matrix has {rows} rows but the target has {targets} values")]
    LengthMismatch {
        /// Which input.
        what: &'static str,
        /// Rows of the feature matrix.
        rows: usize,
        /// Length of the target.
        targets: usize,
    },
    /// A matrix has a different number of features than the model expects.
    #[error("{what} has {got} features, expected {expected}")]
    FeatureMismatch {
        /// Which input.
        what: &'static str,
        /// Columns given.
        got: usize,
        /// Columns expected.
        expected: usize,
    },
    /// A target is `NaN` or infinite (features may be `NaN`, targets may not).
    #[error(
        "{what}: target at row {row} is {value}; targets must be finite (drop or impute the row)"
    )]
    NonFiniteTarget {
        /// Which input.
        what: &'static str,
        /// Row index.
        row: usize,
        /// The offending value.
        value: f64,
    },
    /// More rows than the learner indexes (`u32`).
    #[error("{rows} training rows exceed the learner's limit of {max}")]
    TooManyRows {
        /// Rows given.
        rows: usize,
        /// The limit.
        max: usize,
    },
    /// Early stopping was asked for without a validation set.
    #[error(
        "`early_stopping_rounds` needs a validation set: call `train_with_validation`, or unset it"
    )]
    NoValidationSet,
    /// An error raised by linfa itself.
    #[error(transparent)]
    Linfa(#[from] linfa::Error),
}

impl TreeError {
    pub(crate) fn param(
        field: &'static str,
        got: impl std::fmt::Debug,
        expected: &'static str,
    ) -> Self {
        TreeError::InvalidParam {
            field,
            got: format!("{got:?}"),
            expected,
        }
    }
}
