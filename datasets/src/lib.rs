//! # poolcast-datasets
//!
//! Arrow schemas and Parquet I/O for poolcast telemetry: the
//! [`Snapshot`](poolcast::core::Snapshot) (one row per pool per interval) and
//! [`RequestRecord`](poolcast::core::RequestRecord) (one row per request)
//! contracts, as files that open cleanly in polars, pandas and DuckDB.
//!
//! - [`schema`]: the Arrow schemas. Snapshot arrays are flattened into
//!   `<field>_<class>` / `<field>_<category>` columns ([`SNAPSHOT_COLUMNS`]);
//!   record enums are stored as their lower-case names.
//! - [`writer`]: streaming writers ([`SnapshotWriter`], [`RecordWriter`])
//!   with bounded memory, zstd compression, atomic commit (`<path>.tmp`
//!   renamed on [`finish`](SnapshotWriter::finish), deleted if dropped) and
//!   byte-deterministic output.
//! - [`reader`]: [`read_snapshots`], [`read_records`] and streaming
//!   iterators that check the schema and report the file and column at fault.
//! - [`trace`]: the runtime pool's recorder files (`requests-*.csv`,
//!   `snapshots-*.jsonl`), read back with file and line on errors.
//! - [`error`]: [`DatasetError`]; every variant names the file.
//!
//! ```no_run
//! use poolcast::core::Snapshot;
//! use poolcast_datasets::{SnapshotWriter, WriteOptions, read_snapshots};
//!
//! # fn main() -> Result<(), poolcast_datasets::DatasetError> {
//! let path = std::path::Path::new("runs/demo/snapshots.parquet");
//! let mut w = SnapshotWriter::create(path, WriteOptions::default())?;
//! w.push(&Snapshot::default())?;
//! let stats = w.finish()?;
//! assert_eq!(stats.rows, 1);
//! assert_eq!(read_snapshots(path)?.len(), 1);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod error;
pub mod otlp;
pub mod pglog;
pub mod reader;
pub mod schema;
pub mod table;
pub mod trace;
pub mod writer;

pub use error::{DatasetError, Result};
pub use pglog::{LogFormat, LogSummary, Logged, ReadLog, read_logs, read_pg_csvlogs, stream_logs};
pub use reader::{
    RecordReader, SnapshotReader, read_key_value_metadata, read_records, read_snapshots,
};
pub use schema::{
    OUTCOME_NAMES, RECORD_COLUMNS, SNAPSHOT_COLUMNS, record_schema, snapshot_column_names,
    snapshot_schema,
};
pub use table::{FeatureTable, FeatureTableWriter, read_feature_table};
pub use trace::{RecorderRequests, read_recorder_requests, read_recorder_snapshots};
pub use writer::{
    AtomicWriteError, RecordWriter, SnapshotWriter, WriteOptions, WriteStats, create_temp_sibling,
    temp_path, write_atomic, write_records, write_snapshots,
};
