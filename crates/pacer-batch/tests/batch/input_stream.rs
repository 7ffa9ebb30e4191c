//! The input is streamed: large files read in one pass, item by item, and a reader dropped
//! early stops its parser.

use std::fs::File;
use std::io::{BufWriter, Write};

use pacer_batch::input::{PromptReader, scan};

const LINES: u64 = 200_000;

#[test]
fn two_hundred_thousand_jsonl_lines_stream_through_reader_and_scan() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.jsonl");
    let mut out = BufWriter::new(File::create(&path).unwrap());
    for i in 1..=LINES {
        writeln!(
            out,
            r#"{{"prompt_id": "p{i}", "prompt": "Question {i}?", "n": {i}}}"#
        )
        .unwrap();
    }
    out.flush().unwrap();
    drop(out);

    let mut count = 0;
    for prompt in PromptReader::open(&path).unwrap() {
        let prompt = prompt.unwrap();
        count += 1;
        assert_eq!(prompt.origin.line, count);
    }
    assert_eq!(count, LINES);
    assert_eq!(scan(&path, None, false).unwrap().count, LINES);
}

#[test]
fn a_large_json_array_streams_element_by_element() {
    let elements = 50_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.json");
    let mut out = BufWriter::new(File::create(&path).unwrap());
    writeln!(out, "{{\"description\": \"big\", \"prompts\": [").unwrap();
    for i in 1..=elements {
        let comma = if i < elements { "," } else { "" };
        writeln!(
            out,
            r#"  {{"prompt_id": "p{i}", "prompt": "Question {i}?"}}{comma}"#
        )
        .unwrap();
    }
    writeln!(out, "]}}").unwrap();
    out.flush().unwrap();
    drop(out);

    let mut count = 0;
    for prompt in PromptReader::open(&path).unwrap() {
        let prompt = prompt.unwrap();
        count += 1;
        assert_eq!(prompt.origin.line, count + 1);
        assert_eq!(prompt.origin.index, count);
    }
    assert_eq!(count, elements);
}

#[test]
fn dropping_a_json_reader_early_leaves_nothing_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.json");
    let items: Vec<_> = (0..1_000)
        .map(|i| format!(r#"{{"prompt": "q{i}"}}"#))
        .collect();
    std::fs::write(&path, format!("[{}]", items.join(","))).unwrap();
    for _ in 0..20 {
        let mut reader = PromptReader::open(&path).unwrap();
        assert!(reader.next().unwrap().is_ok());
    }
    let taken: Vec<_> = PromptReader::open(&path)
        .unwrap()
        .with_limit(Some(5))
        .collect();
    assert_eq!(taken.len(), 5);
}
