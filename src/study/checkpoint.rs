//! Finished runs kept on disk while a study runs (a sweep's points, a capacity search's
//! probes), so an interrupted study resumes where it stopped (`sim sweep --resume`,
//! `sim capacity --resume`) and ends with the files an uninterrupted run writes.
//!
//! The runs live in a hidden sibling of the output folder, `.<name>.capsim-sweep/`, one
//! `<experiment>-<settings hash>.yaml` per finished run holding the capsim version, the run's
//! resolved settings (as JSON text) and its summary. YAML keeps every number exactly, NaN and
//! infinities included. Each file is written to a temporary name and renamed into place, so a
//! kill leaves either the whole run or nothing. A stored run is used only when its version
//! and settings equal the current ones; anything else is run again. A capacity search decides
//! its next probe from the summaries of the previous ones only, so replaying stored probes
//! retraces the same search. Once the study's output folder is in place, the records this run
//! read or wrote are removed, and the folder with them when nothing else is left in it.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Experiment;
use crate::results::Summary;

/// Ends the name of a checkpoint folder (`.<output name>.capsim-sweep`).
const SUFFIX: &str = ".capsim-sweep";

/// The finished runs of one study.
pub struct Checkpoint {
    dir: PathBuf,
    /// Records this process read back instead of running them.
    read: Mutex<BTreeSet<PathBuf>>,
    /// Records this process wrote.
    written: Mutex<BTreeSet<PathBuf>>,
}

#[derive(Serialize, Deserialize)]
struct Record {
    capsim_version: String,
    settings: String,
    summary: Summary,
}

fn settings_of(e: &Experiment) -> String {
    serde_json::to_string(e).unwrap_or_default()
}

impl Checkpoint {
    /// The checkpoint of the sweep whose output folder is `out`.
    pub fn beside(out: &Path) -> Checkpoint {
        let name = out
            .file_name()
            .map_or_else(|| "sweep".into(), |n| n.to_string_lossy().into_owned());
        let parent = out.parent().unwrap_or(Path::new("."));
        Checkpoint {
            dir: parent.join(format!(".{name}{SUFFIX}")),
            read: Mutex::new(BTreeSet::new()),
            written: Mutex::new(BTreeSet::new()),
        }
    }

    /// The record of `e`: its name and a hash of its settings, so the probes of one
    /// configuration, which share a name, keep separate records.
    fn file_of(&self, e: &Experiment) -> PathBuf {
        let digest = Sha256::digest(settings_of(e).as_bytes());
        let hash: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{}-{hash}.yaml", e.name))
    }

    fn note(set: &Mutex<BTreeSet<PathBuf>>, path: PathBuf) {
        set.lock()
            .expect("no worker panics holding the checkpoint")
            .insert(path);
    }

    /// The stored summary of `e`, when one was stored for the same version and settings.
    pub fn load(&self, e: &Experiment) -> Option<Summary> {
        let path = self.file_of(e);
        let text = fs::read_to_string(&path).ok()?;
        let record: Record = serde_yaml::from_str(&text).ok()?;
        let usable =
            record.capsim_version == env!("CARGO_PKG_VERSION") && record.settings == settings_of(e);
        if usable {
            Self::note(&self.read, path);
        }
        usable.then_some(record.summary)
    }

    /// How many stored runs [`Checkpoint::load`] has read back so far.
    pub fn reused(&self) -> usize {
        self.read
            .lock()
            .expect("no worker panics holding the checkpoint")
            .len()
    }

    /// Stores the summary of a finished point, atomically.
    pub fn save(&self, e: &Experiment, summary: &Summary) -> anyhow::Result<()> {
        fs::create_dir_all(&self.dir)
            .with_context(|| format!("could not create {}", self.dir.display()))?;
        let record = Record {
            capsim_version: env!("CARGO_PKG_VERSION").into(),
            settings: settings_of(e),
            summary: summary.clone(),
        };
        let text = serde_yaml::to_string(&record).context("encoding a finished point")?;
        let path = self.file_of(e);
        let name = path
            .file_name()
            .expect("a record has a name")
            .to_string_lossy();
        let partial = self
            .dir
            .join(format!(".{name}.partial-{}", std::process::id()));
        fs::write(&partial, text)
            .with_context(|| format!("could not write {}", partial.display()))?;
        fs::rename(&partial, &path)
            .with_context(|| format!("could not write {}", path.display()))?;
        Self::note(&self.written, path);
        Ok(())
    }

    /// Removes the records this process read or wrote, and the folder when nothing else is
    /// left in it (a concurrent writer's files keep it), once the study's results are in place.
    pub fn finish(&self) -> anyhow::Result<()> {
        let take = |set: &Mutex<BTreeSet<PathBuf>>| {
            std::mem::take(&mut *set.lock().expect("no worker panics holding the checkpoint"))
        };
        for path in take(&self.read).into_iter().chain(take(&self.written)) {
            match fs::remove_file(&path) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                    return Err(err)
                        .with_context(|| format!("could not remove {}", path.display()));
                }
                _ => {}
            }
        }
        let _ = fs::remove_dir(&self.dir);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_survives_the_round_trip_exactly() {
        let mut summary = crate::report::fixture::sample_output().summary;
        summary.turn_latency_s.p95.ci95 = [f64::NAN, 2.5];
        summary.horizon_s = f64::INFINITY;
        let text = serde_yaml::to_string(&summary).unwrap();
        let back: Summary = serde_yaml::from_str(&text).unwrap();
        assert_eq!(
            serde_json::to_string(&back).unwrap(),
            serde_json::to_string(&summary).unwrap()
        );
        assert!(back.horizon_s.is_infinite());
    }
}
