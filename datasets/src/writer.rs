//! Streaming, atomic, byte-deterministic Parquet writers.
//!
//! [`SnapshotWriter`] and [`RecordWriter`] buffer rows in Arrow column
//! builders and hand a record batch to the Parquet encoder every
//! [`WriteOptions::batch_rows`] rows, so memory stays bounded however many rows
//! are written (the encoder keeps at most one compressed row group of
//! about a million rows in memory).
//!
//! **Atomicity.** Rows go to a sibling temporary file `<path>.tmp`
//! ([`temp_path`]); [`SnapshotWriter::finish`] / [`RecordWriter::finish`]
//! write the footer, sync the file and rename it to `<path>`. A writer dropped
//! without `finish` (an error, a panic, an early return) deletes its temporary
//! file, so a half-written file is never presented as complete. One writer
//! owns each Parquet file (a run's telemetry belongs to its one job), so
//! its temporary name is fixed; [`write_atomic`], which every shard calls
//! on the same run-level files, writes through a name of its own
//! ([`create_temp_sibling`]).
//!
//! **Determinism.** The same rows written with the same options produce
//! identical bytes: `created_by` is the fixed string [`CREATED_BY`], and the
//! only key-value metadata are the dataset kind, the schema version, the
//! caller's [`WriteOptions::metadata`] (in the given order) and the Arrow
//! schema, all of which depend on the inputs only.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{
    ArrayRef, Float64Builder, StringBuilder, UInt8Builder, UInt32Builder, UInt64Builder,
};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{WriterProperties, WriterPropertiesBuilder};
use parquet::schema::types::ColumnPath;
use poolcast::core::{RequestRecord, Snapshot};

use crate::error::{DatasetError, Result};
use crate::schema::{self, Access, Accessor};

/// Default number of rows buffered before a record batch is encoded.
pub const DEFAULT_BATCH_ROWS: usize = 65_536;
/// Default zstd compression level.
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;
/// The `created_by` string written into every file's footer.
pub const CREATED_BY: &str = "poolcast";
/// Key-value metadata key naming the dataset kind ([`SNAPSHOT_KIND`] or
/// [`RECORD_KIND`]).
pub const KIND_KEY: &str = "poolcast.dataset";
/// Key-value metadata key holding the schema version ([`SCHEMA_VERSION`]).
pub const SCHEMA_VERSION_KEY: &str = "poolcast.schema_version";
/// Current schema version of both datasets.
pub const SCHEMA_VERSION: &str = "1";
/// [`KIND_KEY`] value of snapshot files.
pub const SNAPSHOT_KIND: &str = "snapshot";
/// [`KIND_KEY`] value of request-record files.
pub const RECORD_KIND: &str = "request_record";

/// Builder capacity cap, so a huge `batch_rows` does not pre-allocate
/// gigabytes up front.
const MAX_INITIAL_CAPACITY: usize = 65_536;

/// How a dataset file is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOptions {
    /// Rows buffered before a record batch is encoded (must be > 0).
    pub batch_rows: usize,
    /// zstd compression level (1..=22; negative levels are zstd's fast
    /// modes).
    pub zstd_level: i32,
    /// Extra key-value metadata stored in the footer, in this order. Keep it
    /// deterministic (no timestamps) if byte-identical outputs matter.
    pub metadata: Vec<(String, String)>,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            batch_rows: DEFAULT_BATCH_ROWS,
            zstd_level: DEFAULT_ZSTD_LEVEL,
            metadata: Vec::new(),
        }
    }
}

impl WriteOptions {
    /// Returns these options with `key = value` appended to the metadata.
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.push((key.into(), value.into()));
        self
    }

    /// Returns these options with another batch size.
    pub fn with_batch_rows(mut self, batch_rows: usize) -> Self {
        self.batch_rows = batch_rows;
        self
    }

    /// Returns these options with another zstd level.
    pub fn with_zstd_level(mut self, level: i32) -> Self {
        self.zstd_level = level;
        self
    }
}

/// What a finished writer wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteStats {
    /// Rows written.
    pub rows: u64,
    /// Size of the final file in bytes.
    pub bytes: u64,
}

/// The temporary sibling a Parquet writer for `path` writes to:
/// `<path>.tmp`.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(".tmp");
    PathBuf::from(name)
}

/// A file [`write_atomic`] could not write: the file, the step and the
/// cause.
#[derive(Debug, thiserror::Error)]
#[error("{}: could not {action}: {source}", .path.display())]
pub struct AtomicWriteError {
    /// The file (or directory) the step was on.
    pub path: PathBuf,
    /// What was being done: `create the directory`, `write`, `rename into
    /// place`.
    pub action: &'static str,
    /// The cause.
    #[source]
    pub source: std::io::Error,
}

/// Writes `bytes` to `path` through a temporary sibling of its own
/// ([`create_temp_sibling`]), synced to disk before it is renamed into
/// place, and syncs the directory after: a reader never sees a
/// half-written file under the final name, a crash never leaves the final
/// name empty, a failed write leaves no temporary file, and any number of
/// processes (shards on one shared directory) and threads may write the
/// same path at once: each renames a whole file of its own, and the last
/// rename wins.
///
/// # Errors
/// [`AtomicWriteError`] names the file and the step that failed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::result::Result<(), AtomicWriteError> {
    let fail = |path: &Path, action, source| AtomicWriteError {
        path: path.to_path_buf(),
        action,
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| fail(dir, "create the directory", e))?;
    }
    let (tmp, mut file) =
        create_temp_sibling(path).map_err(|e| fail(path, "create a temporary file beside", e))?;
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| fail(&tmp, "write", e));
    drop(file);
    let renamed = written
        .and_then(|()| fs::rename(&tmp, path).map_err(|e| fail(path, "rename into place", e)));
    if renamed.is_err() {
        let _ = fs::remove_file(&tmp);
    } else {
        sync_parent_dir(path);
    }
    renamed
}

/// Creates a new, empty file beside `path` that no other writer has:
/// `<name>.<process id>.<n>.tmp`, created exclusively (`O_EXCL`), so two
/// processes on two hosts sharing the directory cannot share one either.
///
/// # Errors
/// The directory cannot be written, or no free name was found.
pub fn create_temp_sibling(path: &Path) -> std::io::Result<(PathBuf, File)> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path has no file name",
        )
    })?;
    let mut last = None;
    for _ in 0..64 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let mut tmp_name = OsString::from(name);
        tmp_name.push(format!(".{}.{n}.tmp", std::process::id()));
        let tmp = path.with_file_name(tmp_name);
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            // Another host's process with the same id: the next number.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free temporary name")))
}

// ---------------------------------------------------------------------------
// The atomic Parquet sink shared by both writers.

pub(crate) struct Sink {
    path: PathBuf,
    tmp: PathBuf,
    schema: SchemaRef,
    /// `None` once finished or aborted.
    writer: Option<ArrowWriter<File>>,
    rows: u64,
}

impl Sink {
    pub(crate) fn create(
        path: &Path,
        opts: &WriteOptions,
        schema: SchemaRef,
        kind: &str,
        tune: impl FnOnce(WriterPropertiesBuilder) -> WriterPropertiesBuilder,
    ) -> Result<Sink> {
        let invalid = |message: String| DatasetError::InvalidOptions {
            path: path.to_path_buf(),
            message,
        };
        if opts.batch_rows == 0 {
            return Err(invalid("batch_rows is 0, expected at least 1".into()));
        }
        let level = ZstdLevel::try_new(opts.zstd_level).map_err(|e| {
            invalid(format!(
                "zstd_level {} is not a valid zstd level (expected at most 22; 1..=22 are the usual levels): {e}",
                opts.zstd_level
            ))
        })?;
        if path.file_name().is_none() {
            return Err(invalid("the path has no file name".into()));
        }

        let mut kv = vec![
            KeyValue::new(KIND_KEY.to_string(), kind.to_string()),
            KeyValue::new(SCHEMA_VERSION_KEY.to_string(), SCHEMA_VERSION.to_string()),
        ];
        kv.extend(
            opts.metadata
                .iter()
                .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
        );
        let props = tune(
            WriterProperties::builder()
                .set_created_by(CREATED_BY.to_string())
                .set_compression(Compression::ZSTD(level))
                .set_key_value_metadata(Some(kv)),
        )
        .build();

        let tmp = temp_path(path);
        let file = File::create(&tmp)
            .map_err(|e| DatasetError::io(&tmp, "create the temporary file", e))?;
        let writer = match ArrowWriter::try_new(file, Arc::clone(&schema), Some(props)) {
            Ok(w) => w,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(DatasetError::parquet(
                    path,
                    "starting the Parquet writer",
                    "a writable Parquet file",
                    e,
                ));
            }
        };
        Ok(Sink {
            path: path.to_path_buf(),
            tmp,
            schema,
            writer: Some(writer),
            rows: 0,
        })
    }

    pub(crate) fn write(&mut self, columns: Vec<ArrayRef>) -> Result<()> {
        let Some(writer) = self.writer.as_mut() else {
            return Err(DatasetError::Poisoned {
                path: self.path.clone(),
            });
        };
        let result = RecordBatch::try_new(Arc::clone(&self.schema), columns)
            .map_err(|e| DatasetError::Arrow {
                path: self.path.clone(),
                action: "assembling a record batch",
                source: e,
            })
            .and_then(|batch| {
                writer.write(&batch).map_err(|e| {
                    DatasetError::parquet(
                        &self.tmp,
                        "encoding a record batch",
                        "a writable Parquet file",
                        e,
                    )
                })?;
                Ok(batch.num_rows() as u64)
            });
        match result {
            Ok(n) => {
                self.rows += n;
                Ok(())
            }
            Err(e) => {
                self.abort();
                Err(e)
            }
        }
    }

    /// Drops the encoder and deletes the temporary file.
    fn abort(&mut self) {
        if let Some(writer) = self.writer.take() {
            // Close the file handle before removing it (required on Windows).
            drop(writer);
            let _ = fs::remove_file(&self.tmp);
        }
    }

    pub(crate) fn finish(mut self) -> Result<WriteStats> {
        let Some(writer) = self.writer.take() else {
            return Err(DatasetError::Poisoned {
                path: self.path.clone(),
            });
        };
        let result = self.commit(writer);
        if result.is_err() {
            let _ = fs::remove_file(&self.tmp);
        }
        result
    }

    fn commit(&self, writer: ArrowWriter<File>) -> Result<WriteStats> {
        let tmp = &self.tmp;
        let file = writer.into_inner().map_err(|e| {
            DatasetError::parquet(
                tmp,
                "writing the Parquet footer",
                "a writable Parquet file",
                e,
            )
        })?;
        file.sync_all()
            .map_err(|e| DatasetError::io(tmp, "sync the temporary file", e))?;
        let bytes = file
            .metadata()
            .map_err(|e| DatasetError::io(tmp, "stat the temporary file", e))?
            .len();
        drop(file);
        fs::rename(tmp, &self.path)
            .map_err(|e| DatasetError::io(&self.path, "rename the temporary file into place", e))?;
        sync_parent_dir(&self.path);
        Ok(WriteStats {
            rows: self.rows,
            bytes,
        })
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.abort();
    }
}

/// Makes the rename durable where the platform allows it; best effort.
fn sync_parent_dir(path: &Path) {
    #[cfg(unix)]
    {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if let Ok(dir) = File::open(parent) {
            let _ = dir.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

fn initial_capacity(batch_rows: usize) -> usize {
    batch_rows.min(MAX_INITIAL_CAPACITY)
}

// ---------------------------------------------------------------------------
// Snapshots.

/// One snapshot column: its accessor and its builder.
enum SnapshotBuilder {
    U64(&'static Accessor<u64>, UInt64Builder),
    U32(&'static Accessor<u32>, UInt32Builder),
    U8(&'static Accessor<u8>, UInt8Builder),
    F64(&'static Accessor<f64>, Float64Builder),
    OptF64(&'static Accessor<Option<f64>>, Float64Builder),
}

impl SnapshotBuilder {
    fn new(access: &'static Access, capacity: usize) -> Self {
        match access {
            Access::U64(a) => SnapshotBuilder::U64(a, UInt64Builder::with_capacity(capacity)),
            Access::U32(a) => SnapshotBuilder::U32(a, UInt32Builder::with_capacity(capacity)),
            Access::U8(a) => SnapshotBuilder::U8(a, UInt8Builder::with_capacity(capacity)),
            Access::F64(a) => SnapshotBuilder::F64(a, Float64Builder::with_capacity(capacity)),
            Access::OptF64(a) => {
                SnapshotBuilder::OptF64(a, Float64Builder::with_capacity(capacity))
            }
        }
    }

    fn append(&mut self, row: &Snapshot) {
        match self {
            SnapshotBuilder::U64(a, b) => b.append_value((a.get)(row)),
            SnapshotBuilder::U32(a, b) => b.append_value((a.get)(row)),
            SnapshotBuilder::U8(a, b) => b.append_value((a.get)(row)),
            SnapshotBuilder::F64(a, b) => b.append_value((a.get)(row)),
            SnapshotBuilder::OptF64(a, b) => b.append_option((a.get)(row)),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            SnapshotBuilder::U64(_, b) => Arc::new(b.finish()),
            SnapshotBuilder::U32(_, b) => Arc::new(b.finish()),
            SnapshotBuilder::U8(_, b) => Arc::new(b.finish()),
            SnapshotBuilder::F64(_, b) | SnapshotBuilder::OptF64(_, b) => Arc::new(b.finish()),
        }
    }
}

/// Streams [`Snapshot`]s into a Parquet file with the
/// [`snapshot_schema`](crate::schema::snapshot_schema).
pub struct SnapshotWriter {
    sink: Sink,
    columns: Vec<SnapshotBuilder>,
    pending: usize,
    batch_rows: usize,
}

impl std::fmt::Debug for SnapshotWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotWriter")
            .field("path", &self.sink.path)
            .field("rows_written", &self.rows_written())
            .finish_non_exhaustive()
    }
}

impl SnapshotWriter {
    /// Starts writing `path` (through `<path>.tmp`, see [`temp_path`]).
    pub fn create(path: impl AsRef<Path>, opts: WriteOptions) -> Result<Self> {
        let sink = Sink::create(
            path.as_ref(),
            &opts,
            schema::snapshot_schema(),
            SNAPSHOT_KIND,
            |p| p,
        )?;
        let capacity = initial_capacity(opts.batch_rows);
        let columns = schema::snapshot_columns()
            .iter()
            .map(|c| SnapshotBuilder::new(&c.access, capacity))
            .collect();
        Ok(SnapshotWriter {
            sink,
            columns,
            pending: 0,
            batch_rows: opts.batch_rows,
        })
    }

    /// Appends one snapshot; encodes a batch every `batch_rows` rows.
    pub fn push(&mut self, row: &Snapshot) -> Result<()> {
        for column in &mut self.columns {
            column.append(row);
        }
        self.pending += 1;
        if self.pending >= self.batch_rows {
            self.flush_batch()?;
        }
        Ok(())
    }

    /// Appends every snapshot of `rows`, in order.
    pub fn push_all<'a>(&mut self, rows: impl IntoIterator<Item = &'a Snapshot>) -> Result<()> {
        rows.into_iter().try_for_each(|r| self.push(r))
    }

    /// Rows pushed so far.
    pub fn rows_written(&self) -> u64 {
        self.sink.rows + self.pending as u64
    }

    /// The final path the file appears at after [`finish`](Self::finish).
    pub fn path(&self) -> &Path {
        &self.sink.path
    }

    fn flush_batch(&mut self) -> Result<()> {
        let arrays = self
            .columns
            .iter_mut()
            .map(SnapshotBuilder::finish)
            .collect();
        self.pending = 0;
        self.sink.write(arrays)
    }

    /// Encodes the remaining rows, writes the footer and atomically renames
    /// the temporary file to the final path.
    pub fn finish(mut self) -> Result<WriteStats> {
        if self.pending > 0 {
            self.flush_batch()?;
        }
        self.sink.finish()
    }
}

// ---------------------------------------------------------------------------
// Request records.

/// Streams [`RequestRecord`]s into a Parquet file with the
/// [`record_schema`](crate::schema::record_schema).
pub struct RecordWriter {
    sink: Sink,
    arrival_ns: UInt64Builder,
    class: StringBuilder,
    pattern_hash: UInt64Builder,
    acquire_wait_ns: UInt64Builder,
    hold_ns: UInt64Builder,
    outcome: StringBuilder,
    error_category: StringBuilder,
    client: UInt64Builder,
    pending: usize,
    batch_rows: usize,
}

impl std::fmt::Debug for RecordWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordWriter")
            .field("path", &self.sink.path)
            .field("rows_written", &self.rows_written())
            .finish_non_exhaustive()
    }
}

impl RecordWriter {
    /// Starts writing `path` (through `<path>.tmp`, see [`temp_path`]).
    ///
    /// `arrival_ns` is stored with delta encoding (arrivals are nearly
    /// sorted), the other columns with Parquet's default dictionary encoding.
    pub fn create(path: impl AsRef<Path>, opts: WriteOptions) -> Result<Self> {
        let sink = Sink::create(
            path.as_ref(),
            &opts,
            schema::record_schema(),
            RECORD_KIND,
            |p| {
                let arrival = ColumnPath::from("arrival_ns");
                p.set_column_dictionary_enabled(arrival.clone(), false)
                    .set_column_encoding(arrival, Encoding::DELTA_BINARY_PACKED)
            },
        )?;
        let cap = initial_capacity(opts.batch_rows);
        // Names are at most 15 bytes ("acquire_timeout").
        let text = || StringBuilder::with_capacity(cap, cap * 8);
        Ok(RecordWriter {
            sink,
            arrival_ns: UInt64Builder::with_capacity(cap),
            class: text(),
            pattern_hash: UInt64Builder::with_capacity(cap),
            acquire_wait_ns: UInt64Builder::with_capacity(cap),
            hold_ns: UInt64Builder::with_capacity(cap),
            outcome: text(),
            error_category: text(),
            client: UInt64Builder::with_capacity(cap),
            pending: 0,
            batch_rows: opts.batch_rows,
        })
    }

    /// Appends one record; encodes a batch every `batch_rows` rows.
    pub fn push(&mut self, row: &RequestRecord) -> Result<()> {
        self.arrival_ns.append_value(row.arrival_ns);
        self.class.append_value(row.class.name());
        self.pattern_hash.append_value(row.pattern_hash);
        self.acquire_wait_ns.append_value(row.acquire_wait_ns);
        self.hold_ns.append_value(row.hold_ns);
        self.outcome.append_value(schema::outcome_name(row.outcome));
        self.error_category
            .append_option(row.outcome.category().map(|c| c.name()));
        self.client.append_value(row.client);
        self.pending += 1;
        if self.pending >= self.batch_rows {
            self.flush_batch()?;
        }
        Ok(())
    }

    /// Appends every record of `rows`, in order.
    pub fn push_all<'a>(
        &mut self,
        rows: impl IntoIterator<Item = &'a RequestRecord>,
    ) -> Result<()> {
        rows.into_iter().try_for_each(|r| self.push(r))
    }

    /// Rows pushed so far.
    pub fn rows_written(&self) -> u64 {
        self.sink.rows + self.pending as u64
    }

    /// The final path the file appears at after [`finish`](Self::finish).
    pub fn path(&self) -> &Path {
        &self.sink.path
    }

    fn flush_batch(&mut self) -> Result<()> {
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(self.arrival_ns.finish()),
            Arc::new(self.class.finish()),
            Arc::new(self.pattern_hash.finish()),
            Arc::new(self.acquire_wait_ns.finish()),
            Arc::new(self.hold_ns.finish()),
            Arc::new(self.outcome.finish()),
            Arc::new(self.error_category.finish()),
            Arc::new(self.client.finish()),
        ];
        self.pending = 0;
        self.sink.write(arrays)
    }

    /// Encodes the remaining rows, writes the footer and atomically renames
    /// the temporary file to the final path.
    pub fn finish(mut self) -> Result<WriteStats> {
        if self.pending > 0 {
            self.flush_batch()?;
        }
        self.sink.finish()
    }
}

/// Writes `rows` to `path` in one go (see [`SnapshotWriter`]).
pub fn write_snapshots(
    path: impl AsRef<Path>,
    rows: &[Snapshot],
    opts: WriteOptions,
) -> Result<WriteStats> {
    let mut w = SnapshotWriter::create(path, opts)?;
    w.push_all(rows)?;
    w.finish()
}

/// Writes `rows` to `path` in one go (see [`RecordWriter`]).
pub fn write_records(
    path: impl AsRef<Path>,
    rows: &[RequestRecord],
    opts: WriteOptions,
) -> Result<WriteStats> {
    let mut w = RecordWriter::create(path, opts)?;
    w.push_all(rows)?;
    w.finish()
}
