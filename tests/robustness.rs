//! Robustness properties of the `sim` binary on hostile input.
//!
//! Property-based tests (proptest) take the fully resolved form of shipped experiments (what
//! `sim check` prints), mutate it, and run `sim check` and then, for what `check` accepts, a
//! short `sim run`. Whatever the mutation, each invocation must either succeed or fail with
//! exit code 1 and a message that names the file; never a panic, a signal (an allocator abort
//! included: each child runs under a memory limit) or a hang (each child has a time limit).
//!
//! The default cases run in `cargo test`; `cargo test --test robustness -- --ignored` runs the
//! long version with many more cases. docs/ROBUSTNESS.md says what this covers.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_yaml::Value;

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// Address-space limit for every child, in KiB (`ulimit -v`): far above what a short run needs,
/// far below what would take the machine down.
const MEMORY_LIMIT_KIB: u64 = 6 * 1024 * 1024;
/// Wall-time limit for `sim check`.
const CHECK_TIME_LIMIT: Duration = Duration::from_secs(20);
/// Wall-time limit for the short `sim run` of an accepted file.
const RUN_TIME_LIMIT: Duration = Duration::from_secs(90);

/// Shipped experiments whose resolved forms are mutated: closed and open workloads, both
/// autoscaling rules, a queueing case and a file with rate limits, quotas and compaction.
const BASES: &[&str] = &[
    "experiments/phase2.yaml",
    "experiments/phase1-deployed.yaml",
    "experiments/validation/mmc-4-0.8.yaml",
    "experiments/seed-load-tests/4-rate-limiting.yaml",
];

/// Values a careless or hostile file might put anywhere.
const NASTY: &[&str] = &[
    ".nan",
    ".inf",
    "-.inf",
    "-1",
    "0",
    "1e308",
    "1e9",
    "1.8446744073709552e19",
    "-9223372036854775808",
    "''",
    "garbage",
    "[]",
    "{}",
    "null",
    "true",
    "0s",
    "1ns",
    "1e9h",
    "100000y",
    "-5m",
    "$1/-1M",
    "$0.10/1e6",
    "200%",
    "-3%",
    "1e30GiB",
    "[[[[[[[[1]]]]]]]]",
    "{constant: .nan}",
    "{uniform: [5s, 1s]}",
    "{lognormal: {median: 1s, p95: 0.5s}}",
    "{exponential: {mean: 0s}}",
];

/// The outcome of one child process that finished within its time limit.
struct Finished {
    code: Option<i32>,
    stderr: String,
}

/// Runs `sim ARGS` under the memory limit; `Err` if it outlives `limit` (then it is killed).
fn sim_bounded(args: &[&str], limit: Duration) -> Result<Finished, String> {
    let script = format!("ulimit -v {MEMORY_LIMIT_KIB}; exec \"$0\" \"$@\"");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_sim"))
        .args(args)
        .current_dir(MANIFEST_DIR)
        .env_remove("RUST_BACKTRACE")
        .env("RAYON_NUM_THREADS", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start sim: {e}"))?;
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                use std::io::Read;
                let _ = pipe.read_to_string(&mut stderr);
            }
            return Ok(Finished {
                code: status.code(),
                stderr,
            });
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("sim {args:?} still running after {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Checks the contract for one invocation on `file`: success, or exit 1 with a message that
/// names the file (or the setting, for a refusal before the run); nothing else.
fn assert_clean(args: &[&str], file: &Path, limit: Duration) -> Result<Finished, TestCaseError> {
    let done = sim_bounded(args, limit).map_err(TestCaseError::fail)?;
    let stderr = &done.stderr;
    prop_assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "sim {args:?} panicked:\n{stderr}"
    );
    prop_assert!(
        matches!(done.code, Some(0) | Some(1)),
        "sim {args:?} ended with {:?} (a signal, or an unexpected code):\n{stderr}",
        done.code
    );
    if done.code == Some(1) {
        let name = file.file_name().expect("file name").to_string_lossy();
        prop_assert!(
            stderr.contains(name.as_ref()),
            "sim {args:?} failed without naming {name}:\n{stderr}"
        );
    }
    Ok(done)
}

/// The resolved YAML of each base (what `sim check` prints, comments removed), parsed.
fn bases() -> &'static [Value] {
    static BASES_RESOLVED: OnceLock<Vec<Value>> = OnceLock::new();
    BASES_RESOLVED.get_or_init(|| {
        BASES
            .iter()
            .map(|file| {
                let out = Command::new(env!("CARGO_BIN_EXE_sim"))
                    .args(["check", file])
                    .current_dir(MANIFEST_DIR)
                    .output()
                    .expect("sim check runs");
                assert!(out.status.success(), "sim check {file} fails");
                let text: String = String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .filter(|l| !l.starts_with('#'))
                    .map(|l| format!("{l}\n"))
                    .collect();
                serde_yaml::from_str(&text).expect("resolved YAML parses")
            })
            .collect()
    })
}

/// Every path from the root to a node of `v` (mapping keys and sequence indices), leaves and
/// inner nodes alike, in document order.
fn node_paths(v: &Value, prefix: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    match v {
        Value::Mapping(m) => {
            for (k, child) in m {
                prefix.push(k.clone());
                out.push(prefix.clone());
                node_paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Sequence(s) => {
            for (i, child) in s.iter().enumerate() {
                prefix.push(Value::from(i as u64));
                out.push(prefix.clone());
                node_paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

/// The node at `path` (which `node_paths` produced for this value).
fn node_mut<'a>(v: &'a mut Value, path: &[Value]) -> Option<&'a mut Value> {
    let mut here = v;
    for step in path {
        here = match here {
            Value::Mapping(m) => m.get_mut(step)?,
            Value::Sequence(s) => s.get_mut(step.as_u64()? as usize)?,
            _ => return None,
        };
    }
    Some(here)
}

/// One mutation: replace the node picked by `pick` with NASTY[`value`], or delete it.
#[derive(Debug, Clone)]
struct Mutation {
    pick: usize,
    value: usize,
    delete: bool,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    (
        any::<usize>(),
        0..NASTY.len(),
        proptest::bool::weighted(0.15),
    )
        .prop_map(|(pick, value, delete)| Mutation {
            pick,
            value,
            delete,
        })
}

fn apply(base: &Value, mutations: &[Mutation]) -> Value {
    let mut v = base.clone();
    for m in mutations {
        let mut paths = Vec::new();
        node_paths(&v, &mut Vec::new(), &mut paths);
        if paths.is_empty() {
            break;
        }
        let path = &paths[m.pick % paths.len()];
        if m.delete {
            let (last, parent) = path.split_last().expect("non-empty path");
            match node_mut(&mut v, parent) {
                Some(Value::Mapping(map)) => {
                    map.remove(last);
                }
                Some(Value::Sequence(seq)) => {
                    let i = last.as_u64().expect("index") as usize;
                    if i < seq.len() {
                        seq.remove(i);
                    }
                }
                _ => {}
            }
        } else if let Some(node) = node_mut(&mut v, path) {
            *node = serde_yaml::from_str(NASTY[m.value]).expect("nasty value parses");
        }
    }
    v
}

/// Writes `text` to a fresh file in a temporary folder kept alive by the returned guard.
fn write_case(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("mutated.yaml");
    std::fs::write(&file, text).expect("write case");
    (dir, file)
}

/// `sim check` on the file, then a short `sim run` if `check` accepted it.
fn check_then_run(text: &str) -> Result<(), TestCaseError> {
    let (dir, file) = write_case(text);
    let path = file.to_str().expect("utf-8 path");
    let checked = assert_clean(&["check", path], &file, CHECK_TIME_LIMIT)?;
    if checked.code == Some(0) {
        let out = dir.path().join("out");
        let out = out.to_str().expect("utf-8 path");
        assert_clean(
            &[
                "run",
                path,
                "--horizon",
                "3m",
                "--replications",
                "1",
                "--out",
                out,
                "--quiet",
            ],
            &file,
            RUN_TIME_LIMIT,
        )?;
    }
    Ok(())
}

fn mutated_files_property(cases: u32) {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (0..BASES.len(), proptest::collection::vec(mutation(), 1..4));
    runner
        .run(&strategy, |(base, mutations)| {
            let v = apply(&bases()[base], &mutations);
            let text = serde_yaml::to_string(&v).expect("serialises");
            check_then_run(&text)
        })
        .unwrap();
}

fn garbled_text_property(cases: u32) {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        0..BASES.len(),
        any::<usize>(),
        prop_oneof![
            Just(String::new()),
            "[\\[\\]{}:,\"'&*!|>%@`#-]{1,8}",
            "\\PC{1,12}"
        ],
        proptest::bool::ANY,
    );
    runner
        .run(&strategy, |(base, at, insert, truncate)| {
            let text = serde_yaml::to_string(&bases()[base]).expect("serialises");
            let mut cut = at % (text.len() + 1);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            let garbled = if truncate {
                format!("{}{insert}", &text[..cut])
            } else {
                format!("{}{insert}{}", &text[..cut], &text[cut..])
            };
            check_then_run(&garbled)
        })
        .unwrap();
}

#[test]
fn mutated_experiments_succeed_or_fail_cleanly() {
    mutated_files_property(24);
}

#[test]
fn garbled_experiment_text_succeeds_or_fails_cleanly() {
    garbled_text_property(16);
}

#[test]
#[ignore = "long: cargo test --test robustness -- --ignored"]
fn mutated_experiments_succeed_or_fail_cleanly_long() {
    mutated_files_property(600);
}

#[test]
#[ignore = "long: cargo test --test robustness -- --ignored"]
fn garbled_experiment_text_succeeds_or_fails_cleanly_long() {
    garbled_text_property(300);
}
