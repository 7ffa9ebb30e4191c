//! What can go wrong with a run folder's files: [`JournalError`].

use std::io;
use std::path::{Path, PathBuf};

/// What went wrong with a run folder's files.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// A new run was asked for in a folder that already holds results.
    #[error(
        "{} already holds {results} results from an earlier run: pass --resume to continue it (skipping finished items; add --retry-failed to rerun failures) or --fresh to move the old results aside",
        dir.display()
    )]
    AlreadyHasResults {
        /// The output folder.
        dir: PathBuf,
        /// How many lines its journal holds.
        results: u64,
    },
    /// A file or folder could not be read or written.
    #[error("could not {doing} {}: check that the path exists and that you may read and write it", path.display())]
    Io {
        /// What was being done, in words ("read", "create the output folder", …).
        doing: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A line of a JSON-lines file, not the last one, is not a valid record.
    #[error("{} line {line} is not a valid result record: repair or delete that line, then run again", path.display())]
    CorruptLine {
        /// The file.
        path: PathBuf,
        /// The line number, from 1.
        line: u64,
        /// Why it could not be read.
        #[source]
        source: serde_json::Error,
    },
    /// Another process holds the folder's lock: two writers would interleave their records.
    #[error("{} is in use by another pacer run: wait for it to end, or pick another output folder", dir.display())]
    Locked {
        /// The output folder.
        dir: PathBuf,
    },
    /// An export was asked to overwrite the journal it reads.
    #[error("{} is the run's journal: export to another file", path.display())]
    ExportOverJournal {
        /// The journal.
        path: PathBuf,
    },
    /// A JSON file of the run folder (`run.json`, `summary.json`) could not be read.
    #[error("{} is not valid: repair or delete it, then run again", path.display())]
    InvalidFile {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: serde_json::Error,
    },
}

impl JournalError {
    /// Whether this is the refusal to start a new run over earlier results.
    pub fn is_already_has_results(&self) -> bool {
        matches!(self, JournalError::AlreadyHasResults { .. })
    }

    pub(crate) fn io(doing: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| JournalError::Io {
            doing,
            path,
            source,
        }
    }
}
