//! Replacing a file whole, through a temporary file beside it and a rename.

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use super::JournalError;

/// Replaces `path` whole: `write` fills a temporary file beside it, which is synced and
/// renamed over `path`.
pub(crate) fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<(), JournalError>,
) -> Result<(), JournalError> {
    let tmp = temp_path(path);
    let file = File::create(&tmp).map_err(JournalError::io("create", &tmp))?;
    let mut out = BufWriter::new(file);
    write(&mut out)?;
    let file = out
        .into_inner()
        .map_err(|err| JournalError::io("write", &tmp)(err.into_error()))?;
    file.sync_all().map_err(JournalError::io("write", &tmp))?;
    drop(file);
    fs::rename(&tmp, path).map_err(JournalError::io("replace", path))?;
    if let Some(parent) = path.parent() {
        sync_dir(parent);
    }
    Ok(())
}

pub(super) fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Makes a rename in `dir` durable. Best effort: some file systems refuse to sync a folder,
/// and the rename itself is already atomic.
pub(crate) fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(dir) = File::open(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    }) {
        let _ = dir.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}
