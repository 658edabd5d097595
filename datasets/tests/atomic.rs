//! `write_atomic` under concurrent writers of one path (issue 26: shards
//! on one shared directory all write the run-level files): no writer
//! fails, a reader only ever sees one whole write, and no temporary file
//! is left behind.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use poolcast_datasets::{create_temp_sibling, write_atomic};

/// The content writer `w` writes on its `i`-th write: 64 KiB, every byte
/// naming the writer and the write, so a torn or mixed file shows.
fn content(w: usize, i: usize) -> Vec<u8> {
    let tag = format!("{w:02}:{i:03};");
    tag.as_bytes()
        .iter()
        .copied()
        .cycle()
        .take(64 * 1024)
        .collect()
}

/// Whether `bytes` is one whole write of some writer.
fn whole(bytes: &[u8]) -> bool {
    bytes.len() == 64 * 1024 && bytes.len() >= 7 && {
        let tag = &bytes[..7];
        bytes.chunks(7).all(|c| c == &tag[..c.len()])
    }
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "run.json")
        .collect()
}

#[test]
fn many_threads_writing_one_path_never_fail_and_never_tear() {
    let dir = tempfile::tempdir().unwrap();
    let path = Arc::new(dir.path().join("run.json"));
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (path, done) = (Arc::clone(&path), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut seen = 0;
            while !done.load(Ordering::Relaxed) {
                if let Ok(bytes) = std::fs::read(&*path) {
                    assert!(whole(&bytes), "a reader saw a torn file");
                    seen += 1;
                }
            }
            seen
        })
    };
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let path = Arc::clone(&path);
            std::thread::spawn(move || {
                for i in 0..40 {
                    write_atomic(&path, &content(w, i)).unwrap();
                }
            })
        })
        .collect();
    for t in writers {
        t.join().expect("a writer failed");
    }
    done.store(true, Ordering::Relaxed);
    let seen = reader.join().expect("the reader failed");
    assert!(seen > 0, "the reader never saw the file");
    let last = std::fs::read(&*path).unwrap();
    assert!(whole(&last));
    assert_eq!(leftovers(dir.path()), Vec::<String>::new());
}

#[test]
fn temporary_names_are_never_shared() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stamp.json");
    let names: Vec<_> = (0..100)
        .map(|_| create_temp_sibling(&path).unwrap().0)
        .collect();
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len());
    assert!(names.iter().all(|n| n.parent() == Some(dir.path())));
    assert!(create_temp_sibling(Path::new("/")).is_err());
}

#[test]
fn a_failed_rename_leaves_no_temporary_file() {
    // The final name is a directory: the rename fails, the temporary goes.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.json");
    std::fs::create_dir(&path).unwrap();
    std::fs::write(path.join("inside"), b"keep").unwrap();
    let err = write_atomic(&path, b"{}").unwrap_err();
    assert!(err.to_string().contains("run.json"), "{err}");
    let left = leftovers(dir.path());
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(std::fs::read(path.join("inside")).unwrap(), b"keep");
}
