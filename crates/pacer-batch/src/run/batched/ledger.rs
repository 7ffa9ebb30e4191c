//! The batch ledger, `OUTPUT/batches.jsonl`: what the run did with the providers' batch APIs,
//! one event a line, appended and synced before the step it allows. It is what keeps a crash
//! from paying twice:
//!
//! - `intended`: a batch's jobs and their custom ids, written (with its lines file) before
//!   anything is uploaded, so a resume knows which jobs are out and never puts them in
//!   another batch while this one may run;
//! - `uploaded`: the provider's file id, so a resume creates the batch from the same file;
//! - `submitting`: written just before the create call; a resume that finds no `created`
//!   after it asks the provider's listing for the tag before creating anything;
//! - `created`: the provider's batch id; a resume polls it instead of submitting;
//! - `refused`: the provider refused the batch (its queue limit): nothing ran, submit again;
//! - `ended`: the last state seen, for `pacer batches`.
//!
//! Whether a batch's results are in needs no event: its jobs' records are in the journal.
//! Hand-written, as the journal is: this file's order of writes is the product's promise.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::JournalError;

/// The ledger's file name inside the output folder.
pub const BATCHES_FILE: &str = "batches.jsonl";
/// The folder, inside the output folder, of the batches' input lines.
pub const BATCH_LINES_DIR: &str = "batches";

/// One job of a batch: its custom id number, prompt id and sample.
pub(crate) type LedgerJob = (u64, String, u32);

/// One line of the ledger.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub(crate) enum Event {
    /// A batch was built: its lines file is written, nothing is sent yet.
    Intended {
        /// The batch's tag, unique in the run (`pacer-<run id>-<number>`).
        tag: String,
        /// The model's label.
        label: String,
        /// When, in seconds since the Unix epoch.
        at: f64,
        /// Its jobs, in line order.
        jobs: Vec<LedgerJob>,
        /// Its estimated tokens (prompts and output caps), for the queue limit.
        tokens: u64,
        /// Of those, the prompts'.
        #[serde(default)]
        input_tokens: u64,
    },
    /// Its lines were uploaded as this file.
    Uploaded {
        /// The batch's tag.
        tag: String,
        /// The provider's file id.
        file: String,
    },
    /// Its creation is about to be asked for.
    Submitting {
        /// The batch's tag.
        tag: String,
        /// When, in seconds since the Unix epoch.
        at: f64,
    },
    /// The provider created it.
    Created {
        /// The batch's tag.
        tag: String,
        /// The provider's batch id.
        id: String,
    },
    /// The provider refused it for its queue limit; nothing ran.
    Refused {
        /// The batch's tag.
        tag: String,
        /// What the provider said.
        message: String,
    },
    /// The last state seen.
    Ended {
        /// The batch's tag.
        tag: String,
        /// The provider's word for it.
        state: String,
    },
}

/// What the ledger says of one batch.
#[derive(Clone, Debug, PartialEq)]
pub struct LedgerBatch {
    /// Its tag.
    pub tag: String,
    /// The model's label.
    pub label: String,
    /// When it was built.
    pub at: SystemTime,
    /// Its jobs: custom id number, prompt id, sample.
    pub jobs: Vec<(u64, String, u32)>,
    /// Its estimated tokens.
    pub tokens: u64,
    /// Of those, the prompts'.
    pub input_tokens: u64,
    /// Its uploaded file, if any.
    pub file: Option<String>,
    /// When its creation was last asked for, if it was.
    pub submitting: Option<SystemTime>,
    /// Its id at the provider, once created (and not refused since).
    pub id: Option<String>,
    /// The last state seen.
    pub state: Option<String>,
}

/// The ledger, open for appending.
#[derive(Debug)]
pub(crate) struct Ledger {
    path: PathBuf,
    file: File,
}

/// Seconds since the Unix epoch.
pub(crate) fn unix(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn from_unix(seconds: f64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs_f64(seconds.max(0.0))
}

impl Ledger {
    /// Opens (creating it if needed) the ledger of the run in `dir`, cutting off a torn
    /// last line so that the next event starts a line of its own.
    pub(crate) fn open(dir: &Path) -> Result<Ledger, JournalError> {
        let path = dir.join(BATCHES_FILE);
        let io = |e| JournalError::io("open the batch ledger", &path)(e);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&path)
            .map_err(io)?;
        let whole = std::fs::read(&path).map_err(io)?;
        if whole.last().is_some_and(|&b| b != b'\n') {
            let keep = whole.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            file.set_len(keep as u64).map_err(io)?;
        }
        // A ledger just created must survive with its folder.
        crate::journal::sync_dir(dir);
        Ok(Ledger { path, file })
    }

    /// Appends `event` and syncs it to the disk before returning: the step it allows may
    /// cost money.
    pub(crate) fn append(&mut self, event: &Event) -> Result<(), JournalError> {
        let mut line = serde_json::to_vec(event).expect("events serialize");
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| self.file.sync_data())
            .map_err(JournalError::io("write the batch ledger", &self.path))
    }
}

/// Reads the ledger of the run in `dir`: its batches in the order they were built (none when
/// there is no ledger). A torn last line (a crash mid-write) is ignored: the step it would
/// have allowed was not taken.
pub fn read_ledger(dir: &Path) -> Result<Vec<LedgerBatch>, JournalError> {
    let path = dir.join(BATCHES_FILE);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(JournalError::io("read the batch ledger", &path)(e)),
    };
    let mut batches: Vec<LedgerBatch> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(JournalError::io("read the batch ledger", &path))?;
        if read == 0 {
            break;
        }
        // Bytes, not text: a line torn inside a character is skipped like any torn line.
        let Ok(event) = serde_json::from_slice::<Event>(&line) else {
            continue;
        };
        apply(event, &mut batches, &mut index);
    }
    Ok(batches)
}

fn apply(event: Event, batches: &mut Vec<LedgerBatch>, index: &mut HashMap<String, usize>) {
    if let Event::Intended {
        tag,
        label,
        at,
        jobs,
        tokens,
        input_tokens,
    } = event
    {
        index.insert(tag.clone(), batches.len());
        batches.push(LedgerBatch {
            tag,
            label,
            at: from_unix(at),
            jobs,
            tokens,
            input_tokens,
            file: None,
            submitting: None,
            id: None,
            state: None,
        });
        return;
    }
    let tag = match &event {
        Event::Uploaded { tag, .. }
        | Event::Submitting { tag, .. }
        | Event::Created { tag, .. }
        | Event::Refused { tag, .. }
        | Event::Ended { tag, .. } => tag,
        Event::Intended { .. } => unreachable!("handled above"),
    };
    let Some(batch) = index.get(tag).map(|&i| &mut batches[i]) else {
        return;
    };
    match event {
        Event::Uploaded { file, .. } => batch.file = Some(file),
        Event::Submitting { at, .. } => batch.submitting = Some(from_unix(at)),
        Event::Created { id, .. } => batch.id = Some(id),
        Event::Refused { message, .. } => {
            batch.id = None;
            batch.submitting = None;
            batch.state = Some(format!("refused: {message}"));
        }
        Event::Ended { state, .. } => batch.state = Some(state),
        Event::Intended { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_replay_into_batches_and_a_torn_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::open(dir.path()).unwrap();
        let tag = "pacer-abc-1".to_string();
        ledger
            .append(&Event::Intended {
                tag: tag.clone(),
                label: "m".into(),
                at: 1.0,
                jobs: vec![(0, "p".into(), 0)],
                tokens: 10,
                input_tokens: 4,
            })
            .unwrap();
        ledger
            .append(&Event::Uploaded {
                tag: tag.clone(),
                file: "file-1".into(),
            })
            .unwrap();
        ledger
            .append(&Event::Created {
                tag: tag.clone(),
                id: "batch_1".into(),
            })
            .unwrap();
        ledger
            .append(&Event::Refused {
                tag: tag.clone(),
                message: "queue".into(),
            })
            .unwrap();
        drop(ledger);
        let mut file = OpenOptions::new()
            .append(true)
            .open(dir.path().join(BATCHES_FILE))
            .unwrap();
        file.write_all(b"{\"event\":\"created\",\"tag\":\"pacer-abc-1\",\"i")
            .unwrap();
        let batches = read_ledger(dir.path()).unwrap();
        assert_eq!(batches.len(), 1);
        let mut ledger = Ledger::open(dir.path()).unwrap();
        ledger
            .append(&Event::Ended {
                tag: tag.clone(),
                state: "completed".into(),
            })
            .unwrap();
        let batches = read_ledger(dir.path()).unwrap();
        assert_eq!(
            batches[0].state.as_deref(),
            Some("completed"),
            "the torn tail was cut"
        );
        assert_eq!(batches[0].file.as_deref(), Some("file-1"));
        assert_eq!(
            batches[0].id, None,
            "refused, and the torn created is ignored"
        );
        assert_eq!(batches[0].jobs, vec![(0, "p".to_string(), 0)]);
    }
}
