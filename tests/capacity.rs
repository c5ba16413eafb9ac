//! `sim capacity` against a known answer: an M/M/4 queue whose largest arrival rate with a
//! response-time p95 within a bound follows from Erlang C, and the files a study writes.

mod common;

use std::fs;

use capsim::theory::MmcQueue;
use common::{MANIFEST_DIR, path_str, run_ok};

/// The largest arrival rate of an M/M/c queue (mu = 1) whose response p95 is within `bound`.
fn erlang_c_capacity(c: u32, bound: f64) -> f64 {
    let p95 = |lambda: f64| MmcQueue { lambda, mu: 1.0, c }.response_quantile(0.95);
    let (mut lo, mut hi) = (0.0, f64::from(c));
    for _ in 0..100 {
        let mid = (lo + hi) / 2.0;
        if p95(mid) <= bound {
            lo = mid
        } else {
            hi = mid
        }
    }
    lo
}

/// Runs `sim capacity` on the M/M/4 validation queue with `settings` on top; returns the
/// output folder (inside `tmp`) and the printed table.
fn capacity_of_mmc4(tmp: &std::path::Path, settings: &str) -> (std::path::PathBuf, String) {
    let file = tmp.join("mmc.yaml");
    fs::write(
        &file,
        format!("extends: {MANIFEST_DIR}/experiments/validation/mmc-4-0.8.yaml\n{settings}"),
    )
    .unwrap();
    let out = tmp.join("out");
    let text = run_ok(&[
        "capacity",
        path_str(&file),
        "--out",
        path_str(&out),
        "--quiet",
    ]);
    (out, text)
}

#[test]
fn the_capacity_of_an_mmc_queue_is_the_erlang_c_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, text) = capacity_of_mmc4(
        tmp.path(),
        "name: mmc-capacity\n\
             horizon: 20000s\nwarmup: 500s\nreplications: 4\nslo: {turn_p95: 5s}\n\
             workload: {arrivals: {per_second: 1}}\n",
    );
    let expected = erlang_c_capacity(4, 5.0);
    let json: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("capacity.json")).unwrap()).unwrap();
    let row = &json["configurations"][0]["results"];
    let capacity = row["capacity"].as_f64().unwrap();
    let point = row["capacity_point_estimate"].as_f64().unwrap();
    // Within the 2 % resolution of the closed form (plus the estimate's own noise: the p95
    // moves steeply with the load here, so the rate it crosses the bound at is sharp).
    assert!(
        (capacity - expected).abs() <= 0.03 * expected,
        "capacity {capacity} against Erlang C {expected}\n{text}"
    );
    // The interval rule never claims more than the point estimates do.
    assert!(point >= capacity, "{point} < {capacity}");
    assert_eq!(row["load_unit"], "sessions_per_s");
    // The search galloped up from the file's own load, then bisected: every probe is in
    // probes.csv, and the first miss is above the capacity.
    let probes = fs::read_to_string(out.join("probes.csv")).unwrap();
    let n = json["configurations"][0]["probes"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(probes.lines().count(), n + 1);
    assert!(n >= 4, "{probes}");
    assert!(row["first_miss"].as_f64().unwrap() > capacity);
    assert!(row["first_miss"].as_f64().unwrap() - capacity <= 0.02 * capacity + 1e-9);
    for chart in [
        "capacity_p95.png",
        "capacity_errors.png",
        "capacity_cost.png",
        "capacity.png",
    ] {
        assert!(
            fs::metadata(out.join(chart)).unwrap().len() > 10_000,
            "{chart}"
        );
    }
    assert!(text.contains("mmc-capacity"), "{text}");
}

#[test]
fn a_configuration_that_meets_at_no_load_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    // Service alone takes 1 s on average, so a p95 under 0.5 s is out of reach at any load.
    let (out, text) = capacity_of_mmc4(
        tmp.path(),
        "name: hopeless\n\
             horizon: 2000s\nwarmup: 100s\nreplications: 2\nslo: {turn_p95: 0.5s}\n",
    );
    assert!(text.contains("no load meets the SLO"), "{text}");
    assert!(text.contains("turn_p95"), "{text}");
    let csv = fs::read_to_string(out.join("capacity.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let row: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    let at = |name: &str| row[header.iter().position(|c| *c == name).unwrap()];
    assert_eq!(at("capacity"), "");
}

#[test]
fn a_killed_capacity_search_resumes_to_the_files_of_an_uninterrupted_one() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("long.yaml");
    fs::write(
        &file,
        format!(
            "extends: {MANIFEST_DIR}/experiments/validation/mmc-4-0.8.yaml\nname: long\n\
             horizon: 100000s\nwarmup: 500s\nreplications: 2\nslo: {{turn_p95: 5s}}\n\
             workload: {{arrivals: {{per_second: 1}}}}\n"
        ),
    )
    .unwrap();
    let out = tmp.path().join("out");
    let checkpoint = tmp.path().join(".out.capsim-sweep");
    let finished = common::kill_once_stored(
        &[
            "capacity",
            path_str(&file),
            "--out",
            path_str(&out),
            "--quiet",
        ],
        &out,
        2,
    );
    assert!(
        finished >= 2,
        "fewer than two probes were stored before the kill"
    );
    let resumed = run_ok(&[
        "capacity",
        path_str(&file),
        "--out",
        path_str(&out),
        "--quiet",
        "--resume",
    ]);
    assert!(
        resumed.contains(&format!("Resumed {finished} probes")),
        "{resumed}"
    );
    assert!(
        !checkpoint.exists(),
        "the stored probes were not cleaned up"
    );
    let fresh = tmp.path().join("fresh");
    run_ok(&[
        "capacity",
        path_str(&file),
        "--out",
        path_str(&fresh),
        "--quiet",
    ]);
    for name in ["capacity.csv", "capacity.json", "probes.csv"] {
        assert_eq!(
            fs::read(out.join(name)).unwrap(),
            fs::read(fresh.join(name)).unwrap(),
            "{name} differs after a resume"
        );
    }
}
