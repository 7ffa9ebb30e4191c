//! Building one batch: its lines written to `OUTPUT/batches/<tag>.jsonl` as jobs come, until
//! the next line would pass a limit (the provider's requests and bytes, the configured
//! `batch_size`, the model's enqueued-token limit).

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::ledger::{BATCH_LINES_DIR, LedgerJob};
use crate::JournalError;

/// How large a batch may grow.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Caps {
    /// Lines.
    pub requests: usize,
    /// Bytes, newlines included.
    pub bytes: u64,
    /// Estimated tokens (the enqueued-token limit), if capped.
    pub tokens: Option<u64>,
}

/// A batch being filled.
#[derive(Debug)]
pub(crate) struct Builder {
    pub tag: String,
    pub path: PathBuf,
    file: BufWriter<File>,
    pub jobs: Vec<LedgerJob>,
    bytes: u64,
    pub tokens: u64,
    pub input_tokens: u64,
}

/// A batch built: its lines are on disk, synced.
#[derive(Debug)]
pub(crate) struct Built {
    pub tag: String,
    pub jobs: Vec<LedgerJob>,
    pub tokens: u64,
    pub input_tokens: u64,
}

/// Where a batch's lines are kept.
pub(crate) fn lines_path(dir: &Path, tag: &str) -> PathBuf {
    dir.join(BATCH_LINES_DIR).join(format!("{tag}.jsonl"))
}

impl Builder {
    /// Starts the batch `tag`'s lines file in `dir` (replacing a file a crash left before
    /// its batch was journalled).
    pub(crate) fn start(dir: &Path, tag: String) -> Result<Builder, JournalError> {
        let path = lines_path(dir, &tag);
        let parent = dir.join(BATCH_LINES_DIR);
        fs::create_dir_all(&parent).map_err(JournalError::io("create", &parent))?;
        let file = File::create(&path).map_err(JournalError::io("create", &path))?;
        Ok(Builder {
            tag,
            path,
            file: BufWriter::new(file),
            jobs: Vec::new(),
            bytes: 0,
            tokens: 0,
            input_tokens: 0,
        })
    }

    /// Whether a line of `len` bytes and `tokens` tokens still fits. The first line always
    /// does: a request larger than a whole batch is sent alone.
    pub(crate) fn fits(&self, caps: &Caps, len: usize, tokens: u64) -> bool {
        self.jobs.is_empty()
            || (self.jobs.len() < caps.requests
                && self.bytes + (len as u64) < caps.bytes
                && caps.tokens.is_none_or(|cap| self.tokens + tokens <= cap))
    }

    /// Adds a line of `tokens` estimated tokens, `input_tokens` of them the prompt's.
    pub(crate) fn push(
        &mut self,
        job: LedgerJob,
        line: &[u8],
        tokens: u64,
        input_tokens: u64,
    ) -> Result<(), JournalError> {
        self.file
            .write_all(line)
            .and_then(|()| self.file.write_all(b"\n"))
            .map_err(JournalError::io("write", &self.path))?;
        self.bytes += line.len() as u64 + 1;
        self.tokens += tokens;
        self.input_tokens += input_tokens;
        self.jobs.push(job);
        Ok(())
    }

    /// Whether no line was added.
    pub(crate) fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Flushes and syncs the lines: the batch may be journalled now.
    pub(crate) fn finish(self) -> Result<Built, JournalError> {
        let path = self.path;
        let file = self
            .file
            .into_inner()
            .map_err(|e| JournalError::io("write", &path)(e.into_error()))?;
        file.sync_all().map_err(JournalError::io("write", &path))?;
        // The file's name too: the ledger will point at it.
        if let Some(folder) = path.parent() {
            crate::journal::sync_dir(folder);
        }
        Ok(Built {
            tag: self.tag,
            jobs: self.jobs,
            tokens: self.tokens,
            input_tokens: self.input_tokens,
        })
    }
}
