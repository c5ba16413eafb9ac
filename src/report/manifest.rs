//! The manifest `.capsim-result.json` that marks a folder as a capsim result folder: which
//! capsim wrote it, for which experiment and seed, in which run, and which files it holds.
//! Only a folder with a readable manifest (or an empty one) may be replaced without `--force`;
//! the manifest is a separate file, so `summary.json` is unchanged by it.

use std::fs;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// File name of the manifest inside a result folder.
pub(super) const MANIFEST: &str = ".capsim-result.json";

/// A manifest larger than this is not one capsim wrote.
const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// What `.capsim-result.json` says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct Manifest {
    /// Version of the capsim that wrote the folder.
    pub(super) capsim_version: String,
    /// Experiment (or variant) name.
    pub(super) experiment: String,
    /// Master seed of the run.
    pub(super) seed: u64,
    /// The `sim run` invocation that wrote the folder; every variant folder of one run shares it.
    pub(super) run_id: String,
    /// The result files in the folder, the manifest excluded.
    pub(super) files: Vec<String>,
}

impl Manifest {
    /// The manifest of `dir`, or `None` when it has none that capsim could have written.
    pub(super) fn read(dir: &Path) -> Option<Manifest> {
        let path = dir.join(MANIFEST);
        let meta = fs::symlink_metadata(&path).ok()?;
        if !meta.is_file() || meta.len() > MAX_MANIFEST_BYTES {
            return None;
        }
        serde_json::from_slice(&fs::read(&path).ok()?).ok()
    }

    /// Writes the manifest into `dir`.
    pub(super) fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let path = dir.join(MANIFEST);
        let mut json = serde_json::to_string_pretty(self).context("serialising the manifest")?;
        json.push('\n');
        fs::write(&path, json).with_context(|| format!("could not write {}", path.display()))
    }
}

/// A fresh run id: the wall-clock time in nanoseconds and the process id, so ids sort by start
/// time and two processes never share one.
pub(super) fn new_run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:020}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            capsim_version: "0.1.0".into(),
            experiment: "phase2".into(),
            seed: 7,
            run_id: new_run_id(),
            files: vec!["summary.json".into()],
        }
    }

    #[test]
    fn round_trips_and_rejects_what_capsim_did_not_write() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(Manifest::read(tmp.path()), None);
        let m = sample();
        m.write(tmp.path()).unwrap();
        assert_eq!(Manifest::read(tmp.path()), Some(m));
        fs::write(tmp.path().join(MANIFEST), "{\"notes\": 1}").unwrap();
        assert_eq!(Manifest::read(tmp.path()), None);
    }

    #[test]
    fn run_ids_are_unique_and_sort_by_time() {
        let a = new_run_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_run_id();
        assert!(a < b, "{a} !< {b}");
    }
}
