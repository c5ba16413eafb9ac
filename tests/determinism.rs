//! Reproducibility: the same experiment and seed give byte-identical results whatever the
//! number of threads, through the binary and through the library API; a different seed gives
//! different results (so the comparisons can fail).

use std::fs;
use std::path::{Path, PathBuf};

use capsim::config::Overlay;
use capsim::results::RunOutput;
use capsim::runner;

mod common;

use common::{MANIFEST_DIR, sim, succeeds};
const EXPERIMENT: &str = "experiments/phase2-deployed.yaml";

/// Outputs that must not depend on the thread count (the PNGs are drawn from the same data).
const COMPARED_FILES: [&str; 3] = ["summary.json", "timeseries.csv", "latency_histogram.csv"];

/// Runs `sim run EXPERIMENT --horizon 10m --replications 4 --seed SEED` on `threads` rayon
/// threads into `dir/name` and returns that folder.
fn run_cli(dir: &Path, name: &str, threads: usize, seed: u64) -> PathBuf {
    let out = dir.join(name);
    let seed = seed.to_string();
    succeeds(
        sim()
            .env("RAYON_NUM_THREADS", threads.to_string())
            .args([
                "run",
                EXPERIMENT,
                "--horizon",
                "10m",
                "--replications",
                "4",
                "--seed",
                &seed,
                "-q",
                "--out",
            ])
            .arg(&out),
    );
    out
}

fn read(dir: &Path, file: &str) -> Vec<u8> {
    fs::read(dir.join(file)).unwrap_or_else(|e| panic!("reading {}/{file}: {e}", dir.display()))
}

#[test]
fn thread_count_does_not_change_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let one = run_cli(tmp.path(), "one-thread", 1, 7);
    let four = run_cli(tmp.path(), "four-threads", 4, 7);

    let summary: serde_json::Value =
        serde_json::from_slice(&read(&one, "summary.json")).expect("summary.json is JSON");
    assert_eq!(summary["seed"].as_u64(), Some(7), "--seed not applied");
    assert_eq!(summary["replications"].as_u64(), Some(4));
    assert!(
        summary["turn_latency_s"]["n"].as_u64().unwrap_or(0) > 0,
        "nothing was simulated"
    );

    for file in COMPARED_FILES {
        let a = read(&one, file);
        let b = read(&four, file);
        assert!(!a.is_empty(), "{file} is empty");
        assert!(
            a == b,
            "{file} differs between RAYON_NUM_THREADS=1 and =4:\n--- 1 thread\n{}\n--- 4 threads\n{}",
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b)
        );
    }
}

#[test]
fn a_different_seed_gives_a_different_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let seven = run_cli(tmp.path(), "seed7", 2, 7);
    let eight = run_cli(tmp.path(), "seed8", 2, 8);
    let a = read(&seven, "summary.json");
    let b = read(&eight, "summary.json");
    assert_ne!(a, b, "seeds 7 and 8 gave identical summary.json");
    // Not just the `seed` field: the simulated numbers differ too.
    let strip = |bytes: &[u8]| {
        let mut v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
        v.as_object_mut().unwrap().remove("seed");
        v
    };
    assert_ne!(
        strip(&a)["turn_latency_s"],
        strip(&b)["turn_latency_s"],
        "seeds 7 and 8 gave the same turn latencies"
    );
    assert_ne!(
        read(&seven, "timeseries.csv"),
        read(&eight, "timeseries.csv")
    );
}

/// Loads the experiment, applies the overrides and runs it on a pool of `threads` threads.
fn run_lib(threads: usize, seed: u64) -> RunOutput {
    let path = Path::new(MANIFEST_DIR).join(EXPERIMENT);
    let overlays = [
        Overlay::seed(seed),
        Overlay::replications(4),
        Overlay::horizon(600.0),
    ];
    let e = capsim::config::load_with(&path, &overlays)
        .unwrap_or_else(|err| panic!("loading {}: {err}", path.display()))
        .experiment;
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(|| runner::run(&e, false))
        .unwrap()
}

#[test]
fn library_results_do_not_depend_on_the_pool_size() {
    let one = run_lib(1, 7);
    let three = run_lib(3, 7);
    let summary_one = serde_json::to_string(&one.summary).unwrap();
    let summary_three = serde_json::to_string(&three.summary).unwrap();
    assert_eq!(
        summary_one, summary_three,
        "summary differs between 1 and 3 threads"
    );
    assert_eq!(
        serde_json::to_string(&one.timeseries).unwrap(),
        serde_json::to_string(&three.timeseries).unwrap(),
        "time series differs between 1 and 3 threads"
    );
    assert_eq!(
        serde_json::to_string(&one.histogram).unwrap(),
        serde_json::to_string(&three.histogram).unwrap(),
        "histogram differs between 1 and 3 threads"
    );

    // The guard: another seed changes the summary.
    let other = serde_json::to_string(&run_lib(3, 8).summary).unwrap();
    assert_ne!(summary_one, other, "seeds 7 and 8 gave the same summary");

    // The library and the binary agree: summary.json is the pretty-printed summary.
    let tmp = tempfile::tempdir().unwrap();
    let cli = run_cli(tmp.path(), "cli", 2, 7);
    let mut pretty = serde_json::to_string_pretty(&one.summary).unwrap();
    pretty.push('\n');
    assert!(
        pretty.as_bytes() == read(&cli, "summary.json").as_slice(),
        "the library's summary differs from the binary's summary.json"
    );
}

/// `warmup: auto` runs a pilot replication first; its cut-off must not depend on threads either.
#[test]
fn auto_warmup_is_thread_count_independent() {
    let tmp = tempfile::tempdir().unwrap();
    let models = Path::new(MANIFEST_DIR).join("models");
    let original = fs::read_to_string(Path::new(MANIFEST_DIR).join(EXPERIMENT)).unwrap();
    assert!(original.contains("warmup: 2m\n") && original.contains("../models/"));
    let yaml = original
        .replace("warmup: 2m\n", "warmup: auto\n")
        .replace("../models/", &format!("{}/", models.display()));
    let file = tmp.path().join("auto-warmup.yaml");
    fs::write(&file, yaml).unwrap();

    let run = |name: &str, threads: usize| {
        let out = tmp.path().join(name);
        succeeds(
            sim()
                .env("RAYON_NUM_THREADS", threads.to_string())
                .args(["run", "--horizon", "10m", "--replications", "3", "-q"])
                .arg(&file)
                .arg("--out")
                .arg(&out),
        );
        read(&out, "summary.json")
    };
    let one = run("one", 1);
    let four = run("four", 4);
    let summary: serde_json::Value = serde_json::from_slice(&one).unwrap();
    let warmup = summary["warmup_s"].as_f64().expect("warmup_s");
    assert!(
        (0.0..=300.0).contains(&warmup),
        "auto warm-up {warmup} s outside [0, horizon / 2]"
    );
    assert!(one == four, "summary.json differs between 1 and 4 threads");
}
