//! Helpers shared by the tests that drive the `sim` binary: spawning it from the crate root,
//! insisting on success or on a clean failure, and the arguments of a short run.

// Each test crate compiles this module and uses a different part of it.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// The crate root, where `sim` runs so that `experiments/...` paths resolve.
pub const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// Arguments that keep a run of a shipped experiment short: 10 simulated minutes, 2
/// replications.
pub const SHORT_RUN: [&str; 4] = ["--horizon", "10m", "--replications", "2"];

/// `sim`, run from the crate root, with a clean backtrace setting so that a panic would show
/// its default "note: run with `RUST_BACKTRACE=1`" line.
pub fn sim() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sim"));
    cmd.current_dir(MANIFEST_DIR)
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE");
    cmd
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `cmd` and insists it succeeds; returns stdout.
pub fn succeeds(cmd: &mut Command) -> String {
    let out = cmd.output().expect("failed to start sim");
    assert!(
        out.status.success(),
        "{cmd:?} failed with {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Insists `out` is a clean failure with `code` (no panic, no backtrace hint, not killed by a
/// signal, a message on stderr); returns stderr.
pub fn failed_cleanly(what: &str, out: &Output, code: i32) -> String {
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: expected exit code {code}, got {:?}\nstdout:\n{}\nstderr:\n{stderr}",
        out.status,
        text(&out.stdout)
    );
    for bad in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
        assert!(
            !stderr.contains(bad),
            "{what}: stderr mentions {bad:?}:\n{stderr}"
        );
    }
    assert!(
        !stderr.trim().is_empty(),
        "{what}: failed without a message"
    );
    stderr
}

/// Runs `sim ARGS` and insists it succeeds; returns stdout.
pub fn run_ok(args: &[&str]) -> String {
    succeeds(sim().args(args))
}

/// Runs `sim ARGS` and insists it fails cleanly with `code`; returns stderr.
pub fn run_fails(args: &[&str], code: i32) -> String {
    let out = sim().args(args).output().expect("failed to start sim");
    failed_cleanly(&format!("sim {args:?}"), &out, code)
}

/// A temporary path as a command-line argument.
pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// Starts `sim ARGS` (a study writing into `out`), kills it (SIGKILL) once its checkpoint
/// beside `out` holds at least `records` finished runs, and returns how many it holds then.
/// Insists the killed study left no output folder.
pub fn kill_once_stored(args: &[&str], out: &Path, records: usize) -> usize {
    let name = out.file_name().unwrap().to_string_lossy();
    let checkpoint = out.with_file_name(format!(".{name}.capsim-sweep"));
    let stored = || {
        std::fs::read_dir(&checkpoint).map_or(0, |d| {
            d.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".yaml"))
            })
            .count()
        })
    };
    let mut child = sim()
        .args(args)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("failed to start sim");
    let started = std::time::Instant::now();
    while stored() < records && started.elapsed() < std::time::Duration::from_secs(120) {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(!out.exists(), "a killed study left an output folder");
    stored()
}
