//! Nonsense and hostile inputs are refused with a message naming the file and field, never
//! run, silently ignored or waited on (issue 7, items 6 and 7).

use super::*;

/// Loads `x.yaml`, which sets `extra` over a `small_experiment`, and returns the error text.
fn refused(extra: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    small_experiment(dir.path(), "base.yaml", "x", "");
    let path = write(
        dir.path(),
        "x.yaml",
        &format!("extends: base.yaml\n{extra}"),
    );
    load_all(&path).map(|_| ()).expect_err(extra).to_string()
}

#[test]
fn nan_and_infinity_are_refused_naming_the_field() {
    for (extra, field, got) in [
        ("platform:\n  vcpu: .nan\n", "platform.vcpu", ".nan"),
        (
            "app:\n  rate_limits:\n    sessions_per_day: .inf\n",
            "app.rate_limits.sessions_per_day",
            ".inf",
        ),
        (
            "workload:\n  tasks: [{kind: full_session, weight: -.inf}]\n",
            "workload.tasks[0].weight",
            "-.inf",
        ),
    ] {
        let err = refused(extra);
        assert!(
            err.contains("x.yaml")
                && err.contains(&format!("field `{field}`"))
                && err.contains(&format!("must be a finite number (got {got})")),
            "{extra}: {err}"
        );
    }
}

#[test]
fn out_of_range_settings_are_refused() {
    for (extra, field) in [
        ("workload:\n  users: 0\n", "workload.users"),
        (
            "workload:\n  users: {from: 0, to: 0, over: 1m}\n",
            "workload.users.to",
        ),
        (
            "platform:\n  pending_deadline: {startup_multiple: {multiplier: -3.5, floor: 10s}}\n",
            "platform.pending_deadline.startup_multiple.multiplier",
        ),
    ] {
        let err = refused(extra);
        assert!(err.contains(&format!("field `{field}`")), "{extra}: {err}");
    }
}

#[test]
fn diurnal_weights_that_overflow_the_rate_are_refused() {
    let mut weights = vec!["1".to_string(); 24];
    weights[12] = "1e308".into();
    let err = refused(&format!(
        "workload:\n  kind: open\n  users: null\n  think_time: null\n  tasks: null\n  arrivals: {{per_day: {{sessions: 500, diurnal: [{}]}}}}\n",
        weights.join(", ")
    ));
    assert!(
        err.contains("field `workload.arrivals.per_day.diurnal`") && err.contains("finite"),
        "{err}"
    );
}

#[test]
fn duplicate_variant_names_are_refused() {
    let err = refused("variants:\n  - {name: a, seed: 2}\n  - {name: a, seed: 3}\n");
    assert!(
        err.contains("field `variants`") && err.contains("two variants are named `a`"),
        "{err}"
    );
}

#[test]
fn files_over_the_size_limit_are_refused_before_reading() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = "# padding\n".repeat(MAX_FILE_BYTES as usize / 10 + 1);
    let path = write(dir.path(), "big.yaml", &format!("name: big\n{big}"));
    let err = load(&path).expect_err("too big").to_string();
    assert!(
        err.contains("big.yaml") && err.contains("at most 1048576 bytes"),
        "{err}"
    );
}

#[test]
fn a_parent_over_the_size_limit_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = "# padding\n".repeat(MAX_FILE_BYTES as usize / 10 + 1);
    write(dir.path(), "parent.yaml", &big);
    let path = write(dir.path(), "child.yaml", "name: x\nextends: parent.yaml\n");
    let err = load(&path).expect_err("too big").to_string();
    assert!(
        err.contains("parent.yaml") && err.contains("at most"),
        "{err}"
    );
}

#[test]
fn a_fifo_or_folder_is_refused_instead_of_blocking() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("pipe.yaml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    for path in [fifo, dir.path().to_path_buf()] {
        let (tx, rx) = std::sync::mpsc::channel();
        let p = path.clone();
        std::thread::spawn(move || tx.send(load(&p).map(|_| ()).map_err(|e| e.to_string())));
        let err = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("{} blocked", path.display()))
            .expect_err("not a regular file");
        assert!(err.contains("not a regular file"), "{err}");
    }
}

#[test]
fn zero_think_time_after_an_immediate_refusal_is_a_modelling_error() {
    let err =
        refused("workload:\n  think_time: 0s\napp:\n  rate_limits:\n    sessions_per_day: 1\n");
    assert!(
        err.contains("field `workload.think_time`")
            && err.contains("app.rate_limits")
            && err.contains("forever"),
        "{err}"
    );
    // A think time that is only sometimes zero lets the clock move on.
    let dir = tempfile::tempdir().expect("tempdir");
    let ok = small_experiment(dir.path(), "z.yaml", "z", "");
    let text = std::fs::read_to_string(&ok).expect("read").replace(
        "think_time: 1s",
        "think_time: { exponential: { mean: 1s } }",
    );
    std::fs::write(&ok, text).expect("write");
    assert!(load(&ok).is_ok());
}

#[test]
fn a_list_where_a_section_of_settings_belongs_is_refused() {
    for (extra, section, got) in [
        ("slo: []\n", "slo", "a list"),
        ("platform: 3\n", "platform", "a number"),
        ("app: true\n", "app", "a boolean"),
    ] {
        let err = refused(extra);
        assert!(
            err.contains(&format!("field `{section}`"))
                && err.contains(&format!("must be a mapping of settings (got {got})")),
            "{extra}: {err}"
        );
    }
}

#[test]
fn a_horizon_too_short_to_hold_a_request_is_refused() {
    for horizon in ["1ns", "999ms"] {
        let err = refused(&format!("horizon: {horizon}\nwarmup: 0s\n"));
        assert!(
            err.contains("field `horizon`") && err.contains("at least 1 s"),
            "{horizon}: {err}"
        );
    }
}

#[test]
fn deeply_nested_brackets_are_refused_before_parsing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let deep = "[".repeat(100_000) + &"]".repeat(100_000);
    let path = write(
        dir.path(),
        "deep.yaml",
        &format!("name: x\nplatform: {deep}\n"),
    );
    let err = load_all(&path)
        .map(|_| ())
        .expect_err("refused")
        .to_string();
    assert!(
        err.contains("deep.yaml:2") && err.contains("brackets nest deeper than 64 levels"),
        "{err}"
    );
    // The message is the guard's, not the parser's: the parser never saw the text.
    let set = Overlay::parse_set(&format!("platform.vcpu={deep}")).expect_err("refused");
    assert!(set.contains("deeper than 64 levels"), "{set}");
}
