//! Finished sweep points kept on disk while a sweep runs, so an interrupted sweep resumes
//! where it stopped (`sim sweep --resume`) and ends with the files an uninterrupted run writes.
//!
//! The points live in a hidden sibling of the output folder, `.<name>.capsim-sweep/`, one
//! `<experiment>.yaml` per finished point holding the capsim version, the point's resolved
//! settings (as JSON text) and its summary. YAML keeps every number exactly, NaN and
//! infinities included. Each file is written to a temporary name and renamed into place, so a
//! kill leaves either the whole point or nothing. A stored point is used only when its version
//! and settings equal the current ones; anything else is run again. The folder is removed once
//! the sweep's output folder is in place.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::config::Experiment;
use crate::results::Summary;

/// Ends the name of a checkpoint folder (`.<output name>.capsim-sweep`).
const SUFFIX: &str = ".capsim-sweep";

/// The finished points of one sweep.
pub struct Checkpoint {
    dir: PathBuf,
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
        }
    }

    fn file_of(&self, e: &Experiment) -> PathBuf {
        self.dir.join(format!("{}.yaml", e.name))
    }

    /// The stored summary of `e`, when one was stored for the same version and settings.
    pub fn load(&self, e: &Experiment) -> Option<Summary> {
        let text = fs::read_to_string(self.file_of(e)).ok()?;
        let record: Record = serde_yaml::from_str(&text).ok()?;
        (record.capsim_version == env!("CARGO_PKG_VERSION") && record.settings == settings_of(e))
            .then_some(record.summary)
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
        let partial = self
            .dir
            .join(format!(".{}.partial-{}", e.name, std::process::id()));
        fs::write(&partial, text)
            .with_context(|| format!("could not write {}", partial.display()))?;
        fs::rename(&partial, &path).with_context(|| format!("could not write {}", path.display()))
    }

    /// Removes the stored points of `experiments` and the folder, once the sweep's results are
    /// in place; other files (a concurrent writer's partial file) keep the folder.
    pub fn remove(&self, experiments: &[Experiment]) -> anyhow::Result<()> {
        for e in experiments {
            match fs::remove_file(self.file_of(e)) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                    return Err(err)
                        .with_context(|| format!("could not remove {}", self.dir.display()));
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
