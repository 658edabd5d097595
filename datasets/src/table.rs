//! Wide numeric tables: the features Parquet of the offline pipeline.
//!
//! Three key columns (`scenario` utf8, `replication` u32, `t_ns` u64) and
//! any number of nullable `f64` value columns. A `NaN` value is written as
//! null (so polars, pandas and DuckDB see a missing value, not a number)
//! and read back as `NaN`. Same atomic, deterministic writing as the
//! telemetry writers.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Float64Array, Float64Builder, StringArray, UInt32Array, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::error::{DatasetError, Result};
use crate::reader::read_key_value_metadata;
use crate::writer::{Sink, WriteOptions, WriteStats};

/// [`crate::writer::KIND_KEY`] value of feature-table files.
pub const TABLE_KIND: &str = "feature_table";
/// The key columns, in order.
pub const KEY_COLUMNS: [&str; 3] = ["scenario", "replication", "t_ns"];

fn table_schema(names: &[String]) -> SchemaRef {
    let mut fields = vec![
        Field::new("scenario", DataType::Utf8, false),
        Field::new("replication", DataType::UInt32, false),
        Field::new("t_ns", DataType::UInt64, false),
    ];
    fields.extend(names.iter().map(|n| Field::new(n, DataType::Float64, true)));
    Arc::new(Schema::new(fields))
}

/// Streams rows of a wide table to Parquet.
pub struct FeatureTableWriter {
    sink: Sink,
    names: Vec<String>,
    batch_rows: usize,
    scenario: Vec<String>,
    replication: Vec<u32>,
    t_ns: Vec<u64>,
    values: Vec<Vec<f64>>,
}

impl std::fmt::Debug for FeatureTableWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeatureTableWriter")
            .field("columns", &self.names.len())
            .finish()
    }
}

impl FeatureTableWriter {
    /// Starts `<path>.tmp` with value columns `names`.
    ///
    /// # Errors
    /// Bad options, a duplicate or key-named column, or I/O.
    pub fn create(path: impl AsRef<Path>, opts: WriteOptions, names: &[String]) -> Result<Self> {
        let path = path.as_ref();
        let mut seen = std::collections::HashSet::new();
        for n in names {
            if KEY_COLUMNS.contains(&n.as_str()) || !seen.insert(n.as_str()) {
                return Err(DatasetError::InvalidOptions {
                    path: path.to_path_buf(),
                    message: format!("column `{n}` is duplicated or a key column name"),
                });
            }
        }
        let sink = Sink::create(path, &opts, table_schema(names), TABLE_KIND, |b| b)?;
        Ok(FeatureTableWriter {
            sink,
            names: names.to_vec(),
            batch_rows: opts.batch_rows,
            scenario: Vec::new(),
            replication: Vec::new(),
            t_ns: Vec::new(),
            values: vec![Vec::new(); names.len()],
        })
    }

    /// Appends one row.
    ///
    /// # Errors
    /// `values` has the wrong length, or encoding fails.
    pub fn push(
        &mut self,
        scenario: &str,
        replication: u32,
        t_ns: u64,
        values: &[f64],
    ) -> Result<()> {
        if values.len() != self.names.len() {
            return Err(DatasetError::InvalidOptions {
                path: Path::new("<feature table>").to_path_buf(),
                message: format!(
                    "row has {} values for {} columns",
                    values.len(),
                    self.names.len()
                ),
            });
        }
        self.scenario.push(scenario.to_string());
        self.replication.push(replication);
        self.t_ns.push(t_ns);
        for (col, &v) in self.values.iter_mut().zip(values) {
            col.push(v);
        }
        if self.t_ns.len() >= self.batch_rows {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.t_ns.is_empty() {
            return Ok(());
        }
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(self.scenario.drain(..))),
            Arc::new(UInt32Array::from(std::mem::take(&mut self.replication))),
            Arc::new(UInt64Array::from(std::mem::take(&mut self.t_ns))),
        ];
        for col in &mut self.values {
            let mut b = Float64Builder::with_capacity(col.len());
            for v in col.drain(..) {
                if v.is_nan() {
                    b.append_null()
                } else {
                    b.append_value(v)
                }
            }
            cols.push(Arc::new(b.finish()));
        }
        self.sink.write(cols)
    }

    /// Writes the footer and renames the file into place.
    ///
    /// # Errors
    /// Encoding or I/O.
    pub fn finish(mut self) -> Result<WriteStats> {
        self.flush()?;
        self.sink.finish()
    }
}

/// A wide table in memory, column-major.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FeatureTable {
    /// Value column names.
    pub names: Vec<String>,
    /// Scenario of each row.
    pub scenario: Vec<String>,
    /// Replication of each row.
    pub replication: Vec<u32>,
    /// Time of each row.
    pub t_ns: Vec<u64>,
    /// One vector per value column (`NaN` = null).
    pub columns: Vec<Vec<f64>>,
    /// The file's key-value metadata.
    pub metadata: Vec<(String, String)>,
}

impl FeatureTable {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.t_ns.len()
    }

    /// Index of a value column.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// A metadata value.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads a whole feature table (every non-key column must be `f64`).
///
/// # Errors
/// I/O, a non-Parquet file, a missing key column or a non-float value
/// column, each naming the file and column.
pub fn read_feature_table(path: impl AsRef<Path>) -> Result<FeatureTable> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let path = path.as_ref();
    let metadata = read_key_value_metadata(path)?;
    let file =
        std::fs::File::open(path).map_err(|e| DatasetError::io(path, "open for reading", e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| {
        DatasetError::parquet(
            path,
            "reading the Parquet footer",
            "a feature-table Parquet file",
            e,
        )
    })?;
    let schema = builder.schema().clone();
    for (i, (key, ty)) in KEY_COLUMNS
        .iter()
        .zip([DataType::Utf8, DataType::UInt32, DataType::UInt64])
        .enumerate()
    {
        match schema.fields().get(i) {
            Some(f) if f.name() == key && *f.data_type() == ty => {}
            Some(f) if f.name() == key => {
                return Err(DatasetError::ColumnType {
                    path: path.to_path_buf(),
                    column: key.to_string(),
                    expected: ty.to_string(),
                    found: f.data_type().to_string(),
                });
            }
            _ => {
                return Err(DatasetError::MissingColumn {
                    path: path.to_path_buf(),
                    column: key.to_string(),
                    expected: format!("{ty} as column {i}"),
                });
            }
        }
    }
    let mut t = FeatureTable {
        metadata,
        ..FeatureTable::default()
    };
    for f in schema.fields().iter().skip(3) {
        if *f.data_type() != DataType::Float64 {
            return Err(DatasetError::ColumnType {
                path: path.to_path_buf(),
                column: f.name().clone(),
                expected: "Float64".into(),
                found: f.data_type().to_string(),
            });
        }
        t.names.push(f.name().clone());
    }
    t.columns = vec![Vec::new(); t.names.len()];
    let reader = builder.build().map_err(|e| {
        DatasetError::parquet(
            path,
            "starting the Parquet reader",
            "a feature-table Parquet file",
            e,
        )
    })?;
    for batch in reader {
        let batch = batch.map_err(|e| DatasetError::Arrow {
            path: path.to_path_buf(),
            action: "decoding a record batch",
            source: e,
        })?;
        let bad = |c: &str| DatasetError::ColumnType {
            path: path.to_path_buf(),
            column: c.to_string(),
            expected: "the key column type".into(),
            found: "another type".into(),
        };
        let sc = batch
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| bad("scenario"))?;
        let rep = batch
            .column(1)
            .as_any()
            .downcast_ref::<UInt32Array>()
            .ok_or_else(|| bad("replication"))?;
        let ts = batch
            .column(2)
            .as_any()
            .downcast_ref::<UInt64Array>()
            .ok_or_else(|| bad("t_ns"))?;
        t.scenario
            .extend(sc.iter().map(|s| s.unwrap_or_default().to_string()));
        t.replication
            .extend(rep.iter().map(|v| v.unwrap_or_default()));
        t.t_ns.extend(ts.iter().map(|v| v.unwrap_or_default()));
        for (j, col) in t.columns.iter_mut().enumerate() {
            let a = batch
                .column(j + 3)
                .as_any()
                .downcast_ref::<Float64Array>()
                .ok_or_else(|| bad(&t.names[j]))?;
            if a.null_count() == 0 {
                col.extend_from_slice(a.values());
            } else {
                col.extend(a.iter().map(|v| v.unwrap_or(f64::NAN)));
            }
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_nan_as_null_and_is_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let names = vec!["a".to_string(), "b".to_string()];
        let write = |p: &Path| {
            let opts = WriteOptions::default()
                .with_batch_rows(3)
                .with_metadata("k", "v");
            let mut w = FeatureTableWriter::create(p, opts, &names).unwrap();
            for i in 0..7u64 {
                let b = if i % 2 == 0 { f64::NAN } else { i as f64 };
                w.push("s1", 2, i, &[i as f64 * 0.5, b]).unwrap();
            }
            w.finish().unwrap();
        };
        let (p1, p2) = (dir.path().join("a.parquet"), dir.path().join("b.parquet"));
        write(&p1);
        write(&p2);
        assert_eq!(std::fs::read(&p1).unwrap(), std::fs::read(&p2).unwrap());
        let t = read_feature_table(&p1).unwrap();
        assert_eq!(t.rows(), 7);
        assert_eq!(t.names, names);
        assert_eq!(t.columns[0][6], 3.0);
        assert!(t.columns[1][0].is_nan());
        assert_eq!(t.columns[1][1], 1.0);
        assert_eq!(t.meta("k"), Some("v"));
        assert_eq!(t.scenario[3], "s1");
    }

    #[test]
    fn a_snapshot_file_is_not_a_feature_table() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.parquet");
        crate::write_snapshots(
            &p,
            &[poolcast::core::Snapshot::default()],
            WriteOptions::default(),
        )
        .unwrap();
        let e = read_feature_table(&p).unwrap_err();
        assert!(e.to_string().contains("s.parquet"), "{e}");
    }
}
