use std::io::Write;
use std::path::{Path, PathBuf};

use super::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).expect("create");
    f.write_all(text.as_bytes()).expect("write");
    path
}

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

#[test]
fn shipped_experiments_load() {
    for rel in [
        "experiments/phase1.yaml",
        "experiments/phase2.yaml",
        "experiments/phase3.yaml",
        "experiments/phase2-deployed.yaml",
    ] {
        let loaded = load(&repo_file(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert!(!loaded.provenance.is_empty());
    }
    let daily = load_all(&repo_file("experiments/daily-cost.yaml")).expect("daily-cost");
    let names: Vec<_> = daily.iter().map(|l| l.experiment.name.clone()).collect();
    assert_eq!(
        names,
        ["daily-cost-100", "daily-cost-500", "daily-cost-1000"]
    );
    match &daily[0].experiment.workload.arrivals {
        Some(Arrivals::PerDay { sessions, diurnal }) => {
            assert_eq!(*sessions, 100.0);
            assert_eq!(
                diurnal.as_ref().map(Vec::len),
                Some(24),
                "overlay keeps the diurnal curve"
            );
        }
        other => panic!("unexpected arrivals {other:?}"),
    }
}

#[test]
fn child_overrides_parent_and_provenance_follows() {
    let plan = load(&repo_file("experiments/phase2.yaml")).expect("phase2");
    let e = &plan.experiment;
    assert_eq!(e.platform.max_concurrency, 10);
    assert!(matches!(
        e.platform.autoscaler,
        AutoscalerSpec::Threshold(_)
    ));
    let src = |k: &str| {
        plan.provenance
            .get(k)
            .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
    };
    assert_eq!(
        src("platform.max_concurrency").as_deref(),
        Some("ai4joy-plan.yaml")
    );
    assert_eq!(
        src("platform.prices.granularity").as_deref(),
        Some("cloud-run.yaml")
    );
    assert_eq!(src("horizon").as_deref(), Some("phase2.yaml"));
}

#[test]
fn switching_a_distribution_family_replaces_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "base.yaml",
        "platform:\n  cold_start: { lognormal: { median: 4s, p95: 12s } }\n",
    );
    let mut base = load_merged(
        &dir.path().join("base.yaml"),
        &mut BTreeMap::new(),
        &mut Vec::new(),
        0,
    )
    .unwrap();
    let top: Value =
        serde_yaml::from_str("platform:\n  cold_start: { uniform: [1s, 2s] }\n").unwrap();
    merge(&mut base, top);
    let cs = &base["platform"]["cold_start"];
    assert!(cs.get("lognormal").is_none() && cs.get("uniform").is_some());
    // Struct fields with one key each still merge.
    let mut turn: Value = serde_yaml::from_str("turn: { steps: [] }\n").unwrap();
    merge(
        &mut turn,
        serde_yaml::from_str("turn: { timeout: 2s }\n").unwrap(),
    );
    assert!(turn["turn"].get("steps").is_some() && turn["turn"].get("timeout").is_some());
}

#[test]
fn errors_name_file_field_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let models = repo_file("models/ai4joy-plan.yaml");
    let text = format!(
        "name: broken\nextends: {}\nworkload:\n  kind: closed\n  users: 10\n  think_time: 1s\n  tasks: [{{kind: full_session, weight: 1}}]\nhorizon: 10m\nwarmup: 1m\nreplications: 2\nseed: 1\nsample_interval: 10s\nplatform:\n  max_concurrency: lots\n",
        models.display()
    );
    let path = write(dir.path(), "broken.yaml", &text);
    let err = load(&path).expect_err("must fail").to_string();
    assert!(err.contains("broken.yaml:14"), "{err}");
    assert!(err.contains("platform.max_concurrency"), "{err}");

    let unknown = text.replace("max_concurrency: lots", "max_concurency: 10");
    let path = write(dir.path(), "unknown.yaml", &unknown);
    let err = load(&path).expect_err("must fail").to_string();
    assert!(err.contains("unknown field `max_concurency`"), "{err}");
    assert!(err.contains("unknown.yaml:14"), "{err}");

    let no_unit = text.replace("max_concurrency: lots", "max_concurrency: 10\nhorizon: 600");
    let path = write(dir.path(), "nounit.yaml", &no_unit);
    let err = load(&path).expect_err("must fail").to_string();
    assert!(
        err.contains("YAML syntax error") || err.contains("unit"),
        "{err}"
    );
}

#[test]
fn semantic_errors_point_at_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let models = repo_file("models/ai4joy-plan.yaml");
    let text = format!(
        "name: bad-min\nextends: {}\nworkload:\n  kind: closed\n  users: 10\n  think_time: 1s\n  tasks: [{{kind: full_session, weight: 1}}]\nhorizon: 10m\nwarmup: 1m\nreplications: 2\nseed: 1\nsample_interval: 10s\nplatform:\n  min_instances: 20\n",
        models.display()
    );
    let path = write(dir.path(), "badmin.yaml", &text);
    let err = load(&path).expect_err("must fail").to_string();
    assert!(
        err.contains("platform.min_instances") && err.contains("badmin.yaml:14"),
        "{err}"
    );

    let unknown_model = text
        .replace("platform:\n  min_instances: 20\n", "")
        .replace("name: bad-min", "name: bad-model\napp:\n  requests:\n    close:\n      steps:\n        - llm: {agent: x, model: gpt-9, calls: 1, prompt_tokens: 10, include_history: false, output_tokens: 5}");
    let path = write(dir.path(), "badmodel.yaml", &unknown_model);
    let err = load(&path).expect_err("must fail").to_string();
    assert!(err.contains("unknown model `gpt-9`"), "{err}");
}

#[test]
fn syntax_errors_give_the_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "syntax.yaml", "name: x\nworkload: [unclosed\n");
    let err = load(&path).expect_err("must fail").to_string();
    assert!(
        err.contains("syntax.yaml:") && err.contains("YAML syntax error"),
        "{err}"
    );
    let missing = load(&dir.path().join("nope.yaml"))
        .expect_err("must fail")
        .to_string();
    assert!(missing.contains("nope.yaml"), "{missing}");
}

fn small_experiment(dir: &Path, file: &str, name: &str, extra: &str) -> PathBuf {
    let models = repo_file("models/ai4joy-plan.yaml");
    let text = format!(
        "name: \"{name}\"\nextends: {}\nworkload:\n  kind: closed\n  users: 10\n  think_time: 1s\n  tasks: [{{kind: full_session, weight: 1}}]\nhorizon: 10m\nwarmup: 1m\nreplications: 2\nseed: 1\nsample_interval: 10s\n{extra}",
        models.display()
    );
    write(dir, file, &text)
}

#[test]
fn names_that_cannot_be_folders_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    for bad in ["", ".", "../escape", "a/b"] {
        let path = small_experiment(dir.path(), "n.yaml", bad, "");
        let err = load(&path).expect_err(bad).to_string();
        assert!(err.contains("field `name`"), "{bad:?}: {err}");
    }
    let ok = small_experiment(dir.path(), "ok.yaml", "phase-2_b.1", "");
    assert!(load(&ok).is_ok());
}

#[test]
fn too_many_time_series_buckets_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = small_experiment(dir.path(), "b.yaml", "b", "")
        .to_string_lossy()
        .to_string();
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("sample_interval: 10s", "sample_interval: 1ns");
    std::fs::write(&path, text).unwrap();
    let err = load(Path::new(&path)).expect_err("too fine").to_string();
    assert!(
        err.contains("sample_interval") && err.contains("buckets"),
        "{err}"
    );
}

#[test]
fn duplicate_keys_point_at_the_repeat() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(
        dir.path(),
        "dup.yaml",
        "name: x\nhorizon: 1m\nseed: 1\nhorizon: 2m\n",
    );
    let err = load(&path).expect_err("duplicate").to_string();
    assert!(err.contains("dup.yaml:4"), "{err}");
}

#[test]
fn a_missing_parent_names_the_file_that_extends_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "child.yaml", "name: x\nextends: nowhere.yaml\n");
    let err = load(&path).expect_err("missing parent").to_string();
    assert!(
        err.contains("child.yaml:2") && err.contains("nowhere.yaml"),
        "{err}"
    );
}

#[test]
fn warmup_takes_auto_or_a_duration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let auto = small_experiment(dir.path(), "auto.yaml", "auto", "")
        .to_string_lossy()
        .to_string();
    let text = std::fs::read_to_string(&auto)
        .unwrap()
        .replace("warmup: 1m", "warmup: auto");
    std::fs::write(&auto, &text).unwrap();
    assert_eq!(
        load(Path::new(&auto)).unwrap().experiment.warmup,
        Warmup::Auto
    );
    std::fs::write(&auto, text.replace("warmup: auto", "warmup: -1m")).unwrap();
    let err = load(Path::new(&auto)).expect_err("negative").to_string();
    assert!(
        err.contains("`auto` or a duration") && err.contains("warmup"),
        "{err}"
    );
}

/// The variant names an enum's deserializer accepts, read from its unknown-variant error
/// (`expected one of `a`, `b`` for derived enums, `expected one of a, b` for distributions).
fn variant_names<T: serde::de::DeserializeOwned>() -> Vec<String> {
    let err = serde_json::from_value::<T>(serde_json::json!({ "no_such_variant": null }))
        .err()
        .expect("an unknown variant is rejected")
        .to_string();
    let list = err
        .split("expected")
        .nth(1)
        .unwrap_or_else(|| panic!("no variant list in `{err}`"));
    list.trim_start_matches(" one of")
        .split([',', ' '])
        .map(|w| w.trim_matches(|c: char| c == '`' || c.is_whitespace()))
        .filter(|w| !w.is_empty() && *w != "or")
        .map(str::to_string)
        .collect()
}

#[test]
fn variant_tags_are_exactly_the_enums_variants() {
    let mut from_enums: Vec<String> = [
        variant_names::<crate::dist::DistSpec<crate::units::Seconds>>(),
        variant_names::<LlmLatency>(),
        variant_names::<PendingDeadline>(),
        variant_names::<AutoscalerSpec>(),
        variant_names::<Arrivals>(),
    ]
    .concat();
    from_enums.sort();
    from_enums.dedup();
    let mut tags: Vec<String> = VARIANT_TAGS.iter().map(|t| t.to_string()).collect();
    tags.sort();
    assert!(from_enums.len() > 15, "{from_enums:?}");
    assert_eq!(
        tags, from_enums,
        "VARIANT_TAGS must list every variant name"
    );
}

mod robustness;

/// The model each `llm` step of `e` runs on, in file order.
fn step_models(e: &Experiment) -> Vec<String> {
    fn walk<'a>(steps: &'a [Step], out: &mut Vec<&'a LlmStep>) {
        for s in steps {
            out.extend(&s.llm);
            for children in [&s.parallel, &s.sequence].into_iter().flatten() {
                walk(children, out);
            }
        }
    }
    let r = &e.app.requests;
    let mut steps = Vec::new();
    for kind in [&r.start, &r.welcome, &r.turn, &r.close] {
        walk(&kind.steps, &mut steps);
    }
    steps
        .iter()
        .map(|s| e.llm.model_of(s).unwrap_or("(none)").to_string())
        .collect()
}

#[test]
fn one_setting_switches_the_model_of_every_agent() {
    let set = |text: &str| Overlay::parse_set(text).expect("valid --set");
    // The plan's one Stage Manager call; the deployed app's welcome, turn and close agents; the
    // parallel Partner, Room and Coach of the optimisation study.
    for (file, steps) in [
        ("experiments/phase2.yaml", 1),
        ("experiments/phase2-deployed.yaml", 3),
        ("experiments/seed-optimizations.yaml", 6),
    ] {
        let path = repo_file(file);
        let models_of = |overlays: &[Overlay]| -> Vec<String> {
            load_all_with(&path, overlays)
                .expect("loads")
                .iter()
                .flat_map(|l| step_models(&l.experiment))
                .collect()
        };
        let before = models_of(&[]);
        assert!(
            before.len() >= steps && before.iter().all(|m| m == "gemini-2.0-flash"),
            "{file}: {before:?}"
        );
        let after = models_of(&[set("llm.default_model=gemini-2.5-flash")]);
        assert_eq!(after.len(), before.len());
        assert!(
            after.iter().all(|m| m == "gemini-2.5-flash"),
            "{file}: {after:?}"
        );
    }
}

#[test]
fn a_default_model_must_exist_and_a_step_must_have_one() {
    let path = repo_file("experiments/phase2.yaml");
    let set = |text: &str| Overlay::parse_set(text).expect("valid --set");
    let err = load_with(&path, &[set("llm.default_model=gemini-9")])
        .map(|_| ())
        .expect_err("unknown model")
        .to_string();
    assert!(
        err.contains("field `llm.default_model`") && err.contains("unknown model `gemini-9`"),
        "{err}"
    );
    let err = load_with(&path, &[set("llm.default_model=null")])
        .map(|_| ())
        .expect_err("no model")
        .to_string();
    assert!(
        err.contains(".llm.model`") && err.contains("llm.default_model is not set"),
        "{err}"
    );
}

#[test]
fn a_sweep_block_runs_one_variant_per_point() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = small_experiment(
        dir.path(),
        "s.yaml",
        "s",
        "sweep:\n  grid:\n    platform.max_concurrency: [5, 10]\n    llm.latency_scale: [1, 2]\n",
    );
    let all = load_all(&path).expect("a sweep loads");
    let got: Vec<(String, u32, f64)> = all
        .iter()
        .map(|l| {
            let e = &l.experiment;
            (
                e.name.clone(),
                e.platform.max_concurrency,
                e.llm.latency_scale,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("s-max_concurrency-5_latency_scale-1".to_string(), 5, 1.0),
            ("s-max_concurrency-5_latency_scale-2".to_string(), 5, 2.0),
            ("s-max_concurrency-10_latency_scale-1".to_string(), 10, 1.0),
            ("s-max_concurrency-10_latency_scale-2".to_string(), 10, 2.0),
        ]
    );
    // Each point's settings are sourced to the file that swept them.
    assert_eq!(all[0].provenance["platform.max_concurrency"], path);
}

#[test]
fn a_sweep_meets_the_checks_a_file_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unknown = small_experiment(
        dir.path(),
        "u.yaml",
        "u",
        "sweep:\n  grid:\n    platform.max_concurency: [5, 10]\n",
    );
    let err = load_all(&unknown)
        .map(|_| ())
        .expect_err("unknown field")
        .to_string();
    assert!(
        err.contains("max_concurency") && err.contains("u.yaml"),
        "{err}"
    );
    let bad = small_experiment(
        dir.path(),
        "b.yaml",
        "b",
        "sweep:\n  grid:\n    platform.max_concurrency: [5, 0]\n",
    );
    let err = load_all(&bad).map(|_| ()).expect_err("0 slots").to_string();
    assert!(err.contains("field `platform.max_concurrency`"), "{err}");
    let zip = small_experiment(
        dir.path(),
        "z.yaml",
        "z",
        "sweep:\n  zip:\n    platform.max_concurrency: [5, 10]\n    workload.users: [10]\n",
    );
    let err = load_all(&zip)
        .map(|_| ())
        .expect_err("unequal zip")
        .to_string();
    assert!(
        err.contains("z.yaml") && err.contains("field `sweep.zip.workload.users`"),
        "{err}"
    );
}

#[test]
fn variants_times_a_sweep_is_every_variant_at_every_point() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = small_experiment(
        dir.path(),
        "v.yaml",
        "v",
        "sweep:\n  grid:\n    workload.users: [10, 20]\nvariants:\n  - name: small\n    platform: { max_concurrency: 5 }\n  - name: big\n    platform: { max_concurrency: 40 }\n",
    );
    let got: Vec<(String, u32)> = load_all(&path)
        .expect("loads")
        .iter()
        .map(|l| {
            (
                l.experiment.name.clone(),
                l.experiment.platform.max_concurrency,
            )
        })
        .collect();
    let names: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "v-small-users-10",
            "v-small-users-20",
            "v-big-users-10",
            "v-big-users-20"
        ]
    );
    assert_eq!(got[3].1, 40);
}
