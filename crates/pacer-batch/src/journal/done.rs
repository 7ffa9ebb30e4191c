//! The set of finished jobs a resumed run skips ([`Done`]), kept as 128-bit key hashes.

use std::collections::HashSet;
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::path::{Path, PathBuf};

/// The jobs a journal already holds, and what opening it found.
///
/// Keys are kept as 128-bit hashes of (label, prompt id, sample), keyed randomly for this
/// process, so millions of them fit in tens of megabytes; two different keys share a hash with
/// a probability near 2⁻¹²⁸ per pair.
pub struct Done {
    pub(super) keys: HashSet<u128, BuildHasherDefault<PreHashed>>,
    /// The jobs whose failed records `--retry-failed` took out of the journal at opening.
    pub(super) retried: HashSet<u128, BuildHasherDefault<PreHashed>>,
    pub(super) hashing: KeyHashing,
    pub(super) succeeded: u64,
    pub(super) failed: u64,
    pub(super) retried_failures: u64,
    pub(super) duplicates: u64,
    pub(super) repaired: Option<Repaired>,
    pub(super) moved_aside: Option<PathBuf>,
}

/// A torn last line that [`Journal::open`](super::Journal::open) cut off the journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repaired {
    /// The line number of the torn line, from 1.
    pub line: u64,
    /// How many bytes were cut off.
    pub dropped_bytes: u64,
}

impl Done {
    pub(super) fn new(hashing: KeyHashing) -> Self {
        Self {
            keys: HashSet::default(),
            retried: HashSet::default(),
            hashing,
            succeeded: 0,
            failed: 0,
            retried_failures: 0,
            duplicates: 0,
            repaired: None,
            moved_aside: None,
        }
    }

    /// Whether the job (`label`, `prompt_id`, `sample`) is done and must not run again.
    pub fn contains(&self, label: &str, prompt_id: &str, sample: u32) -> bool {
        self.keys
            .contains(&self.hashing.hash(label, prompt_id, sample))
    }

    /// Whether the job's failed record was taken out of the journal by `--retry-failed` as
    /// it opened: the job runs again (in batch mode: in a new batch, not the one that
    /// failed it).
    pub fn was_retried(&self, label: &str, prompt_id: &str, sample: u32) -> bool {
        self.retried
            .contains(&self.hashing.hash(label, prompt_id, sample))
    }

    /// How many jobs are done.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no job is done.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Done jobs whose record succeeded.
    pub fn succeeded(&self) -> u64 {
        self.succeeded
    }

    /// Done jobs whose record failed (0 after `--retry-failed`: those run again).
    pub fn failed(&self) -> u64 {
        self.failed
    }

    /// Failed jobs taken out of the journal by `--retry-failed`, to run again.
    pub fn retried_failures(&self) -> u64 {
        self.retried_failures
    }

    /// Lines that repeated a job already seen (should be 0). The later line wins: its status
    /// decides whether the job is done, and `--retry-failed` keeps only that line.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// The torn last line cut off the journal, if there was one.
    pub fn repaired(&self) -> Option<Repaired> {
        self.repaired
    }

    /// Where `OpenMode::Fresh` moved the folder's earlier files, if there were any.
    pub fn moved_aside(&self) -> Option<&Path> {
        self.moved_aside.as_deref()
    }
}

impl fmt::Debug for Done {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Done")
            .field("len", &self.keys.len())
            .field("succeeded", &self.succeeded)
            .field("failed", &self.failed)
            .field("retried_failures", &self.retried_failures)
            .field("duplicates", &self.duplicates)
            .field("repaired", &self.repaired)
            .field("moved_aside", &self.moved_aside)
            .finish()
    }
}

/// Hashes job keys to 128 bits with two independently keyed SipHashes. The keys are random
/// per process: the hashes are never written anywhere.
#[derive(Clone, Debug)]
pub(crate) struct KeyHashing {
    high: RandomState,
    low: RandomState,
}

impl KeyHashing {
    pub(crate) fn new() -> Self {
        Self {
            high: RandomState::new(),
            low: RandomState::new(),
        }
    }

    pub(crate) fn hash(&self, label: &str, prompt_id: &str, sample: u32) -> u128 {
        let key = (label, prompt_id, sample);
        let high = self.high.hash_one(key);
        let low = self.low.hash_one((0x5a_u8, key));
        (u128::from(high) << 64) | u128::from(low)
    }
}

/// A hasher for keys that are already uniform hashes: it passes their low bits through.
#[derive(Default)]
pub(crate) struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u128(&mut self, value: u128) {
        self.0 = value as u64;
    }
}
