//! `scan`: counting, limits, skipping invalid items, and duplicate ids named at both places.

use std::path::PathBuf;

use pacer_batch::input::{Problem, scan};
use tempfile::TempDir;

fn input(name: &str, content: &str) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    (dir, path)
}

fn jsonl(ids: &[&str]) -> String {
    ids.iter()
        .map(|id| format!("{{\"id\": \"{id}\", \"prompt\": \"x\"}}\n"))
        .collect()
}

#[test]
fn scan_counts_the_valid_prompts() {
    let (_dir, path) = input("prompts.jsonl", &jsonl(&["a", "b", "c"]));
    let scan = scan(&path, None, false).unwrap();
    assert_eq!(scan.count, 3);
    assert!(scan.invalid.is_empty());
}

#[test]
fn scan_stops_at_the_limit() {
    let (_dir, path) = input("prompts.jsonl", &jsonl(&["a", "b", "c", "a"]));
    assert_eq!(scan(&path, Some(2), false).unwrap().count, 2);
    assert_eq!(
        scan(&path, Some(3), false).unwrap().count,
        3,
        "the duplicate lies past the limit"
    );
    assert_eq!(scan(&path, Some(10), false).unwrap_err().line, Some(4));
}

#[test]
fn a_duplicate_id_names_both_lines() {
    let mut content = jsonl(&["q1", "q2", "q7"]);
    for i in 4..40 {
        content.push_str(&jsonl(&[&format!("q{}", i + 100)]));
    }
    content.push_str(&jsonl(&["q7"]));
    let (_dir, path) = input("prompts.jsonl", &content);
    let error = scan(&path, None, false).unwrap_err();
    assert!(
        error.to_string().ends_with(
            "/prompts.jsonl line 40: duplicate id `q7`, first seen at line 3; ids must be unique"
        ),
        "{error}"
    );
    assert!(matches!(
        error.problem,
        Problem::DuplicateId { first_line: 3, .. }
    ));
    assert_eq!((error.line, error.index), (Some(40), Some(40)));
}

#[test]
fn a_duplicate_id_is_an_error_even_when_skipping_invalid_items() {
    let (_dir, path) = input("prompts.jsonl", &jsonl(&["a", "b", "a"]));
    let error = scan(&path, None, true).unwrap_err();
    assert!(!error.is_skippable());
    assert!(matches!(error.problem, Problem::DuplicateId { .. }));
}

#[test]
fn duplicates_are_found_in_every_format_and_across_id_kinds() {
    let cases = [
        (
            "p.json",
            "[\n{\"id\": 7, \"prompt\": \"a\"},\n\n{\"prompt_id\": \"7\", \"prompt\": \"b\"}\n]",
            4,
            2,
        ),
        ("p.csv", "id,prompt\nx,a\ny,b\nx,c\n", 4, 2),
        // A position-made id may clash with a given one.
        (
            "p.jsonl",
            "{\"prompt\": \"a\"}\n{\"id\": \"prompt_0001\", \"prompt\": \"b\"}\n",
            2,
            1,
        ),
    ];
    for (name, content, line, first_line) in cases {
        let (_dir, path) = input(name, content);
        let error = scan(&path, None, false).unwrap_err();
        assert_eq!(error.line, Some(line), "{name}: {error}");
        assert!(
            matches!(error.problem, Problem::DuplicateId { first_line: first, .. } if first == first_line),
            "{name}: {error}"
        );
    }
}

#[test]
fn without_skipping_the_first_invalid_item_is_the_error() {
    let content = format!("{}{{\"prompt\": 1}}\n{{\"prompt\": []}}\n", jsonl(&["a"]));
    let (_dir, path) = input("prompts.jsonl", &content);
    let error = scan(&path, None, false).unwrap_err();
    assert_eq!(error.line, Some(2));
    assert_eq!(error.field.as_deref(), Some("prompt"));
}

#[test]
fn with_skipping_invalid_items_are_recorded_and_the_scan_goes_on() {
    let content = format!(
        "{}{{\"prompt\": 1}}\nnot json\n{}",
        jsonl(&["a"]),
        jsonl(&["b", "c"])
    );
    let (_dir, path) = input("prompts.jsonl", &content);
    let scan = scan(&path, None, true).unwrap();
    assert_eq!(scan.count, 3);
    let lines: Vec<_> = scan.invalid.iter().map(|error| error.line).collect();
    assert_eq!(lines, [Some(2), Some(3)]);
}

#[test]
fn invalid_items_do_not_count_towards_the_limit() {
    let content = format!("{{\"prompt\": 1}}\n{}", jsonl(&["a", "b", "c"]));
    let (_dir, path) = input("prompts.jsonl", &content);
    let scan = scan(&path, Some(2), true).unwrap();
    assert_eq!((scan.count, scan.invalid.len()), (2, 1));
}

#[test]
fn problems_with_the_file_itself_are_errors_even_when_skipping() {
    let (_dir, path) = input("p.json", "[{\"prompt\": \"a\"}, {\"prompt\": 1}, oops]");
    let error = scan(&path, None, true).unwrap_err();
    assert!(
        matches!(error.problem, Problem::JsonSyntax { .. }),
        "{error}"
    );

    let (_dir, empty) = input("p.jsonl", "");
    assert!(matches!(
        scan(&empty, None, true).unwrap_err().problem,
        Problem::Empty
    ));
    let missing = empty.with_file_name("missing.csv");
    assert!(matches!(
        scan(&missing, None, true).unwrap_err().problem,
        Problem::Open { .. }
    ));
}
