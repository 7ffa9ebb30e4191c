//! Opening a journal for a new run or a fresh start: refusing a folder with results, moving
//! the run's files aside, and keeping a second writer out.

use std::fs;

use crate::common::*;
use pacer_batch::{Journal, OpenMode};

#[test]
fn new_creates_the_folder_and_refuses_one_with_results() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out/run1");
    write_journal(
        &dir,
        &[record("a", "p1", 0, true), record("a", "p2", 0, false)],
    );

    let err = Journal::open(&dir, OpenMode::New).unwrap_err();
    assert!(err.is_already_has_results());
    assert_eq!(
        err.to_string(),
        format!(
            "{} already holds 2 results from an earlier run: pass --resume to continue it \
             (skipping finished items; add --retry-failed to rerun failures) or --fresh to move \
             the old results aside",
            dir.display()
        )
    );
}

#[test]
fn new_accepts_an_empty_journal() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("results.jsonl"), "").unwrap();
    let (_, done) = Journal::open(tmp.path(), OpenMode::New).unwrap();
    assert!(done.is_empty());
}

#[test]
fn fresh_moves_every_file_aside_and_starts_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_journal(
        dir,
        &[record("a", "p1", 0, true), record("a", "p2", 0, true)],
    );
    fs::write(dir.join("run.json"), "{}").unwrap();

    let (mut journal, done) = Journal::open(dir, OpenMode::Fresh).unwrap();
    assert!(done.is_empty());
    let aside = done.moved_aside().unwrap().to_path_buf();
    let name = aside.file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with("previous-2") && name.contains('T'),
        "{name}"
    );
    assert_eq!(read_records(&aside.join("results.jsonl")).len(), 2);
    assert!(aside.join("run.json").exists());
    assert!(!dir.join("run.json").exists());
    assert_eq!(fs::read_to_string(dir.join("results.jsonl")).unwrap(), "");

    journal.append(&record("a", "p1", 0, true)).unwrap();
    drop(journal);
    // A second fresh start in the same second gets its own folder and leaves the first alone.
    let (_, done) = Journal::open(dir, OpenMode::Fresh).unwrap();
    let second = done.moved_aside().unwrap();
    assert_ne!(second, aside);
    assert_eq!(read_records(&second.join("results.jsonl")).len(), 1);
    assert_eq!(read_records(&aside.join("results.jsonl")).len(), 2);
}

#[test]
fn fresh_on_an_empty_folder_moves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, done) = Journal::open(tmp.path(), OpenMode::Fresh).unwrap();
    assert_eq!(done.moved_aside(), None);
}

#[test]
fn a_second_writer_is_kept_out_of_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let (_journal, _) = Journal::open(dir.path(), OpenMode::New).unwrap();
    let err = Journal::open(
        dir.path(),
        OpenMode::Resume {
            retry_failed: false,
        },
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("in use by another pacer run"),
        "{err}"
    );
}

#[test]
fn fresh_moves_only_the_run_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("results.jsonl"), "").unwrap();
    std::fs::write(dir.path().join("summary.json"), "{}").unwrap();
    std::fs::write(dir.path().join("my-prompts.jsonl"), "{}\n").unwrap();
    let (_journal, done) = Journal::open(dir.path(), OpenMode::Fresh).unwrap();
    let aside = done.moved_aside().unwrap();
    assert!(aside.join("summary.json").is_file());
    assert!(dir.path().join("my-prompts.jsonl").is_file());
}
