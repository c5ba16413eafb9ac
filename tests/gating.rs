//! What a pipeline relies on: `sim run --fail-on-slo` exits 3 when the SLO is missed (0 when
//! met; an error when there is no SLO to gate on), and `--json` without `--out` prints the
//! result and writes no file (`run`, `sweep`, `capacity`).

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{MANIFEST_DIR, failed_cleanly, path_str, sim, succeeds, text};

/// An M/M/1 queue at rho 0.5 (mean response 2 s) with `extra` settings, in `dir`.
fn mm1(dir: &Path, extra: &str) -> PathBuf {
    let file = dir.join("gate.yaml");
    fs::write(
        &file,
        format!(
            "extends: {MANIFEST_DIR}/experiments/validation/mm1-ps-0.5.yaml\nname: gate\n\
             horizon: 5000s\nwarmup: 500s\nreplications: 2\n{extra}"
        ),
    )
    .unwrap();
    file
}

#[test]
fn fail_on_slo_exits_3_on_a_miss_and_0_when_met() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |slo: &str| {
        let file = mm1(tmp.path(), slo);
        let out = tmp.path().join("out");
        sim()
            .args([
                "run",
                path_str(&file),
                "--fail-on-slo",
                "--quiet",
                "--force",
            ])
            .args(["--out", path_str(&out)])
            .output()
            .unwrap()
    };
    let missed = run("slo: {turn_p95: 100ms}\n");
    let stderr = failed_cleanly("a missed SLO", &missed, 3);
    assert!(stderr.contains("SLO is missed by gate"), "{stderr}");
    // The answer is still printed and written before the exit code says it failed.
    assert!(text(&missed.stdout).contains("gate"), "nothing printed");
    assert!(tmp.path().join("out/summary.json").exists());
    let met = run("slo: {turn_p95: 60s}\n");
    assert_eq!(met.status.code(), Some(0), "{}", text(&met.stderr));
    let none = run("");
    let stderr = failed_cleanly("no SLO", &none, 1);
    assert!(stderr.contains("sets no `slo` bound"), "{stderr}");
}

#[test]
fn without_fail_on_slo_a_missed_slo_is_an_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let file = mm1(tmp.path(), "slo: {turn_p95: 100ms}\n");
    let out = tmp.path().join("out");
    let printed =
        succeeds(sim().args(["run", path_str(&file), "--quiet", "--out", path_str(&out)]));
    assert!(printed.contains("missed"), "{printed}");
}

#[test]
fn json_without_out_writes_no_file() {
    let tmp = tempfile::tempdir().unwrap();
    let file = mm1(
        tmp.path(),
        "slo: {turn_p95: 10s}\nsweep: {grid: {workload.arrivals.per_second: [0.2, 0.3]}}\n",
    );
    for command in ["run", "sweep", "capacity"] {
        let stdout = succeeds(sim().current_dir(tmp.path()).args([
            command,
            path_str(&file),
            "--json",
            "--quiet",
        ]));
        serde_json::from_str::<serde_json::Value>(&stdout)
            .unwrap_or_else(|e| panic!("{command} --json printed no JSON document: {e}"));
        let entries: Vec<String> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(entries, ["gate.yaml"], "{command} --json wrote files");
    }
}
