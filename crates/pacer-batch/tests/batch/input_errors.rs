//! Every way an input can be wrong names the file, the line and the field, and says what was
//! expected and what to do.

use std::error::Error as _;
use std::path::PathBuf;

use pacer_batch::input::{InputError, Problem, PromptReader};
use tempfile::TempDir;

const SKIP_HINT: &str = "; fix the line, or pass --skip-invalid to record it and go on";

fn input(name: &str, content: impl AsRef<[u8]>) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    (dir, path)
}

/// Every error the reader yields for the file, in order.
fn errors(name: &str, content: impl AsRef<[u8]>) -> Vec<InputError> {
    let (_dir, path) = input(name, content);
    PromptReader::open(&path)
        .unwrap()
        .filter_map(Result::err)
        .collect()
}

/// The only error the reader yields for a one-item file, as text.
fn only_error(name: &str, content: &str) -> String {
    let errors = errors(name, content);
    assert_eq!(errors.len(), 1, "{errors:?}");
    errors[0].to_string()
}

/// Asserts `message` is `file` followed by `rest`.
#[track_caller]
fn assert_says(message: &str, file: &str, rest: &str) {
    let expected = format!("{file}{rest}");
    assert!(
        message.ends_with(&format!("/{expected}")),
        "got:      {message}\nexpected: .../{expected}"
    );
}

#[test]
fn a_missing_file_names_the_path_and_what_to_check() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nowhere.jsonl");
    let error = PromptReader::open(&path).err().unwrap();
    assert!(matches!(error.problem, Problem::Open { .. }));
    assert_says(
        &error.to_string(),
        "nowhere.jsonl",
        ": cannot open it (entity not found); check that the path is right and that the file exists and is readable",
    );
    assert!(
        error.source().is_some(),
        "the io::Error is kept as the source"
    );
}

#[test]
fn a_folder_is_refused_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let error = PromptReader::open(dir.path()).err().unwrap();
    assert!(matches!(error.problem, Problem::Open { .. }));
    assert!(error.to_string().contains("(is a directory)"), "{error}");
}

#[test]
fn a_file_with_no_prompts_is_an_error_in_every_format() {
    for (name, content) in [
        ("p.jsonl", ""),
        ("p.jsonl", "\n  \n\n"),
        ("p.json", ""),
        ("p.json", "  \n\t\n"),
        ("p.json", "  [ ]  "),
        ("p.json", r#"{"prompts": []}"#),
        ("p.csv", ""),
        ("p.csv", "prompt_id,prompt\n"),
        ("p.txt", ""),
    ] {
        let errors = errors(name, content);
        assert_eq!(errors.len(), 1, "{name} {content:?}");
        let error = &errors[0];
        assert!(
            matches!(error.problem, Problem::Empty),
            "{name} {content:?}: {error}"
        );
        assert_says(
            &error.to_string(),
            name,
            ": holds no prompts; check that this is the right file and that it is not empty",
        );
    }
}

#[test]
fn a_json_top_level_that_holds_no_prompt_array_is_an_error() {
    for (content, found) in [
        ("42", "a number"),
        ("\"hello\"", "a string"),
        ("null", "null"),
        ("true", "a boolean"),
        (r#"{"items": [1]}"#, "an object without `prompts`"),
        (
            r#"{"prompts": "x"}"#,
            "an object whose `prompts` is a string",
        ),
        (
            r#"{"prompts": {"a": 1}}"#,
            "an object whose `prompts` is an object",
        ),
    ] {
        let message = only_error("bench.json", content);
        assert_says(
            &message,
            "bench.json",
            &format!(
                ": expected an array of prompts, or an object holding a `prompts` array, found {found}"
            ),
        );
    }
}

#[test]
fn a_json_syntax_error_names_serde_jsons_line_and_column_and_ends_the_read() {
    let (_dir, path) = input(
        "prompts.json",
        "[\n  {\"prompt\": \"a\"},\n  {\"prompt\": \"b\",,},\n  {\"prompt\": \"c\"}\n]",
    );
    let results: Vec<_> = PromptReader::open(&path).unwrap().collect();
    assert_eq!(results.len(), 2, "one prompt, then the error, then nothing");
    assert!(results[0].is_ok());
    let error = results[1].as_ref().unwrap_err();
    assert!(!error.is_skippable());
    assert_says(
        &error.to_string(),
        "prompts.json",
        " line 3: invalid JSON at column 18: key must be a string; nothing after it can be read, fix the file and try again",
    );
}

#[test]
fn trailing_text_after_the_json_array_is_a_syntax_error() {
    let errors = errors("p.json", "[{\"prompt\": \"a\"}]\n]");
    assert_eq!(errors.len(), 1);
    assert_says(
        &errors[0].to_string(),
        "p.json",
        " line 2: invalid JSON at column 1: trailing characters; nothing after it can be read, fix the file and try again",
    );
}

#[test]
fn a_jsonl_syntax_error_names_the_line_and_the_reader_goes_on() {
    let (_dir, path) = input(
        "prompts.jsonl",
        "{\"prompt\": \"a\"}\n{\"prompt\": \"b\"\n{\"prompt\": \"c\"}\n",
    );
    let results: Vec<_> = PromptReader::open(&path).unwrap().collect();
    assert_eq!(results.len(), 3);
    let error = results[1].as_ref().unwrap_err();
    assert!(error.is_skippable());
    assert_eq!((error.line, error.index), (Some(2), Some(2)));
    assert_says(
        &error.to_string(),
        "prompts.jsonl",
        &format!(" line 2: invalid JSON at column 14: EOF while parsing an object{SKIP_HINT}"),
    );
    assert_eq!(results[2].as_ref().unwrap().id, "prompt_0003");
}

#[test]
fn an_item_that_is_not_an_object_is_an_error() {
    let message = only_error("p.jsonl", "\n[1, 2]\n");
    assert_says(
        &message,
        "p.jsonl",
        &format!(" line 2: expected a JSON object, found a list{SKIP_HINT}"),
    );
    let errors = errors("p.json", "[\n{\"prompt\": \"a\"},\n\"b\"\n]");
    assert_says(
        &errors[0].to_string(),
        "p.json",
        &format!(" line 3: expected a JSON object, found a string{SKIP_HINT}"),
    );
    assert_eq!(errors[0].index, Some(2));
}

#[test]
fn a_field_of_the_wrong_kind_names_the_field_and_what_was_expected() {
    let mut content = String::new();
    for _ in 1..12 {
        content.push_str("{\"prompt\": \"fine\"}\n");
    }
    content.push_str("{\"prompt\": 12}\n");
    let message = only_error("prompts.jsonl", &content);
    assert_says(
        &message,
        "prompts.jsonl",
        &format!(
            " line 12: field `prompt`: expected a non-empty string, found a number{SKIP_HINT}"
        ),
    );
}

#[test]
fn each_item_rule_has_its_error() {
    let cases = [
        (
            r#"{"prompt": ""}"#,
            "field `prompt`: expected a non-empty string, found an empty string",
        ),
        (
            r#"{"id": "x"}"#,
            "expected a `prompt` string, a `messages` list or an `input`, found none",
        ),
        (
            r#"{"prompt": null}"#,
            "expected a `prompt` string, a `messages` list or an `input`, found none",
        ),
        (
            r#"{"prompt": "a", "messages": [{"role": "user", "content": "b"}]}"#,
            "expected one of `prompt`, `messages` and `input`, found more than one",
        ),
        (
            r#"{"messages": []}"#,
            "field `messages`: expected a non-empty list of {role, content} messages, found an empty list",
        ),
        (
            r#"{"messages": "hi"}"#,
            "field `messages`: expected a non-empty list of {role, content} messages, found `hi`",
        ),
        (
            r#"{"messages": [{"role": "user", "content": "a"}, {"role": "tool", "content": "b"}]}"#,
            "field `messages[1].tool_call_id`: expected the id of the tool call this message answers, found nothing",
        ),
        (
            r#"{"messages": [{"content": "a"}]}"#,
            "field `messages[0].role`: expected one of system, developer, user, assistant, tool, found nothing",
        ),
        (
            r#"{"messages": [{"role": "user", "content": 3}]}"#,
            "field `messages[0].content`: expected a string or a non-empty list of content parts, found a number",
        ),
        (
            r#"{"messages": ["hi"]}"#,
            "field `messages[0]`: expected a {role, content} object, found `hi`",
        ),
        (
            r#"{"prompt": "a", "system": ["s"]}"#,
            "field `system`: expected a string, found a list",
        ),
        (
            r#"{"prompt_id": true, "prompt": "a"}"#,
            "field `prompt_id`: expected a non-empty string or a number, found a boolean",
        ),
        (
            r#"{"id": "", "prompt": "a"}"#,
            "field `id`: expected a non-empty string or a number, found an empty string",
        ),
        (
            r#"{"custom_id": "r", "url": "/v1/chat/completions", "body": {"model": "m"}}"#,
            "field `body`: expected a `prompt` string, a `messages` list or an `input`, found none",
        ),
        (
            r#"{"custom_id": "r", "body": {"messages": [{"role": "user", "content": "a"}], "max_tokens": -1}}"#,
            "field `body.max_tokens`: expected a whole number, not negative and not too large, found a number",
        ),
        (
            r#"{"custom_id": "r", "body": {"prompt": "a", "temperature": "hot"}}"#,
            "field `body.temperature`: expected a number, found `hot`",
        ),
        (
            r#"{"custom_id": "r", "body": {"prompt": "a", "stop": [1]}}"#,
            "field `body.stop`: expected a string or a list of strings, found a number",
        ),
    ];
    for (line, expected) in cases {
        let message = only_error("p.jsonl", &format!("{line}\n"));
        assert_says(
            &message,
            "p.jsonl",
            &format!(" line 1: {expected}{SKIP_HINT}"),
        );
    }
}

#[test]
fn an_error_carries_its_place_as_fields_too() {
    let errors = errors(
        "p.jsonl",
        "{\"prompt\": \"a\"}\n{\"messages\": [{\"role\": \"user\"}]}\n",
    );
    let error = &errors[0];
    assert!(error.path.ends_with("p.jsonl"));
    assert_eq!(error.line, Some(2));
    assert_eq!(error.index, Some(2));
    assert_eq!(error.field.as_deref(), Some("messages[0].content"));
    assert!(matches!(error.problem, Problem::Expected { .. }));
}

#[test]
fn a_csv_row_with_the_wrong_number_of_cells_names_its_line() {
    let (_dir, path) = input("p.csv", "id,prompt\na,x\nb,y,extra\nc,z\n");
    let results: Vec<_> = PromptReader::open(&path).unwrap().collect();
    assert_eq!(
        results.len(),
        3,
        "the bad row is reported and the next one read"
    );
    assert_says(
        &results[1].as_ref().unwrap_err().to_string(),
        "p.csv",
        &format!(" line 3: expected 2 cells as in the header row, found 3{SKIP_HINT}"),
    );
    assert_eq!(results[2].as_ref().unwrap().id, "c");
}

#[test]
fn a_csv_messages_cell_that_is_not_json_names_the_field() {
    let message = only_error("p.csv", "id,messages\na,[oops\n");
    assert!(
        message.contains("p.csv line 2: field `messages`: expected a JSON list of {role, content} messages, found text that is not JSON ("),
        "{message}"
    );
    assert!(message.ends_with(SKIP_HINT), "{message}");
}

#[test]
fn bytes_that_are_not_utf8_are_an_item_error() {
    let errors_csv = errors("p.csv", b"prompt\nok\nbad \xff here\n".as_slice());
    assert_says(
        &errors_csv[0].to_string(),
        "p.csv",
        &format!(" line 3: expected UTF-8 text, found bytes that are not{SKIP_HINT}"),
    );
    let errors_jsonl = errors("p.jsonl", b"{\"prompt\": \"\xff\"}\n".as_slice());
    assert_eq!(errors_jsonl[0].line, Some(1));
    assert!(errors_jsonl[0].is_skippable());
}
