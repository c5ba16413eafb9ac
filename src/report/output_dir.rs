//! The output folder's life cycle, safe at every instant.
//!
//! - **Ownership.** capsim replaces a folder only when it is empty or holds a manifest
//!   (`.capsim-result.json`, see `manifest`); any other folder, a file or a symbolic link is
//!   refused unless `--force`.
//! - **Checked first.** [`OutputWriter::check`] runs before simulating: it inspects the folder
//!   and creates (then removes) the longest name capsim will use beside it, so a read-only
//!   location, a path through a file or a name too long fails in a second, not after the run.
//! - **Serialised.** Writers of one folder take turns on a lock file beside it (`dir_lock`).
//! - **Atomic.** Results are written into the sibling `.<name>.capsim-staging-<pid>` (marked by
//!   `.capsim-staging` until its manifest, written last, is in place), then swapped with the
//!   folder in one `renameat2(RENAME_EXCHANGE)`; where the file system cannot exchange, the old
//!   folder is renamed to `.<name>.capsim-old-<pid>` first. Either way the previous result is
//!   removed last, its marker and manifest deleted after everything else.
//! - **Recovered.** Under the lock no other writer is alive, so every staging or old sibling is
//!   a leftover of a killed run: a complete staging folder (or else the old one) is moved back
//!   when the folder itself is missing, and every leftover that is provably capsim's (empty,
//!   marked or with a manifest) is removed.
//!
//! Test hook: `CAPSIM_TEST_PAUSE_WRITE=<milliseconds>` sleeps that long before each step of the
//! write phase, so the kill tests can stop a run at any instant of it. It is not a user setting.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, bail};

use super::dir_lock::DirLock;
use super::files;
use super::manifest::{MANIFEST, Manifest, new_run_id};
use crate::results::RunOutput;

/// Marks a staging folder (or one being removed) as capsim's while it has no manifest.
const MARKER: &str = ".capsim-staging";

/// Environment variable of the write-phase test hook.
const PAUSE_VAR: &str = "CAPSIM_TEST_PAUSE_WRITE";

/// How many entries of a refused folder the message lists.
const LISTED_ENTRIES: usize = 3;

/// Writes the results of one `sim run` invocation; all folders it writes share its run id.
pub struct OutputWriter {
    force: bool,
    run_id: String,
}

impl OutputWriter {
    /// A writer for one invocation; `force` lets it replace folders capsim did not write.
    pub fn new(force: bool) -> OutputWriter {
        OutputWriter {
            force,
            run_id: new_run_id(),
        }
    }

    /// Checks, before simulating, that results can be written to `dir`: it must be absent,
    /// empty or a capsim result folder (anything with `force`), and its parent writable.
    /// Leaves nothing behind.
    pub fn check(&self, dir: &Path) -> anyhow::Result<()> {
        let at = Location::of(dir)?;
        ensure_replaceable(dir, self.force)?;
        let created = create_missing_folders(dir, &at.parent)?;
        let probe = at.staging();
        let probed = fs::create_dir(&probe)
            .map_err(|e| unwritable(dir, &at, e))
            .and_then(|()| {
                // Another writer's recovery may have removed the empty probe already.
                remove_if_present(&probe, |p| fs::remove_dir(p)).map_err(anyhow::Error::from)
            });
        for folder in created.iter().rev() {
            let _ = fs::remove_dir(folder);
        }
        probed
    }

    /// Writes `summary.json`, the CSVs, the charts and the manifest, and swaps them into `dir`
    /// atomically (see the module comment). Returns the names of the result files written.
    pub fn write(&self, out: &RunOutput, dir: &Path) -> anyhow::Result<Vec<String>> {
        let what = (out.summary.experiment.as_str(), out.summary.seed);
        self.write_with(dir, what, &|staging| {
            files::write_all(out, staging, pause_for_tests)
        })
    }

    /// Like [`write`](Self::write) for any set of result files: `fill` writes them into the
    /// staging folder it is given and returns their paths relative to it; `what` names the
    /// experiment and seed for the manifest.
    pub fn write_with(
        &self,
        dir: &Path,
        what: (&str, u64),
        fill: &dyn Fn(&Path) -> anyhow::Result<Vec<String>>,
    ) -> anyhow::Result<Vec<String>> {
        let at = Location::of(dir)?;
        fs::create_dir_all(&at.parent)
            .with_context(|| format!("could not create the folder {}", at.parent.display()))?;
        let _lock = DirLock::acquire(&at.lock_file(), dir)?;
        recover(&at)?;
        // Checked again under the lock: the folder may have changed since `check`.
        ensure_replaceable(dir, self.force)?;
        let staging = at.staging();
        fs::create_dir(&staging).map_err(|e| unwritable(dir, &at, e))?;
        let written = self
            .fill(what, fill, &staging)
            .and_then(|written| swap_into_place(&staging, dir, &at).map(|()| written));
        if written.is_err() && staging.exists() {
            // Best effort: the error that matters is the one being returned.
            let _ = remove_owned(&staging);
        }
        written
    }

    /// Writes the marker, the result files and the manifest into `staging`, then drops the
    /// marker: from then on the folder is complete.
    fn fill(
        &self,
        (experiment, seed): (&str, u64),
        fill: &dyn Fn(&Path) -> anyhow::Result<Vec<String>>,
        staging: &Path,
    ) -> anyhow::Result<Vec<String>> {
        let marker = staging.join(MARKER);
        fs::write(&marker, &self.run_id)
            .with_context(|| format!("could not write {}", marker.display()))?;
        let written = fill(staging)?;
        pause_for_tests();
        Manifest {
            capsim_version: env!("CARGO_PKG_VERSION").to_string(),
            experiment: experiment.to_string(),
            seed,
            run_id: self.run_id.clone(),
            files: written.clone(),
        }
        .write(staging)?;
        fs::remove_file(&marker)
            .with_context(|| format!("could not remove {}", marker.display()))?;
        Ok(written)
    }
}

/// Sleeps as long as the test hook says (not at all unless it is set).
pub(super) fn pause_for_tests() {
    static PAUSE: OnceLock<Option<Duration>> = OnceLock::new();
    let pause = PAUSE.get_or_init(|| {
        let ms = std::env::var(PAUSE_VAR).ok()?.parse().ok()?;
        Some(Duration::from_millis(ms))
    });
    if let Some(d) = pause {
        std::thread::sleep(*d);
    }
}

/// The output folder's parent and name, and the names capsim uses beside it.
struct Location {
    parent: PathBuf,
    name: OsString,
}

impl Location {
    fn of(dir: &Path) -> anyhow::Result<Location> {
        let name = dir
            .file_name()
            .with_context(|| format!("output folder {} does not name a folder", dir.display()))?;
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Ok(Location {
            parent,
            name: name.to_os_string(),
        })
    }

    /// `<parent>/.<name>.capsim-<what>`.
    fn beside(&self, what: &str) -> PathBuf {
        let mut file = OsString::from(".");
        file.push(&self.name);
        file.push(format!(".capsim-{what}"));
        self.parent.join(file)
    }

    fn lock_file(&self) -> PathBuf {
        self.beside("lock")
    }

    /// This process's staging folder: the longest name capsim uses beside the folder.
    fn staging(&self) -> PathBuf {
        self.beside(&format!(
            "{}-{}",
            Leftover::Staging.tag(),
            std::process::id()
        ))
    }

    /// This process's name for the previous folder while two renames replace it.
    fn old(&self) -> PathBuf {
        self.beside(&format!("{}-{}", Leftover::Old.tag(), std::process::id()))
    }

    /// Staging and old folders of any process beside the folder.
    fn leftovers(&self) -> anyhow::Result<Vec<(PathBuf, Leftover)>> {
        let entries = fs::read_dir(&self.parent)
            .with_context(|| format!("could not list {}", self.parent.display()))?;
        let mut found = Vec::new();
        for entry in entries {
            let entry =
                entry.with_context(|| format!("could not list {}", self.parent.display()))?;
            if let Some(kind) = self.leftover_kind(&entry.file_name()) {
                found.push((entry.path(), kind));
            }
        }
        found.sort();
        Ok(found)
    }

    /// Which kind of leftover `file` names: `.<name>.capsim-<tag>-<digits>`.
    fn leftover_kind(&self, file: &OsStr) -> Option<Leftover> {
        let prefix = self.beside("");
        let prefix = prefix.file_name()?.as_encoded_bytes();
        let rest = file.as_encoded_bytes().strip_prefix(prefix)?;
        [Leftover::Staging, Leftover::Old].into_iter().find(|kind| {
            rest.strip_prefix(kind.tag().as_bytes())
                .and_then(|r| r.strip_prefix(b"-"))
                .is_some_and(|pid| !pid.is_empty() && pid.iter().all(u8::is_ascii_digit))
        })
    }
}

/// A sibling folder a killed run can leave behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Leftover {
    /// Results being written (or, after an exchange, the previous results being removed).
    Staging,
    /// The previous folder, moved aside by the two-rename swap.
    Old,
}

impl Leftover {
    fn tag(self) -> &'static str {
        match self {
            Leftover::Staging => "staging",
            Leftover::Old => "old",
        }
    }
}

/// Refuses a `dir` that capsim may not replace.
fn ensure_replaceable(dir: &Path, force: bool) -> anyhow::Result<()> {
    let meta = match fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        // A parent that is a file, or a name too long, is reported by `check`'s probe.
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::NotFound | ErrorKind::NotADirectory | ErrorKind::InvalidFilename
            ) =>
        {
            return Ok(());
        }
        Err(e) => return Err(e).with_context(|| format!("could not inspect {}", dir.display())),
    };
    if meta.file_type().is_symlink() {
        if force {
            return Ok(());
        }
        bail!(
            "output folder {} is a symbolic link, and capsim replaces only folders it wrote; \
             choose another --out folder, or pass --force to replace the link (its target is \
             left alone)",
            dir.display()
        );
    }
    if !meta.is_dir() {
        bail!(
            "output folder {} is a file, not a folder; choose another --out folder",
            dir.display()
        );
    }
    if force || Manifest::read(dir).is_some() {
        return Ok(());
    }
    let mut entries: Vec<String> = fs::read_dir(dir)
        .with_context(|| format!("could not list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    if entries.is_empty() {
        return Ok(());
    }
    entries.sort();
    let more = entries.len().saturating_sub(LISTED_ENTRIES);
    entries.truncate(LISTED_ENTRIES);
    let mut listed = entries.join(", ");
    if more > 0 {
        listed.push_str(&format!(" and {more} more"));
    }
    bail!(
        "output folder {} holds files capsim did not write ({listed}) and is not a capsim result \
         folder (it has no {MANIFEST}); replacing it would delete them. Choose another --out \
         folder (new or empty), or pass --force to replace it",
        dir.display()
    )
}

/// Creates the missing ancestors of `parent` and returns them, outermost first.
fn create_missing_folders(dir: &Path, parent: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut missing = Vec::new();
    for folder in parent.ancestors() {
        if folder.as_os_str().is_empty() {
            break;
        }
        match fs::metadata(folder) {
            Ok(meta) if meta.is_dir() => break,
            Ok(_) => bail!(
                "output folder {} cannot be created: {} is a file, not a folder",
                dir.display(),
                folder.display()
            ),
            Err(e) if e.kind() == ErrorKind::NotFound => missing.push(folder.to_path_buf()),
            Err(e) => {
                return Err(e).with_context(|| format!("could not inspect {}", folder.display()));
            }
        }
    }
    missing.reverse();
    let mut created = Vec::new();
    for folder in missing {
        if let Err(e) = fs::create_dir(&folder) {
            for done in created.iter().rev() {
                let _ = fs::remove_dir(done);
            }
            return Err(e).with_context(|| {
                format!(
                    "output folder {} cannot be created: could not create {}",
                    dir.display(),
                    folder.display()
                )
            });
        }
        created.push(folder);
    }
    Ok(created)
}

/// The error for a staging folder that could not be created beside `dir`.
fn unwritable(dir: &Path, at: &Location, e: std::io::Error) -> anyhow::Error {
    let why = if e.kind() == ErrorKind::InvalidFilename {
        format!(
            "the name is too long: capsim needs room for a temporary sibling named {}",
            at.staging().file_name().unwrap_or_default().display()
        )
    } else {
        format!("could not create a folder in {}", at.parent.display())
    };
    anyhow::Error::new(e).context(format!(
        "output folder {} cannot be written: {why}",
        dir.display()
    ))
}

/// Under the lock: puts back a folder that a two-rename swap left missing, then removes every
/// leftover that is provably capsim's.
fn recover(at: &Location) -> anyhow::Result<()> {
    let dir = at.parent.join(&at.name);
    let leftovers = at.leftovers()?;
    if fs::symlink_metadata(&dir).is_err() {
        let complete = leftovers
            .iter()
            .filter(|(p, kind)| *kind == Leftover::Staging && !p.join(MARKER).exists())
            .filter_map(|(p, _)| Some((Manifest::read(p)?.run_id, p)))
            .max()
            .map(|(_, p)| p);
        let old = leftovers
            .iter()
            .find(|(_, kind)| *kind == Leftover::Old)
            .map(|(p, _)| p);
        if let Some(back) = complete.or(old) {
            fs::rename(back, &dir)
                .with_context(|| format!("could not restore {}", dir.display()))?;
        }
    }
    for (path, _) in at.leftovers()? {
        if is_provably_ours(&path) {
            remove_owned(&path)
                .with_context(|| format!("could not remove the leftover {}", path.display()))?;
        }
    }
    Ok(())
}

/// A folder capsim wrote: empty, marked or with a manifest (never a symbolic link).
fn is_provably_ours(path: &Path) -> bool {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return false;
    };
    meta.is_dir()
        && (path.join(MARKER).exists()
            || Manifest::read(path).is_some()
            || fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_none()))
}

/// Puts the complete `staging` folder in place of `dir`, then removes the previous folder.
fn swap_into_place(staging: &Path, dir: &Path, at: &Location) -> anyhow::Result<()> {
    pause_for_tests();
    if fs::symlink_metadata(dir).is_err() {
        return fs::rename(staging, dir)
            .with_context(|| format!("could not move the results into {}", dir.display()));
    }
    match exchange(staging, dir) {
        Ok(()) => {
            pause_for_tests();
            // `staging` now names the previous folder.
            remove_owned(staging).with_context(|| {
                format!(
                    "results written to {}, but removing the previous copy at {} failed",
                    dir.display(),
                    staging.display()
                )
            })
        }
        Err(e) if e.kind() == ErrorKind::Unsupported => swap_by_renames(staging, dir, &at.old()),
        Err(e) => Err(e).with_context(|| format!("could not swap results into {}", dir.display())),
    }
}

/// Swaps two directory entries in one step; `Unsupported` where the file system cannot.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    use rustix::io::Errno;
    match renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE) {
        Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => Err(ErrorKind::Unsupported.into()),
        result => result.map_err(std::io::Error::from),
    }
}

/// Swaps two directory entries in one step (unsupported here: two renames are used instead).
#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> std::io::Result<()> {
    Err(ErrorKind::Unsupported.into())
}

/// The fallback swap: `dir` to `old`, `staging` to `dir`, remove `old`. A kill between the two
/// renames leaves `dir` missing; the next writer's `recover` moves the complete staging folder
/// into place.
fn swap_by_renames(staging: &Path, dir: &Path, old: &Path) -> anyhow::Result<()> {
    fs::rename(dir, old)
        .with_context(|| format!("could not move the previous {} aside", dir.display()))?;
    pause_for_tests();
    if let Err(e) = fs::rename(staging, dir) {
        let _ = fs::rename(old, dir);
        return Err(e)
            .with_context(|| format!("could not move the results into {}", dir.display()));
    }
    pause_for_tests();
    remove_owned(old).with_context(|| {
        format!(
            "results written to {}, but removing the previous copy at {} failed",
            dir.display(),
            old.display()
        )
    })
}

/// Removes a folder capsim may delete so that, if interrupted, it stays provably capsim's:
/// it is marked first and its marker and manifest go last. A symbolic link is just unlinked.
fn remove_owned(path: &Path) -> std::io::Result<()> {
    if !fs::symlink_metadata(path)?.is_dir() {
        return fs::remove_file(path);
    }
    fs::write(path.join(MARKER), b"")?;
    for entry in fs::read_dir(path)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == MARKER || name == MANIFEST {
            continue;
        }
        if entry.file_type()?.is_dir() {
            fs::remove_dir_all(entry.path())?;
        } else {
            fs::remove_file(entry.path())?;
        }
    }
    remove_if_present(&path.join(MANIFEST), |p| fs::remove_file(p))?;
    fs::remove_file(path.join(MARKER))?;
    fs::remove_dir(path)
}

/// `remove(path)`, where a `path` already gone is no error.
fn remove_if_present(path: &Path, remove: fn(&Path) -> std::io::Result<()>) -> std::io::Result<()> {
    match remove(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::sample_output;

    /// A complete result folder at `path` with `run_id` (as a finished staging folder is).
    fn result_folder(path: &Path, run_id: &str) {
        fs::create_dir(path).unwrap();
        let mut writer = OutputWriter::new(false);
        writer.run_id = run_id.to_string();
        let out = sample_output();
        let what = (out.summary.experiment.as_str(), out.summary.seed);
        writer
            .fill(
                what,
                &|staging| files::write_all(&out, staging, pause_for_tests),
                path,
            )
            .unwrap();
    }

    fn run_id_at(path: &Path) -> String {
        Manifest::read(path).unwrap().run_id
    }

    /// The two-rename fallback killed between its renames: the folder is missing; recovery
    /// puts the new, complete result in place.
    #[test]
    fn recovery_completes_an_interrupted_two_rename_swap() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        let at = Location::of(&dir).unwrap();
        result_folder(&at.beside("old-11"), "previous");
        result_folder(&at.beside("staging-11"), "new");
        recover(&at).unwrap();
        assert_eq!(run_id_at(&dir), "new");
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
    }

    /// Killed before the new result was complete: the previous one goes back.
    #[test]
    fn recovery_restores_the_previous_result_when_the_new_is_incomplete() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        let at = Location::of(&dir).unwrap();
        result_folder(&at.beside("old-12"), "previous");
        let staging = at.beside("staging-12");
        fs::create_dir(&staging).unwrap();
        fs::write(staging.join(MARKER), "").unwrap();
        fs::write(staging.join("summary.json"), "{").unwrap();
        recover(&at).unwrap();
        assert_eq!(run_id_at(&dir), "previous");
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
    }

    #[test]
    fn the_fallback_swap_replaces_the_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        let at = Location::of(&dir).unwrap();
        result_folder(&dir, "previous");
        result_folder(&at.staging(), "new");
        swap_by_renames(&at.staging(), &dir, &at.old()).unwrap();
        assert_eq!(run_id_at(&dir), "new");
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
    }

    #[test]
    fn only_names_of_this_folder_are_leftovers() {
        let at = Location::of(Path::new("plots/out")).unwrap();
        let kind = |name: &str| at.leftover_kind(OsStr::new(name));
        assert_eq!(kind(".out.capsim-staging-42"), Some(Leftover::Staging));
        assert_eq!(kind(".out.capsim-old-7"), Some(Leftover::Old));
        for other in [
            ".out.capsim-staging-",
            ".out.capsim-staging-4x",
            ".out2.capsim-old-7",
            ".out.capsim-lock",
            "out",
        ] {
            assert_eq!(kind(other), None, "{other}");
        }
    }
}
