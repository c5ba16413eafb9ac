//! `sim sweep --shard` and `sim merge`: the shards of a sweep, merged in any order, give
//! byte for byte the files one machine writes; `--shard auto` reads Slurm's and Kubernetes'
//! environment; merging refuses what is not one whole sweep and names what is missing.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use common::{MANIFEST_DIR, path_str, run_fails, run_ok};

/// Five points of an M/M/4 queue, two replications each.
fn write_sweep(dir: &Path) -> PathBuf {
    let file = dir.join("study.yaml");
    fs::write(
        &file,
        format!(
            "extends: {MANIFEST_DIR}/experiments/validation/mmc-4-0.8.yaml\nname: study\n\
             horizon: 2000s\nwarmup: 200s\nreplications: 2\n\
             sweep: {{grid: {{workload.arrivals.per_second: [2.0, 2.4, 2.8, 3.0, 3.2]}}}}\n"
        ),
    )
    .unwrap();
    file
}

/// Every result file under `dir` with its bytes; the manifest, which names the invocation
/// that wrote the folder, is left out.
fn files_of(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if !path.ends_with(".capsim-result.json") {
                let name = path.strip_prefix(dir).unwrap().display().to_string();
                files.insert(name, fs::read(&path).unwrap());
            }
        }
    }
    files
}

fn shard(file: &Path, out: &Path, which: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "sweep",
        path_str(file),
        "--shard",
        which,
        "--out",
        path_str(out),
        "--quiet",
    ];
    args.extend_from_slice(extra);
    run_ok(&args)
}

#[test]
fn merged_shards_equal_one_machines_sweep_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let file = write_sweep(tmp.path());
    let single = tmp.path().join("single");
    run_ok(&[
        "sweep",
        path_str(&file),
        "--out",
        path_str(&single),
        "--quiet",
    ]);
    let shards: Vec<PathBuf> = (1..=3).map(|i| tmp.path().join(format!("s{i}"))).collect();
    for (i, dir) in shards.iter().enumerate() {
        let printed = shard(&file, dir, &format!("{}/3", i + 1), &["--threads", "1"]);
        let points = if i < 2 { 2 } else { 1 };
        assert!(
            printed.contains(&format!("Shard {}/3: {points} of 5 points", i + 1)),
            "{printed}"
        );
    }
    let merged = tmp.path().join("merged");
    run_ok(&[
        "merge",
        path_str(&shards[2]),
        path_str(&shards[0]),
        path_str(&shards[1]),
        "--out",
        path_str(&merged),
    ]);
    let (want, got) = (files_of(&single), files_of(&merged));
    assert!(want.contains_key("sweep.csv") && want.contains_key("sweep.json"));
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &want {
        assert!(got[name] == *bytes, "{name} differs after the merge");
    }
}

#[test]
fn shard_auto_reads_a_slurm_array_and_a_kubernetes_indexed_job() {
    let tmp = tempfile::tempdir().unwrap();
    let file = write_sweep(tmp.path());
    let given = tmp.path().join("given");
    shard(&file, &given, "2/2", &[]);
    let run_auto = |out: &Path, env: &[(&str, &str)]| {
        let mut cmd = common::sim();
        cmd.args([
            "sweep",
            path_str(&file),
            "--shard",
            "auto",
            "--out",
            path_str(out),
            "--quiet",
        ]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        common::succeeds(&mut cmd)
    };
    let slurm = tmp.path().join("slurm");
    run_auto(
        &slurm,
        &[
            ("SLURM_ARRAY_TASK_ID", "1"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_COUNT", "2"),
        ],
    );
    let k8s = tmp.path().join("k8s");
    run_auto(
        &k8s,
        &[("JOB_COMPLETION_INDEX", "1"), ("CAPSIM_SHARDS", "2")],
    );
    assert_eq!(files_of(&given), files_of(&slurm));
    assert_eq!(files_of(&given), files_of(&k8s));
    let manifest = fs::read_to_string(given.join("shard.json")).unwrap();
    assert!(
        manifest.contains("\"index\": 2") && manifest.contains("\"count\": 2"),
        "{manifest}"
    );
}

#[test]
fn merge_refuses_what_is_not_one_whole_sweep() {
    let tmp = tempfile::tempdir().unwrap();
    let file = write_sweep(tmp.path());
    let dir = |name: &str| tmp.path().join(name);
    shard(&file, &dir("a1"), "1/3", &[]);
    shard(&file, &dir("a2"), "2/3", &[]);
    shard(&file, &dir("b3"), "3/3", &["--seed", "7"]);
    let out = dir("out");
    let merge = |shards: &[&str]| {
        let mut args = vec!["merge"];
        let paths: Vec<PathBuf> = shards.iter().map(|s| dir(s)).collect();
        args.extend(paths.iter().map(|p| path_str(p)));
        args.extend(["--out", path_str(&out)]);
        run_fails(&args, 1)
    };
    let missing = merge(&["a1", "a2"]);
    assert!(missing.contains("missing: 3/3"), "{missing}");
    let twice = merge(&["a1", "a1", "a2"]);
    assert!(twice.contains("shard 1/3 is given twice"), "{twice}");
    let other_seed = merge(&["a1", "a2", "b3"]);
    assert!(
        other_seed.contains("b3 is a shard of another sweep") && other_seed.contains("seed 7"),
        "{other_seed}"
    );
    fs::create_dir(dir("plain")).unwrap();
    let plain = merge(&["a1", "plain"]);
    assert!(plain.contains("plain is not a shard folder"), "{plain}");
    let manifest = dir("a2").join("shard.json");
    let text = fs::read_to_string(&manifest).unwrap();
    fs::write(
        &manifest,
        text.replace(env!("CARGO_PKG_VERSION"), "0.0.0-other"),
    )
    .unwrap();
    let version = merge(&["a1", "a2"]);
    assert!(
        version.contains("was written by capsim 0.0.0-other"),
        "{version}"
    );
    assert!(!out.exists(), "a refused merge wrote {}", out.display());
}

#[test]
fn a_bad_shard_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let file = write_sweep(tmp.path());
    for bad in ["0/3", "4/3", "two"] {
        let err = run_fails(&["sweep", path_str(&file), "--shard", bad], 2);
        assert!(err.contains("--shard"), "{bad}: {err}");
    }
    let mut cmd = common::sim();
    cmd.args(["sweep", path_str(&file), "--shard", "auto"]);
    for var in ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"] {
        cmd.env_remove(var);
    }
    let no_scheduler = common::failed_cleanly("--shard auto", &cmd.output().unwrap(), 1);
    assert!(
        no_scheduler.contains("found no scheduler"),
        "{no_scheduler}"
    );
}

#[test]
fn the_kubernetes_jobs_agree_on_the_number_of_shards() {
    use serde::Deserialize;
    let text =
        fs::read_to_string(format!("{MANIFEST_DIR}/deploy/kubernetes/sweep-job.yaml")).unwrap();
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde_yaml::Value::deserialize(d).unwrap())
        .collect();
    assert_eq!(docs.len(), 2, "an Indexed Job and a merge Job");
    let env = |doc: &serde_yaml::Value, name: &str| -> String {
        let vars = &doc["spec"]["template"]["spec"]["containers"][0]["env"];
        let var = vars
            .as_sequence()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name);
        var.unwrap_or_else(|| panic!("no {name}"))["value"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let shards = &docs[0]["spec"];
    assert_eq!(shards["completionMode"], "Indexed");
    let completions = shards["completions"].as_u64().unwrap().to_string();
    assert_eq!(env(&docs[0], "CAPSIM_SHARDS"), completions);
    assert_eq!(env(&docs[1], "SHARDS"), completions);
    let args = |doc: &serde_yaml::Value| {
        doc["spec"]["template"]["spec"]["containers"][0]["args"][0]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(args(&docs[0]).contains("--shard auto"));
    assert!(args(&docs[1]).contains("sim merge"));
}
