//! Error messages on bad experiment files, as `sim check` and `sim run` print them: each names
//! the file, the line and the field path in the file's words, says what the field takes,
//! suggests a fix where one is known, and never shows a Rust type name. Rates are accepted
//! with their unit of time.

use std::fs;
use std::path::{Path, PathBuf};

mod common;

use common::{MANIFEST_DIR, path_str, run_fails, run_ok};

/// Words of Rust, not of experiment files, that no message may contain.
const RUST_WORDS: [&str; 8] = [
    "struct ",
    "enum ",
    "f64",
    "u32",
    "u64",
    "untagged",
    "MeanFields",
    "RampFields",
];

/// A closed experiment over the shipped plan, complete but for `extra` (appended YAML, one
/// setting per line), and the line number `extra`'s first line lands on.
fn experiment(extra: &str) -> (String, usize) {
    let models = Path::new(MANIFEST_DIR).join("models");
    let head = format!(
        "name: bad\nextends: [{}, {}]\nhorizon: 10m\nwarmup: 0s\nreplications: 1\nseed: 1\nsample_interval: 30s\n",
        models.join("ai4joy-plan.yaml").display(),
        models.join("workload-phase1.yaml").display()
    );
    // Top-level keys `extra` sets replace the head's.
    let head: String = head
        .lines()
        .filter(|l| {
            let key = l.split(':').next().unwrap_or_default();
            !extra.lines().any(|e| e.starts_with(&format!("{key}:")))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let first = head.lines().count() + 1;
    (format!("{head}{extra}"), first)
}

/// An open experiment over the shipped plan whose arrivals are `arrivals`.
fn open_experiment(arrivals: &str) -> String {
    let plan = Path::new(MANIFEST_DIR).join("models/ai4joy-plan.yaml");
    format!(
        "name: open\nextends: {}\nhorizon: 10m\nwarmup: 0s\nreplications: 1\nseed: 1\n\
         sample_interval: 30s\nworkload:\n  kind: open\n  arrivals: {arrivals}\n",
        plan.display()
    )
}

/// Writes `files` (name, text) into a fresh folder; returns it and the first file's path.
fn write(files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        fs::write(dir.path().join(name), text).expect("write");
    }
    let first = dir.path().join(files[0].0);
    (dir, first)
}

/// The message `sim check` and `sim run` both fail with (exit code 1, no panic) on `file`,
/// checked free of Rust words.
fn refused(file: &Path) -> String {
    let check = run_fails(&["check", path_str(file)], 1);
    let out = file.with_extension("out");
    let run = run_fails(&["run", path_str(file), "--out", path_str(&out)], 1);
    assert_eq!(check, run, "check and run word the error alike");
    for word in RUST_WORDS {
        assert!(!check.contains(word), "{word:?} in: {check}");
    }
    check
}

/// Asserts that the message names `file` at `line`, the field `field`, and holds each of
/// `says`.
fn assert_names(message: &str, file: &Path, line: usize, field: &str, says: &[&str]) {
    let at = format!("{}:{line}:", file.display());
    assert!(message.contains(&at), "no {at:?} in: {message}");
    let field = format!("field `{field}`");
    assert!(message.contains(&field), "no {field:?} in: {message}");
    for s in says {
        assert!(message.contains(s), "no {s:?} in: {message}");
    }
}

/// Asserts that the experiment with `extra` appended is refused naming its file at `extra`'s
/// second line (the setting under its section), the field `field`, and each of `says`.
fn assert_refused(extra: &str, field: &str, says: &[&str]) {
    let (text, line) = experiment(extra);
    let (_dir, file) = write(&[("e.yaml", &text)]);
    assert_names(&refused(&file), &file, line + 1, field, says);
}

#[test]
fn a_bare_value_for_a_family_with_parameters_shows_the_mapping_to_write() {
    assert_refused(
        "platform:\n  cold_start: { exponential: 5s }\n",
        "platform.cold_start.exponential",
        &["expected {mean: …}", "got \"5s\"", "write {mean: 5s}"],
    );
}

#[test]
fn users_of_the_wrong_shape_say_what_users_takes() {
    assert_refused(
        "workload:\n  users: [10, 20]\n",
        "workload.users",
        &[
            "expected a number of users (e.g. 50), or a ramp {from, to, over}",
            "got a list",
        ],
    );
    assert_refused(
        "workload:\n  users: { from: 10, too: 20, over: 5m }\n",
        "workload.users.too",
        &["unknown field `too` (did you mean `to`?)"],
    );
}

/// A field missing in a file the experiment extends is reported in that file, at the mapping
/// that lacks it, even when the experiment overrides another key of the same mapping.
#[test]
fn a_missing_field_is_reported_in_the_file_that_lacks_it() {
    let child = "workload:\n  kind: open\n  arrivals:\n    stages:\n      - at: 0s\n        per_second: 1\n      - at: 5m\n";
    let plan = Path::new(MANIFEST_DIR).join("models/ai4joy-plan.yaml");
    let parent = format!(
        "name: nested\nextends: [{}, child.yaml]\nhorizon: 10m\nwarmup: 0s\nreplications: 1\n\
         seed: 1\nsample_interval: 30s\n",
        plan.display()
    );
    let (dir, _) = write(&[("parent.yaml", &parent), ("child.yaml", child)]);
    let message = refused(&dir.path().join("parent.yaml"));
    assert_names(
        &message,
        &dir.path().join("child.yaml"),
        7,
        "workload.arrivals.stages[1].per_second",
        &["required field `per_second` is missing from `workload.arrivals.stages[1]`"],
    );

    let child = "platform:\n  autoscaler:\n    cloud_run:\n      cpu_target: 60%\n      window: 1m\n      interval: 15s\n";
    let parent = format!(
        "name: nested\nextends: [{}, child.yaml]\nhorizon: 10m\nwarmup: 0s\nreplications: 1\n\
         seed: 1\nsample_interval: 30s\nplatform:\n  autoscaler:\n    cloud_run:\n      interval: 30s\n",
        plan.display()
    );
    let (dir, _) = write(&[("parent.yaml", &parent), ("child.yaml", child)]);
    let message = refused(&dir.path().join("parent.yaml"));
    assert!(
        message.contains(&format!("{}:3:", dir.path().join("child.yaml").display())),
        "blames the child's `cloud_run:` line: {message}"
    );
    assert!(
        message.contains("is missing from `platform.autoscaler.cloud_run`"),
        "{message}"
    );
}

#[test]
fn a_duration_given_for_the_deadline_rule_suggests_the_fixed_rule() {
    assert_refused(
        "platform:\n  pending_deadline: 10s\n",
        "platform.pending_deadline",
        &[
            "`10s` is not a choice here",
            "write {fixed: 10s}",
            "`fixed`, `startup_multiple`",
        ],
    );
}

#[test]
fn a_misspelt_name_gets_the_closest_known_one() {
    assert_refused(
        "platform:\n  max_concurency: 10\n",
        "platform.max_concurency",
        &["unknown field `max_concurency` (did you mean `max_concurrency`?)"],
    );
    assert_refused(
        "workload:\n  kind: closd\n",
        "workload.kind",
        &["`closd` is not a choice here (did you mean `closed`?)"],
    );
    // A misspelt family over the one a parent names is the child's error, on its line.
    assert_refused(
        "platform:\n  cold_start: { lognormel: { median: 1s, p95: 2s } }\n",
        "platform.cold_start.lognormel",
        &["not a distribution family here (did you mean `lognormal`?)"],
    );
    // Likewise a misspelt choice of policy over the plan's `threshold:`.
    assert_refused(
        "platform:\n  autoscaler: { treshold: { interval: 15s } }\n",
        "platform.autoscaler.treshold",
        &["`treshold` is not a choice here (did you mean `threshold`?)"],
    );
}

#[test]
fn bad_units_and_negative_values_say_what_the_field_takes() {
    for (extra, field, says) in [
        (
            "platform:\n  max_instances: -3\n",
            "platform.max_instances",
            "expected a whole number (0 or more), got -3",
        ),
        (
            "platform:\n  vcpu: one\n",
            "platform.vcpu",
            "expected a number, got \"one\"",
        ),
        (
            "platform:\n  cold_start: 5 parsecs\n",
            "platform.cold_start",
            "invalid duration \"5 parsecs\"",
        ),
        (
            "platform:\n  cold_start: -5s\n",
            "platform.cold_start",
            "a duration cannot be negative",
        ),
        (
            "workload:\n  spawn_rate: 2/fortnight\n",
            "workload.spawn_rate",
            "after \"/\" comes a unit of time",
        ),
        (
            "workload:\n  spawn_rate: -2/s\n",
            "workload.spawn_rate",
            "must be greater than 0 (got -2)",
        ),
    ] {
        assert_refused(extra, field, &[says]);
    }
}

/// Every rate field takes a unit of time; `sim check` prints the rate per second.
#[test]
fn rates_are_accepted_with_their_unit_of_time() {
    for (written, per_second) in [
        ("2", "2.0"),
        ("2/s", "2.0"),
        ("120/min", "2.0"),
        ("50/60", "0.8333333333333334"),
        ("3/h", "0.0008333333333333334"),
        ("86400/day", "1.0"),
    ] {
        let text = open_experiment(&format!("{{ per_second: {written} }}"));
        let (_dir, file) = write(&[("e.yaml", &text)]);
        let out = run_ok(&["check", path_str(&file)]);
        let shown = format!("per_second: {per_second}\n");
        assert!(out.contains(&shown), "{written}: no {shown:?} in:\n{out}");
    }
    let text = open_experiment("{ piecewise: [[0s, 60/min], [5m, 7200/h]] }");
    let (_dir, file) = write(&[("e.yaml", &text)]);
    let out = run_ok(&["check", path_str(&file)]);
    assert!(out.contains("- 1.0\n") && out.contains("- 2.0\n"), "{out}");
    let text = open_experiment("{ stages: [{ at: 0s, per_second: 30/min }] }");
    let (_dir, file) = write(&[("e.yaml", &text)]);
    assert!(run_ok(&["check", path_str(&file)]).contains("per_second: 0.5\n"));
    let (text, _) = experiment("workload:\n  spawn_rate: 120/min\n");
    let (_dir, file) = write(&[("e.yaml", &text)]);
    assert!(run_ok(&["check", path_str(&file)]).contains("spawn_rate: 2.0\n"));
    let (text, _) =
        experiment("workload:\n  users: null\n  stages: [{ at: 0s, users: 10, rate: 30/min }]\n");
    let (_dir, file) = write(&[("e.yaml", &text)]);
    assert!(run_ok(&["check", path_str(&file)]).contains("rate: 0.5\n"));
}

/// A walk over bad inputs of every kind: each is refused cleanly, names its file and field,
/// and uses no Rust word.
#[test]
fn no_message_shows_a_rust_type_name() {
    let bad = [
        "platform:\n  cold_start: { exponential: 5s }\n",
        "platform:\n  cold_start: { normal: 5s }\n",
        "platform:\n  cold_start: { gamma: [1, 2] }\n",
        "platform:\n  cold_start: { pareto: 3 }\n",
        "platform:\n  cold_start: { shifted: 1s }\n",
        "platform:\n  cold_start: { lognormal: 1s }\n",
        "platform:\n  cold_start: { empirical: 1s }\n",
        "platform:\n  cold_start: { mixture: [1s] }\n",
        "platform:\n  cold_start: { uniform: 1s }\n",
        "platform:\n  cold_start: { discrete: [1s] }\n",
        "platform:\n  cold_start: [1s]\n",
        "platform:\n  autoscaler: 5\n",
        "platform:\n  autoscaler: { threshold: 5 }\n",
        "platform:\n  autoscaler: { treshold: {} }\n",
        "platform:\n  prices: 3\n",
        "platform:\n  routing: 3\n",
        "platform:\n  pending_deadline: { startup_multiple: 3 }\n",
        "platform:\n  max_instances: 2.5\n",
        "platform:\n  max_instances: lots\n",
        "platform:\n  memory: 2\n",
        "workload:\n  users: lots\n",
        "workload:\n  users: -4\n",
        "workload:\n  users: { from: ten, to: 20, over: 5m }\n",
        "workload:\n  users: { from: 10, to: 20, over: null }\n",
        "workload:\n  tasks: 3\n",
        "workload:\n  tasks: [3]\n",
        "workload:\n  arrivals: 3\n",
        "workload:\n  spawn_rate: [1]\n",
        "workload:\n  iterations: -1\n",
        "app:\n  turns: many\n",
        "app:\n  requests: { turn: 3 }\n",
        "app:\n  context: { compaction: 4000 }\n",
        "llm:\n  models: { x: 3 }\n",
        "precision: lots\n",
        "precision: { target: 5% }\n",
        "theory: 3\n",
        "warmup: soon\n",
        "slo: { turn_p95: 3 }\n",
        "slo: { error_rate: lots }\n",
    ];
    for extra in bad {
        let (text, _) = experiment(extra);
        let (_dir, file) = write(&[("e.yaml", &text)]);
        let message = refused(&file);
        assert!(
            message.contains(&file.display().to_string()) && message.contains("field `"),
            "{extra}: {message}"
        );
    }
    for arrivals in ["lots", "{ per_second: [1] }", "{ piecewise: [[0s, fast]] }"] {
        let (_dir, file) = write(&[("e.yaml", &open_experiment(arrivals))]);
        refused(&file);
    }
}
