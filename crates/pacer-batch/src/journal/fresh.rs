//! `--fresh`: moving an earlier run's files aside into `previous-<UTC time>/`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use chrono::Utc;

use super::atomic::sync_dir;
use super::{JournalError, RESULTS_FILE, RETRIED_FAILURES_FILE};

/// The files (and the batch lines folder) of a run folder that `--fresh` moves aside;
/// anything else (a prompts file kept there, say) stays where it is.
const RUN_FILES: [&str; 11] = [
    RESULTS_FILE,
    RETRIED_FAILURES_FILE,
    "run.json",
    "summary.json",
    "results.json",
    "invalid_inputs.jsonl",
    crate::run::batched::BATCHES_FILE,
    crate::run::batched::BATCH_LINES_DIR,
    crate::EMBEDDINGS_FILE,
    crate::EVENTS_FILE,
    "report.html",
];

/// Moves the run's files of `dir` (and its batch lines folder) into a new
/// `dir/previous-<UTC time>/`.
pub(super) fn move_aside(dir: &Path) -> Result<Option<PathBuf>, JournalError> {
    let files: Vec<_> = RUN_FILES
        .iter()
        .filter(|name| dir.join(name).exists())
        .map(std::ffi::OsString::from)
        .collect();
    if files.is_empty() {
        return Ok(None);
    }
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ");
    let mut target = dir.join(format!("previous-{stamp}"));
    let mut n = 1;
    loop {
        match fs::create_dir(&target) {
            Ok(()) => break,
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                n += 1;
                target = dir.join(format!("previous-{stamp}-{n}"));
            }
            Err(err) => return Err(JournalError::io("create", &target)(err)),
        }
    }
    for name in files {
        let from = dir.join(&name);
        fs::rename(&from, target.join(&name)).map_err(JournalError::io("move aside", &from))?;
    }
    sync_dir(dir);
    Ok(Some(target))
}
