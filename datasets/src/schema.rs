//! Arrow schemas for [`Snapshot`] and [`RequestRecord`].
//!
//! Snapshots are flat: per-class arrays become one column per class named
//! `<field>_<class>` (`arrivals_read`, `service_p95_ms_analytics`), per-category
//! arrays one column per category (`errors_timeout`, `breaker_query`), in the
//! order of [`QueryClass::ALL`] and [`ErrorCategory::ALL`]. Rust integer types
//! map to the Arrow unsigned type of the same width, `f64` to `Float64`, and
//! `Option<f64>` to a nullable `Float64` (`None` ↔ null). The column order is
//! [`SNAPSHOT_COLUMNS`]; it only ever grows at the end.
//!
//! Request records keep the class, outcome and error category as `Utf8`
//! names (`"read"`, `"acquire_timeout"`, `"connection"`), which open as plain
//! strings in polars, pandas and DuckDB. On disk Parquet stores them
//! dictionary-encoded, so each costs a few bits per row. The column order is
//! [`RECORD_COLUMNS`]; it only ever grows at the end (`client` came last,
//! and files written before it are still read, with client 0).

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use poolcast::core::{ErrorCategory, Outcome, QueryClass, Snapshot};

/// Snapshot column names, in schema order.
pub const SNAPSHOT_COLUMNS: [&str; 56] = [
    // time
    "t_ns",
    "interval_ns",
    // pool
    "size",
    "idle",
    "busy",
    "waiting",
    "pending_creates",
    "target",
    "size_mean",
    "busy_mean",
    "waiting_mean",
    "demand_max",
    "created",
    "closed",
    "create_failures",
    "acquires",
    "timeouts",
    "acquire_wait_mean_ms",
    "acquire_wait_p50_ms",
    "acquire_wait_p95_ms",
    "acquire_wait_p99_ms",
    "acquire_wait_max_ms",
    // traffic
    "arrivals_read",
    "arrivals_write",
    "arrivals_analytics",
    "arrivals_api",
    "arrivals_transaction",
    "completions_read",
    "completions_write",
    "completions_analytics",
    "completions_api",
    "completions_transaction",
    // query performance
    "service_p50_ms_read",
    "service_p50_ms_write",
    "service_p50_ms_analytics",
    "service_p50_ms_api",
    "service_p50_ms_transaction",
    "service_p95_ms_read",
    "service_p95_ms_write",
    "service_p95_ms_analytics",
    "service_p95_ms_api",
    "service_p95_ms_transaction",
    // errors
    "errors_connection",
    "errors_timeout",
    "errors_query",
    "errors_transaction",
    "errors_security",
    "rejected",
    "breaker_connection",
    "breaker_timeout",
    "breaker_query",
    "breaker_transaction",
    "breaker_security",
    "breaker_global",
    // system
    "db_cpu",
    "db_mem",
];

/// Request-record column names, in schema order.
pub const RECORD_COLUMNS: [&str; 8] = [
    "arrival_ns",
    "class",
    "pattern_hash",
    "acquire_wait_ns",
    "hold_ns",
    "outcome",
    "error_category",
    "client",
];

/// Request-record columns a reader does without: files written before they
/// existed read with 0 in their place.
pub const RECORD_OPTIONAL_COLUMNS: [&str; 1] = ["client"];

/// Names stored in the `outcome` column, indexed by [`Outcome::code`].
pub const OUTCOME_NAMES: [&str; 4] = ["ok", "error", "acquire_timeout", "rejected"];

/// The Arrow schema of a snapshot file (columns [`SNAPSHOT_COLUMNS`]).
pub fn snapshot_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let fields: Vec<Field> = snapshot_columns()
            .iter()
            .map(|c| Field::new(c.name.as_str(), c.access.data_type(), c.access.nullable()))
            .collect();
        Arc::new(Schema::new(fields))
    });
    Arc::clone(&SCHEMA)
}

/// The Arrow schema of a request-record file (columns [`RECORD_COLUMNS`]).
pub fn record_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            Field::new("arrival_ns", DataType::UInt64, false),
            Field::new("class", DataType::Utf8, false),
            Field::new("pattern_hash", DataType::UInt64, false),
            Field::new("acquire_wait_ns", DataType::UInt64, false),
            Field::new("hold_ns", DataType::UInt64, false),
            Field::new("outcome", DataType::Utf8, false),
            Field::new("error_category", DataType::Utf8, true),
            Field::new("client", DataType::UInt64, false),
        ]))
    });
    Arc::clone(&SCHEMA)
}

/// Snapshot column names, in schema order (same as [`SNAPSHOT_COLUMNS`]).
pub fn snapshot_column_names() -> &'static [&'static str] {
    &SNAPSHOT_COLUMNS
}

/// The name stored in the `outcome` column for this outcome.
pub fn outcome_name(outcome: Outcome) -> &'static str {
    outcome.name()
}

/// The [`Outcome::code`] of an `outcome` column value, if it is one of
/// [`OUTCOME_NAMES`].
pub fn outcome_code_from_name(name: &str) -> Option<u8> {
    OUTCOME_NAMES
        .iter()
        .position(|n| *n == name)
        .and_then(|i| u8::try_from(i).ok())
}

/// The query class named `name` ([`QueryClass::name`]), if any.
pub fn class_from_name(name: &str) -> Option<QueryClass> {
    QueryClass::ALL.into_iter().find(|c| c.name() == name)
}

/// The error category named `name` ([`ErrorCategory::name`]), if any.
pub fn category_from_name(name: &str) -> Option<ErrorCategory> {
    ErrorCategory::ALL.into_iter().find(|c| c.name() == name)
}

// ---------------------------------------------------------------------------
// Column table: one entry per snapshot column, with how to read the value from
// a Snapshot and how to store it back. The writer, the reader and the schema
// are all derived from this table, so they cannot disagree on the order.

type Getter<T> = Box<dyn Fn(&Snapshot) -> T + Send + Sync>;
type Setter<T> = Box<dyn Fn(&mut Snapshot, T) + Send + Sync>;

/// Reads and writes one snapshot column's value.
pub(crate) struct Accessor<T> {
    pub(crate) get: Getter<T>,
    pub(crate) set: Setter<T>,
}

fn acc<T>(
    get: impl Fn(&Snapshot) -> T + Send + Sync + 'static,
    set: impl Fn(&mut Snapshot, T) + Send + Sync + 'static,
) -> Accessor<T> {
    Accessor {
        get: Box::new(get),
        set: Box::new(set),
    }
}

/// A snapshot column's accessor, tagged by its Arrow type.
pub(crate) enum Access {
    U64(Accessor<u64>),
    U32(Accessor<u32>),
    U8(Accessor<u8>),
    F64(Accessor<f64>),
    OptF64(Accessor<Option<f64>>),
}

impl Access {
    pub(crate) fn data_type(&self) -> DataType {
        match self {
            Access::U64(_) => DataType::UInt64,
            Access::U32(_) => DataType::UInt32,
            Access::U8(_) => DataType::UInt8,
            Access::F64(_) | Access::OptF64(_) => DataType::Float64,
        }
    }

    pub(crate) fn nullable(&self) -> bool {
        matches!(self, Access::OptF64(_))
    }
}

/// One snapshot column.
pub(crate) struct SnapshotColumn {
    pub(crate) name: String,
    pub(crate) access: Access,
}

/// A scalar field: column named like the field.
macro_rules! scalar {
    ($kind:ident, $field:ident) => {
        SnapshotColumn {
            name: stringify!($field).to_string(),
            access: Access::$kind(acc(|s| s.$field, |s, v| s.$field = v)),
        }
    };
}

/// One element of an array field: column `<field>_<suffix>`.
macro_rules! element {
    ($kind:ident, $field:ident, $suffix:expr, $index:expr) => {{
        let i: usize = $index;
        SnapshotColumn {
            name: format!("{}_{}", stringify!($field), $suffix),
            access: Access::$kind(acc(move |s| s.$field[i], move |s, v| s.$field[i] = v)),
        }
    }};
}

fn per_class(out: &mut Vec<SnapshotColumn>, make: impl Fn(&'static str, usize) -> SnapshotColumn) {
    out.extend(
        QueryClass::ALL
            .into_iter()
            .map(|c| make(c.name(), c.index())),
    );
}

fn per_category(
    out: &mut Vec<SnapshotColumn>,
    make: impl Fn(&'static str, usize) -> SnapshotColumn,
) {
    out.extend(
        ErrorCategory::ALL
            .into_iter()
            .map(|c| make(c.name(), c.index())),
    );
}

/// The snapshot column table, in schema order.
pub(crate) fn snapshot_columns() -> &'static [SnapshotColumn] {
    static COLUMNS: LazyLock<Vec<SnapshotColumn>> = LazyLock::new(build_snapshot_columns);
    &COLUMNS
}

fn build_snapshot_columns() -> Vec<SnapshotColumn> {
    let mut c = vec![
        scalar!(U64, t_ns),
        scalar!(U64, interval_ns),
        scalar!(U32, size),
        scalar!(U32, idle),
        scalar!(U32, busy),
        scalar!(U32, waiting),
        scalar!(U32, pending_creates),
        scalar!(U32, target),
        scalar!(F64, size_mean),
        scalar!(F64, busy_mean),
        scalar!(F64, waiting_mean),
        scalar!(U32, demand_max),
        scalar!(U32, created),
        scalar!(U32, closed),
        scalar!(U32, create_failures),
        scalar!(U32, acquires),
        scalar!(U32, timeouts),
        scalar!(OptF64, acquire_wait_mean_ms),
        scalar!(OptF64, acquire_wait_p50_ms),
        scalar!(OptF64, acquire_wait_p95_ms),
        scalar!(OptF64, acquire_wait_p99_ms),
        scalar!(OptF64, acquire_wait_max_ms),
    ];
    per_class(&mut c, |n, i| element!(U32, arrivals, n, i));
    per_class(&mut c, |n, i| element!(U32, completions, n, i));
    per_class(&mut c, |n, i| element!(OptF64, service_p50_ms, n, i));
    per_class(&mut c, |n, i| element!(OptF64, service_p95_ms, n, i));
    per_category(&mut c, |n, i| element!(U32, errors, n, i));
    c.push(scalar!(U32, rejected));
    per_category(&mut c, |n, i| element!(U8, breaker, n, i));
    c.push(scalar!(U8, breaker_global));
    c.push(scalar!(OptF64, db_cpu));
    c.push(scalar!(OptF64, db_mem));
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_published_column_names() {
        let names: Vec<&str> = snapshot_columns().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, SNAPSHOT_COLUMNS);
        let schema = snapshot_schema();
        let schema_names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(schema_names, SNAPSHOT_COLUMNS);
        let rschema = record_schema();
        let rnames: Vec<&str> = rschema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(rnames, RECORD_COLUMNS);
    }

    #[test]
    fn types_follow_rust_types() {
        let schema = snapshot_schema();
        let ty = |n: &str| {
            let f = schema.field_with_name(n).unwrap();
            (f.data_type().clone(), f.is_nullable())
        };
        assert_eq!(ty("t_ns"), (DataType::UInt64, false));
        assert_eq!(ty("size"), (DataType::UInt32, false));
        assert_eq!(ty("busy_mean"), (DataType::Float64, false));
        assert_eq!(ty("acquire_wait_p99_ms"), (DataType::Float64, true));
        assert_eq!(ty("service_p95_ms_analytics"), (DataType::Float64, true));
        assert_eq!(ty("breaker_security"), (DataType::UInt8, false));
        assert_eq!(ty("breaker_global"), (DataType::UInt8, false));
        assert_eq!(ty("errors_timeout"), (DataType::UInt32, false));
    }

    #[test]
    fn names_round_trip() {
        for o in [
            Outcome::Ok,
            Outcome::Error(ErrorCategory::Query),
            Outcome::AcquireTimeout,
            Outcome::Rejected(Some(ErrorCategory::Security)),
            Outcome::Rejected(None),
        ] {
            assert_eq!(outcome_code_from_name(outcome_name(o)), Some(o.code()));
            assert_eq!(OUTCOME_NAMES[usize::from(o.code())], outcome_name(o));
        }
        for c in QueryClass::ALL {
            assert_eq!(class_from_name(c.name()), Some(c));
        }
        for c in ErrorCategory::ALL {
            assert_eq!(category_from_name(c.name()), Some(c));
        }
        assert_eq!(class_from_name("Read"), None);
        assert_eq!(outcome_code_from_name(""), None);
    }
}
