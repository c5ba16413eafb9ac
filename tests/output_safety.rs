//! Output-folder safety of `sim run`: it never deletes a folder it did not write, checks the
//! output location before simulating, serialises writers of one folder, marks which run each
//! variant folder came from, and leaves either the complete previous result or the complete new
//! one when killed at any instant of the write phase, with the leftovers cleaned by a later run.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rand::{RngExt, SeedableRng};
use serde_json::Value;

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// The manifest that marks a capsim result folder.
const MANIFEST: &str = ".capsim-result.json";

/// Every file a run writes, the manifest included.
const RESULT_FILES: [&str; 9] = [
    ".capsim-result.json",
    "cost_breakdown.png",
    "instances_cpu.png",
    "latency_breakdown.png",
    "latency_cdf.png",
    "latency_histogram.csv",
    "over_time.png",
    "summary.json",
    "timeseries.csv",
];

/// The write-phase test hook: milliseconds to pause before each write step.
const PAUSE_VAR: &str = "CAPSIM_TEST_PAUSE_WRITE";

fn sim() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sim"));
    cmd.current_dir(MANIFEST_DIR)
        .env_remove(PAUSE_VAR)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// A short run of phase2 into `out` with `seed`, plus `extra` arguments.
fn quick_run(out: &Path, seed: u64, extra: &[&str]) -> Command {
    let mut cmd = sim();
    cmd.args(["run", "experiments/phase2.yaml", "--horizon", "2m"])
        .args(["--replications", "1", "--seed", &seed.to_string(), "-q"])
        .arg("--out")
        .arg(out)
        .args(extra);
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Waits for `child`, killing it and failing the test after `limit`.
fn wait_within(mut child: Child, limit: Duration, what: &str) -> Output {
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

fn succeeds(mut cmd: Command) -> Output {
    let out = wait_within(cmd.spawn().expect("spawn"), Duration::from_secs(120), "sim");
    assert!(
        out.status.success(),
        "sim failed: {:?}\n{}",
        out.status,
        text(&out.stderr)
    );
    out
}

/// Runs `cmd`, insists it exits 1 within `limit`, and returns stderr.
fn fails_within(mut cmd: Command, limit: Duration) -> String {
    let out = wait_within(cmd.spawn().expect("spawn"), limit, "sim");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

fn sorted_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn manifest(dir: &Path) -> Value {
    serde_json::from_slice(&fs::read(dir.join(MANIFEST)).unwrap()).unwrap()
}

#[test]
fn a_folder_capsim_did_not_write_is_refused_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let mydata = tmp.path().join("mydata");
    fs::create_dir(&mydata).unwrap();
    fs::write(mydata.join("notes.txt"), "notes").unwrap();
    let stderr = fails_within(quick_run(&mydata, 1, &[]), Duration::from_secs(60));
    for needle in ["mydata", "notes.txt", "--force", "--out"] {
        assert!(stderr.contains(needle), "no {needle:?} in: {stderr}");
    }
    assert_eq!(sorted_entries(&mydata), ["notes.txt"]);
    assert_eq!(
        fs::read_to_string(mydata.join("notes.txt")).unwrap(),
        "notes"
    );

    succeeds(quick_run(&mydata, 1, &["--force"]));
    assert_eq!(sorted_entries(&mydata), RESULT_FILES);
    assert_eq!(sorted_entries(tmp.path()), ["mydata"]);
}

/// `--out` at the experiment's own folder once deleted the experiment file.
#[test]
fn the_experiments_own_folder_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("models");
    let experiments = tmp.path().join("experiments");
    fs::create_dir(&models).unwrap();
    fs::create_dir(&experiments).unwrap();
    for model in fs::read_dir(Path::new(MANIFEST_DIR).join("models")).unwrap() {
        let model = model.unwrap();
        if model.file_type().unwrap().is_file() {
            fs::copy(model.path(), models.join(model.file_name())).unwrap();
        }
    }
    let file = experiments.join("phase2.yaml");
    fs::copy(
        Path::new(MANIFEST_DIR).join("experiments/phase2.yaml"),
        &file,
    )
    .unwrap();
    let mut cmd = sim();
    cmd.arg("run")
        .arg(&file)
        .args(["--horizon", "2m", "--replications", "1", "-q", "--out"])
        .arg(&experiments);
    let stderr = fails_within(cmd, Duration::from_secs(60));
    assert!(stderr.contains("phase2.yaml"), "{stderr}");
    assert_eq!(sorted_entries(&experiments), ["phase2.yaml"]);
}

/// A location that cannot take results fails at once, not after a long run (100 simulated
/// hours would take minutes), and creates nothing.
#[test]
fn an_unwritable_location_fails_before_simulating() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    fs::write(&file, "keep me").unwrap();
    let read_only = tmp.path().join("read-only");
    fs::create_dir(&read_only).unwrap();
    let mut perms = fs::metadata(&read_only).unwrap().permissions();
    perms.set_readonly(true);
    fs::set_permissions(&read_only, perms).unwrap();
    // Root writes into read-only folders; /proc takes no folders from anyone.
    let read_only = if fs::create_dir(read_only.join("probe")).is_ok() {
        PathBuf::from("/proc/capsim-output-test")
    } else {
        read_only.join("out")
    };
    let cases = [
        (file.clone(), "is a file"),
        (file.join("out"), "is a file"),
        (tmp.path().join("a".repeat(250)), "too long"),
        (tmp.path().join("b".repeat(300)), "too long"),
        (read_only.clone(), "cannot be written"),
    ];
    for (out, expected) in cases {
        let mut cmd = sim();
        cmd.args([
            "run",
            "experiments/phase2.yaml",
            "--horizon",
            "100h",
            "-q",
            "--out",
        ])
        .arg(&out);
        let stderr = fails_within(cmd, Duration::from_secs(30));
        assert!(stderr.contains(expected), "{}: {stderr}", out.display());
        assert!(stderr.contains("output folder"), "{stderr}");
    }
    assert_eq!(fs::read_to_string(&file).unwrap(), "keep me");
    let mut left = sorted_entries(tmp.path());
    left.retain(|n| n != "read-only");
    assert_eq!(left, ["file"], "the checks left something behind");
}

#[test]
fn concurrent_runs_into_one_folder_take_turns() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let runs: Vec<Child> = (0..2)
        .map(|seed| {
            let mut cmd = quick_run(&out, seed, &[]);
            cmd.env(PAUSE_VAR, "100");
            cmd.spawn().expect("spawn")
        })
        .collect();
    for run in runs {
        let output = wait_within(run, Duration::from_secs(120), "concurrent sim");
        assert!(output.status.success(), "{}", text(&output.stderr));
    }
    assert_eq!(sorted_entries(&out), RESULT_FILES);
    let seed = manifest(&out)["seed"].as_u64().unwrap();
    let summary: Value =
        serde_json::from_slice(&fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["seed"].as_u64(), Some(seed), "files from two runs");
    assert_eq!(
        sorted_entries(tmp.path()),
        ["out"],
        "temporaries left behind"
    );
}

#[test]
fn every_variant_folder_names_the_run_that_wrote_it() {
    let tmp = tempfile::tempdir().unwrap();
    let run = || {
        let mut cmd = sim();
        cmd.args(["run", "experiments/daily-cost.yaml", "--horizon", "10m"])
            .args(["--replications", "1", "-q", "--out"])
            .arg(tmp.path());
        succeeds(cmd);
        let ids: Vec<Value> = ["100", "500", "1000"]
            .iter()
            .map(|v| {
                let name = format!("daily-cost-{v}");
                let m = manifest(&tmp.path().join(&name));
                assert_eq!(m["experiment"], name);
                m["run_id"].clone()
            })
            .collect();
        assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
        ids[0].clone()
    };
    let first = run();
    assert_ne!(first, run(), "two runs share a run id");
}

/// Leftovers a killed run can leave are removed when provably capsim's, kept otherwise.
#[test]
fn a_later_run_removes_killed_runs_leftovers() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    succeeds(quick_run(&out, 1, &[]));
    let marked = tmp.path().join(".out.capsim-staging-999999");
    fs::create_dir(&marked).unwrap();
    fs::write(marked.join(".capsim-staging"), "").unwrap();
    fs::write(marked.join("summary.json"), "{").unwrap();
    let old = tmp.path().join(".out.capsim-old-999998");
    fs::create_dir(&old).unwrap();
    fs::copy(out.join(MANIFEST), old.join(MANIFEST)).unwrap();
    let empty = tmp.path().join(".out.capsim-staging-999997");
    fs::create_dir(&empty).unwrap();
    let foreign = tmp.path().join(".out.capsim-staging-999996");
    fs::create_dir(&foreign).unwrap();
    fs::write(foreign.join("mine.txt"), "not capsim's").unwrap();
    fs::write(tmp.path().join(".out.capsim-lock"), "").unwrap();

    succeeds(quick_run(&out, 2, &[]));
    assert_eq!(
        sorted_entries(tmp.path()),
        [".out.capsim-staging-999996", "out"]
    );
    assert_eq!(sorted_entries(&foreign), ["mine.txt"]);
}

/// Kills `sim run` at random instants (the write phase slowed by the test hook) and checks
/// that the folder always holds one complete result, the previous or the new one.
#[test]
fn a_kill_at_any_instant_leaves_a_complete_result() {
    let tmp = tempfile::tempdir().unwrap();
    let reference = |seed: u64| {
        let dir = tmp.path().join(format!("reference-{seed}"));
        succeeds(quick_run(&dir, seed, &[]));
        dir
    };
    let references = [reference(1), reference(2)];
    let target_parent = tmp.path().join("target");
    let out = target_parent.join("out");
    succeeds(quick_run(&out, 1, &[]));

    let pause_ms = 30;
    let timed = Instant::now();
    let mut cmd = quick_run(&out, 2, &[]);
    cmd.env(PAUSE_VAR, pause_ms.to_string());
    succeeds(cmd);
    let whole_run = timed.elapsed();

    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(7);
    let mut interrupted_writes = 0;
    for round in 0..16u64 {
        let seed = 1 + round % 2;
        let mut cmd = quick_run(&out, seed, &[]);
        cmd.env(PAUSE_VAR, pause_ms.to_string());
        let mut child = cmd.spawn().expect("spawn");
        let at = whole_run.mul_f64(rng.random_range(0.3..1.1));
        std::thread::sleep(at);
        let _ = child.kill();
        let _ = child.wait();
        assert_complete(&out, &references, &format!("after a kill at {at:?}"));
        interrupted_writes += usize::from(sorted_entries(&target_parent).len() > 1);
    }
    // Some kills landed in the write phase (leaving a lock file or a staging folder).
    assert!(
        interrupted_writes >= 3,
        "{interrupted_writes} kills hit the write phase"
    );
    succeeds(quick_run(&out, 1, &[]));
    assert_complete(&out, &references, "after a clean run");
    assert_eq!(
        sorted_entries(&target_parent),
        ["out"],
        "leftovers not cleaned"
    );
}

/// `dir` holds exactly the files of one of the `references`, byte for byte.
fn assert_complete(dir: &Path, references: &[PathBuf], when: &str) {
    assert_eq!(sorted_entries(dir), RESULT_FILES, "{when}");
    let seed = manifest(dir)["seed"].as_u64().unwrap();
    let reference = &references[usize::try_from(seed).unwrap() - 1];
    for name in RESULT_FILES.iter().filter(|n| **n != MANIFEST) {
        assert!(
            fs::read(dir.join(name)).unwrap() == fs::read(reference.join(name)).unwrap(),
            "{when}: {name} is not the seed-{seed} result's"
        );
    }
}

/// A write that fails (here: a file-size limit, as a full disk would) names the file and the
/// system's reason, not a drawing-backend error, and leaves nothing behind.
#[test]
fn a_failed_chart_write_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut cmd = Command::new("bash");
    cmd.current_dir(MANIFEST_DIR)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Ignore SIGXFSZ so the oversized write fails with EFBIG instead of killing sim; the
        // limit (60 KiB) lets the CSVs through and stops the first chart.
        .arg("-c")
        .arg(r#"trap '' XFSZ; ulimit -f 60; exec "$0" run experiments/phase2.yaml --horizon 2m --replications 1 -q --out "$1""#)
        .arg(env!("CARGO_BIN_EXE_sim"))
        .arg(&out);
    let stderr = fails_within(cmd, Duration::from_secs(60));
    assert!(stderr.contains("could not write"), "{stderr}");
    assert!(stderr.contains("latency_cdf.png"), "{stderr}");
    assert!(stderr.contains("File too large"), "{stderr}");
    assert!(!stderr.contains("Drawing backend"), "{stderr}");
    assert!(
        sorted_entries(tmp.path()).is_empty(),
        "left behind: {:?}",
        sorted_entries(tmp.path())
    );
}
