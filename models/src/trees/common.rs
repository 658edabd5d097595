//! Input checks and batch prediction shared by both learners.

use std::borrow::Cow;

use ndarray::{Array1, ArrayBase, ArrayView1, Data, Ix2};
use poolcast::core::model::TreeEnsemble;
use rayon::prelude::*;

use super::TreeError;

/// Checks a feature matrix and its target: non-empty, same length, finite
/// targets, row count within `u32`.
pub(crate) fn check_xy<S: Data<Elem = f64>>(
    what: &'static str,
    x: &ArrayBase<S, Ix2>,
    y: &[f64],
) -> Result<(), TreeError> {
    let (rows, cols) = x.dim();
    if rows == 0 || cols == 0 {
        return Err(TreeError::EmptyData { what, rows, cols });
    }
    if y.len() != rows {
        return Err(TreeError::LengthMismatch {
            what,
            rows,
            targets: y.len(),
        });
    }
    if let Some((row, &value)) = y.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(TreeError::NonFiniteTarget { what, row, value });
    }
    let max = u32::MAX as usize;
    if rows >= max {
        return Err(TreeError::TooManyRows { rows, max });
    }
    Ok(())
}

/// A target view as a slice, copying only when it is not contiguous.
pub(crate) fn as_slice<'a>(y: &'a ArrayView1<'_, f64>) -> Cow<'a, [f64]> {
    match y.as_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(y.to_vec()),
    }
}

/// Predicts every row of `x` through [`TreeEnsemble::predict`] (rayon over
/// rows; each row is independent, so the output does not depend on the
/// thread count).
pub(crate) fn predict_into<S: Data<Elem = f64>>(
    ensemble: &TreeEnsemble,
    x: &ArrayBase<S, Ix2>,
    out: &mut [f64],
) {
    const CHUNK: usize = 256;
    let x = x.view();
    out.par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(c, chunk)| {
            let mut buf = Vec::new();
            for (k, o) in chunk.iter_mut().enumerate() {
                let row = x.row(c * CHUNK + k);
                *o = match row.as_slice() {
                    Some(s) => ensemble.predict(s),
                    None => {
                        buf.clear();
                        buf.extend(row.iter().copied());
                        ensemble.predict(&buf)
                    }
                };
            }
        });
}

/// Checked batch prediction.
pub(crate) fn try_predict<S: Data<Elem = f64>>(
    ensemble: &TreeEnsemble,
    x: &ArrayBase<S, Ix2>,
) -> Result<Array1<f64>, TreeError> {
    if x.ncols() != ensemble.n_features {
        return Err(TreeError::FeatureMismatch {
            what: "the prediction matrix",
            got: x.ncols(),
            expected: ensemble.n_features,
        });
    }
    let mut out = Array1::zeros(x.nrows());
    if let Some(s) = out.as_slice_mut() {
        predict_into(ensemble, x, s);
    }
    Ok(out)
}

/// Prediction for linfa's `PredictInplace`, which cannot return an error: a
/// matrix with the wrong number of columns, or an output of the wrong
/// length, yields `NaN` everywhere instead of a panic.
pub(crate) fn predict_inplace<S: Data<Elem = f64>>(
    ensemble: &TreeEnsemble,
    x: &ArrayBase<S, Ix2>,
    y: &mut Array1<f64>,
) {
    if x.ncols() != ensemble.n_features || y.len() != x.nrows() {
        y.fill(f64::NAN);
        return;
    }
    match y.as_slice_mut() {
        Some(s) => predict_into(ensemble, x, s),
        None => {
            let mut tmp = vec![0.0; x.nrows()];
            predict_into(ensemble, x, &mut tmp);
            for (o, v) in y.iter_mut().zip(tmp) {
                *o = v;
            }
        }
    }
}
