//! Resuming a run: reading which jobs the journal already holds, repairing a torn last line,
//! and, for `--retry-failed`, taking failed lines out of the journal.

use std::collections::{HashMap, HashSet};
use std::fs::{self, OpenOptions};
use std::hash::BuildHasherDefault;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::Deserialize;

use super::atomic::{temp_path, write_atomically};
use super::scan::{cut_torn_tail, scan_lines, truncate};
use super::{Done, JournalError, KeyHashing, PreHashed, RETRIED_FAILURES_FILE, Repaired};
use crate::record::RecordStatus;

/// The fields of a line that resuming needs; the rest is skipped unparsed.
#[derive(Deserialize)]
struct KeyLine {
    label: String,
    prompt_id: String,
    sample: u32,
    status: RecordStatus,
}

pub(super) fn resume(dir: &Path, path: &Path, retry_failed: bool) -> Result<Done, JournalError> {
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
        done.retried = failed;
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
