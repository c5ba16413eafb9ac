//! A shard folder (what `sim sweep --shard I/N` writes) and `sim merge`, which combines the
//! folders of every shard of a sweep into the study one machine would have written.
//!
//! A shard folder holds `shard.json` (capsim's version, the study's name, file and seed, the
//! shard, the number of points, and a SHA-256 fingerprint of every point's resolved settings,
//! the same on every shard of one sweep) and `points/point-<index>.yaml` for each point it ran:
//! the point's place in the sweep, its resolved settings and its summary. YAML keeps every
//! number exactly (NaN and infinities included), so the merged files are byte-identical to a
//! single machine's. Merging refuses folders that are not shards, shards of another sweep (a
//! different file, settings or seed) or of another capsim version, a shard given twice, and
//! names every missing shard.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::OutputWriter;
use crate::config::{Experiment, Point};
use crate::results::Summary;
use crate::study::shard::Shard;

/// The file naming a folder as a shard.
const SHARD_FILE: &str = "shard.json";

/// `shard.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardManifest {
    /// capsim version that ran the shard.
    pub capsim_version: String,
    /// The study's name (the file's `name`).
    pub study: String,
    /// The experiment file as given on the command line.
    pub file: String,
    /// The file's seed.
    pub seed: u64,
    /// Which shard this is.
    pub shard: Shard,
    /// Points in the whole sweep.
    pub points: usize,
    /// SHA-256 of every point's resolved settings, in the sweep's order.
    pub study_fingerprint: String,
}

/// One finished point of a shard.
#[derive(Serialize, Deserialize)]
struct PointRecord {
    /// Its place in the sweep, from 0.
    index: usize,
    /// Its name's suffix after the study's name.
    suffix: Option<String>,
    /// Its variant or scenario and swept values.
    point: Point,
    /// Its resolved settings.
    settings: Experiment,
    /// What it gave.
    summary: Summary,
}

/// The fingerprint of a sweep: every point's name and resolved settings, in order.
pub fn study_fingerprint(experiments: &[Experiment]) -> String {
    let mut hash = Sha256::new();
    for e in experiments {
        hash.update(serde_json::to_vec(&(e, &e.point, &e.point.suffix)).unwrap_or_default());
        hash.update([0]);
    }
    let digest = hash.finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// A finished shard, ready to write.
pub struct ShardReport<'a> {
    /// `shard.json`.
    pub manifest: ShardManifest,
    /// Every point of the sweep, in order (the shard's own are those it ran).
    pub experiments: &'a [Experiment],
    /// The shard's points: index into `experiments` and summary.
    pub finished: &'a [(usize, Summary)],
}

impl ShardReport<'_> {
    /// Writes the shard folder atomically through `writer`; returns the files written.
    pub fn write(&self, writer: &OutputWriter, dir: &Path) -> anyhow::Result<Vec<String>> {
        let what = (self.manifest.study.as_str(), self.manifest.seed);
        writer.write_with(dir, what, &|staging| self.fill(staging))
    }

    fn fill(&self, staging: &Path) -> anyhow::Result<Vec<String>> {
        let write = |name: &str, text: String| -> anyhow::Result<String> {
            fs::write(staging.join(name), text)
                .with_context(|| format!("could not write {name}"))?;
            Ok(name.to_string())
        };
        let mut files = vec![write(
            SHARD_FILE,
            serde_json::to_string_pretty(&self.manifest)? + "\n",
        )?];
        fs::create_dir(staging.join("points")).context("could not create points/")?;
        for (index, summary) in self.finished {
            let e = &self.experiments[*index];
            let record = PointRecord {
                index: *index,
                suffix: e.point.suffix.clone(),
                point: e.point.clone(),
                settings: e.clone(),
                summary: summary.clone(),
            };
            files.push(write(
                &point_file(*index),
                serde_yaml::to_string(&record).context("encoding a finished point")?,
            )?);
        }
        Ok(files)
    }
}

fn point_file(index: usize) -> String {
    format!("points/point-{index:06}.yaml")
}

/// A sweep put back together from its shards.
pub struct Merged {
    /// The study's name.
    pub study: String,
    /// Every point's settings, in the sweep's order.
    pub experiments: Vec<Experiment>,
    /// Their summaries, in the same order.
    pub summaries: Vec<Summary>,
}

fn read_manifest(dir: &Path) -> anyhow::Result<ShardManifest> {
    let path = dir.join(SHARD_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "{} is not a shard folder of `sim sweep --shard` (it has no {SHARD_FILE})",
            dir.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("could not read {}", path.display())),
    };
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a shard manifest capsim wrote", path.display()))
}

fn read_point(dir: &Path, index: usize) -> anyhow::Result<PointRecord> {
    let path = dir.join(point_file(index));
    let text = fs::read_to_string(&path).with_context(|| {
        format!(
            "shard {} lacks point {index}: could not read {}",
            dir.display(),
            path.display()
        )
    })?;
    let record: PointRecord = serde_yaml::from_str(&text)
        .with_context(|| format!("{} is not a point record capsim wrote", path.display()))?;
    if record.index != index {
        bail!("{} holds point {} instead", path.display(), record.index);
    }
    Ok(record)
}

/// Reads the shard folders `dirs` and puts their sweep back together, refusing folders that
/// do not make up exactly one whole sweep of this capsim version.
pub fn merge(dirs: &[PathBuf]) -> anyhow::Result<Merged> {
    let Some(first_dir) = dirs.first() else {
        bail!("sim merge needs the shard folders to merge");
    };
    let mut shards: BTreeMap<u32, (&PathBuf, ShardManifest)> = BTreeMap::new();
    let first = read_manifest(first_dir)?;
    for dir in dirs {
        let m = read_manifest(dir)?;
        if m.capsim_version != env!("CARGO_PKG_VERSION") {
            bail!(
                "{} was written by capsim {}, this is capsim {}: merge it with the capsim that \
                 ran it, or run the shard again",
                dir.display(),
                m.capsim_version,
                env!("CARGO_PKG_VERSION")
            );
        }
        let same_sweep = m.study == first.study
            && m.file == first.file
            && m.seed == first.seed
            && m.points == first.points
            && m.study_fingerprint == first.study_fingerprint;
        if !same_sweep {
            bail!(
                "{} is a shard of another sweep than {}: `{}` (file {}, seed {}, {} points, {}) \
                 against `{}` (file {}, seed {}, {} points, {})",
                dir.display(),
                first_dir.display(),
                m.study,
                m.file,
                m.seed,
                m.points,
                m.study_fingerprint,
                first.study,
                first.file,
                first.seed,
                first.points,
                first.study_fingerprint
            );
        }
        if m.shard.count != first.shard.count {
            bail!(
                "{} is shard {} but {} is shard {}: the sweep was split two ways",
                dir.display(),
                m.shard,
                first_dir.display(),
                first.shard
            );
        }
        if let Some((other, _)) = shards.get(&m.shard.index) {
            bail!(
                "shard {} is given twice: {} and {}",
                m.shard,
                other.display(),
                dir.display()
            );
        }
        shards.insert(m.shard.index, (dir, m));
    }
    let count = first.shard.count;
    let missing: Vec<String> = (1..=count)
        .filter(|i| !shards.contains_key(i))
        .map(|index| Shard { index, count }.to_string())
        .collect();
    if !missing.is_empty() {
        bail!(
            "the sweep `{}` has {count} shards; missing: {} (given: {})",
            first.study,
            missing.join(", "),
            dirs.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut experiments = Vec::with_capacity(first.points);
    let mut summaries = Vec::with_capacity(first.points);
    for index in 0..first.points {
        let (dir, _) = &shards[&Shard::of_point(index, count).index];
        let record = read_point(dir, index)?;
        let mut e = record.settings;
        e.point = record.point;
        e.point.suffix = record.suffix;
        experiments.push(e);
        summaries.push(record.summary);
    }
    if study_fingerprint(&experiments) != first.study_fingerprint {
        bail!(
            "the points stored in the shards do not match their manifests' fingerprint: a \
             shard folder was changed after capsim wrote it"
        );
    }
    Ok(Merged {
        study: first.study,
        experiments,
        summaries,
    })
}
