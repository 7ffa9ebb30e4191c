//! The `.pacer.lock` file lock: one writer per run folder, across processes.

use std::fs::{self, File, OpenOptions};
use std::path::Path;

use super::JournalError;

/// The lock file that keeps a second process out of a run folder.
const LOCK_FILE: &str = ".pacer.lock";

pub(super) fn lock(dir: &Path) -> Result<File, JournalError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(JournalError::io("create the lock file", &path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(JournalError::Locked {
            dir: dir.to_path_buf(),
        }),
        Err(fs::TryLockError::Error(source)) => Err(JournalError::Io {
            doing: "lock",
            path,
            source,
        }),
    }
}
