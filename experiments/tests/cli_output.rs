//! The CLI's stdout behind a pipe that closes (`poolcast … | head`): the
//! process ends quietly with 141, as a tool the signal ended, instead of
//! panicking with a backtrace.

use std::process::{Command, Stdio};

#[test]
fn a_closed_pipe_ends_the_process_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_poolcast"))
        .args(["features", "--list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    // Close the reading end before the first line is written.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("the binary ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}
