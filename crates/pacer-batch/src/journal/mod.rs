//! The journal: `OUTPUT/results.jsonl`, one [`Record`] a line, appended and never rewritten in
//! place, and what a resumed run learns from it ([`Done`]).
//!
//! Each record is written with one `write` and reaches the operating system before
//! [`Journal::append`] returns, so killing the process (`kill -9`, a crash, Ctrl-C twice) loses
//! at most the line being written. No `fsync` per record: that would cost a disk flush per
//! request and only adds safety against the whole machine losing power; [`Journal::sync`] does
//! it once at the end of a run. A torn last line (power loss, a full disk) is found and cut off
//! when the run is resumed.
//!
//! The other files of a run folder (`run.json`, `summary.json`, exports) are replaced whole,
//! through a temporary file and a rename, so they too are always old or new, never half.

mod atomic;
mod done;
mod error;
mod fresh;
mod lock;
mod resume;
mod scan;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::record::Record;

pub(crate) use atomic::{sync_dir, write_atomically};
pub use done::{Done, Repaired};
pub(crate) use done::{KeyHashing, PreHashed};
pub use error::JournalError;
pub(crate) use scan::scan_lines;

use fresh::move_aside;
use lock::lock;
use resume::resume;
use scan::count_lines;

/// The journal's file name inside the output folder.
pub const RESULTS_FILE: &str = "results.jsonl";
/// Where `--retry-failed` keeps the failed lines it takes out of the journal.
pub const RETRIED_FAILURES_FILE: &str = "retried-failures.jsonl";

/// How [`Journal::open`] treats results already in the folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Start a new run; refuse a folder whose journal already holds results.
    New,
    /// Continue the earlier run: finished jobs are skipped.
    Resume {
        /// Take failed records out of the journal (into `retried-failures.jsonl`) so that
        /// their jobs run again.
        retry_failed: bool,
    },
    /// Move every file of the folder into `previous-<UTC time>/`, then start empty.
    Fresh,
}

/// The append-only journal of a run.
///
/// One writer per folder: lanes share it behind a mutex or send their records to the task
/// that owns it. The [`Done`] returned by [`Journal::open`] is a snapshot of the folder at
/// opening; appends do not change it.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    /// Bytes of whole lines in the file, to cut a failed append back off.
    len: u64,
    line: Vec<u8>,
    /// Held for the journal's life: one writer per folder, across processes.
    _lock: File,
}

impl Journal {
    /// Opens (creating it if needed) the journal in `dir`, treating earlier results as `mode`
    /// says, and returns it with the set of jobs already done.
    pub fn open(dir: &Path, mode: OpenMode) -> Result<(Journal, Done), JournalError> {
        fs::create_dir_all(dir).map_err(JournalError::io("create the output folder", dir))?;
        let lock = lock(dir)?;
        let path = dir.join(RESULTS_FILE);
        let done = match mode {
            OpenMode::New => {
                let results = count_lines(&path)?;
                if results > 0 {
                    return Err(JournalError::AlreadyHasResults {
                        dir: dir.to_path_buf(),
                        results,
                    });
                }
                Done::new(KeyHashing::new())
            }
            OpenMode::Fresh => {
                let mut done = Done::new(KeyHashing::new());
                done.moved_aside = move_aside(dir)?;
                done
            }
            OpenMode::Resume { retry_failed } => resume(dir, &path, retry_failed)?,
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(JournalError::io("open the journal", &path))?;
        let len = file
            .metadata()
            .map_err(JournalError::io("open the journal", &path))?
            .len();
        let journal = Journal {
            path,
            file,
            len,
            line: Vec::new(),
            _lock: lock,
        };
        Ok((journal, done))
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `record` as one line and hands it to the operating system.
    ///
    /// The line is serialized whole before anything is written, so a record that fails to
    /// serialize leaves the file untouched; a write that fails part-way (a full disk) is cut
    /// back off, so that later lines do not land after half a line.
    pub fn append(&mut self, record: &Record) -> io::Result<()> {
        self.append_all(std::slice::from_ref(record))
    }

    /// Appends `records`, one line each, in one write: what a busy writer has queued goes
    /// out together instead of one system call per record. Nothing is held back: the lines
    /// reach the operating system before this returns, with the same all-or-nothing care as
    /// [`append`](Self::append).
    pub fn append_all(&mut self, records: &[Record]) -> io::Result<()> {
        self.line.clear();
        for record in records {
            serde_json::to_writer(&mut self.line, record)?;
            self.line.push(b'\n');
        }
        match self.file.write_all(&self.line) {
            Ok(()) => {
                self.len += self.line.len() as u64;
                // A burst of large records must not keep a large buffer for the whole run.
                if self.line.capacity() > 1 << 20 {
                    self.line = Vec::with_capacity(64 << 10);
                }
                Ok(())
            }
            Err(err) => {
                // Best effort: if this fails too, the next resume drops the torn lines.
                let _ = self.file.set_len(self.len);
                Err(err)
            }
        }
    }

    /// Flushes the journal to the disk itself (`fsync`): call once when the run ends.
    pub fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }
}
