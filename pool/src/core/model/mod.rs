//! Model inference with no ML library: the flat tree ensembles and linear
//! models that the model artifact carries, evaluated row by row.
//!
//! The offline trainers (`poolcast-models`) produce these exact structs, so
//! the numbers the workbench scores are the numbers the runtime computes.

pub mod linear;
pub mod tree;

pub use linear::LinearModel;
pub use tree::{FlatTree, LEAF, TreeEnsemble};
