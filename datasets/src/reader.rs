//! Reading snapshot and request-record Parquet files back.
//!
//! Opening a file checks its schema by column name (extra columns are
//! ignored, column order does not matter) and type; a missing or mistyped
//! column is reported with the file path, the column and the expected type.
//! Columns that should never be null may be declared nullable in the file
//! (pyarrow and polars write every column nullable); an actual null is an
//! error naming the row. Text columns (`class`, `outcome`, `error_category`)
//! may be `Utf8`, `LargeUtf8`, `Utf8View` or a dictionary of strings.
//!
//! [`SnapshotReader`] and [`RecordReader`] stream rows batch by batch;
//! [`read_snapshots`] and [`read_records`] collect a whole file.

use std::fs::File;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use arrow::array::{Array, ArrayRef, ArrowPrimitiveType, PrimitiveArray, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, UInt8Type, UInt32Type, UInt64Type};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use poolcast::core::{ErrorCategory, Outcome, QueryClass, RequestRecord, Snapshot};

use crate::error::{DatasetError, Result};
use crate::schema::{self, Access};

/// Rows decoded per batch when reading.
const READ_BATCH_ROWS: usize = 8_192;
/// Upper bound on up-front allocation driven by a (possibly corrupt) footer.
const MAX_PREALLOCATED_ROWS: usize = 1 << 20;
/// What every file read by this module is expected to be.
const EXPECTED_FILE: &str = "a Parquet file";

/// How a column's type is checked.
#[derive(Clone, Copy)]
enum Expect<'a> {
    /// Exactly this Arrow type.
    Exact(&'a DataType),
    /// Any string type, or a dictionary of strings.
    Text,
}

impl Expect<'_> {
    fn accepts(self, found: &DataType) -> bool {
        match self {
            Expect::Exact(t) => t == found,
            Expect::Text => is_text(found),
        }
    }

    fn describe(self) -> String {
        match self {
            Expect::Exact(t) => t.to_string(),
            Expect::Text => "Utf8 (or LargeUtf8, Utf8View, or a dictionary of strings)".into(),
        }
    }
}

fn is_text(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => {
            matches!(
                **v,
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            )
        }
        _ => false,
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("decoder panicked: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("decoder panicked: {s}")
    } else {
        "decoder panicked".into()
    }
}

/// Opens `path` and parses its footer.
fn open_builder(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>> {
    let file = File::open(path).map_err(|e| DatasetError::io(path, "open for reading", e))?;
    // The decoder is not guaranteed panic-free on hostile input; a panic is
    // reported as a corrupt file rather than taking the caller down.
    catch_unwind(AssertUnwindSafe(|| {
        ParquetRecordBatchReaderBuilder::try_new(file)
    }))
    .map_err(|p| DatasetError::Corrupt {
        path: path.to_path_buf(),
        detail: panic_message(p.as_ref()),
    })?
    .map_err(|e| DatasetError::parquet(path, "reading the Parquet footer", EXPECTED_FILE, e))
}

/// An open Parquet file, projected onto the columns a dataset needs.
struct Source {
    path: PathBuf,
    batches: Option<ParquetRecordBatchReader>,
    num_rows: u64,
    /// Rows of the file already handed out as batches.
    row: u64,
}

impl Source {
    /// Opens `path`, checking `columns`; those named in `optional` may be
    /// missing (they are then not read).
    fn open<'a>(
        path: &Path,
        columns: impl IntoIterator<Item = (&'a str, Expect<'a>)>,
        optional: &[&str],
    ) -> Result<Self> {
        let builder = open_builder(path)?;
        let file_schema = builder.schema();
        let mut roots = Vec::new();
        for (name, expect) in columns {
            let Some((index, field)) = file_schema.column_with_name(name) else {
                if optional.contains(&name) {
                    continue;
                }
                return Err(DatasetError::MissingColumn {
                    path: path.to_path_buf(),
                    column: name.to_string(),
                    expected: expect.describe(),
                });
            };
            if !expect.accepts(field.data_type()) {
                return Err(DatasetError::ColumnType {
                    path: path.to_path_buf(),
                    column: name.to_string(),
                    expected: expect.describe(),
                    found: field.data_type().to_string(),
                });
            }
            roots.push(index);
        }
        let num_rows = u64::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
        let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
        let batches = builder
            .with_projection(mask)
            .with_batch_size(READ_BATCH_ROWS)
            .build()
            .map_err(|e| {
                DatasetError::parquet(path, "starting the Parquet reader", EXPECTED_FILE, e)
            })?;
        Ok(Source {
            path: path.to_path_buf(),
            batches: Some(batches),
            num_rows,
            row: 0,
        })
    }

    /// The next batch and the file row index of its first row; `None` at the
    /// end or after an error.
    fn next_batch(&mut self) -> Option<Result<(RecordBatch, u64)>> {
        let reader = self.batches.as_mut()?;
        let next = catch_unwind(AssertUnwindSafe(|| reader.next()));
        let result = match next {
            Ok(None) => {
                self.batches = None;
                return None;
            }
            Ok(Some(Ok(batch))) => {
                let first = self.row;
                self.row += batch.num_rows() as u64;
                return Some(Ok((batch, first)));
            }
            Ok(Some(Err(e))) => DatasetError::Corrupt {
                path: self.path.clone(),
                detail: format!("decoding rows from {} on: {e}", self.row),
            },
            Err(p) => DatasetError::Corrupt {
                path: self.path.clone(),
                detail: format!(
                    "decoding rows from {} on: {}",
                    self.row,
                    panic_message(p.as_ref())
                ),
            },
        };
        self.batches = None;
        Some(Err(result))
    }

    fn stop(&mut self) {
        self.batches = None;
    }

    fn column<'b>(
        &self,
        batch: &'b RecordBatch,
        name: &str,
        expect: Expect<'_>,
    ) -> Result<&'b ArrayRef> {
        batch
            .column_by_name(name)
            .ok_or_else(|| DatasetError::MissingColumn {
                path: self.path.clone(),
                column: name.to_string(),
                expected: expect.describe(),
            })
    }

    fn primitive<'b, T: ArrowPrimitiveType>(
        &self,
        batch: &'b RecordBatch,
        name: &str,
    ) -> Result<&'b PrimitiveArray<T>> {
        let expect = Expect::Exact(&T::DATA_TYPE);
        let array = self.column(batch, name, expect)?;
        array
            .as_any()
            .downcast_ref::<PrimitiveArray<T>>()
            .ok_or_else(|| DatasetError::ColumnType {
                path: self.path.clone(),
                column: name.to_string(),
                expected: expect.describe(),
                found: array.data_type().to_string(),
            })
    }

    fn text(&self, batch: &RecordBatch, name: &str) -> Result<StringArray> {
        let array = self.column(batch, name, Expect::Text)?;
        let utf8 = if array.data_type() == &DataType::Utf8 {
            array.clone()
        } else {
            cast(array, &DataType::Utf8).map_err(|e| DatasetError::Arrow {
                path: self.path.clone(),
                action: "converting a text column to Utf8",
                source: e,
            })?
        };
        utf8.as_any()
            .downcast_ref::<StringArray>()
            .cloned()
            .ok_or_else(|| DatasetError::ColumnType {
                path: self.path.clone(),
                column: name.to_string(),
                expected: Expect::Text.describe(),
                found: array.data_type().to_string(),
            })
    }

    fn null_error(&self, column: &str, row: u64) -> DatasetError {
        DatasetError::UnexpectedNull {
            path: self.path.clone(),
            column: column.to_string(),
            row,
        }
    }

    fn invalid(&self, column: &str, row: u64, value: &str, expected: &str) -> DatasetError {
        DatasetError::InvalidValue {
            path: self.path.clone(),
            column: column.to_string(),
            row,
            value: value.to_string(),
            expected: expected.to_string(),
        }
    }

    /// Stores a non-nullable column into `rows` with `set`.
    fn fill<T: ArrowPrimitiveType, R>(
        &self,
        batch: &RecordBatch,
        name: &str,
        first_row: u64,
        rows: &mut [R],
        set: impl Fn(&mut R, T::Native),
    ) -> Result<()> {
        let array = self.primitive::<T>(batch, name)?;
        if array.null_count() > 0
            && let Some(i) = (0..array.len()).find(|&i| array.is_null(i))
        {
            return Err(self.null_error(name, first_row + i as u64));
        }
        for (row, value) in rows.iter_mut().zip(array.values().iter()) {
            set(row, *value);
        }
        Ok(())
    }

    fn decode_snapshots(&self, batch: &RecordBatch, first_row: u64) -> Result<Vec<Snapshot>> {
        let mut rows = vec![Snapshot::default(); batch.num_rows()];
        for column in schema::snapshot_columns() {
            let name = column.name.as_str();
            match &column.access {
                Access::U64(a) => {
                    self.fill::<UInt64Type, _>(batch, name, first_row, &mut rows, &a.set)?
                }
                Access::U32(a) => {
                    self.fill::<UInt32Type, _>(batch, name, first_row, &mut rows, &a.set)?
                }
                Access::U8(a) => {
                    self.fill::<UInt8Type, _>(batch, name, first_row, &mut rows, &a.set)?
                }
                Access::F64(a) => {
                    self.fill::<Float64Type, _>(batch, name, first_row, &mut rows, &a.set)?
                }
                Access::OptF64(a) => {
                    let array = self.primitive::<Float64Type>(batch, name)?;
                    for (row, value) in rows.iter_mut().zip(array.iter()) {
                        (a.set)(row, value);
                    }
                }
            }
        }
        Ok(rows)
    }

    fn decode_records(&self, batch: &RecordBatch, first_row: u64) -> Result<Vec<RequestRecord>> {
        const CLASS_EXPECTED: &str = "one of read, write, analytics, api, transaction";
        const OUTCOME_EXPECTED: &str = "one of ok, error, acquire_timeout, rejected";
        const CATEGORY_EXPECTED: &str =
            "null or one of connection, timeout, query, transaction, security";

        let n = batch.num_rows();
        let placeholder = RequestRecord {
            arrival_ns: 0,
            class: QueryClass::Read,
            pattern_hash: 0,
            acquire_wait_ns: 0,
            hold_ns: 0,
            outcome: Outcome::Ok,
            client: 0,
        };
        let mut rows = vec![placeholder; n];
        self.fill::<UInt64Type, _>(batch, "arrival_ns", first_row, &mut rows, |r, v| {
            r.arrival_ns = v
        })?;
        self.fill::<UInt64Type, _>(batch, "pattern_hash", first_row, &mut rows, |r, v| {
            r.pattern_hash = v
        })?;
        self.fill::<UInt64Type, _>(batch, "acquire_wait_ns", first_row, &mut rows, |r, v| {
            r.acquire_wait_ns = v
        })?;
        self.fill::<UInt64Type, _>(batch, "hold_ns", first_row, &mut rows, |r, v| r.hold_ns = v)?;
        // Absent from files written before it (not projected then).
        if batch.column_by_name("client").is_some() {
            self.fill::<UInt64Type, _>(batch, "client", first_row, &mut rows, |r, v| r.client = v)?;
        }

        let class = self.text(batch, "class")?;
        let outcome = self.text(batch, "outcome")?;
        let category = self.text(batch, "error_category")?;
        for (i, rec) in rows.iter_mut().enumerate() {
            let row = first_row + i as u64;

            if class.is_null(i) {
                return Err(self.null_error("class", row));
            }
            let name = class.value(i);
            rec.class = schema::class_from_name(name)
                .ok_or_else(|| self.invalid("class", row, name, CLASS_EXPECTED))?;

            if outcome.is_null(i) {
                return Err(self.null_error("outcome", row));
            }
            let name = outcome.value(i);
            let code = schema::outcome_code_from_name(name)
                .ok_or_else(|| self.invalid("outcome", row, name, OUTCOME_EXPECTED))?;

            let cat: Option<ErrorCategory> =
                if category.is_null(i) {
                    None
                } else {
                    let name = category.value(i);
                    Some(schema::category_from_name(name).ok_or_else(|| {
                        self.invalid("error_category", row, name, CATEGORY_EXPECTED)
                    })?)
                };
            rec.outcome = Outcome::from_parts(code, cat).ok_or_else(|| {
                let value = cat.map_or("null", |c| c.name());
                let expected = if code == 0 {
                    "null for outcome \"ok\""
                } else {
                    "an error category for outcome \"error\""
                };
                self.invalid("error_category", row, value, expected)
            })?;
        }
        Ok(rows)
    }
}

/// Streams [`Snapshot`]s out of a snapshot Parquet file, one batch in memory
/// at a time. Yields `Err` at most once, then ends.
pub struct SnapshotReader {
    source: Source,
    buffered: std::vec::IntoIter<Snapshot>,
}

impl std::fmt::Debug for SnapshotReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotReader")
            .field("path", &self.source.path)
            .field("num_rows", &self.source.num_rows)
            .finish_non_exhaustive()
    }
}

impl SnapshotReader {
    /// Opens `path` and checks its schema against
    /// [`snapshot_schema`](crate::schema::snapshot_schema).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let expected = schema::snapshot_schema();
        let source = Source::open(
            path.as_ref(),
            expected
                .fields()
                .iter()
                .map(|f| (f.name().as_str(), Expect::Exact(f.data_type()))),
            &[],
        )?;
        Ok(SnapshotReader {
            source,
            buffered: Vec::new().into_iter(),
        })
    }

    /// Number of rows the file's footer announces.
    pub fn num_rows(&self) -> u64 {
        self.source.num_rows
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.source.path
    }
}

impl Iterator for SnapshotReader {
    type Item = Result<Snapshot>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(row) = self.buffered.next() {
                return Some(Ok(row));
            }
            let (batch, first) = match self.source.next_batch()? {
                Ok(b) => b,
                Err(e) => return Some(Err(e)),
            };
            match self.source.decode_snapshots(&batch, first) {
                Ok(rows) => self.buffered = rows.into_iter(),
                Err(e) => {
                    self.source.stop();
                    return Some(Err(e));
                }
            }
        }
    }
}

/// Streams [`RequestRecord`]s out of a request-record Parquet file, one batch
/// in memory at a time. Yields `Err` at most once, then ends.
pub struct RecordReader {
    source: Source,
    buffered: std::vec::IntoIter<RequestRecord>,
}

impl std::fmt::Debug for RecordReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordReader")
            .field("path", &self.source.path)
            .field("num_rows", &self.source.num_rows)
            .finish_non_exhaustive()
    }
}

impl RecordReader {
    /// Opens `path` and checks its schema against
    /// [`record_schema`](crate::schema::record_schema); a file without the
    /// `client` column (written before it existed) reads with client 0.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let expected = schema::record_schema();
        let source = Source::open(
            path.as_ref(),
            expected.fields().iter().map(|f| {
                let expect = if f.data_type() == &DataType::Utf8 {
                    Expect::Text
                } else {
                    Expect::Exact(f.data_type())
                };
                (f.name().as_str(), expect)
            }),
            &schema::RECORD_OPTIONAL_COLUMNS,
        )?;
        Ok(RecordReader {
            source,
            buffered: Vec::new().into_iter(),
        })
    }

    /// Number of rows the file's footer announces.
    pub fn num_rows(&self) -> u64 {
        self.source.num_rows
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.source.path
    }
}

impl Iterator for RecordReader {
    type Item = Result<RequestRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(row) = self.buffered.next() {
                return Some(Ok(row));
            }
            let (batch, first) = match self.source.next_batch()? {
                Ok(b) => b,
                Err(e) => return Some(Err(e)),
            };
            match self.source.decode_records(&batch, first) {
                Ok(rows) => self.buffered = rows.into_iter(),
                Err(e) => {
                    self.source.stop();
                    return Some(Err(e));
                }
            }
        }
    }
}

fn preallocated<T>(num_rows: u64) -> Vec<T> {
    let n = usize::try_from(num_rows).unwrap_or(usize::MAX);
    Vec::with_capacity(n.min(MAX_PREALLOCATED_ROWS))
}

/// Reads every snapshot of a snapshot Parquet file, in file order.
pub fn read_snapshots(path: impl AsRef<Path>) -> Result<Vec<Snapshot>> {
    let reader = SnapshotReader::open(path)?;
    let mut rows = preallocated(reader.num_rows());
    for row in reader {
        rows.push(row?);
    }
    Ok(rows)
}

/// Reads every record of a request-record Parquet file, in file order.
pub fn read_records(path: impl AsRef<Path>) -> Result<Vec<RequestRecord>> {
    let reader = RecordReader::open(path)?;
    let mut rows = preallocated(reader.num_rows());
    for row in reader {
        rows.push(row?);
    }
    Ok(rows)
}

/// The key-value metadata of a Parquet file's footer, in file order, without
/// the internal `ARROW:schema` entry. Includes the dataset kind and schema
/// version written by this crate and the caller's
/// [`WriteOptions::metadata`](crate::writer::WriteOptions::metadata).
pub fn read_key_value_metadata(path: impl AsRef<Path>) -> Result<Vec<(String, String)>> {
    let builder = open_builder(path.as_ref())?;
    Ok(builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|kvs| {
            kvs.iter()
                .filter(|kv| kv.key != "ARROW:schema")
                .map(|kv| (kv.key.clone(), kv.value.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default())
}
