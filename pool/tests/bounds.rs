//! Every size and duration of `pool.toml` and the builder has an upper
//! bound, and a value past it is an error naming the field, never a panic
//! or an abort (a `max_size` of 4e9 once went straight into
//! `Vec::with_capacity`; a huge `create_timeout_ms` into
//! `Duration::from_secs_f64`).

use poolcast::core::pool::MAX_POOL_SIZE;
use poolcast::core::settings::{MAX_DURATION_S, PoolFile, PoolSettings};
use poolcast::runtime::{
    BuildError, MAX_RECORDER_FILES, Manager, Pool, RecorderConfig, RecycleMode, TraceRecorder,
};
use proptest::prelude::*;

struct Nothing;

impl Manager for Nothing {
    type Connection = ();
    type Error = std::io::Error;
    async fn create(&self) -> Result<(), std::io::Error> {
        Ok(())
    }
    async fn recycle(&self, _: &mut (), _: RecycleMode) -> Result<(), std::io::Error> {
        Ok(())
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Builds a pool from `file`; the error's field path when it is refused.
fn build(file: PoolFile) -> Result<(), String> {
    runtime().block_on(async {
        match Pool::builder(Nothing).config(file).build() {
            Ok(p) => {
                p.close().await;
                Ok(())
            }
            Err(BuildError::Settings(e)) => Err(e.path),
            Err(e) => Err(e.to_string()),
        }
    })
}

fn with(f: impl FnOnce(&mut PoolFile)) -> PoolFile {
    let mut file = PoolFile::default();
    f(&mut file);
    file
}

#[test]
fn values_past_their_bound_name_the_field() {
    let cases: Vec<(&str, PoolFile)> = vec![
        ("pool.max_size", with(|f| f.pool.max_size = 4_000_000_000)),
        (
            "pool.max_size",
            with(|f| f.pool.max_size = MAX_POOL_SIZE + 1),
        ),
        (
            "pool.max_concurrent_creates",
            with(|f| f.pool.max_concurrent_creates = u32::MAX),
        ),
        (
            "pool.create_timeout_ms",
            with(|f| f.pool.create_timeout_ms = Some(1e300)),
        ),
        (
            "pool.acquire_timeout_ms",
            with(|f| f.pool.acquire_timeout_ms = Some(f64::INFINITY)),
        ),
        (
            "pool.max_lifetime_s",
            with(|f| f.pool.max_lifetime_s = Some(MAX_DURATION_S * 2.0)),
        ),
        (
            "pool.create_backoff_max_ms",
            with(|f| f.pool.create_backoff_max_ms = 1e20),
        ),
        (
            "controller.keep_snapshots",
            with(|f| f.controller.keep_snapshots = usize::MAX),
        ),
        (
            "controller.interval_s",
            with(|f| f.controller.interval_s = 1e10),
        ),
        (
            "controller.max_step_up",
            with(|f| f.controller.max_step_up = Some(u32::MAX)),
        ),
    ];
    for (field, file) in cases {
        assert_eq!(build(file).unwrap_err(), field);
    }
    // At the bounds themselves, the pool builds.
    build(with(|f| {
        f.pool.max_size = MAX_POOL_SIZE;
        f.pool.min_size = 0;
        f.pool.create_timeout_ms = Some(MAX_DURATION_S * 1e3);
        f.pool.max_lifetime_s = Some(MAX_DURATION_S);
    }))
    .unwrap();
}

#[test]
fn pool_toml_past_a_bound_names_the_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pool.toml");
    std::fs::write(&path, "[pool]\nmax_size = 4000000000\n").unwrap();
    let e = poolcast::runtime::load_pool_file(&path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("pool.max_size") && e.contains("262143"), "{e}");
}

#[test]
fn a_recorder_that_would_delete_every_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = RecorderConfig::new(dir.path());
    cfg.max_files = 0;
    let e = TraceRecorder::start(cfg.clone()).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("recorder.max_files"), "{e}");
    cfg.max_files = MAX_RECORDER_FILES + 1;
    assert!(TraceRecorder::start(cfg.clone()).is_err());
    cfg.max_files = 3;
    cfg.capacity = 0;
    assert!(
        TraceRecorder::start(cfg)
            .unwrap_err()
            .to_string()
            .contains("recorder.capacity")
    );
}

fn any_duration() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(-1.0),
        Just(0.0),
        0.0..1e6,
        1e6..1e30,
        any::<f64>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Any sizes and durations: the pool builds or names a field; it
    /// never panics or aborts.
    #[test]
    fn any_settings_build_or_name_a_field(
        max in any::<u32>(),
        min in any::<u32>(),
        creates in any::<u32>(),
        acquire in any_duration(),
        create in any_duration(),
        idle in any_duration(),
        life in any_duration(),
        backoff in any_duration(),
        interval in any_duration(),
        keep in any::<usize>(),
    ) {
        let file = PoolFile {
            pool: PoolSettings {
                // Mostly small, so that valid pools are built too.
                max_size: if max % 4 == 0 { max } else { max % 64 },
                min_size: if min % 4 == 0 { min } else { min % 8 },
                max_concurrent_creates: if creates % 4 == 0 { creates } else { 1 + creates % 8 },
                acquire_timeout_ms: Some(acquire),
                create_timeout_ms: Some(create),
                idle_timeout_s: Some(idle),
                max_lifetime_s: Some(life),
                create_backoff_max_ms: backoff,
                ..PoolSettings::default()
            },
            ..PoolFile::default()
        };
        let mut file = file;
        file.controller.interval_s = interval;
        file.controller.keep_snapshots = keep % 2_000_000;
        match build(file) {
            Ok(()) => {}
            Err(path) => prop_assert!(
                path.starts_with("pool.") || path.starts_with("controller."),
                "{path}"
            ),
        }
    }
}
