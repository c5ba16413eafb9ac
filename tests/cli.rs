//! End-to-end tests of the `sim` binary: `sim run` outputs, `--json`, variants, `sim check`,
//! error messages on bad input and atomic replacement of the output folder.
//!
//! Runs are kept short (`--horizon 10m --replications 2` or less) and always write into a
//! temporary folder via `--out`.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

mod common;

use common::{MANIFEST_DIR, SHORT_RUN, path_str, run_fails, run_ok, sim, text};

/// The eight bytes every PNG file starts with.
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Every file a run writes into its output folder, as docs/summary-schema.md lists them: the
/// back-quoted names in the first column of its first table. A new output file that the docs
/// do not list fails `run_writes_every_file_and_nothing_else`.
fn output_files() -> Vec<String> {
    let doc = fs::read_to_string(Path::new(MANIFEST_DIR).join("docs/summary-schema.md"))
        .expect("docs/summary-schema.md");
    let table = doc
        .lines()
        .skip_while(|l| !l.starts_with("| File |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'));
    let names: Vec<String> = table
        .flat_map(|row| {
            let first_cell = row.split('|').nth(1).unwrap_or_default();
            first_cell
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        names.len() >= 5,
        "no file table in docs/summary-schema.md: {names:?}"
    );
    names
}

fn read_json(path: &Path) -> Value {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()))
}

/// `v[a][b]...`, failing with the full path when a key is missing.
fn get<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    let mut cur = v;
    for (i, key) in path.iter().enumerate() {
        cur = cur
            .get(*key)
            .unwrap_or_else(|| panic!("summary.json has no `{}`", path[..=i].join(".")));
    }
    cur
}

/// Checks that `v` at `path` is an estimate `{"value": x, "ci95": [lo, hi]}` with finite
/// numbers and lo <= x <= hi (the interval is centred on the estimate); returns the value.
fn estimate(v: &Value, path: &[&str]) -> f64 {
    let name = path.join(".");
    let e = get(v, path);
    let value = e["value"]
        .as_f64()
        .unwrap_or_else(|| panic!("{name}.value is not a number: {e}"));
    let ci = e["ci95"]
        .as_array()
        .unwrap_or_else(|| panic!("{name}.ci95 is not an array: {e}"));
    assert_eq!(ci.len(), 2, "{name}.ci95 must have two bounds: {e}");
    let lo = ci[0]
        .as_f64()
        .unwrap_or_else(|| panic!("{name}.ci95[0] is not a number: {e}"));
    let hi = ci[1]
        .as_f64()
        .unwrap_or_else(|| panic!("{name}.ci95[1] is not a number: {e}"));
    assert!(
        value.is_finite() && lo.is_finite() && hi.is_finite(),
        "{name}: {e}"
    );
    let slack = 1e-9 * value.abs().max(1.0);
    assert!(
        lo <= value + slack && value <= hi + slack,
        "{name}: value outside its interval: {e}"
    );
    value
}

fn check_latency_summary(v: &Value, key: &str) {
    let n = get(v, &[key, "n"])
        .as_u64()
        .unwrap_or_else(|| panic!("{key}.n is not a count"));
    assert!(n > 0, "{key}.n is 0");
    let mut previous = 0.0;
    for q in ["p50", "p90", "p95", "p99", "max"] {
        let x = estimate(v, &[key, q]);
        assert!(x > 0.0, "{key}.{q} = {x}");
        assert!(
            x >= previous,
            "{key}.{q} = {x} is below the previous quantile"
        );
        previous = x;
    }
    let mean = estimate(v, &[key, "mean"]);
    assert!(mean > 0.0 && mean <= previous, "{key}.mean = {mean}");
}

/// Line (1-based) of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in\n{text}"))
        + 1
}

/// A small valid experiment (the shape of experiments/phase2.yaml with the workload of
/// models/workload-phase2.yaml inlined), with `extra` appended.
fn experiment_yaml(extra: &str) -> String {
    let plan = Path::new(MANIFEST_DIR).join("models/ai4joy-plan.yaml");
    format!(
        "name: small
extends: [{}]
workload:
  kind: closed
  users: {{ from: 5, to: 10, over: 5m }}
  tasks: [{{ kind: full_session, weight: 1 }}]
  turn_think_time: {{ uniform: [20s, 40s] }}
  think_time: {{ uniform: [1m, 5m] }}
horizon: 5m
warmup: 1m
replications: 1
seed: 1
sample_interval: 30s
slo: {{ turn_p95: 3s, error_rate: 1% }}
{extra}",
        plan.display()
    )
}

/// Writes `content` as `dir/name` and returns its path.
fn write_file(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, content).unwrap();
    path
}

/// One short run of experiments/phase2.yaml shared by the tests below: its output folder (alone
/// in its parent), stdout and summary.json.
struct Phase2Run {
    parent: PathBuf,
    out: PathBuf,
    stdout: String,
    summary: Value,
}

fn phase2_run() -> &'static Phase2Run {
    static RUN: OnceLock<Phase2Run> = OnceLock::new();
    RUN.get_or_init(|| {
        let parent = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap()
            .keep();
        let out = parent.join("phase2");
        let mut args = vec!["run", "experiments/phase2.yaml"];
        args.extend(SHORT_RUN);
        args.extend(["--out", path_str(&out), "-q"]);
        let stdout = run_ok(&args);
        let summary = read_json(&out.join("summary.json"));
        Phase2Run {
            parent,
            out,
            stdout,
            summary,
        }
    })
}

#[test]
fn run_prints_the_summary() {
    let run = phase2_run();
    let stdout = &run.stdout;
    for needle in ["p95", "Bottleneck", "per day", "phase2"] {
        assert!(
            stdout.contains(needle),
            "summary lacks {needle:?}:\n{stdout}"
        );
    }
    // Every file in the folder but the manifest is a result file.
    let results = fs::read_dir(&run.out)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name() != ".capsim-result.json")
        .count();
    assert!(
        stdout.contains(&format!("Wrote {results} files")),
        "summary does not report the {results} files:\n{stdout}"
    );
}

#[test]
fn run_writes_every_file_and_nothing_else() {
    let Phase2Run { parent, out, .. } = phase2_run();
    let documented = output_files();
    for name in &documented {
        let path = out.join(name);
        let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{name} not written: {e}"));
        assert!(!bytes.is_empty(), "{name} is empty");
        if name.ends_with(".png") {
            assert!(bytes.starts_with(PNG_SIGNATURE), "{name} is not a PNG");
        }
    }
    // Nothing else in the folder, and no temporary folder left beside it.
    let mut entries: Vec<String> = fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    entries.sort();
    let mut expected = documented;
    expected.sort();
    assert_eq!(entries, expected);
    let siblings: Vec<_> = fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(siblings, ["phase2"], "leftovers beside the output folder");
}

#[test]
fn summary_records_the_run_settings() {
    let s = &phase2_run().summary;
    assert_eq!(s["experiment"], "phase2");
    assert_eq!(s["capsim_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(s["replications"].as_u64(), Some(2));
    assert_eq!(s["seed"].as_u64(), Some(20251124), "seed from the file");
    assert_eq!(s["horizon_s"].as_f64(), Some(600.0), "--horizon 10m");
}

#[test]
fn summary_latencies_are_ordered_estimates() {
    let s = &phase2_run().summary;
    check_latency_summary(s, "turn_latency_s");
    check_latency_summary(s, "session_start_latency_s");
}

#[test]
fn summary_errors_and_fleet_are_in_range() {
    let s = &phase2_run().summary;
    let errors = get(s, &["errors"])
        .as_object()
        .expect("errors is an object");
    assert!(!errors.is_empty());
    for (cause, count) in errors {
        assert!(count.is_u64(), "errors.{cause} is not a count: {count}");
    }
    let error_rate = estimate(s, &["error_rate"]);
    assert!((0.0..=1.0).contains(&error_rate), "error_rate {error_rate}");

    let mean_instances = estimate(s, &["instances", "mean"]);
    let max_instances = estimate(s, &["instances", "max"]);
    // models/ai4joy-plan.yaml: min_instances 1, max_instances 10.
    assert!(
        (1.0..=10.0).contains(&mean_instances) && mean_instances <= max_instances,
        "instances mean {mean_instances}, max {max_instances}"
    );
    assert!(max_instances <= 10.0);
    let cpu = estimate(s, &["cpu_utilization", "mean"]);
    assert!(cpu > 0.0 && cpu <= 1.0, "cpu_utilization {cpu}");
}

#[test]
fn summary_costs_add_up() {
    let s = &phase2_run().summary;
    let per_turn = estimate(s, &["cost_usd", "per_turn"]);
    let per_session = estimate(s, &["cost_usd", "per_session"]);
    let per_day = estimate(s, &["cost_usd", "per_day"]);
    assert!(per_turn > 0.0 && per_session > per_turn && per_day > per_session);
    let breakdown = get(s, &["cost_usd", "breakdown"])
        .as_array()
        .expect("cost_usd.breakdown is an array");
    assert!(!breakdown.is_empty());
    let mut sum_per_day = 0.0;
    let mut sum_share = 0.0;
    for row in breakdown {
        assert!(row["component"].is_string(), "no component in {row}");
        sum_per_day += row["per_day"]["value"]
            .as_f64()
            .unwrap_or_else(|| panic!("no per_day value in {row}"));
        sum_share += row["share"].as_f64().unwrap_or(0.0);
    }
    assert!(
        (sum_per_day - per_day).abs() <= 1e-6 * per_day,
        "breakdown sums to {sum_per_day}, per_day is {per_day}"
    );
    assert!((sum_share - 1.0).abs() < 1e-6, "shares sum to {sum_share}");
}

#[test]
fn slo_verdict_names_the_bottleneck() {
    let Phase2Run {
        stdout, summary: s, ..
    } = phase2_run();
    assert!(get(s, &["slo", "met"]).is_boolean());
    let bottleneck = get(s, &["slo", "bottleneck"])
        .as_str()
        .expect("slo.bottleneck is a string");
    assert!(!bottleneck.is_empty());
    assert!(
        stdout.contains(bottleneck),
        "terminal summary does not name the bottleneck {bottleneck:?}"
    );
}

#[test]
fn csv_files_are_rectangular() {
    let out = &phase2_run().out;
    let ts = fs::read_to_string(out.join("timeseries.csv")).unwrap();
    let mut lines = ts.lines();
    let header = lines.next().expect("timeseries.csv is empty");
    assert!(header.starts_with("time_s,"), "header: {header}");
    let columns = header.split(',').count();
    let rows: Vec<&str> = lines.collect();
    // 10 minutes sampled every 30 s.
    assert_eq!(rows.len(), 20, "timeseries.csv rows");
    for row in &rows {
        assert_eq!(row.split(',').count(), columns, "ragged row: {row}");
    }
    let hist = fs::read_to_string(out.join("latency_histogram.csv")).unwrap();
    assert_eq!(hist.lines().next(), Some("metric,upper_s,count,cdf"));
    assert!(
        hist.lines().count() > 1,
        "latency_histogram.csv has no rows"
    );
}

#[test]
fn json_flag_prints_the_summary_json() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("p2");
    let args = [
        &["run", "experiments/phase2.yaml"][..],
        &SHORT_RUN,
        &["--out", path_str(&out), "--json"],
    ]
    .concat();
    let stdout = run_ok(&args);
    let json: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("--json output is not one JSON document: {e}\n{stdout}"));
    assert_eq!(json["experiment"], "phase2");
    assert_eq!(json["replications"].as_u64(), Some(2));
    assert!(
        !stdout.contains("Bottleneck:"),
        "text summary mixed into --json output"
    );
    // The same document as the file written.
    let file = fs::read_to_string(out.join("summary.json")).unwrap();
    assert_eq!(stdout, file, "stdout differs from summary.json");
}

#[test]
fn variants_get_one_folder_each() {
    let tmp = tempfile::tempdir().unwrap();
    let stdout = run_ok(&[
        "run",
        "experiments/daily-cost.yaml",
        "--horizon",
        "2h",
        "--replications",
        "2",
        "--out",
        path_str(tmp.path()),
        "-q",
    ]);
    let mut per_day = Vec::new();
    for v in ["100", "500", "1000"] {
        let name = format!("daily-cost-{v}");
        let dir = tmp.path().join(&name);
        for file in output_files() {
            assert!(dir.join(&file).is_file(), "{name}/{file} missing");
        }
        let s = read_json(&dir.join("summary.json"));
        assert_eq!(s["experiment"], name.as_str());
        assert_eq!(s["replications"].as_u64(), Some(2));
        assert_eq!(s["horizon_s"].as_f64(), Some(7200.0));
        assert!(
            stdout.contains(&name),
            "summary does not mention {name}:\n{stdout}"
        );
        per_day.push(estimate(&s, &["cost_usd", "per_day"]));
    }
    assert!(
        per_day[2] > per_day[0],
        "1000 sessions/day cost ${}/day, not more than 100 sessions/day (${}/day)",
        per_day[2],
        per_day[0]
    );
    // Nothing but the three variant folders under --out.
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 3);
}

#[test]
fn check_prints_resolved_model_and_sources() {
    let stdout = run_ok(&["check", "experiments/phase2.yaml"]);
    assert!(
        stdout.lines().any(|l| l.trim() == "max_concurrency: 10"),
        "resolved YAML lacks max_concurrency: 10:\n{stdout}"
    );
    let source = stdout
        .lines()
        .find(|l| l.contains("platform.max_concurrency:"))
        .unwrap_or_else(|| panic!("no source line for platform.max_concurrency:\n{stdout}"));
    assert!(
        source.starts_with('#'),
        "source lines are comments: {source}"
    );
    assert!(source.contains("ai4joy-plan.yaml"), "{source}");
    // The horizon is set by the experiment itself.
    let horizon = stdout
        .lines()
        .find(|l| l.starts_with('#') && l.contains(" horizon:"))
        .unwrap_or_else(|| panic!("no source line for horizon:\n{stdout}"));
    assert!(horizon.contains("phase2.yaml"), "{horizon}");
    assert!(stdout.contains("is valid"), "{stdout}");
}

/// Guards the bad-input tests below: the template they break is valid as written.
#[test]
fn template_experiment_is_valid_and_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let file = write_file(tmp.path(), "ok.yaml", &experiment_yaml(""));
    let stdout = run_ok(&["check", path_str(&file)]);
    assert!(stdout.contains("is valid"), "{stdout}");
    let out = tmp.path().join("out");
    run_ok(&[
        "run",
        path_str(&file),
        "--horizon",
        "2m",
        "--out",
        path_str(&out),
        "-q",
    ]);
    assert_eq!(read_json(&out.join("summary.json"))["experiment"], "small");
}

#[test]
fn bad_value_type_names_file_line_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let yaml = experiment_yaml("platform:\n  max_concurrency: lots\n");
    let file = write_file(tmp.path(), "bad-type.yaml", &yaml);
    let line = line_of(&yaml, "max_concurrency: lots");
    let out = tmp.path().join("out");
    for args in [
        vec!["check", path_str(&file)],
        vec!["run", path_str(&file), "--out", path_str(&out), "-q"],
    ] {
        let stderr = run_fails(&args, 1);
        let at = format!("{}:{line}", file.display());
        assert!(stderr.contains(&at), "no {at} in: {stderr}");
        assert!(stderr.contains("platform.max_concurrency"), "{stderr}");
        assert!(
            stderr.contains("lots"),
            "the bad value is not quoted: {stderr}"
        );
    }
    assert!(!out.exists(), "a failed run created its output folder");
}

#[test]
fn unknown_field_is_reported_with_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let yaml = experiment_yaml("platform:\n  max_concurency: 5\n");
    let file = write_file(tmp.path(), "typo.yaml", &yaml);
    let line = line_of(&yaml, "max_concurency");
    let stderr = run_fails(&["check", path_str(&file)], 1);
    let at = format!("{}:{line}", file.display());
    assert!(stderr.contains(&at), "no {at} in: {stderr}");
    assert!(stderr.contains("unknown field"), "{stderr}");
    assert!(stderr.contains("max_concurency"), "{stderr}");
    // Suggests the valid names.
    assert!(stderr.contains("max_concurrency"), "{stderr}");

    // A top-level typo too.
    let yaml = experiment_yaml("sample_intervl: 10s\n");
    let file = write_file(tmp.path(), "typo-top.yaml", &yaml);
    let line = line_of(&yaml, "sample_intervl");
    let stderr = run_fails(&["check", path_str(&file)], 1);
    let at = format!("{}:{line}", file.display());
    assert!(stderr.contains(&at), "no {at} in: {stderr}");
    assert!(stderr.contains("unknown field"), "{stderr}");
    assert!(stderr.contains("sample_intervl"), "{stderr}");
}

#[test]
fn duration_without_unit_asks_for_one() {
    let tmp = tempfile::tempdir().unwrap();
    let yaml = experiment_yaml("").replace("horizon: 5m", "horizon: 600");
    assert!(yaml.contains("horizon: 600\n"));
    let file = write_file(tmp.path(), "no-unit.yaml", &yaml);
    let line = line_of(&yaml, "horizon: 600");
    let stderr = run_fails(&["check", path_str(&file)], 1);
    let at = format!("{}:{line}", file.display());
    assert!(stderr.contains(&at), "no {at} in: {stderr}");
    assert!(stderr.contains("`horizon`"), "{stderr}");
    assert!(stderr.contains("unit"), "does not ask for a unit: {stderr}");
}

#[test]
fn missing_file_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("does-not-exist.yaml");
    for cmd in ["check", "run"] {
        let stderr = run_fails(&[cmd, path_str(&file)], 1);
        assert!(
            stderr.contains(path_str(&file)),
            "{cmd}: file not named: {stderr}"
        );
    }

    // A missing parent named in `extends` is named too.
    let parent = tmp.path().join("no-such-parent.yaml");
    let yaml = experiment_yaml("").replacen(
        "extends: [",
        &format!("extends: [{}, ", parent.display()),
        1,
    );
    let file = write_file(tmp.path(), "orphan.yaml", &yaml);
    let stderr = run_fails(&["check", path_str(&file)], 1);
    assert!(stderr.contains("no-such-parent.yaml"), "{stderr}");
}

#[test]
fn yaml_syntax_error_gives_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let yaml = experiment_yaml("").replace("seed: 1\n", "seed: 1: 2\n");
    let file = write_file(tmp.path(), "syntax.yaml", &yaml);
    let line = line_of(&yaml, "seed: 1: 2");
    let stderr = run_fails(&["check", path_str(&file)], 1);
    let at = format!("{}:{line}", file.display());
    assert!(stderr.contains(&at), "no {at} in: {stderr}");
    assert!(stderr.contains("syntax"), "{stderr}");
}

#[test]
fn bad_horizon_flag_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let stderr = run_fails(
        &[
            "run",
            "experiments/phase2.yaml",
            "--horizon",
            "banana",
            "--out",
            path_str(&out),
        ],
        2,
    );
    assert!(stderr.contains("--horizon"), "{stderr}");
    assert!(stderr.contains("banana"), "{stderr}");
    assert!(!out.exists());

    // Values the parser accepts but the run cannot use are refused too.
    for (flag, value) in [("--horizon", "0s"), ("--replications", "0")] {
        let stderr = run_fails(
            &[
                "run",
                "experiments/phase2.yaml",
                flag,
                value,
                "--out",
                path_str(&out),
            ],
            1,
        );
        assert!(stderr.contains(flag), "{flag} {value}: {stderr}");
        assert!(!out.exists());
    }
}

#[test]
fn min_instances_above_max_names_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let yaml = experiment_yaml("platform:\n  min_instances: 5\n  max_instances: 2\n");
    let file = write_file(tmp.path(), "min-max.yaml", &yaml);
    let out = tmp.path().join("out");
    for args in [
        vec!["check", path_str(&file)],
        vec!["run", path_str(&file), "--out", path_str(&out), "-q"],
    ] {
        let stderr = run_fails(&args, 1);
        assert!(stderr.contains(path_str(&file)), "file not named: {stderr}");
        assert!(
            stderr.contains("platform.min_instances") || stderr.contains("platform.max_instances"),
            "field not named: {stderr}"
        );
    }
    assert!(!out.exists(), "a failed run created its output folder");
}

#[test]
fn a_new_run_replaces_the_output_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("result");
    let args = [
        "run",
        "experiments/phase2.yaml",
        "--horizon",
        "5m",
        "--replications",
        "1",
        "--out",
        path_str(&out),
        "-q",
    ];
    run_ok(&args);
    let first = fs::read(out.join("summary.json")).unwrap();
    fs::write(out.join("stale.txt"), "left over from an older run").unwrap();

    run_ok(&args);
    assert!(
        !out.join("stale.txt").exists(),
        "stale file survived: results were merged, not replaced"
    );
    for name in output_files() {
        assert!(out.join(&name).is_file(), "{name} missing after re-run");
    }
    assert_eq!(
        first,
        fs::read(out.join("summary.json")).unwrap(),
        "same seed, different summary.json"
    );
    // No `.partial-*` / `.old-*` folders left beside it.
    let siblings: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(siblings, ["result"]);
}

/// A reader that goes away (`sim check ... | head -1`) ends the program quietly, not with a
/// panic about a broken pipe.
#[test]
fn a_closed_stdout_is_not_a_panic() {
    let mut child = sim()
        .args(["check", "experiments/seed-plan.yaml"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn sim");
    // Close the reading end before sim has parsed its files, so its first write hits a closed
    // pipe.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Runs an experiment named `name` over the queueing lab with `settings` (YAML lines) added,
/// insisting it fails cleanly with exit 1 and leaves no output folder; returns stderr.
fn lab_run_fails(name: &str, settings: &str, extra: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join(format!("{name}.yaml"));
    std::fs::write(
        &file,
        format!("name: {name}\nextends: {MANIFEST_DIR}/models/queueing-lab.yaml\n{settings}"),
    )
    .expect("write");
    let out = dir.path().join("out");
    let mut args = vec!["run", path_str(&file), "--out", path_str(&out)];
    args.extend(extra);
    let stderr = run_fails(&args, 1);
    assert!(!out.exists(), "a failed run left {}", out.display());
    stderr
}

/// Arrivals far beyond capacity with no deadline to shed them stop the run with an
/// explanation instead of exhausting memory; no output folder is left behind.
#[test]
fn an_overloaded_system_stops_with_an_explanation() {
    let stderr = lab_run_fails(
        "flood",
        "horizon: 300s\nwarmup: 10s\nreplications: 1\nworkload: { arrivals: { per_second: 1000000 } }\n",
        &["--allow-long"],
    );
    assert!(
        stderr.contains("stopped early") && stderr.contains("requests waiting or running"),
        "{stderr}"
    );
}

/// `--set PATH=VALUE` changes a setting as a file would, and `sim check` names the command
/// line as its source.
#[test]
fn set_overrides_any_setting_before_validation() {
    let stdout = run_ok(&[
        "check",
        "experiments/phase2.yaml",
        "--set",
        "platform.max_concurrency=40",
        "--set",
        "workload.users=300",
    ]);
    assert!(
        stdout.lines().any(|l| l.trim() == "max_concurrency: 40"),
        "resolved YAML lacks max_concurrency: 40:\n{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.trim() == "users: 300"),
        "resolved YAML lacks users: 300:\n{stdout}"
    );
    let source = stdout
        .lines()
        .find(|l| l.contains("platform.max_concurrency:"))
        .unwrap_or_else(|| panic!("no source line for platform.max_concurrency:\n{stdout}"));
    assert!(source.contains("<command line>"), "{source}");
}

#[test]
fn set_applies_to_a_run() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let stdout = run_ok(&[
        "run",
        "experiments/phase2.yaml",
        "--horizon",
        "5m",
        "--set",
        "replications=1",
        "--set",
        "seed=5",
        "--out",
        path_str(&out),
        "--json",
    ]);
    let json: Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(json["seed"].as_u64(), Some(5));
    assert_eq!(json["replications"].as_u64(), Some(1));
}

/// A bad path or value is an error in `<command line>` naming the field, the value and, for a
/// misspelt key, the closest valid one.
#[test]
fn a_bad_set_names_the_command_line_the_field_and_the_value() {
    let stderr = run_fails(
        &[
            "check",
            "experiments/phase2.yaml",
            "--set",
            "platform.max_concurency=40",
        ],
        1,
    );
    for needle in [
        "<command line>",
        "platform.max_concurency",
        "=40",
        "did you mean `max_concurrency`",
    ] {
        assert!(stderr.contains(needle), "no {needle:?} in: {stderr}");
    }
    let stderr = run_fails(
        &[
            "check",
            "experiments/phase2.yaml",
            "--set",
            "platform.max_concurrency=lots",
        ],
        1,
    );
    for needle in ["<command line>", "platform.max_concurrency", "lots"] {
        assert!(stderr.contains(needle), "no {needle:?} in: {stderr}");
    }
    // The file's own rules apply: replications must be at least 1.
    let stderr = run_fails(
        &[
            "check",
            "experiments/phase2.yaml",
            "--set",
            "replications=0",
        ],
        1,
    );
    for needle in ["<command line>", "`replications`", "--set replications=0"] {
        assert!(stderr.contains(needle), "no {needle:?} in: {stderr}");
    }
    // Not PATH=VALUE at all: a usage error.
    let stderr = run_fails(&["check", "experiments/phase2.yaml", "--set", "seed"], 2);
    assert!(stderr.contains("PATH=VALUE"), "{stderr}");
}

/// `--horizon` shorter than a fixed warm-up keeps the experiment's intent: the warm-up becomes
/// 20 % of the new horizon.
#[test]
fn a_horizon_shorter_than_the_warmup_shortens_it() {
    let tmp = tempfile::tempdir().unwrap();
    let file = write_file(tmp.path(), "ok.yaml", &experiment_yaml(""));
    let stdout = run_ok(&["check", path_str(&file), "--horizon", "30s"]);
    assert!(
        stdout.lines().any(|l| l.trim() == "warmup: 6s"),
        "warm-up not 20 % of 30s:\n{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.trim() == "horizon: 30s"),
        "{stdout}"
    );
}

/// `--seed -1` says what a seed is rather than suggesting `-- -1`.
#[test]
fn a_negative_seed_says_what_seeds_are() {
    let stderr = run_fails(&["check", "experiments/phase2.yaml", "--seed", "-1"], 2);
    assert!(stderr.contains("0 to 2^64-1"), "{stderr}");
    assert!(!stderr.contains("-- -1"), "{stderr}");
}

/// Runs `sh -c SCRIPT` with `$0` the `sim` binary, from the crate root.
fn shell(script: &str) -> std::process::Output {
    std::process::Command::new("sh")
        .current_dir(MANIFEST_DIR)
        .args(["-c", script, env!("CARGO_BIN_EXE_sim")])
        .output()
        .expect("failed to start sh")
}

/// `sim ... >&-`: a closed stdout with something to print is an error, not a silent success.
#[test]
fn a_closed_stdout_is_an_error() {
    let out = shell(r#"exec "$0" check experiments/phase2.yaml >&-"#);
    let stderr = common::failed_cleanly("sim check >&-", &out, 1);
    assert!(stderr.contains("standard output is closed"), "{stderr}");
    let discarded = shell(r#"exec "$0" check experiments/phase2.yaml >/dev/null"#);
    assert!(discarded.status.success(), "{discarded:?}");
}

/// `sim check ... 2>/dev/full`: an unwritable stderr still ends with exit 1, not a panic.
#[test]
fn an_unwritable_stderr_still_exits_1() {
    let out = shell(r#"exec "$0" check no-such-file.yaml 2>/dev/full"#);
    assert_eq!(out.status.code(), Some(1), "{:?}", out.status);
}

/// A thread count rayon cannot start is refused with the variable's name, before simulating.
#[test]
fn too_many_threads_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let output = sim()
        .env("RAYON_NUM_THREADS", "100000")
        .args([
            "run",
            "experiments/phase2.yaml",
            "--out",
            path_str(&out),
            "-q",
        ])
        .output()
        .expect("failed to start sim");
    let stderr = common::failed_cleanly("RAYON_NUM_THREADS=100000 sim run", &output, 1);
    assert!(stderr.contains("RAYON_NUM_THREADS=100000"), "{stderr}");
    assert!(!out.exists());
}

/// What cannot finish is refused up front, by `check` as by `run`, with the arithmetic; an
/// explicit flag raises the limit.
#[test]
fn the_resource_budget_refuses_what_cannot_finish() {
    for set in [
        "workload.users=1000000000",
        "replications=1000000000",
        "platform.autoscaler.threshold.interval=1ns",
    ] {
        for cmd in ["check", "run"] {
            let stderr = run_fails(&[cmd, "experiments/phase2.yaml", "--set", set], 1);
            assert!(
                stderr.contains("cannot finish within the budget"),
                "{set}: {stderr}"
            );
            assert!(stderr.contains(" per "), "{set}: no arithmetic: {stderr}");
        }
    }
    let stdout = run_ok(&[
        "check",
        "experiments/phase2.yaml",
        "--set",
        "workload.users=1000000000",
        "--budget-memory",
        "1TiB",
        "--allow-long",
    ]);
    assert!(stdout.contains("# Estimated need: about "), "{stdout}");
    let stderr = run_fails(
        &[
            "check",
            "experiments/phase2.yaml",
            "--horizon",
            "3650d",
            "--set",
            "sample_interval=1d",
        ],
        1,
    );
    assert!(stderr.contains("--allow-long"), "{stderr}");
    run_ok(&[
        "check",
        "experiments/phase2.yaml",
        "--horizon",
        "3650d",
        "--set",
        "sample_interval=1d",
        "--allow-long",
    ]);
}

/// A refusal answered at once and retried with no wait would loop forever at one simulated
/// instant; the replication stops with a message naming the setting instead.
#[test]
fn a_loop_in_zero_simulated_time_stops_with_an_explanation() {
    let stderr = lab_run_fails(
        "spin",
        "horizon: 100s\nwarmup: 0s\nreplications: 1\nplatform: { pending_deadline: { fixed: 0s } }\nworkload: { kind: closed, arrivals: null, session: null, users: 2, think_time: 0s, tasks: [{ kind: bare_turn, weight: 1 }] }\n",
        &[],
    );
    assert!(
        stderr.contains("simulated clock stopped at t = ")
            && stderr.contains("workload.think_time"),
        "{stderr}"
    );
}
