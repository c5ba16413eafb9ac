//! Serialises the `sim` processes that write one output folder: an exclusive advisory lock
//! (`flock`) on the sibling file `.<name>.capsim-lock`, held for the whole write phase. The
//! holder removes the file on release, so nothing stays beside the folder; a waiter that then
//! finds it locked a removed file opens the path again.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The held lock; released (and its file removed) on drop.
pub(super) struct DirLock {
    path: PathBuf,
    // Kept open: closing it releases the lock.
    _file: File,
}

impl DirLock {
    /// Takes the lock at `path`, waiting (with a note on stderr) while another run holds it.
    pub(super) fn acquire(path: &Path, folder: &Path) -> anyhow::Result<DirLock> {
        loop {
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(path)
                .with_context(|| format!("could not create the lock file {}", path.display()))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    eprintln!(
                        "note: another sim is writing {}; waiting for it to finish",
                        folder.display()
                    );
                    file.lock()
                        .with_context(|| format!("could not lock {}", path.display()))?;
                }
                Err(TryLockError::Error(e)) => {
                    return Err(e).with_context(|| format!("could not lock {}", path.display()));
                }
            }
            if is_still_at(&file, path) {
                return Ok(DirLock {
                    path: path.to_path_buf(),
                    _file: file,
                });
            }
        }
    }
}

/// Whether `path` still names the file `file` is open on (the previous holder removes it).
fn is_still_at(file: &File, path: &Path) -> bool {
    match (file.metadata(), fs::metadata(path)) {
        (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
        _ => false,
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // Removed while still held, so no waiter can lock the path between removal and unlock.
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Barrier};
    use std::time::Duration;

    #[test]
    fn holders_take_turns_and_leave_no_file() {
        let tmp = tempfile::tempdir().unwrap();
        let path = Arc::new(tmp.path().join(".out.capsim-lock"));
        let inside = Arc::new(AtomicBool::new(false));
        let start = Arc::new(Barrier::new(4));
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let (path, inside, start) = (path.clone(), inside.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    for _ in 0..5 {
                        let _lock = DirLock::acquire(&path, Path::new("out")).unwrap();
                        assert!(!inside.swap(true, Ordering::SeqCst), "two holders at once");
                        std::thread::sleep(Duration::from_millis(2));
                        inside.store(false, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        assert!(!path.exists(), "lock file left behind");
    }
}
