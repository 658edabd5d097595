//! Round trips, determinism, atomicity and error reporting of the Parquet
//! writers and readers.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, DictionaryArray, Float64Array, Int64Array, StringArray, UInt8Array,
    UInt32Array, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema, UInt8Type};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use poolcast::core::{ErrorCategory, Outcome, QueryClass, RequestRecord, Snapshot};
use poolcast_datasets::{
    DatasetError, RecordReader, RecordWriter, SNAPSHOT_COLUMNS, SnapshotReader, SnapshotWriter,
    WriteOptions, read_key_value_metadata, read_records, read_snapshots, record_schema,
    snapshot_schema, temp_path, write_records, write_snapshots,
};

/// A snapshot whose every field holds a value no other field holds, so a
/// column swap anywhere shows up. Some quantiles are `None`.
fn snapshot(r: u32) -> Snapshot {
    let mut k = 0u32;
    let mut next = || {
        k += 1;
        r * 1000 + k
    };
    let mut f = || f64::from(next()) + 0.25;
    let mut s = Snapshot {
        t_ns: 0,
        interval_ns: 0,
        size: 0,
        idle: 0,
        busy: 0,
        waiting: 0,
        pending_creates: 0,
        target: 0,
        size_mean: f(),
        busy_mean: f(),
        waiting_mean: f(),
        demand_max: 0,
        created: 0,
        closed: 0,
        create_failures: 0,
        acquires: 0,
        timeouts: 0,
        acquire_wait_mean_ms: Some(f()),
        acquire_wait_p50_ms: Some(f()),
        acquire_wait_p95_ms: Some(f()),
        acquire_wait_p99_ms: if r.is_multiple_of(2) { None } else { Some(f()) },
        acquire_wait_max_ms: Some(f()),
        arrivals: [0; 5],
        completions: [0; 5],
        service_p50_ms: [Some(f()), Some(f()), None, Some(f()), Some(f())],
        service_p95_ms: [Some(f()), Some(f()), Some(f()), Some(f()), None],
        errors: [0; 5],
        rejected: 0,
        breaker: [0; 5],
        breaker_global: 0,
        db_cpu: if r.is_multiple_of(3) { None } else { Some(f()) },
        db_mem: Some(f()),
    };
    let mut n = || next();
    s.t_ns = 10_000_000_000 * u64::from(r + 1) + u64::from(n());
    s.interval_ns = 1_000_000_000 + u64::from(n());
    s.size = n();
    s.idle = n();
    s.busy = n();
    s.waiting = n();
    s.pending_creates = n();
    s.target = n();
    s.demand_max = n();
    s.created = n();
    s.closed = n();
    s.create_failures = n();
    s.acquires = n();
    s.timeouts = n();
    s.arrivals = [n(), n(), n(), n(), n()];
    s.completions = [n(), n(), n(), n(), n()];
    s.errors = [n(), n(), n(), n(), n()];
    s.rejected = n();
    let b = (r % 40) as u8 * 6;
    s.breaker = [b, b + 1, b + 2, b + 3, b + 4];
    s.breaker_global = b + 5;
    s
}

fn all_outcomes() -> Vec<Outcome> {
    // Rejected(None) is a rejection by the global breaker.
    let mut v = vec![
        Outcome::Ok,
        Outcome::AcquireTimeout,
        Outcome::Rejected(None),
    ];
    for c in ErrorCategory::ALL {
        v.push(Outcome::Error(c));
        v.push(Outcome::Rejected(Some(c)));
    }
    v
}

fn record(i: u64) -> RequestRecord {
    let outcomes = all_outcomes();
    RequestRecord {
        arrival_ns: 1_000 * i + 7,
        class: QueryClass::ALL[(i % 5) as usize],
        pattern_hash: i.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        acquire_wait_ns: 3 * i + 1,
        hold_ns: 5 * i + 2,
        outcome: outcomes[(i % outcomes.len() as u64) as usize],
        // A few clients, and some requests of none (0).
        client: (i % 4).wrapping_mul(0xD1B5_4A32_D192_ED03),
    }
}

fn read_raw(path: &Path) -> RecordBatch {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
        .unwrap()
        .with_batch_size(1 << 20)
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
}

fn col<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> &'a T {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_any()
        .downcast_ref::<T>()
        .unwrap_or_else(|| panic!("column {name} has an unexpected type"))
}

fn write_raw(path: &Path, columns: Vec<(&str, ArrayRef)>) {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        columns.into_iter().map(|c| c.1).collect(),
    )
    .unwrap();
    let mut w = ArrowWriter::try_new(File::create(path).unwrap(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn record_columns(rows: &[RequestRecord]) -> Vec<(&'static str, ArrayRef)> {
    vec![
        (
            "arrival_ns",
            Arc::new(UInt64Array::from_iter_values(
                rows.iter().map(|r| r.arrival_ns),
            )),
        ),
        (
            "class",
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.class.name()),
            )),
        ),
        (
            "pattern_hash",
            Arc::new(UInt64Array::from_iter_values(
                rows.iter().map(|r| r.pattern_hash),
            )),
        ),
        (
            "acquire_wait_ns",
            Arc::new(UInt64Array::from_iter_values(
                rows.iter().map(|r| r.acquire_wait_ns),
            )),
        ),
        (
            "hold_ns",
            Arc::new(UInt64Array::from_iter_values(
                rows.iter().map(|r| r.hold_ns),
            )),
        ),
        (
            "outcome",
            Arc::new(StringArray::from_iter_values(
                rows.iter()
                    .map(|r| poolcast_datasets::schema::outcome_name(r.outcome)),
            )),
        ),
        (
            "error_category",
            Arc::new(StringArray::from_iter(
                rows.iter().map(|r| r.outcome.category().map(|c| c.name())),
            )),
        ),
        (
            "client",
            Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.client))),
        ),
    ]
}

fn replace(
    mut cols: Vec<(&'static str, ArrayRef)>,
    name: &str,
    array: ArrayRef,
) -> Vec<(&'static str, ArrayRef)> {
    let slot = cols.iter_mut().find(|c| c.0 == name).unwrap();
    slot.1 = array;
    cols
}

fn mentions_path(err: &DatasetError, path: &Path) {
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()),
        "error does not name {}: {msg}",
        path.display()
    );
    assert_eq!(err.path(), path);
}

#[test]
fn snapshots_round_trip_with_none_quantiles() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snapshots.parquet");
    let rows: Vec<Snapshot> = (0..50).map(snapshot).collect();
    let stats = write_snapshots(&path, &rows, WriteOptions::default()).unwrap();
    assert_eq!(stats.rows, 50);
    assert_eq!(stats.bytes, fs::metadata(&path).unwrap().len());
    assert!(!temp_path(&path).exists());
    let back = read_snapshots(&path).unwrap();
    assert_eq!(back, rows);
    assert!(back[0].acquire_wait_p99_ms.is_none());
    assert!(back[0].db_cpu.is_none());
    assert!(back[1].db_cpu.is_some());
}

/// Round trips cannot catch a column whose name and content disagree (both
/// sides share the mapping), so check the raw columns by name.
#[test]
fn snapshot_columns_hold_the_field_they_are_named_after() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.parquet");
    let rows: Vec<Snapshot> = (0..6).map(snapshot).collect();
    write_snapshots(&path, &rows, WriteOptions::default()).unwrap();
    let batch = read_raw(&path);
    assert_eq!(batch.schema(), snapshot_schema());
    let names: Vec<String> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, SNAPSHOT_COLUMNS);

    for (i, s) in rows.iter().enumerate() {
        let u64c = |n: &str| col::<UInt64Array>(&batch, n).value(i);
        let u32c = |n: &str| col::<UInt32Array>(&batch, n).value(i);
        let u8c = |n: &str| col::<UInt8Array>(&batch, n).value(i);
        let f64c = |n: &str| col::<Float64Array>(&batch, n).value(i);
        let optc = |n: &str| {
            let a = col::<Float64Array>(&batch, n);
            (!a.is_null(i)).then(|| a.value(i))
        };
        assert_eq!(u64c("t_ns"), s.t_ns);
        assert_eq!(u64c("interval_ns"), s.interval_ns);
        assert_eq!(u32c("size"), s.size);
        assert_eq!(u32c("idle"), s.idle);
        assert_eq!(u32c("busy"), s.busy);
        assert_eq!(u32c("waiting"), s.waiting);
        assert_eq!(u32c("pending_creates"), s.pending_creates);
        assert_eq!(u32c("target"), s.target);
        assert_eq!(f64c("size_mean"), s.size_mean);
        assert_eq!(f64c("busy_mean"), s.busy_mean);
        assert_eq!(f64c("waiting_mean"), s.waiting_mean);
        assert_eq!(u32c("demand_max"), s.demand_max);
        assert_eq!(u32c("created"), s.created);
        assert_eq!(u32c("closed"), s.closed);
        assert_eq!(u32c("create_failures"), s.create_failures);
        assert_eq!(u32c("acquires"), s.acquires);
        assert_eq!(u32c("timeouts"), s.timeouts);
        assert_eq!(optc("acquire_wait_mean_ms"), s.acquire_wait_mean_ms);
        assert_eq!(optc("acquire_wait_p50_ms"), s.acquire_wait_p50_ms);
        assert_eq!(optc("acquire_wait_p95_ms"), s.acquire_wait_p95_ms);
        assert_eq!(optc("acquire_wait_p99_ms"), s.acquire_wait_p99_ms);
        assert_eq!(optc("acquire_wait_max_ms"), s.acquire_wait_max_ms);
        for c in QueryClass::ALL {
            let n = c.name();
            assert_eq!(u32c(&format!("arrivals_{n}")), s.arrivals[c.index()]);
            assert_eq!(u32c(&format!("completions_{n}")), s.completions[c.index()]);
            assert_eq!(
                optc(&format!("service_p50_ms_{n}")),
                s.service_p50_ms[c.index()]
            );
            assert_eq!(
                optc(&format!("service_p95_ms_{n}")),
                s.service_p95_ms[c.index()]
            );
        }
        for c in ErrorCategory::ALL {
            let n = c.name();
            assert_eq!(u32c(&format!("errors_{n}")), s.errors[c.index()]);
            assert_eq!(u8c(&format!("breaker_{n}")), s.breaker[c.index()]);
        }
        assert_eq!(u32c("rejected"), s.rejected);
        assert_eq!(u8c("breaker_global"), s.breaker_global);
        assert_eq!(optc("db_cpu"), s.db_cpu);
        assert_eq!(optc("db_mem"), s.db_mem);
    }
}

#[test]
fn records_round_trip_every_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.parquet");
    let rows: Vec<RequestRecord> = (0..120).map(record).collect();
    for o in all_outcomes() {
        assert!(rows.iter().any(|r| r.outcome == o), "{o:?} not covered");
    }
    let stats = write_records(&path, &rows, WriteOptions::default()).unwrap();
    assert_eq!(stats.rows, 120);
    assert_eq!(read_records(&path).unwrap(), rows);

    // The stored representation is the documented one.
    let batch = read_raw(&path);
    assert_eq!(batch.schema(), record_schema());
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(col::<StringArray>(&batch, "class").value(i), r.class.name());
        let outcome = col::<StringArray>(&batch, "outcome").value(i);
        let expected = match r.outcome {
            Outcome::Ok => "ok",
            Outcome::Error(_) => "error",
            Outcome::AcquireTimeout => "acquire_timeout",
            Outcome::Rejected(_) => "rejected",
        };
        assert_eq!(outcome, expected);
        let cat = col::<StringArray>(&batch, "error_category");
        let stored = (!cat.is_null(i)).then(|| cat.value(i));
        assert_eq!(stored, r.outcome.category().map(|c| c.name()));
        assert_eq!(
            col::<UInt64Array>(&batch, "arrival_ns").value(i),
            r.arrival_ns
        );
        assert_eq!(
            col::<UInt64Array>(&batch, "pattern_hash").value(i),
            r.pattern_hash
        );
        assert_eq!(
            col::<UInt64Array>(&batch, "acquire_wait_ns").value(i),
            r.acquire_wait_ns
        );
        assert_eq!(col::<UInt64Array>(&batch, "hold_ns").value(i), r.hold_ns);
        assert_eq!(col::<UInt64Array>(&batch, "client").value(i), r.client);
    }
    assert!(rows.iter().any(|r| r.client == 0) && rows.iter().any(|r| r.client > 1));
}

/// A request file written before the `client` column existed (the old
/// schema: the same columns without it) reads with client 0.
#[test]
fn a_record_file_without_the_client_column_reads_with_client_0() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<RequestRecord> = (0..30).map(record).collect();
    let path = dir.path().join("old-records.parquet");
    let cols: Vec<_> = record_columns(&rows)
        .into_iter()
        .filter(|c| c.0 != "client")
        .collect();
    assert_eq!(cols.len(), 7);
    write_raw(&path, cols);
    assert!(read_raw(&path).column_by_name("client").is_none());
    let expected: Vec<RequestRecord> = rows
        .iter()
        .map(|r| RequestRecord { client: 0, ..*r })
        .collect();
    assert_eq!(read_records(&path).unwrap(), expected);
    let streamed: Vec<RequestRecord> = RecordReader::open(&path)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(streamed, expected);

    // Present but mistyped is still an error naming it.
    let mistyped = dir.path().join("mistyped-client.parquet");
    let client: ArrayRef = Arc::new(Int64Array::from_iter_values(0..30));
    write_raw(&mistyped, replace(record_columns(&rows), "client", client));
    let err = read_records(&mistyped).unwrap_err();
    assert!(
        matches!(&err, DatasetError::ColumnType { column, .. } if column == "client"),
        "{err}"
    );
}

#[test]
fn output_is_byte_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let snaps: Vec<Snapshot> = (0..300).map(snapshot).collect();
    let recs: Vec<RequestRecord> = (0..5_000).map(record).collect();
    let opts = WriteOptions::default()
        .with_batch_rows(128)
        .with_metadata("run", "seed-42")
        .with_metadata("manifest", "baseline.toml");
    let mut bytes = Vec::new();
    for k in 0..2 {
        let s = dir.path().join(format!("s{k}.parquet"));
        let r = dir.path().join(format!("r{k}.parquet"));
        write_snapshots(&s, &snaps, opts.clone()).unwrap();
        write_records(&r, &recs, opts.clone()).unwrap();
        bytes.push((fs::read(&s).unwrap(), fs::read(&r).unwrap()));
    }
    assert_eq!(bytes[0].0, bytes[1].0);
    assert_eq!(bytes[0].1, bytes[1].1);

    // created_by is fixed, metadata is kept in order.
    let s0 = dir.path().join("s0.parquet");
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(&s0).unwrap()).unwrap();
    assert_eq!(
        builder.metadata().file_metadata().created_by(),
        Some("poolcast")
    );
    let kv = read_key_value_metadata(&s0).unwrap();
    let kv: Vec<(&str, &str)> = kv.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        kv,
        [
            ("poolcast.dataset", "snapshot"),
            ("poolcast.schema_version", "1"),
            ("run", "seed-42"),
            ("manifest", "baseline.toml"),
        ]
    );
}

#[test]
fn dropped_writer_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snapshots.parquet");
    let tmp = temp_path(&path);
    assert_eq!(tmp, dir.path().join("snapshots.parquet.tmp"));
    {
        let mut w =
            SnapshotWriter::create(&path, WriteOptions::default().with_batch_rows(4)).unwrap();
        for r in 0..10 {
            w.push(&snapshot(r)).unwrap();
        }
        assert!(tmp.exists());
        assert!(!path.exists());
    }
    assert!(!tmp.exists());
    assert!(!path.exists());

    let rpath = dir.path().join("records.parquet");
    let result = std::panic::catch_unwind(|| {
        let mut w =
            RecordWriter::create(&rpath, WriteOptions::default().with_batch_rows(5)).unwrap();
        for i in 0..12 {
            w.push(&record(i)).unwrap();
        }
        panic!("simulated failure mid-write");
    });
    assert!(result.is_err());
    assert!(!temp_path(&rpath).exists());
    assert!(!rpath.exists());
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn abandoned_rewrite_keeps_the_previous_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.parquet");
    let old: Vec<RequestRecord> = (0..10).map(record).collect();
    write_records(&path, &old, WriteOptions::default()).unwrap();
    {
        let mut w = RecordWriter::create(&path, WriteOptions::default()).unwrap();
        w.push(&record(99)).unwrap();
    }
    assert_eq!(read_records(&path).unwrap(), old);
    assert!(!temp_path(&path).exists());
}

#[test]
fn multi_batch_writes_round_trip_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.parquet");
    let snaps: Vec<Snapshot> = (0..103).map(snapshot).collect();
    let mut w = SnapshotWriter::create(&path, WriteOptions::default().with_batch_rows(7)).unwrap();
    w.push_all(&snaps).unwrap();
    assert_eq!(w.rows_written(), 103);
    assert_eq!(w.finish().unwrap().rows, 103);
    assert_eq!(read_snapshots(&path).unwrap(), snaps);

    // Records: more rows than one read batch, so reading streams too.
    let rpath = dir.path().join("r.parquet");
    let recs: Vec<RequestRecord> = (0..20_011).map(record).collect();
    let mut w = RecordWriter::create(&rpath, WriteOptions::default().with_batch_rows(333)).unwrap();
    w.push_all(&recs).unwrap();
    assert_eq!(w.finish().unwrap().rows, 20_011);
    let reader = RecordReader::open(&rpath).unwrap();
    assert_eq!(reader.num_rows(), 20_011);
    let back: Vec<RequestRecord> = reader.map(Result::unwrap).collect();
    assert_eq!(back, recs);

    let reader = SnapshotReader::open(&path).unwrap();
    assert_eq!(reader.num_rows(), 103);
    assert_eq!(reader.count(), 103);
}

#[test]
fn empty_files_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().join("s.parquet");
    let r = dir.path().join("r.parquet");
    assert_eq!(
        SnapshotWriter::create(&s, WriteOptions::default())
            .unwrap()
            .finish()
            .unwrap()
            .rows,
        0
    );
    assert_eq!(
        RecordWriter::create(&r, WriteOptions::default())
            .unwrap()
            .finish()
            .unwrap()
            .rows,
        0
    );
    assert!(read_snapshots(&s).unwrap().is_empty());
    assert!(read_records(&r).unwrap().is_empty());
}

#[test]
fn non_parquet_and_corrupt_files_are_errors_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();

    let text = dir.path().join("not-parquet.parquet");
    fs::write(&text, "t_ns,size\n1,2\n").unwrap();
    let err = read_snapshots(&text).unwrap_err();
    mentions_path(&err, &text);
    assert!(matches!(err, DatasetError::Parquet { .. }), "{err}");
    mentions_path(&read_records(&text).unwrap_err(), &text);

    let empty = dir.path().join("empty.parquet");
    fs::write(&empty, "").unwrap();
    mentions_path(&read_records(&empty).unwrap_err(), &empty);

    let missing = dir.path().join("missing.parquet");
    let err = read_records(&missing).unwrap_err();
    mentions_path(&err, &missing);
    assert!(matches!(err, DatasetError::Io { .. }));

    // A real file, truncated.
    let good = dir.path().join("good.parquet");
    let recs: Vec<RequestRecord> = (0..5_000).map(record).collect();
    write_records(&good, &recs, WriteOptions::default()).unwrap();
    let bytes = fs::read(&good).unwrap();
    let cut = dir.path().join("truncated.parquet");
    fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    mentions_path(&read_records(&cut).unwrap_err(), &cut);

    // A real file with damaged data pages: an error or (if the damage hits
    // bytes that do not matter) a successful read, but never a panic.
    let damaged = dir.path().join("damaged.parquet");
    for offset in (4..bytes.len() / 2).step_by(bytes.len() / 37 + 1) {
        let mut b = bytes.clone();
        for x in &mut b[offset..(offset + 16).min(bytes.len())] {
            *x ^= 0x5A;
        }
        fs::write(&damaged, &b).unwrap();
        if let Err(e) = read_records(&damaged) {
            mentions_path(&e, &damaged);
        }
    }
}

#[test]
fn schema_mismatches_name_the_column() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<RequestRecord> = (0..10).map(record).collect();

    let missing = dir.path().join("missing-col.parquet");
    let cols: Vec<_> = record_columns(&rows)
        .into_iter()
        .filter(|c| c.0 != "hold_ns")
        .collect();
    write_raw(&missing, cols);
    let err = read_records(&missing).unwrap_err();
    mentions_path(&err, &missing);
    assert!(
        matches!(&err, DatasetError::MissingColumn { column, .. } if column == "hold_ns"),
        "{err}"
    );
    assert!(err.to_string().contains("UInt64"), "{err}");

    let mistyped = dir.path().join("mistyped.parquet");
    let arrival: ArrayRef = Arc::new(Int64Array::from_iter_values(0..10));
    write_raw(
        &mistyped,
        replace(record_columns(&rows), "arrival_ns", arrival),
    );
    let err = read_records(&mistyped).unwrap_err();
    mentions_path(&err, &mistyped);
    match &err {
        DatasetError::ColumnType {
            column,
            expected,
            found,
            ..
        } => {
            assert_eq!(column, "arrival_ns");
            assert_eq!(expected, "UInt64");
            assert_eq!(found, "Int64");
        }
        other => panic!("unexpected error {other}"),
    }

    // A snapshot reader pointed at a record file.
    let records = dir.path().join("records.parquet");
    write_records(&records, &rows, WriteOptions::default()).unwrap();
    let err = read_snapshots(&records).unwrap_err();
    mentions_path(&err, &records);
    assert!(matches!(err, DatasetError::MissingColumn { .. }), "{err}");
}

#[test]
fn invalid_values_are_reported_with_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<RequestRecord> = (0..10).map(record).collect();

    let bad_class = dir.path().join("bad-class.parquet");
    let mut names: Vec<&str> = rows.iter().map(|r| r.class.name()).collect();
    names[3] = "Read";
    let class: ArrayRef = Arc::new(StringArray::from_iter_values(names));
    write_raw(&bad_class, replace(record_columns(&rows), "class", class));
    let err = read_records(&bad_class).unwrap_err();
    mentions_path(&err, &bad_class);
    assert!(
        matches!(&err, DatasetError::InvalidValue { column, row: 3, value, .. }
            if column == "class" && value == "Read"),
        "{err}"
    );

    // ok with a category.
    let bad_cat = dir.path().join("bad-cat.parquet");
    let mut cats: Vec<Option<&str>> = rows
        .iter()
        .map(|r| r.outcome.category().map(|c| c.name()))
        .collect();
    assert_eq!(rows[0].outcome, Outcome::Ok);
    cats[0] = Some("query");
    let cat: ArrayRef = Arc::new(StringArray::from_iter(cats));
    write_raw(
        &bad_cat,
        replace(record_columns(&rows), "error_category", cat),
    );
    let err = read_records(&bad_cat).unwrap_err();
    assert!(
        matches!(&err, DatasetError::InvalidValue { column, row: 0, .. } if column == "error_category"),
        "{err}"
    );

    // A null in a column that must not have one.
    let null_hold = dir.path().join("null-hold.parquet");
    let hold: ArrayRef = Arc::new(UInt64Array::from(vec![
        Some(1),
        Some(2),
        None,
        Some(4),
        Some(5),
        Some(6),
        Some(7),
        Some(8),
        Some(9),
        Some(10),
    ]));
    write_raw(&null_hold, replace(record_columns(&rows), "hold_ns", hold));
    let err = read_records(&null_hold).unwrap_err();
    mentions_path(&err, &null_hold);
    assert!(
        matches!(&err, DatasetError::UnexpectedNull { column, row: 2, .. } if column == "hold_ns"),
        "{err}"
    );
}

/// Files written by other tools: every column nullable, extra columns, a
/// different column order, dictionary-encoded text.
#[test]
fn foreign_but_compatible_files_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<RequestRecord> = (0..25).map(record).collect();
    let path = dir.path().join("foreign.parquet");
    let classes: DictionaryArray<UInt8Type> = rows.iter().map(|r| r.class.name()).collect();
    let mut cols = replace(record_columns(&rows), "class", Arc::new(classes));
    cols.reverse();
    cols.insert(2, ("extra", Arc::new(UInt64Array::from_iter_values(0..25))));
    write_raw(&path, cols);
    let schema = read_raw(&path).schema();
    assert!(matches!(
        schema.field_with_name("class").unwrap().data_type(),
        DataType::Dictionary(..)
    ));
    assert_eq!(read_records(&path).unwrap(), rows);
}

#[test]
fn bad_options_and_paths_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.parquet");
    let err =
        SnapshotWriter::create(&path, WriteOptions::default().with_batch_rows(0)).unwrap_err();
    assert!(matches!(err, DatasetError::InvalidOptions { .. }), "{err}");
    mentions_path(&err, &path);
    let err = RecordWriter::create(&path, WriteOptions::default().with_zstd_level(99)).unwrap_err();
    assert!(matches!(err, DatasetError::InvalidOptions { .. }), "{err}");
    assert!(!temp_path(&path).exists());

    let nowhere: PathBuf = dir.path().join("no/such/dir/s.parquet");
    let err = SnapshotWriter::create(&nowhere, WriteOptions::default()).unwrap_err();
    assert!(matches!(err, DatasetError::Io { .. }), "{err}");
    assert!(err.to_string().contains("no/such/dir"), "{err}");
}

#[test]
fn compression_level_is_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let recs: Vec<RequestRecord> = (0..20_000).map(record).collect();
    let fast = dir.path().join("fast.parquet");
    let strong = dir.path().join("strong.parquet");
    write_records(&fast, &recs, WriteOptions::default().with_zstd_level(1)).unwrap();
    write_records(&strong, &recs, WriteOptions::default().with_zstd_level(19)).unwrap();
    assert_eq!(read_records(&fast).unwrap(), recs);
    assert_eq!(read_records(&strong).unwrap(), recs);
    assert_ne!(fs::read(&fast).unwrap(), fs::read(&strong).unwrap());
}
