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

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use chrono::Utc;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::record::{Record, RecordStatus};

/// The journal's file name inside the output folder.
pub const RESULTS_FILE: &str = "results.jsonl";
/// Where `--retry-failed` keeps the failed lines it takes out of the journal.
pub const RETRIED_FAILURES_FILE: &str = "retried-failures.jsonl";

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

/// The jobs a journal already holds, and what opening it found.
///
/// Keys are kept as 128-bit hashes of (label, prompt id, sample), keyed randomly for this
/// process, so millions of them fit in tens of megabytes; two different keys share a hash with
/// a probability near 2⁻¹²⁸ per pair.
pub struct Done {
    keys: HashSet<u128, BuildHasherDefault<PreHashed>>,
    hashing: KeyHashing,
    succeeded: u64,
    failed: u64,
    retried_failures: u64,
    duplicates: u64,
    repaired: Option<Repaired>,
    moved_aside: Option<PathBuf>,
}

/// A torn last line that [`Journal::open`] cut off the journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repaired {
    /// The line number of the torn line, from 1.
    pub line: u64,
    /// How many bytes were cut off.
    pub dropped_bytes: u64,
}

impl Done {
    fn new(hashing: KeyHashing) -> Self {
        Self {
            keys: HashSet::default(),
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

/// The fields of a line that resuming needs; the rest is skipped unparsed.
#[derive(Deserialize)]
struct KeyLine {
    label: String,
    prompt_id: String,
    sample: u32,
    status: RecordStatus,
}

fn resume(dir: &Path, path: &Path, retry_failed: bool) -> Result<Done, JournalError> {
    let hashing = KeyHashing::new();
    let mut done = Done::new(hashing.clone());
    let tmp = temp_path(path);
    if tmp.exists() {
        // Left by a --retry-failed rewrite that crashed before its rename: results.jsonl is
        // still the old, whole file.
        fs::remove_file(&tmp).map_err(JournalError::io("remove", &tmp))?;
    }
    if !path.exists() {
        return Ok(done);
    }
    let mut ok = HashSet::<u128, BuildHasherDefault<PreHashed>>::default();
    let mut failed = HashSet::<u128, BuildHasherDefault<PreHashed>>::default();
    let scan = scan_lines(path, |_, _, line: KeyLine| {
        let key = hashing.hash(&line.label, &line.prompt_id, line.sample);
        let seen = match line.status {
            RecordStatus::Ok => failed.remove(&key) | !ok.insert(key),
            RecordStatus::Error => ok.remove(&key) | !failed.insert(key),
        };
        done.duplicates += u64::from(seen);
        Ok(())
    })?;
    if scan.torn_bytes > 0 {
        truncate(path, scan.whole_len)?;
        done.repaired = Some(Repaired {
            line: scan.lines + 1,
            dropped_bytes: scan.torn_bytes,
        });
    }
    done.succeeded = ok.len() as u64;
    if retry_failed && (!failed.is_empty() || done.duplicates > 0) {
        take_out_failures(dir, path, &hashing, &ok, done.duplicates > 0)?;
        done.retried_failures = failed.len() as u64;
    } else if !retry_failed {
        done.failed = failed.len() as u64;
        ok.extend(failed);
    }
    done.keys = ok;
    Ok(done)
}

/// Rewrites the journal with only the last line of each succeeded job, moving every other
/// line to `retried-failures.jsonl`. The new journal is written aside, synced, then renamed
/// over the old one, so a crash leaves the old journal or the new one, whole. (A crash before
/// the rename may leave some failed lines twice in `retried-failures.jsonl`, an archive.)
fn take_out_failures(
    dir: &Path,
    path: &Path,
    hashing: &KeyHashing,
    ok: &HashSet<u128, BuildHasherDefault<PreHashed>>,
    has_duplicates: bool,
) -> Result<(), JournalError> {
    let last_line = if has_duplicates {
        let mut last = HashMap::<u128, u64, BuildHasherDefault<PreHashed>>::default();
        scan_lines(path, |number, _, line: KeyLine| {
            last.insert(
                hashing.hash(&line.label, &line.prompt_id, line.sample),
                number,
            );
            Ok(())
        })?;
        Some(last)
    } else {
        None
    };
    let failures_path = dir.join(RETRIED_FAILURES_FILE);
    let failures_file = OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(&failures_path)
        .map_err(JournalError::io("open", &failures_path))?;
    cut_torn_tail(&failures_file).map_err(JournalError::io("repair", &failures_path))?;
    let mut failures = BufWriter::new(failures_file);
    write_atomically(path, |kept| {
        scan_lines(path, |number, raw, line: KeyLine| {
            let key = hashing.hash(&line.label, &line.prompt_id, line.sample);
            let is_last = last_line.as_ref().is_none_or(|last| last[&key] == number);
            let keep = line.status == RecordStatus::Ok && ok.contains(&key) && is_last;
            let (out, out_path): (&mut dyn Write, &Path) = if keep {
                (&mut *kept, path)
            } else {
                (&mut failures, &failures_path)
            };
            out.write_all(raw)
                .and_then(|()| out.write_all(b"\n"))
                .map_err(JournalError::io("write", out_path))
        })?;
        // The failures must be safe on disk before they leave the journal.
        failures
            .flush()
            .and_then(|()| failures.get_ref().sync_data())
            .map_err(JournalError::io("write", &failures_path))
    })
}

/// Moves every file of `dir` (not its folders) into a new `dir/previous-<UTC time>/`.
/// The lock file that keeps a second process out of a run folder.
const LOCK_FILE: &str = ".pacer.lock";

/// The files of a run folder that `--fresh` moves aside; anything else (a prompts file kept
/// there, say) stays where it is.
const RUN_FILES: [&str; 6] = [
    RESULTS_FILE,
    RETRIED_FAILURES_FILE,
    "run.json",
    "summary.json",
    "results.json",
    "invalid_inputs.jsonl",
];

fn lock(dir: &Path) -> Result<File, JournalError> {
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

fn move_aside(dir: &Path) -> Result<Option<PathBuf>, JournalError> {
    let files: Vec<_> = RUN_FILES
        .iter()
        .filter(|name| dir.join(name).is_file())
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

/// Lines in `path` (0 when it does not exist), read in chunks.
fn count_lines(path: &Path) -> Result<u64, JournalError> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(err) => return Err(JournalError::io("read", path)(err)),
    };
    let mut buf = vec![0; 64 * 1024];
    let (mut lines, mut last) = (0, b'\n');
    loop {
        let n = file
            .read(&mut buf)
            .map_err(JournalError::io("read", path))?;
        if n == 0 {
            return Ok(lines + u64::from(last != b'\n'));
        }
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        last = buf[n - 1];
    }
}

fn truncate(path: &Path, len: u64) -> Result<(), JournalError> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(JournalError::io("open", path))?;
    file.set_len(len)
        .and_then(|()| file.sync_all())
        .map_err(JournalError::io("repair", path))
}

/// Cuts `file` back to just after its last newline, so appends start on a line of their own.
fn cut_torn_tail(mut file: &File) -> io::Result<()> {
    let len = file.metadata()?.len();
    let mut end = len;
    let mut chunk = [0u8; 8192];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let part = &mut chunk[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(part)?;
        if let Some(i) = part.iter().rposition(|&b| b == b'\n') {
            end = start + i as u64 + 1;
            break;
        }
        end = start;
    }
    if end < len {
        file.set_len(end)?;
    }
    Ok(())
}

/// Where a scan of a JSON-lines file stopped.
pub(crate) struct Scan {
    /// Whole lines read (blank ones included).
    pub(crate) lines: u64,
    /// Bytes up to the end of the last whole, valid line.
    pub(crate) whole_len: u64,
    /// Bytes after it: a torn last line, or 0.
    pub(crate) torn_bytes: u64,
}

/// Streams `path` line by line, handing `visit` each line's number (from 1), its bytes and
/// its parse as `T`. Blank lines are skipped. A last line that has no newline or does not
/// parse is torn: the scan stops before it. Any other line that does not parse is an error.
pub(crate) fn scan_lines<T: DeserializeOwned>(
    path: &Path,
    mut visit: impl FnMut(u64, &[u8], T) -> Result<(), JournalError>,
) -> Result<Scan, JournalError> {
    let file = File::open(path).map_err(JournalError::io("read", path))?;
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let mut buf = Vec::new();
    let mut scan = Scan {
        lines: 0,
        whole_len: 0,
        torn_bytes: 0,
    };
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(JournalError::io("read", path))? as u64;
        if n == 0 {
            return Ok(scan);
        }
        if buf.last() != Some(&b'\n') {
            scan.torn_bytes = n;
            return Ok(scan);
        }
        let body = buf.trim_ascii_end();
        if !body.is_empty() {
            match serde_json::from_slice(body) {
                Ok(value) => visit(scan.lines + 1, body, value)?,
                Err(source) => {
                    let at_end = reader
                        .fill_buf()
                        .map_err(JournalError::io("read", path))?
                        .is_empty();
                    if at_end {
                        scan.torn_bytes = n;
                        return Ok(scan);
                    }
                    return Err(JournalError::CorruptLine {
                        path: path.to_path_buf(),
                        line: scan.lines + 1,
                        source,
                    });
                }
            }
        }
        scan.lines += 1;
        scan.whole_len += n;
    }
}

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

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Makes a rename in `dir` durable. Best effort: some file systems refuse to sync a folder,
/// and the rename itself is already atomic.
fn sync_dir(dir: &Path) {
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
