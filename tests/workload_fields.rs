//! Every workload field the parser accepts acts: the test reads the fields documented in the
//! `workload` section of `docs/experiment-files.md` (the tables whose first column is `Field`)
//! and, for each one, runs a small experiment without and with it and insists that the
//! simulated outcome (summary minus its echo of the inputs, and the time series) changes, or
//! that setting it is refused with an error naming it. A documented field with no case here,
//! or a case for a field the document does not list, fails the test too.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use capsim::config;
use capsim::runner;

const LAB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/queueing-lab.yaml");

/// A closed workload on the lab: users playing 5-turn sessions, 2 s apart.
const CLOSED: &[(&str, &str)] = &[
    ("kind", "closed"),
    ("arrivals", "null"),
    ("session", "null"),
    ("think_time", "2s"),
    ("tasks", "[{ kind: full_session, weight: 1 }]"),
];
/// The lab's own open workload: bare turns at 0.5 per second.
const OPEN: &[(&str, &str)] = &[
    ("kind", "open"),
    ("session", "bare_turn"),
    ("arrivals", "{ per_second: 0.5 }"),
];

/// What setting a field must do.
enum Expect {
    /// The outcome differs from the run without it.
    Acts,
    /// Loading fails with an error that names this field path.
    Refused(&'static str),
}

/// One documented field: the workload without it, the workload with it, and what must happen.
struct Case {
    field: &'static str,
    /// Platform settings of both runs (a YAML line, or nothing).
    platform: &'static str,
    without: String,
    with: String,
    expect: Expect,
}

/// A workload mapping: `base` with the `key: value` entries of `extra` (comma-separated at the
/// top level) put on top.
fn workload(base: &[(&str, &str)], extra: &str) -> String {
    let mut entries: Vec<(String, String)> = base
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut depth = 0;
    let mut start = 0;
    let mut items = Vec::new();
    for (i, c) in extra.char_indices() {
        match c {
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&extra[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&extra[start..]);
    for item in items.into_iter().filter(|i| !i.trim().is_empty()) {
        let (k, v) = item.split_once(':').expect("key: value");
        let (k, v) = (k.trim().to_string(), v.trim().to_string());
        match entries.iter_mut().find(|(key, _)| *key == k) {
            Some(entry) => entry.1 = v,
            None => entries.push((k, v)),
        }
    }
    let body: Vec<String> = entries.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    format!("{{ {} }}", body.join(", "))
}

fn closed(extra: &str) -> String {
    workload(CLOSED, extra)
}

fn open(extra: &str) -> String {
    workload(OPEN, extra)
}

fn acts(field: &'static str, without: String, with: String) -> Case {
    Case {
        field,
        platform: "",
        without,
        with,
        expect: Expect::Acts,
    }
}

fn refused(field: &'static str, path: &'static str, with: String) -> Case {
    Case {
        field,
        platform: "",
        without: closed("users: 4"),
        with,
        expect: Expect::Refused(path),
    }
}

/// Two stages that drop from 4 users to 1 at 300 s.
const DROP: &str = "stages: [{ at: 0s, users: 4 }, { at: 300s, users: 1 }]";

fn cases() -> Vec<Case> {
    vec![
        acts("users", closed("users: 4"), closed("users: 8")),
        acts(
            "users.start",
            closed("users: { from: 2, to: 4, over: 60s }"),
            closed("users: { from: 2, to: 4, over: 60s, start: 120s }"),
        ),
        acts("stages", closed("users: 4"), closed(DROP)),
        acts(
            "stages[].at",
            closed(DROP),
            closed("stages: [{ at: 0s, users: 4 }, { at: 400s, users: 1 }]"),
        ),
        acts(
            "stages[].users",
            closed(DROP),
            closed("stages: [{ at: 0s, users: 4 }, { at: 300s, users: 2 }]"),
        ),
        acts(
            "stages[].rate",
            closed(DROP),
            closed("stages: [{ at: 0s, users: 4, rate: 0.02 }, { at: 300s, users: 1 }]"),
        ),
        acts(
            "stop",
            closed(&format!("{DROP}, turn_think_time: 5s")),
            closed(&format!("{DROP}, turn_think_time: 5s, stop: after_request")),
        ),
        acts(
            "spawn_rate",
            closed("users: 4"),
            closed("users: 4, spawn_rate: 0.02"),
        ),
        acts(
            "think_time",
            closed("users: 4"),
            closed("users: 4, think_time: 20s"),
        ),
        acts(
            "turn_think_time",
            closed("users: 4"),
            closed("users: 4, turn_think_time: 1s"),
        ),
        acts(
            "tasks",
            closed("users: 4"),
            closed("users: 4, tasks: [{ kind: single_turn, weight: 1 }]"),
        ),
        acts(
            "iterations",
            closed("users: 4"),
            closed("users: 4, iterations: 1"),
        ),
        // Without a pending queue a request that finds the one slot taken fails, so there
        // are errors to act on.
        Case {
            platform: "platform: { pending_deadline: { fixed: 0s } }\n",
            ..acts(
                "on_error",
                closed("users: 4, turn_think_time: 1s"),
                closed("users: 4, turn_think_time: 1s, on_error: skip"),
            )
        },
        acts("arrivals", open(""), open("arrivals: { per_second: 0.8 }")),
        acts(
            "arrivals.stages[].at",
            open("arrivals: { stages: [{ at: 0s, per_second: 0.5 }] }"),
            open("arrivals: { stages: [{ at: 100s, per_second: 0.5 }] }"),
        ),
        acts(
            "arrivals.stages[].per_second",
            open("arrivals: { stages: [{ at: 0s, per_second: 0.5 }] }"),
            open("arrivals: { stages: [{ at: 0s, per_second: 0.8 }] }"),
        ),
        acts(
            "arrivals.stages[].over",
            open("arrivals: { stages: [{ at: 0s, per_second: 0.5 }] }"),
            open("arrivals: { stages: [{ at: 0s, per_second: 0.5, over: 200s }] }"),
        ),
        // Identities matter only where a per-user limit counts them.
        acts(
            "population",
            open("session: session_no_welcome"),
            open("session: session_no_welcome, population: 3"),
        ),
        acts("session", open(""), open("session: single_turn")),
    ]
}

/// Fields of one kind set on the other are refused, not ignored.
fn refusals() -> Vec<Case> {
    vec![
        refused(
            "arrivals",
            "workload.arrivals",
            closed("users: 4, arrivals: { per_second: 1 }"),
        ),
        refused(
            "population",
            "workload.population",
            closed("users: 4, population: 3"),
        ),
        refused(
            "session",
            "workload.session",
            closed("users: 4, session: bare_turn"),
        ),
        refused("users", "workload.users", open("users: 4")),
        refused(
            "stages",
            "workload.stages",
            open("stages: [{ at: 0s, users: 1 }]"),
        ),
        refused(
            "stop",
            "workload.stop",
            closed("users: 4, stop: after_request"),
        ),
        refused("spawn_rate", "workload.spawn_rate", open("spawn_rate: 1")),
        refused("think_time", "workload.think_time", open("think_time: 1s")),
        refused(
            "tasks",
            "workload.tasks",
            open("tasks: [{ kind: bare_turn, weight: 1 }]"),
        ),
        refused("iterations", "workload.iterations", open("iterations: 1")),
        refused("on_error", "workload.on_error", open("on_error: retry")),
        refused(
            "users.start",
            "workload.users.begin",
            closed("users: { from: 1, to: 2, over: 1m, begin: 5m }"),
        ),
    ]
}

/// The experiment around a workload: the lab, 5-turn sessions, limits that make identities
/// count, 600 s, one replication, and `platform` (a YAML line, or nothing).
fn experiment(workload: &str, platform: &str) -> String {
    format!(
        "extends: {LAB:?}\nname: fields\napp: {{ turns: 5, rate_limits: {{ concurrent_sessions: 1 }} }}\n{platform}workload: {workload}\nwarmup: 0s\nhorizon: 600s\nreplications: 1\n"
    )
}

/// The simulated outcome of a workload (the summary without its inputs, the time series),
/// or the load error.
fn outcome(workload: &str, platform: &str) -> Result<String, String> {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("fields.yaml");
    fs::write(&path, experiment(workload, platform)).expect("experiment written");
    let loaded = config::load(&path).map_err(|e| e.to_string())?;
    let out = runner::run(&loaded.experiment, false).map_err(|e| e.to_string())?;
    let mut summary = serde_json::to_value(&out.summary).expect("summary serialises");
    summary
        .as_object_mut()
        .expect("summary is a mapping")
        .remove("inputs");
    let series = serde_json::to_string(&out.timeseries).expect("series serialises");
    Ok(format!("{summary}\n{series}"))
}

/// The field paths in the tables of the `workload` section whose first column is `Field`.
fn documented_fields() -> BTreeSet<String> {
    let doc =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/experiment-files.md"))
            .expect("docs/experiment-files.md");
    let section = doc
        .split("\n## ")
        .find(|s| s.starts_with("9. `workload`"))
        .expect("a `## 9. `workload`` section");
    let mut fields = BTreeSet::new();
    let mut in_fields_table = false;
    for line in section.lines() {
        if line.starts_with("| Field |") {
            in_fields_table = true;
        } else if !line.starts_with('|') {
            in_fields_table = false;
        } else if in_fields_table
            && let Some(name) = line.split('|').nth(1).map(str::trim)
            && let Some(name) = name.strip_prefix('`').and_then(|n| n.strip_suffix('`'))
        {
            fields.insert(name.to_string());
        }
    }
    fields
}

#[test]
fn every_documented_workload_field_has_a_case() {
    let documented = documented_fields();
    let covered: BTreeSet<String> = cases().iter().map(|c| c.field.to_string()).collect();
    assert!(
        documented.len() >= 12,
        "too few fields read: {documented:?}"
    );
    assert_eq!(documented, covered, "documented fields vs. cases");
}

#[test]
fn every_documented_workload_field_acts_or_is_refused() {
    let mut ignored = Vec::new();
    for case in cases().into_iter().chain(refusals()) {
        let without = outcome(&case.without, case.platform)
            .unwrap_or_else(|e| panic!("{}: the run without it fails: {e}", case.field));
        match (&case.expect, outcome(&case.with, case.platform)) {
            (Expect::Acts, Ok(with)) if with != without => {}
            (Expect::Acts, Ok(_)) => ignored.push(format!("{}: no effect", case.field)),
            (Expect::Acts, Err(e)) => ignored.push(format!("{}: refused: {e}", case.field)),
            (Expect::Refused(path), Err(e)) if e.contains(&format!("`{path}`")) => {}
            (Expect::Refused(path), other) => ignored.push(format!(
                "{}: expected a refusal naming {path}, got {other:?}",
                case.field
            )),
        }
    }
    assert!(
        ignored.is_empty(),
        "fields that do not act:\n{}",
        ignored.join("\n")
    );
}
