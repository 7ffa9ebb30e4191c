//! The run manifest, `OUTPUT/run.json`: the run's id, when it started, and the config it ran
//! with. A resumed run reads it back and keeps the same `run_id`.

use std::fs;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::io;
use std::path::Path;
use std::time::SystemTime;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::journal::{JournalError, write_atomically};
use crate::record::format_timestamp;

/// The manifest's file name inside the output folder.
pub const MANIFEST_FILE: &str = "run.json";

/// What a run folder holds besides its results: who the run is and how it was configured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The run's id: 8 hex characters, written into every record.
    pub run_id: String,
    /// When the run first started, RFC 3339 UTC.
    pub started_at: String,
    /// The prompts file, as given.
    pub prompts_file: Option<String>,
    /// The config the run used, with its secrets already redacted by the caller.
    pub config: Value,
}

impl Manifest {
    /// A manifest for a run starting now, with a new run id.
    pub fn new(prompts_file: Option<String>, config: Value) -> Self {
        Self {
            run_id: new_run_id(),
            started_at: format_timestamp(&Utc::now()),
            prompts_file,
            config,
        }
    }

    /// Reads `dir/run.json`; `None` when there is none.
    pub fn read(dir: &Path) -> Result<Option<Manifest>, JournalError> {
        read_json(&dir.join(MANIFEST_FILE))
    }

    /// Writes `dir/run.json`, replacing any earlier one whole.
    pub fn write(&self, dir: &Path) -> Result<(), JournalError> {
        let path = dir.join(MANIFEST_FILE);
        write_atomically(&path, |out| {
            serde_json::to_writer_pretty(&mut *out, self)
                .map_err(io::Error::from)
                .map_err(JournalError::io("write", &path))
        })
    }
}

/// A new run id: 8 lowercase hex characters, from a randomly keyed hash of the time and the
/// process id. Unique enough to tell runs apart; not a secret.
pub fn new_run_id() -> String {
    let mut hasher = RandomState::new().build_hasher();
    SystemTime::now().hash(&mut hasher);
    std::process::id().hash(&mut hasher);
    format!("{:08x}", hasher.finish() as u32)
}

/// Reads a JSON file of the run folder; `None` when it does not exist.
pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(
    path: &Path,
) -> Result<Option<T>, JournalError> {
    let text = match fs::read(path) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(JournalError::io("read", path)(err)),
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|source| JournalError::InvalidFile {
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_id_is_eight_hex_chars() {
        let id = new_run_id();
        assert_eq!(id.len(), 8);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }

    #[test]
    fn writes_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Manifest::read(dir.path()).unwrap(), None);
        let manifest = Manifest::new(Some("p.jsonl".into()), serde_json::json!({"seed": 42}));
        manifest.write(dir.path()).unwrap();
        assert_eq!(Manifest::read(dir.path()).unwrap(), Some(manifest));
        assert!(!dir.path().join("run.json.tmp").exists());
    }
}
