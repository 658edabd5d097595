//! Reads the runtime pool's trace recorder files
//! (`poolcast::runtime::TraceRecorder`): `requests-*.csv` into
//! [`RequestRecord`]s and `snapshots-*.jsonl` into [`Snapshot`]s, so that
//! production traces feed the same pipeline as simulated telemetry.
//!
//! The request CSV header is
//! `arrival_ns,class,pattern_hash,acquire_wait_ns,hold_ns,outcome,category,client`
//! with names as in the Parquet telemetry (`read`, `ok`, `connection`, ...).
//! Files written before the `client` column (the same header without it)
//! are still read, with client 0.

use std::io::{BufRead, BufReader};
use std::path::Path;

use poolcast::core::telemetry::Outcome;
use poolcast::core::{RequestRecord, Snapshot};

use crate::error::{DatasetError, Result};
use crate::schema::{category_from_name, class_from_name, outcome_code_from_name};

/// The header line of a recorder request file.
pub use poolcast::core::telemetry::REQUEST_CSV_HEADER as RECORDER_HEADER;
/// The header line of a recorder request file written before the `client`
/// column existed (still read, with client 0).
pub use poolcast::core::telemetry::REQUEST_CSV_HEADER_V1 as RECORDER_HEADER_V1;

/// The number of columns of a recorder request file with header `line`
/// (8, or 7 for a file written before the `client` column), or `None` when
/// it is not a recorder header.
pub fn recorder_header_columns(line: &str) -> Option<usize> {
    match line.trim_end() {
        RECORDER_HEADER => Some(8),
        RECORDER_HEADER_V1 => Some(7),
        _ => None,
    }
}

/// The longest line a recorder file may have (a request line is under
/// 200 bytes, a snapshot a few KB): a longer run without a newline is not
/// a recorder file, and is not buffered whole.
const MAX_LINE_BYTES: u64 = 1 << 20;

/// Reads line `n` of `path` into `buf` (cleared first), at most
/// [`MAX_LINE_BYTES`] of it; returns the bytes read (0 at the end).
fn read_bounded_line(
    reader: &mut BufReader<std::fs::File>,
    buf: &mut String,
    path: &Path,
    n: u64,
) -> Result<usize> {
    use std::io::Read;
    buf.clear();
    let read = reader
        .take(MAX_LINE_BYTES + 1)
        .read_line(buf)
        .map_err(|e| DatasetError::io(path, "read", e))?;
    if read as u64 > MAX_LINE_BYTES {
        return Err(DatasetError::line(
            path,
            n,
            format!(
                "a line longer than {} KiB: not a recorder file",
                MAX_LINE_BYTES >> 10
            ),
        ));
    }
    Ok(read)
}

fn open(path: &Path) -> Result<BufReader<std::fs::File>> {
    std::fs::File::open(path)
        .map(BufReader::new)
        .map_err(|e| DatasetError::io(path, "open for reading", e))
}

/// The error for line `n` of `path` that `message` rejects when the file
/// ends inside that line (it has no newline; `offset` is where it starts).
fn cut_off(path: &Path, n: u64, offset: u64, message: &str) -> DatasetError {
    DatasetError::line(
        path,
        n,
        format!(
            "the file ends inside this line ({message}), as when the recording \
             process is killed mid-write; the {} line(s) before it are complete: \
             `truncate -s {offset} {}` keeps just them",
            n - 1,
            path.display()
        ),
    )
}

/// Calls `f(n, line)` on every line of `path` (one-based `n`, the line
/// without its line ending).
///
/// The recorder writes through a buffer, so a process killed mid-write
/// leaves its newest file ending inside a line. When the last line has no
/// newline and `f` rejects it, the error says the line was cut off and how
/// to keep the complete lines before it, rather than only that a field is
/// wrong. A last line that `f` accepts was cut just before its newline and
/// is whole.
fn for_each_line(path: &Path, mut f: impl FnMut(u64, &str) -> Result<()>) -> Result<()> {
    let mut reader = open(path)?;
    let mut buf = String::new();
    let (mut n, mut offset) = (0u64, 0u64);
    loop {
        let read = read_bounded_line(&mut reader, &mut buf, path, n + 1)?;
        if read == 0 {
            return Ok(());
        }
        n += 1;
        let terminated = buf.ends_with('\n');
        match f(n, buf.trim_end_matches(['\n', '\r'])) {
            Ok(()) => {}
            Err(DatasetError::Line { message, .. }) if !terminated => {
                return Err(cut_off(path, n, offset, &message));
            }
            Err(e) => return Err(e),
        }
        offset += read as u64;
    }
}

/// Reads a recorder `requests-*.csv` file.
///
/// # Errors
/// [`DatasetError::Io`] when it cannot be read; [`DatasetError::Line`]
/// naming the line and field for a wrong header, a missing field, a number
/// that does not parse or an unknown class, outcome or category, or saying
/// that the file ends inside its last line (a recorder killed mid-write)
/// and how to keep the complete lines.
pub fn read_recorder_requests(path: impl AsRef<Path>) -> Result<Vec<RequestRecord>> {
    RecorderRequests::open(path)?.collect()
}

/// The requests of a recorder `requests-*.csv` file, read one line at a
/// time, so a trace of any length is read in the memory of one line
/// (`read_recorder_requests` collects them). Errors are those of
/// [`read_recorder_requests`]; after one, the iterator ends.
#[derive(Debug)]
pub struct RecorderRequests {
    path: std::path::PathBuf,
    reader: BufReader<std::fs::File>,
    buf: String,
    /// Lines read.
    n: u64,
    /// Where the line being read starts.
    offset: u64,
    /// Columns of the file, from its header (0 until it is read).
    columns: usize,
    done: bool,
}

impl RecorderRequests {
    /// Opens `path`.
    ///
    /// # Errors
    /// [`DatasetError::Io`] when it cannot be opened.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        Ok(RecorderRequests {
            path: path.to_path_buf(),
            reader: open(path)?,
            buf: String::new(),
            n: 0,
            offset: 0,
            columns: 0,
            done: false,
        })
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read_next(&mut self) -> Result<Option<RequestRecord>> {
        loop {
            let read = read_bounded_line(&mut self.reader, &mut self.buf, &self.path, self.n + 1)?;
            if read == 0 {
                return Ok(None);
            }
            self.n += 1;
            let terminated = self.buf.ends_with('\n');
            let line = self.buf.trim_end_matches(['\n', '\r']);
            match parse_request_line(&self.path, self.n, line, &mut self.columns) {
                Ok(Some(r)) => {
                    self.offset += read as u64;
                    return Ok(Some(r));
                }
                Ok(None) => self.offset += read as u64,
                Err(DatasetError::Line { message, .. }) if !terminated => {
                    return Err(cut_off(&self.path, self.n, self.offset, &message));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Iterator for RecorderRequests {
    type Item = Result<RequestRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let r = self.read_next().transpose();
        if !matches!(r, Some(Ok(_))) {
            self.done = true;
        }
        r
    }
}

/// Line `n` of a recorder request file: the header (checked; it sets
/// `columns`, the file's column count), a blank line, or a request.
fn parse_request_line(
    path: &Path,
    n: u64,
    line: &str,
    columns: &mut usize,
) -> Result<Option<RequestRecord>> {
    if n == 1 {
        *columns = recorder_header_columns(line).ok_or_else(|| {
            DatasetError::line(
                path,
                n,
                format!(
                    "expected the header `{RECORDER_HEADER}` (or, for a file \
                     written before the client column, `{RECORDER_HEADER_V1}`)"
                ),
            )
        })?;
        return Ok(None);
    }
    if line.trim().is_empty() {
        return Ok(None);
    }
    // Into an array rather than a Vec: a streamed replay parses every
    // line on every pass, and this keeps the parse free of allocation.
    let mut f = [""; 8];
    let mut found = 0usize;
    for (k, field) in line.split(',').enumerate() {
        if let Some(slot) = f.get_mut(k) {
            *slot = field;
        }
        found = k + 1;
    }
    if found != *columns {
        return Err(DatasetError::line(
            path,
            n,
            format!("expected {columns} comma-separated fields, found {found}"),
        ));
    }
    let num = |k: usize, name: &str| {
        f[k].parse::<u64>().map_err(|_| {
            DatasetError::line(
                path,
                n,
                format!(
                    "field `{name}`: expected an unsigned integer, found {:?}",
                    f[k]
                ),
            )
        })
    };
    let class = class_from_name(f[1]).ok_or_else(|| {
        DatasetError::line(
            path,
            n,
            format!("field `class`: unknown query class {:?}", f[1]),
        )
    })?;
    let code = outcome_code_from_name(f[5]).ok_or_else(|| {
        DatasetError::line(
            path,
            n,
            format!("field `outcome`: unknown outcome {:?}", f[5]),
        )
    })?;
    let category = if f[6].is_empty() {
        None
    } else {
        Some(category_from_name(f[6]).ok_or_else(|| {
            DatasetError::line(
                path,
                n,
                format!("field `category`: unknown category {:?}", f[6]),
            )
        })?)
    };
    let outcome = Outcome::from_parts(code, category).ok_or_else(|| {
        DatasetError::line(
            path,
            n,
            format!(
                "outcome {:?} with category {:?} is not a valid combination",
                f[5], f[6]
            ),
        )
    })?;
    Ok(Some(RequestRecord {
        arrival_ns: num(0, "arrival_ns")?,
        class,
        pattern_hash: num(2, "pattern_hash")?,
        acquire_wait_ns: num(3, "acquire_wait_ns")?,
        hold_ns: num(4, "hold_ns")?,
        outcome,
        // Files from before the client column: unknown.
        client: if *columns > 7 { num(7, "client")? } else { 0 },
    }))
}

/// Reads a recorder `snapshots-*.jsonl` file (one JSON snapshot per line).
///
/// # Errors
/// [`DatasetError::Io`] when it cannot be read; [`DatasetError::Line`]
/// with the JSON error (which names the field) for a bad line, or saying
/// that the file ends inside its last line and how to keep the complete
/// lines.
pub fn read_recorder_snapshots(path: impl AsRef<Path>) -> Result<Vec<Snapshot>> {
    let path = path.as_ref();
    let mut out = Vec::new();
    for_each_line(path, |n, line| {
        if line.trim().is_empty() {
            return Ok(());
        }
        let s: Snapshot = serde_json::from_str(line)
            .map_err(|e| DatasetError::line(path, n, format!("expected a JSON snapshot: {e}")))?;
        out.push(s);
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use poolcast::core::telemetry::{ErrorCategory, QueryClass};

    #[test]
    fn reads_requests_and_names_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("requests-000001.csv");
        std::fs::write(
            &p,
            format!(
                "{RECORDER_HEADER}\n5,read,77,10,2000,ok,,42\n9,write,0,0,0,error,timeout,0\n\n"
            ),
        )
        .unwrap();
        let r = read_recorder_requests(&p).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].class, QueryClass::Read);
        assert_eq!(r[0].pattern_hash, 77);
        assert_eq!(r[0].client, 42);
        assert_eq!(r[1].outcome, Outcome::Error(ErrorCategory::Timeout));
        assert_eq!(r[1].client, 0);

        std::fs::write(&p, format!("{RECORDER_HEADER}\n5,read,77,x,2000,ok,,1\n")).unwrap();
        let e = read_recorder_requests(&p).unwrap_err().to_string();
        assert!(
            e.contains("requests-000001.csv:2") && e.contains("acquire_wait_ns"),
            "{e}"
        );
        std::fs::write(&p, format!("{RECORDER_HEADER}\n5,reed,77,1,2000,ok,,1\n")).unwrap();
        let e = read_recorder_requests(&p).unwrap_err().to_string();
        assert!(e.contains(":2") && e.contains("class"), "{e}");
        std::fs::write(&p, "a,b\n").unwrap();
        assert!(
            read_recorder_requests(&p)
                .unwrap_err()
                .to_string()
                .contains(":1")
        );
    }

    /// The offset `truncate -s` is told to cut at, from an error message.
    fn truncate_offset(message: &str) -> u64 {
        let rest = message.split("truncate -s ").nth(1).expect(message);
        rest.split(' ').next().unwrap().parse().expect(message)
    }

    #[test]
    fn a_request_file_cut_mid_line_says_how_to_keep_the_complete_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("requests-000003.csv");
        let whole =
            format!("{RECORDER_HEADER}\n5,read,77,10,2000,ok,,3\n9,write,0,0,0,error,timeout,3\n");
        // Cut inside the category of the last line, and inside its hold.
        for cut in ["9,write,0,0,0,error,time", "9,write,0,0,0"] {
            let torn = format!("{RECORDER_HEADER}\n5,read,77,10,2000,ok,,3\n{cut}");
            std::fs::write(&p, &torn).unwrap();
            let e = read_recorder_requests(&p).unwrap_err().to_string();
            assert!(
                e.contains("requests-000003.csv:3") && e.contains("ends inside this line"),
                "{e}"
            );
            assert!(e.contains("the 2 line(s) before it are complete"), "{e}");
            // The file is left as it was, and the cut it names keeps the
            // header and the one whole record.
            assert_eq!(std::fs::read_to_string(&p).unwrap(), torn);
            let keep = truncate_offset(&e);
            std::fs::write(&p, &torn.as_bytes()[..keep as usize]).unwrap();
            let r = read_recorder_requests(&p).unwrap();
            assert_eq!(r.len(), 1);
            assert_eq!(r[0].hold_ns, 2000);
        }
        // Cut just before the last newline: the line is whole.
        std::fs::write(&p, whole.trim_end()).unwrap();
        assert_eq!(read_recorder_requests(&p).unwrap().len(), 2);
        // A bad line that does end in a newline is reported as bad, not cut.
        std::fs::write(&p, format!("{RECORDER_HEADER}\n5,read,77,10,2000,ok,\n")).unwrap();
        let e = read_recorder_requests(&p).unwrap_err().to_string();
        assert!(
            e.contains("expected 8") && !e.contains("ends inside"),
            "{e}"
        );
    }

    #[test]
    fn a_file_from_before_the_client_column_reads_with_client_0() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("requests-000001.csv");
        std::fs::write(
            &p,
            format!("{RECORDER_HEADER_V1}\n5,read,77,10,2000,ok,\n9,write,0,0,0,error,timeout\n"),
        )
        .unwrap();
        let r = read_recorder_requests(&p).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].pattern_hash, 77);
        assert_eq!(r[1].outcome, Outcome::Error(ErrorCategory::Timeout));
        assert!(r.iter().all(|r| r.client == 0), "{r:?}");
        // An old file's lines have 7 fields, not 8.
        std::fs::write(
            &p,
            format!("{RECORDER_HEADER_V1}\n5,read,77,10,2000,ok,,4\n"),
        )
        .unwrap();
        let e = read_recorder_requests(&p).unwrap_err().to_string();
        assert!(e.contains(":2") && e.contains("expected 7"), "{e}");
    }

    #[test]
    fn the_client_column_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("requests-000001.csv");
        let clients = [0u64, 1, 0x9e37_79b9_7f4a_7c15, u64::MAX];
        let mut text = format!("{RECORDER_HEADER}\n");
        for (i, c) in clients.iter().enumerate() {
            text.push_str(&format!("{i},api,0,1,2,ok,,{c}\n"));
        }
        std::fs::write(&p, text).unwrap();
        let r = read_recorder_requests(&p).unwrap();
        let read: Vec<u64> = r.iter().map(|r| r.client).collect();
        assert_eq!(read, clients);
        let streamed: Vec<u64> = RecorderRequests::open(&p)
            .unwrap()
            .map(|r| r.unwrap().client)
            .collect();
        assert_eq!(streamed, clients);
    }

    #[test]
    fn a_bad_client_field_names_file_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("requests-000007.csv");
        std::fs::write(
            &p,
            format!("{RECORDER_HEADER}\n5,read,77,10,2000,ok,,3\n6,read,77,10,2000,ok,,-1\n"),
        )
        .unwrap();
        let e = read_recorder_requests(&p).unwrap_err().to_string();
        assert!(
            e.contains("requests-000007.csv:3") && e.contains("field `client`"),
            "{e}"
        );
    }

    #[test]
    fn an_unknown_header_names_the_file_and_both_headers() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("requests-000009.csv");
        std::fs::write(&p, "arrival_ns,class\n5,read\n").unwrap();
        let e = read_recorder_requests(&p).unwrap_err().to_string();
        assert!(e.contains("requests-000009.csv:1"), "{e}");
        assert!(
            e.contains(RECORDER_HEADER) && e.contains(RECORDER_HEADER_V1),
            "{e}"
        );
    }

    #[test]
    fn a_snapshot_file_cut_mid_line_says_how_to_keep_the_complete_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("snapshots-000002.jsonl");
        let s = Snapshot {
            t_ns: 5,
            size: 3,
            ..Snapshot::default()
        };
        let line = serde_json::to_string(&s).unwrap();
        let torn = format!("{line}\n{line}\n{}", &line[..line.len() / 2]);
        std::fs::write(&p, &torn).unwrap();
        let e = read_recorder_snapshots(&p).unwrap_err().to_string();
        assert!(
            e.contains("snapshots-000002.jsonl:3") && e.contains("ends inside this line"),
            "{e}"
        );
        let keep = truncate_offset(&e);
        std::fs::write(&p, &torn.as_bytes()[..keep as usize]).unwrap();
        assert_eq!(read_recorder_snapshots(&p).unwrap(), vec![s.clone(), s]);
    }

    #[test]
    fn reads_snapshots_and_names_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("snapshots-000001.jsonl");
        let s = Snapshot {
            t_ns: 5,
            size: 3,
            ..Snapshot::default()
        };
        let line = serde_json::to_string(&s).unwrap();
        std::fs::write(&p, format!("{line}\n{line}\n")).unwrap();
        assert_eq!(read_recorder_snapshots(&p).unwrap(), vec![s.clone(), s]);
        std::fs::write(&p, format!("{line}\n{{\"t_ns\": \"x\"}}\n")).unwrap();
        let e = read_recorder_snapshots(&p).unwrap_err().to_string();
        assert!(e.contains("snapshots-000001.jsonl:2"), "{e}");
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        /// A recorder file as the runtime pool writes it.
        fn requests() -> String {
            format!(
                "{RECORDER_HEADER}\n1000,read,42,0,2500000,ok,,7\n\
                 2000,write,43,150000,4100000,error,query,7\n\
                 3500,transaction,44,0,9000000,ok,,9\n\
                 4000,api,0,0,0,error,timeout,0\n"
            )
        }

        fn file(bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("requests-000001.csv");
            std::fs::write(&p, bytes).unwrap();
            (dir, p)
        }

        /// `Ok`, or an error naming the file; never a panic.
        fn both_readers(bytes: &[u8]) -> std::result::Result<(), TestCaseError> {
            let (_d, p) = file(bytes);
            for e in [
                read_recorder_requests(&p).err(),
                read_recorder_snapshots(&p).err(),
            ]
            .into_iter()
            .flatten()
            {
                let e = e.to_string();
                prop_assert!(e.contains("requests-000001.csv"), "{e}");
            }
            Ok(())
        }

        #[test]
        fn the_sample_reads() {
            let (_d, p) = file(requests().as_bytes());
            assert_eq!(read_recorder_requests(&p).unwrap().len(), 4);
        }

        #[test]
        fn a_file_without_newlines_is_refused_not_buffered() {
            let (_d, p) = file(&vec![b'7'; (MAX_LINE_BYTES + 10) as usize]);
            let e = read_recorder_requests(&p).unwrap_err().to_string();
            assert!(e.contains("not a recorder file"), "{e}");
            let e = read_recorder_snapshots(&p).unwrap_err().to_string();
            assert!(e.contains("not a recorder file"), "{e}");
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
                both_readers(&bytes)?;
            }

            #[test]
            fn mutated_and_truncated_real_lines(
                at in any::<prop::sample::Index>(),
                byte in prop_oneof![Just(b'-'), Just(b'9'), Just(b','), Just(b'\n'), Just(b'{'), any::<u8>()],
                how in 0u8..4,
            ) {
                let mut b = requests().into_bytes();
                let i = at.index(b.len());
                match how {
                    0 => b[i] = byte,
                    1 => { b.remove(i); }
                    2 => b.insert(i, byte),
                    _ => b.truncate(i),
                }
                both_readers(&b)?;
            }

            #[test]
            fn numbers_of_any_size(a in any::<i128>(), w in any::<i128>(), h in any::<i128>()) {
                let text = format!("{}{a},read,1,{w},{h},ok,,3\n", requests());
                both_readers(text.as_bytes())?;
            }
        }
    }
}
