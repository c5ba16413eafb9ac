//! `sim sweep` and the tidy tables: one row per point with its swept values, results that do
//! not depend on the thread count, common random numbers across points, and `sim compare
//! --csv` with the same columns.

mod common;

use std::fs;
use std::path::Path;

use common::{MANIFEST_DIR, path_str, run_ok};

/// A small M/M/c sweep: arrival rate x slots, 3 replications of 2,000 simulated seconds.
fn write_sweep(dir: &Path, extra: &str) -> std::path::PathBuf {
    let file = dir.join("study.yaml");
    fs::write(
        &file,
        format!(
            "extends: {MANIFEST_DIR}/experiments/validation/mmc-4-0.8.yaml\nname: study\n\
             horizon: 2000s\nwarmup: 200s\nreplications: 3\n{extra}"
        ),
    )
    .unwrap();
    file
}

fn column<'a>(csv: &'a str, name: &str) -> Vec<&'a str> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let i = header.iter().position(|c| *c == name).unwrap_or_else(|| {
        panic!("no column {name} in {header:?}");
    });
    lines.map(|l| l.split(',').nth(i).unwrap()).collect()
}

#[test]
fn a_sweep_writes_one_row_per_point_whatever_the_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let file = write_sweep(
        tmp.path(),
        "sweep:\n  grid:\n    platform.max_concurrency: [4, 5]\n    workload.arrivals.per_second: [2.4, 3.2]\n",
    );
    let outs: Vec<_> = ["1", "2"]
        .iter()
        .map(|threads| {
            let out = tmp.path().join(format!("out-{threads}"));
            run_ok(&[
                "sweep",
                path_str(&file),
                "--out",
                path_str(&out),
                "--threads",
                threads,
                "--quiet",
            ]);
            out
        })
        .collect();
    for name in [
        "sweep.csv",
        "sweep.json",
        "points/max_concurrency-5_per_second-2.4/summary.json",
    ] {
        assert_eq!(
            fs::read(outs[0].join(name)).unwrap(),
            fs::read(outs[1].join(name)).unwrap(),
            "{name} differs between 1 and 2 threads"
        );
    }
    let csv = fs::read_to_string(outs[0].join("sweep.csv")).unwrap();
    assert_eq!(
        column(&csv, "platform.max_concurrency"),
        ["4", "4", "5", "5"]
    );
    assert_eq!(
        column(&csv, "workload.arrivals.per_second"),
        ["2.4", "3.2", "2.4", "3.2"]
    );
    // More load waits longer; more slots wait less.
    let p95: Vec<f64> = column(&csv, "turn_p95_s")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(
        p95[1] > p95[0] && p95[3] > p95[2] && p95[1] > p95[3],
        "{p95:?}"
    );
    for (lo, hi) in column(&csv, "turn_p95_s_ci_low")
        .iter()
        .zip(column(&csv, "turn_p95_s_ci_high"))
    {
        assert!(lo.parse::<f64>().unwrap() < hi.parse::<f64>().unwrap());
    }
    // Each point's summary.json says where it sits, so nothing parses folder names.
    let summary: serde_json::Value = serde_json::from_slice(
        &fs::read(outs[0].join("points/max_concurrency-5_per_second-2.4/summary.json")).unwrap(),
    )
    .unwrap();
    let inputs = &summary["inputs"];
    assert_eq!(inputs["swept"][0]["path"], "platform.max_concurrency");
    assert_eq!(inputs["swept"][0]["value"], 5);
    assert_eq!(inputs["max_concurrency"], 5);
    assert_eq!(inputs["sessions_per_s"], 2.4);
    let json: serde_json::Value =
        serde_json::from_slice(&fs::read(outs[0].join("sweep.json")).unwrap()).unwrap();
    assert_eq!(json["points"].as_array().unwrap().len(), 4);
    assert_eq!(
        json["points"][2]["settings"]["platform"]["max_concurrency"],
        5
    );
    assert_eq!(json["points"][2]["results"]["platform.max_concurrency"], 5);
    for chart in ["sweep.png", "sweep_cost.png", "sweep_heatmap.png"] {
        assert!(
            fs::metadata(outs[0].join(chart)).unwrap().len() > 10_000,
            "{chart}"
        );
    }
}

#[test]
fn points_share_random_numbers_and_match_a_single_run() {
    let tmp = tempfile::tempdir().unwrap();
    // Only the price changes between the points: with common random numbers every latency is
    // identical, and only the cost moves.
    let file = write_sweep(
        tmp.path(),
        "sweep:\n  grid:\n    platform.prices.request_based.request: ['$0.40/M', '$4/M']\n",
    );
    let out = tmp.path().join("out");
    run_ok(&["sweep", path_str(&file), "--out", path_str(&out), "--quiet"]);
    let csv = fs::read_to_string(out.join("sweep.csv")).unwrap();
    for metric in [
        "turn_p50_s",
        "turn_p95_s",
        "turn_p99_s",
        "turn_p95_s_ci_low",
    ] {
        let v = column(&csv, metric);
        assert_eq!(v[0], v[1], "{metric}: {v:?}");
    }
    let cost = column(&csv, "cost_per_day_usd");
    assert!(cost[1].parse::<f64>().unwrap() > cost[0].parse::<f64>().unwrap());
    // A point of a sweep is the same run as the file with that one setting.
    let alone = run_ok(&[
        "compare",
        path_str(&file),
        "--set",
        "sweep=null",
        "--set",
        "platform.prices.request_based.request=$4/M",
        "--csv",
    ]);
    assert_eq!(
        column(&alone, "turn_p95_s"),
        [column(&csv, "turn_p95_s")[1]]
    );
    assert_eq!(column(&alone, "cost_per_day_usd"), [cost[1]]);
    // compare --csv and sweep.csv share their result columns.
    let swept_header = csv.lines().next().unwrap();
    let alone_header = alone.lines().next().unwrap();
    assert!(
        swept_header.ends_with(alone_header.trim_start_matches("experiment,")),
        "{alone_header}"
    );
}

#[test]
fn compare_prints_json_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let file = write_sweep(
        tmp.path(),
        "variants:\n  - {name: four}\n  - {name: five, platform: {max_concurrency: 5}}\n",
    );
    let json: serde_json::Value =
        serde_json::from_str(&run_ok(&["compare", path_str(&file), "--json"])).unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["scenario"], "four");
    assert_eq!(rows[1]["experiment"], "study-five");
    assert!(rows[1]["turn_p95_s"].as_f64().unwrap() < rows[0]["turn_p95_s"].as_f64().unwrap());
}

#[test]
fn compare_and_a_sweep_over_scenarios_draw_the_side_by_side_chart() {
    let tmp = tempfile::tempdir().unwrap();
    let file = write_sweep(
        tmp.path(),
        "variants:\n  - {name: four}\n  - {name: five, platform: {max_concurrency: 5}}\n",
    );
    let sweep = tmp.path().join("sweep");
    run_ok(&["sweep", path_str(&file), "--out", path_str(&sweep), "-q"]);
    assert!(
        fs::metadata(sweep.join("sweep_side_by_side.png"))
            .unwrap()
            .len()
            > 10_000
    );
    let out = tmp.path().join("compare");
    let printed = run_ok(&["compare", path_str(&file), "--out", path_str(&out)]);
    assert!(printed.contains("study-five"), "{printed}");
    assert!(fs::metadata(out.join("compare.png")).unwrap().len() > 10_000);
    let csv = fs::read_to_string(out.join("compare.csv")).unwrap();
    assert_eq!(column(&csv, "scenario"), ["four", "five"]);
    let json: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("compare.json")).unwrap()).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    // A folder capsim did not write is left alone.
    let theirs = tmp.path().join("theirs");
    fs::create_dir(&theirs).unwrap();
    fs::write(theirs.join("notes.txt"), "mine").unwrap();
    common::run_fails(&["compare", path_str(&file), "--out", path_str(&theirs)], 1);
    assert_eq!(
        fs::read_to_string(theirs.join("notes.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn a_sweep_or_scenarios_can_be_set_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let file = write_sweep(tmp.path(), "");
    let text = run_ok(&[
        "check",
        path_str(&file),
        "--set",
        "sweep.grid.platform.max_concurrency=[4, 5, 6]",
        "--set",
        "sweep.scenarios=[{name: base}, {name: slow, llm: {latency_scale: 2}}]",
    ]);
    assert!(text.contains("is valid (6 experiment(s))"), "{text}");
    assert!(
        text.contains("experiment `study-slow-max_concurrency-6`"),
        "{text}"
    );
}

#[test]
fn a_killed_sweep_resumes_to_the_files_of_an_uninterrupted_one() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("long.yaml");
    fs::write(
        &file,
        format!(
            "extends: {MANIFEST_DIR}/experiments/validation/mmc-4-0.8.yaml\nname: long\n\
             horizon: 200000s\nwarmup: 500s\nreplications: 3\n\
             sweep: {{grid: {{workload.arrivals.per_second: {{from: 2.0, to: 3.1, step: 0.1}}}}}}\n"
        ),
    )
    .unwrap();
    let out = tmp.path().join("out");
    let checkpoint = tmp.path().join(".out.capsim-sweep");
    let finished = common::kill_once_stored(
        &["sweep", path_str(&file), "--out", path_str(&out), "--quiet"],
        &out,
        1,
    );
    assert!(finished >= 1, "no point was stored before the kill");
    let resumed = run_ok(&[
        "sweep",
        path_str(&file),
        "--out",
        path_str(&out),
        "--quiet",
        "--resume",
    ]);
    assert!(
        resumed.contains(&format!("Resumed {finished} of 12 points")),
        "{resumed}"
    );
    assert!(
        !checkpoint.exists(),
        "the finished points were not cleaned up"
    );
    let fresh = tmp.path().join("fresh");
    run_ok(&[
        "sweep",
        path_str(&file),
        "--out",
        path_str(&fresh),
        "--quiet",
    ]);
    for name in [
        "sweep.csv",
        "sweep.json",
        "points/per_second-2.0/summary.json",
        "points/per_second-3.1/summary.json",
    ] {
        assert_eq!(
            fs::read(out.join(name)).unwrap(),
            fs::read(fresh.join(name)).unwrap(),
            "{name} differs after a resume"
        );
    }
}
