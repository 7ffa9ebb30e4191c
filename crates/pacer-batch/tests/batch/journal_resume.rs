//! Resuming a journal: skipping what is done, repairing a torn last line, refusing a corrupt
//! one, taking failures out for `--retry-failed`, repeated keys, and 300 000 keys.

use std::fs::{self, OpenOptions};
use std::io::Write;

use crate::common::*;
use pacer_batch::{Journal, JournalError, Record, RecordStatus, Repaired};

#[test]
fn resume_skips_done_keys_and_appends() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_journal(
        dir,
        &[
            record("a", "p1", 0, true),
            record("a", "p1", 1, false),
            record("b", "p1", 0, true),
        ],
    );

    let (mut journal, done) = Journal::open(dir, RESUME).unwrap();
    assert_eq!(done.len(), 3);
    assert_eq!((done.succeeded(), done.failed()), (2, 1));
    assert!(done.contains("a", "p1", 0));
    assert!(
        done.contains("a", "p1", 1),
        "failures are done unless retried"
    );
    assert!(done.contains("b", "p1", 0));
    assert!(!done.contains("b", "p1", 1));
    assert!(!done.contains("a", "p2", 0));
    assert!(!done.contains("", "ap1", 0));
    assert_eq!(done.repaired(), None);

    journal.append(&record("b", "p1", 1, true)).unwrap();
    drop(journal);
    assert_eq!(read_records(&dir.join("results.jsonl")).len(), 4);
}

#[test]
fn resume_of_a_folder_without_journal_starts_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, done) = Journal::open(&tmp.path().join("new"), RETRY_FAILED).unwrap();
    assert!(done.is_empty());
}

#[test]
fn torn_last_line_is_cut_off_and_the_journal_stays_appendable() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_journal(
        dir,
        &[record("a", "p1", 0, true), record("a", "p2", 0, true)],
    );
    let path = dir.join("results.jsonl");
    let whole = fs::metadata(&path).unwrap().len();
    let torn = serde_json::to_string(&record("a", "p3", 0, true)).unwrap();
    let torn = &torn[..torn.len() / 2];
    OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(torn.as_bytes())
        .unwrap();

    let (mut journal, done) = Journal::open(dir, RESUME).unwrap();
    assert_eq!(
        done.repaired(),
        Some(Repaired {
            line: 3,
            dropped_bytes: torn.len() as u64
        })
    );
    assert_eq!(fs::metadata(&path).unwrap().len(), whole);
    assert_eq!(done.len(), 2);
    assert!(!done.contains("a", "p3", 0));

    journal.append(&record("a", "p3", 0, true)).unwrap();
    drop(journal);
    assert_eq!(keys(&read_records(&path)), ["a/p1#0", "a/p2#0", "a/p3#0"]);
}

#[test]
fn unparsable_last_line_with_newline_is_dropped_too() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_journal(dir, &[record("a", "p1", 0, true)]);
    let path = dir.join("results.jsonl");
    OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"{\"run_id\": \"a1\0\0\0\n")
        .unwrap();

    let (_, done) = Journal::open(dir, RESUME).unwrap();
    assert_eq!(done.repaired().unwrap().dropped_bytes, 18);
    assert_eq!(keys(&read_records(&path)), ["a/p1#0"]);
}

#[test]
fn corrupt_middle_line_is_an_error_naming_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let path = dir.join("results.jsonl");
    let line = |r: Record| serde_json::to_string(&r).unwrap() + "\n";
    let text = line(record("a", "p1", 0, true))
        + "{\"label\": \"a\", oops\n"
        + &line(record("a", "p2", 0, true));
    fs::write(&path, &text).unwrap();

    let err = Journal::open(dir, RESUME).unwrap_err();
    assert!(
        matches!(err, JournalError::CorruptLine { line: 2, .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("line 2"), "{message}");
    assert_eq!(fs::read_to_string(&path).unwrap(), text, "left untouched");
}

#[test]
fn retry_failed_keeps_one_line_per_key_and_moves_failures_aside() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let path = dir.join("results.jsonl");
    write_journal(
        dir,
        &[
            record("a", "p1", 0, true),
            record("a", "p2", 0, false),
            record("b", "p1", 0, true),
            record("b", "p2", 0, false),
        ],
    );

    let (mut journal, done) = Journal::open(dir, RETRY_FAILED).unwrap();
    assert_eq!(done.len(), 2);
    assert_eq!(done.retried_failures(), 2);
    assert_eq!((done.succeeded(), done.failed()), (2, 0));
    assert!(done.contains("a", "p1", 0) && done.contains("b", "p1", 0));
    assert!(!done.contains("a", "p2", 0) && !done.contains("b", "p2", 0));
    assert_eq!(keys(&read_records(&path)), ["a/p1#0", "b/p1#0"]);
    let moved = read_records(&dir.join("retried-failures.jsonl"));
    assert_eq!(keys(&moved), ["a/p2#0", "b/p2#0"]);
    assert!(moved.iter().all(|r| r.status == RecordStatus::Error));
    assert!(!dir.join("results.jsonl.tmp").exists());

    // The reruns append to the new journal: still one line per key.
    journal.append(&record("a", "p2", 0, true)).unwrap();
    journal.append(&record("b", "p2", 0, false)).unwrap();
    drop(journal);
    let (_, done) = Journal::open(dir, RETRY_FAILED).unwrap();
    assert_eq!((done.len(), done.retried_failures()), (3, 1));
    assert_eq!(keys(&read_records(&path)), ["a/p1#0", "b/p1#0", "a/p2#0"]);
    let moved = read_records(&dir.join("retried-failures.jsonl"));
    assert_eq!(keys(&moved), ["a/p2#0", "b/p2#0", "b/p2#0"]);

    // Nothing failed: nothing is rewritten.
    let before = fs::read(&path).unwrap();
    let (_, done) = Journal::open(dir, RETRY_FAILED).unwrap();
    assert_eq!((done.len(), done.retried_failures()), (3, 0));
    assert_eq!(fs::read(&path).unwrap(), before);
}

#[test]
fn retry_failed_appends_after_a_torn_line_in_the_failures_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fs::write(dir.join("retried-failures.jsonl"), "{\"torn").unwrap();
    write_journal(dir, &[record("a", "p1", 0, false)]);
    Journal::open(dir, RETRY_FAILED).unwrap();
    let moved = read_records(&dir.join("retried-failures.jsonl"));
    assert_eq!(keys(&moved), ["a/p1#0"]);
}

#[test]
fn a_repeated_key_counts_by_its_later_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let path = dir.join("results.jsonl");
    write_journal(
        dir,
        &[
            record("a", "p1", 0, true),
            record("a", "p2", 0, false),
            record("a", "p1", 0, false),
            record("a", "p2", 0, true),
            record("a", "p3", 0, true),
            record("a", "p3", 0, true),
        ],
    );

    let (_, done) = Journal::open(dir, RESUME).unwrap();
    assert_eq!((done.len(), done.duplicates()), (3, 3));
    assert_eq!((done.succeeded(), done.failed()), (2, 1));

    let (_, done) = Journal::open(dir, RETRY_FAILED).unwrap();
    assert_eq!((done.len(), done.retried_failures()), (2, 1));
    assert!(!done.contains("a", "p1", 0));
    let kept = read_records(&path);
    assert_eq!(keys(&kept), ["a/p2#0", "a/p3#0"]);
    assert!(kept.iter().all(|r| r.status == RecordStatus::Ok));
    let moved = read_records(&dir.join("retried-failures.jsonl"));
    assert_eq!(keys(&moved), ["a/p1#0", "a/p2#0", "a/p1#0", "a/p3#0"]);
}

#[test]
fn done_holds_300_000_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Whole records, written without serializing each one: debug builds serialize slowly.
    let template = serde_json::to_string(&record("@L@", "@P@", 0, true)).unwrap();
    let mut text = String::new();
    for i in 0..300_000u32 {
        let line = template
            .replace("@L@", &format!("model-{}", i % 3))
            .replace("@P@", &format!("prompt_{:06}", i / 3))
            .replace("\"sample\":0", &format!("\"sample\":{}", i % 2));
        text.push_str(&line);
        text.push('\n');
    }
    fs::write(dir.join("results.jsonl"), text).unwrap();

    let (_, done) = Journal::open(dir, RESUME).unwrap();
    assert_eq!(done.len(), 300_000);
    assert_eq!(done.duplicates(), 0);
    for i in 0..300_000u32 {
        let (label, prompt_id) = (format!("model-{}", i % 3), format!("prompt_{:06}", i / 3));
        assert!(done.contains(&label, &prompt_id, i % 2));
        assert!(!done.contains(&label, &prompt_id, 2 + i % 2));
    }
}
