//! Reading prompts from every input format: ids, conversations, metadata, origins, limits.

use std::path::{Path, PathBuf};

use pacer_batch::input::{Format, Origin, Prompt, PromptReader};
use pacer_core::{Message, Params, Role};
use serde_json::{Value, json};
use tempfile::TempDir;

/// Writes `content` to a file called `name` in a fresh folder.
fn input(name: &str, content: &str) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    (dir, path)
}

fn read_all(path: &Path) -> Vec<Prompt> {
    PromptReader::open(path)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn user(text: &str) -> Message {
    Message::new(Role::User, text)
}

fn keys(prompt: &Prompt) -> Vec<&str> {
    prompt.metadata.keys().map(String::as_str).collect()
}

#[test]
fn jsonl_reads_one_prompt_per_line_and_skips_blank_lines() {
    let (_dir, path) = input(
        "prompts.jsonl",
        "{\"prompt_id\": \"a\", \"prompt\": \"Hi\"}\n\n   \n{\"id\": \"b\", \"prompt\": \"Yo\"}\r\n",
    );
    let prompts = read_all(&path);
    assert_eq!(prompts.len(), 2);
    assert_eq!(prompts[0].id, "a");
    assert_eq!(prompts[0].messages, vec![user("Hi")]);
    assert_eq!(prompts[0].params, None);
    assert_eq!(prompts[0].origin, Origin { line: 1, index: 1 });
    assert_eq!(prompts[1].id, "b");
    assert_eq!(prompts[1].origin, Origin { line: 4, index: 2 });
}

#[test]
fn json_array_is_read_with_the_line_each_element_starts_on() {
    let (_dir, path) = input(
        "prompts.json",
        r#"[
  {"prompt_id": "a", "prompt": "one"},
  {
    "prompt_id": "b",
    "prompt": "two, with a \n in it"
  },
  {"prompt_id": "c", "prompt": "three"}, {"prompt_id": "d", "prompt": "four"}
]"#,
    );
    let prompts = read_all(&path);
    let places: Vec<_> = prompts
        .iter()
        .map(|p| (p.id.as_str(), p.origin.line, p.origin.index))
        .collect();
    assert_eq!(places, [("a", 2, 1), ("b", 3, 2), ("c", 7, 3), ("d", 7, 4)]);
    assert_eq!(prompts[1].messages, vec![user("two, with a \n in it")]);
}

#[test]
fn json_object_streams_its_prompts_array_and_ignores_other_keys() {
    let (_dir, path) = input(
        "bench.json",
        r#"{"description": "x", "prompts": [{"prompt": "p1"}, {"prompt": "p2"}], "version": 3}"#,
    );
    let prompts = read_all(&path);
    assert_eq!(prompts.len(), 2);
    assert_eq!(prompts[1].messages, vec![user("p2")]);
    assert!(prompts[1].metadata.is_empty());
}

#[test]
fn csv_columns_are_string_fields_and_empty_cells_are_absent() {
    let (_dir, path) = input(
        "prompts.csv",
        "prompt_id, prompt ,system,difficulty,category,note\n\
         q1,\"What is 2+2?\",Be brief.,3,math,\n\
         q2,\"A prompt\nover two lines\",,5,,hello\n",
    );
    let prompts = read_all(&path);
    assert_eq!(prompts.len(), 2);
    assert_eq!(
        prompts[0].messages,
        vec![
            Message::new(Role::System, "Be brief."),
            user("What is 2+2?")
        ]
    );
    assert_eq!(
        Value::Object(prompts[0].metadata.clone()),
        json!({"difficulty": "3", "prompt_category": "math"})
    );
    assert_eq!(prompts[0].origin, Origin { line: 2, index: 1 });
    assert_eq!(prompts[1].messages, vec![user("A prompt\nover two lines")]);
    assert_eq!(
        Value::Object(prompts[1].metadata.clone()),
        json!({"difficulty": "5", "note": "hello"})
    );
    assert_eq!(prompts[1].origin, Origin { line: 3, index: 2 });
}

#[test]
fn csv_messages_column_holds_a_json_chat() {
    let (_dir, path) = input(
        "chats.csv",
        "id,messages\n\
         c1,\"[{\"\"role\"\": \"\"user\"\", \"\"content\"\": \"\"hi\"\"}, {\"\"role\"\": \"\"assistant\"\", \"\"content\"\": \"\"hello\"\"}]\"\n",
    );
    let prompts = read_all(&path);
    assert_eq!(prompts[0].id, "c1");
    assert_eq!(
        prompts[0].messages,
        vec![user("hi"), Message::new(Role::Assistant, "hello")]
    );
}

#[test]
fn messages_and_system_make_the_conversation_system_first() {
    let (_dir, path) = input(
        "chats.jsonl",
        r#"{"id": "m", "system": "You are terse.", "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c", "name": "ignored"}]}"#,
    );
    let prompts = read_all(&path);
    assert_eq!(
        prompts[0].messages,
        vec![
            Message::new(Role::System, "You are terse."),
            user("a"),
            Message::new(Role::Assistant, "b"),
            user("c"),
        ]
    );
    assert!(prompts[0].metadata.is_empty());
}

#[test]
fn id_comes_from_prompt_id_then_id_then_custom_id_then_position() {
    let (_dir, path) = input(
        "ids.jsonl",
        concat!(
            r#"{"prompt_id": "p", "id": "i", "custom_id": "c", "prompt": "x"}"#,
            "\n",
            r#"{"id": "i", "custom_id": "c", "prompt": "x"}"#,
            "\n",
            r#"{"custom_id": "c", "prompt": "x"}"#,
            "\n",
            r#"{"prompt": "x"}"#,
            "\n",
            r#"{"prompt_id": null, "id": 42, "prompt": "x"}"#,
            "\n",
            r#"{"id": 1.5, "prompt": "x"}"#,
            "\n",
        ),
    );
    let prompts = read_all(&path);
    let ids: Vec<_> = prompts.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["p", "i", "c", "prompt_0004", "42", "1.5"]);
    // The fields not used as the id stay as metadata.
    assert_eq!(keys(&prompts[0]), ["id", "custom_id"]);
    assert_eq!(keys(&prompts[1]), ["custom_id"]);
}

#[test]
fn metadata_keeps_input_order_and_renames_category() {
    let (_dir, path) = input(
        "meta.jsonl",
        r#"{"zeta": 1, "prompt_id": "a", "category": "cve_existence", "alpha": [1, 2], "prompt": "x", "is_synthetic_probe": false, "nested": {"b": 1, "a": 2}}"#,
    );
    let prompt = &read_all(&path)[0];
    assert_eq!(
        keys(prompt),
        [
            "zeta",
            "prompt_category",
            "alpha",
            "is_synthetic_probe",
            "nested"
        ]
    );
    assert_eq!(prompt.metadata["prompt_category"], json!("cve_existence"));
    assert_eq!(prompt.metadata["nested"], json!({"b": 1, "a": 2}));
}

#[test]
fn category_is_left_alone_when_prompt_category_is_given_too() {
    let (_dir, path) = input(
        "meta.jsonl",
        r#"{"prompt": "x", "category": "a", "prompt_category": "b"}"#,
    );
    let prompt = &read_all(&path)[0];
    assert_eq!(
        Value::Object(prompt.metadata.clone()),
        json!({"category": "a", "prompt_category": "b"})
    );
}

#[test]
fn openai_batch_lines_give_id_messages_params_and_batch_model() {
    let (_dir, path) = input(
        "batch.jsonl",
        concat!(
            r#"{"custom_id": "req-1", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Hello"}], "max_tokens": 100, "temperature": 0.2, "top_p": 0.9, "seed": 7, "stop": "END", "n": 3, "response_format": {"type": "json_object"}}, "category": "greeting"}"#,
            "\n",
            r#"{"custom_id": "req-2", "method": "POST", "url": "/v1/completions", "body": {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi", "max_completion_tokens": 5, "max_tokens": 9, "stop": ["a", "b"]}}"#,
            "\n",
            r#"{"custom_id": "req-3", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "m", "messages": [{"role": "user", "content": "x"}]}}"#,
            "\n",
        ),
    );
    let prompts = read_all(&path);
    let first = &prompts[0];
    assert_eq!(first.id, "req-1");
    assert_eq!(
        first.messages,
        vec![Message::new(Role::System, "S"), user("Hello")]
    );
    let mut expected = Params {
        temperature: Some(0.2),
        top_p: Some(0.9),
        max_tokens: Some(100),
        seed: Some(7),
        stop: vec!["END".to_owned()],
        ..Params::default()
    };
    expected
        .extra
        .insert("response_format".to_owned(), json!({"type": "json_object"}));
    assert_eq!(first.params, Some(expected));
    assert_eq!(
        Value::Object(first.metadata.clone()),
        json!({"batch_model": "gpt-4o-mini", "prompt_category": "greeting"})
    );

    let second = &prompts[1];
    assert_eq!(second.id, "req-2");
    assert_eq!(second.messages, vec![user("Say hi")]);
    let params = second.params.as_ref().unwrap();
    assert_eq!(params.max_tokens, Some(5), "max_completion_tokens wins");
    assert_eq!(params.stop, ["a", "b"]);

    assert_eq!(
        prompts[2].params, None,
        "a body with no parameters overrides nothing"
    );
}

#[test]
fn limit_stops_after_n_valid_prompts() {
    let mut content = String::new();
    for i in 1..=10 {
        if i == 2 {
            content.push_str("{\"prompt\": 5}\n");
        }
        content.push_str(&format!("{{\"id\": \"p{i}\", \"prompt\": \"x\"}}\n"));
    }
    let (_dir, path) = input("prompts.jsonl", &content);
    let read: Vec<_> = PromptReader::open(&path)
        .unwrap()
        .with_limit(Some(3))
        .collect();
    assert_eq!(
        read.len(),
        4,
        "three prompts and the invalid item between them"
    );
    let ids: Vec<_> = read.iter().flatten().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["p1", "p2", "p3"]);
    assert_eq!(
        PromptReader::open(&path)
            .unwrap()
            .with_limit(Some(0))
            .count(),
        0
    );
}

#[test]
fn format_follows_the_extension() {
    assert_eq!(Format::from_path(Path::new("a.json")), Some(Format::Json));
    assert_eq!(Format::from_path(Path::new("a.JSONL")), Some(Format::Jsonl));
    assert_eq!(
        Format::from_path(Path::new("a.ndjson")),
        Some(Format::Jsonl)
    );
    assert_eq!(Format::from_path(Path::new("dir/a.csv")), Some(Format::Csv));
    assert_eq!(Format::from_path(Path::new("a.txt")), None);
    assert_eq!(Format::from_path(Path::new("prompts")), None);
}

#[test]
fn an_unknown_extension_is_sniffed_from_the_first_bytes() {
    let cases = [
        ("  [{\"prompt\": \"x\"}]", Format::Json),
        ("{\"prompt\": \"x\"}\n{\"prompt\": \"y\"}\n", Format::Jsonl),
        ("{\n  \"prompts\": [{\"prompt\": \"x\"}]\n}", Format::Json),
        ("{\"prompts\": [{\"prompt\": \"x\"}]}", Format::Json),
        ("prompt,id\nx,1\n", Format::Csv),
    ];
    for (content, format) in cases {
        let (_dir, path) = input("prompts.txt", content);
        let reader = PromptReader::open(&path).unwrap();
        assert_eq!(reader.format(), format, "{content:?}");
        let prompts: Vec<_> = reader.collect::<Result<_, _>>().unwrap();
        assert_eq!(prompts[0].messages, vec![user("x")], "{content:?}");
    }
}

#[test]
fn open_as_overrides_the_extension() {
    let (_dir, path) = input("prompts.txt", "{\"prompt\": \"x\"}\n");
    let reader = PromptReader::open_as(&path, Format::Jsonl).unwrap();
    assert_eq!(reader.format(), Format::Jsonl);
    assert_eq!(reader.count(), 1);
}

#[test]
fn a_byte_order_mark_is_skipped_in_every_format() {
    for (name, content) in [
        ("p.jsonl", "\u{feff}{\"prompt\": \"x\"}\n"),
        ("p.json", "\u{feff}[{\"prompt\": \"x\"}]"),
        ("p.csv", "\u{feff}prompt\nx\n"),
    ] {
        let (_dir, path) = input(name, content);
        assert_eq!(read_all(&path)[0].messages, vec![user("x")], "{name}");
    }
}

#[test]
fn the_reader_can_move_to_another_thread() {
    fn is_send<T: Send>() {}
    is_send::<PromptReader>();
}
