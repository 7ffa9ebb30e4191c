//! Request shapes beyond chat text, read as they are: content parts and images, tools, tool
//! calls and results, the Responses API's input items, embeddings, and the OpenAI
//! cookbook's request files.

use pacer_batch::input::{Endpoint, Prompt, PromptReader};
use pacer_core::{Content, Part, Role, ToolChoice};
use serde_json::json;

/// The prompts of a JSONL file holding `lines`.
fn read(lines: &[serde_json::Value]) -> Vec<Prompt> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.jsonl");
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, text).unwrap();
    PromptReader::open(&path)
        .unwrap()
        .map(|p| p.unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// The error the reader gives for a one-line file.
fn error(line: serde_json::Value) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.jsonl");
    std::fs::write(&path, format!("{line}\n")).unwrap();
    let mut errors = PromptReader::open(&path).unwrap().filter_map(Result::err);
    errors.next().expect("an error").to_string()
}

#[test]
fn a_chat_with_images_tool_calls_and_results_reads_whole() {
    let prompts = read(&[json!({
        "id": "t1",
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "What is here?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "look", "arguments": "{\"x\": 1}"}},
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
        ],
        "tools": [{"type": "function", "function": {"name": "look", "parameters": {"type": "object"}}}],
        "tool_choice": "auto",
    })]);
    let prompt = &prompts[0];
    let Content::Parts(parts) = &prompt.messages[0].content else {
        panic!("parts expected: {:?}", prompt.messages[0].content)
    };
    assert!(
        matches!(&parts[1], Part::Image { image_url } if image_url.detail.as_deref() == Some("low"))
    );
    assert_eq!(prompt.messages[1].tool_calls[0].arguments, json!({"x": 1}));
    assert_eq!(prompt.messages[2].role, Role::Tool);
    assert_eq!(prompt.messages[2].tool_call_id.as_deref(), Some("call_1"));
    let params = prompt.params.as_ref().unwrap();
    assert_eq!(params.tools[0].name, "look");
    assert_eq!(params.tool_choice, Some(ToolChoice::Auto));
    // Tools are the prompt's, not metadata.
    assert!(prompt.metadata.is_empty(), "{:?}", prompt.metadata);
    assert!(prompt.for_chat() && prompt.embed_texts().is_none());
}

#[test]
fn responses_api_lines_read_their_instructions_and_items() {
    let prompts = read(&[json!({
        "custom_id": "r1", "method": "POST", "url": "/v1/responses",
        "body": {
            "model": "gpt-5-mini",
            "instructions": "Be brief.",
            "input": [
                {"role": "user", "content": [
                    {"type": "input_text", "text": "Describe"},
                    {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="},
                ]},
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": "42"},
            ],
            "max_output_tokens": 50,
            "reasoning": {"effort": "low"},
        },
    })]);
    let prompt = &prompts[0];
    assert_eq!(prompt.endpoint, Endpoint::Chat);
    assert_eq!(prompt.messages[0].role, Role::System);
    assert_eq!(prompt.messages[0].text(), "Be brief.");
    assert!(prompt.messages[1].content.has_images());
    assert_eq!(prompt.messages[2].tool_calls[0].name, "f");
    assert_eq!(prompt.messages[3].text(), "42");
    let params = prompt.params.as_ref().unwrap();
    assert_eq!(params.max_tokens, Some(50));
    assert_eq!(params.extra["reasoning"], json!({"effort": "low"}));
    assert_eq!(prompt.metadata["batch_model"], "gpt-5-mini");
}

#[test]
fn embedding_lines_and_cookbook_request_files_read_as_they_are() {
    let prompts = read(&[
        json!({"custom_id": "e1", "method": "POST", "url": "/v1/embeddings",
               "body": {"model": "text-embedding-3-small", "input": "a sentence", "dimensions": 256}}),
        json!({"model": "text-embedding-3-small", "input": "embed me", "metadata": {"row_id": 7}}),
        json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
               "temperature": 0, "metadata": {"row_id": 8}}),
        json!({"model": "text-embedding-3-small", "input": ["one", "two"]}),
        // A prompt of Pacer's own shape that names a model among its metadata stays one.
        json!({"id": "own", "model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}],
               "category": "geo", "temperature": 0.2}),
    ]);
    assert_eq!(prompts[0].endpoint, Endpoint::Embeddings);
    assert_eq!(prompts[0].embed_texts(), Some(vec!["a sentence"]));
    assert!(!prompts[0].for_chat());
    assert_eq!(prompts[0].params.as_ref().unwrap().extra["dimensions"], 256);

    assert_eq!(prompts[1].id, "prompt_0002");
    assert_eq!(prompts[1].metadata["row_id"], 7);
    assert_eq!(prompts[1].metadata["batch_model"], "text-embedding-3-small");
    // A single text serves either kind of model.
    assert!(prompts[1].for_chat());
    assert_eq!(prompts[1].embed_texts(), Some(vec!["embed me"]));

    assert_eq!(prompts[2].params.as_ref().unwrap().temperature, Some(0.0));
    assert_eq!(prompts[2].metadata["row_id"], 8);

    assert_eq!(prompts[3].embed_texts(), Some(vec!["one", "two"]));
    assert_eq!(prompts[3].endpoint, Endpoint::Embeddings);

    let own = &prompts[4];
    assert_eq!(own.id, "own");
    assert_eq!(own.params, None);
    assert_eq!(own.metadata["model"], "gpt-4o");
    assert_eq!(own.metadata["prompt_category"], "geo");
    assert_eq!(own.metadata["temperature"], 0.2);
}

#[test]
fn anthropic_image_blocks_read_as_images() {
    let prompts = read(&[json!({"messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}},
        {"type": "text", "text": "What is it?"},
    ]}]})]);
    let image = prompts[0].messages[0].content.images().next().unwrap();
    assert_eq!(image.data(), Some(("image/jpeg", "/9j/4AAQ")));
}

#[test]
fn bad_shapes_name_the_field() {
    let message = error(json!({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "ftp://x/y.png"}},
    ]}]}));
    assert!(
        message.contains("field `messages[0].content[0].image_url.url`: expected an http(s):// URL or a data:<media type>;base64,... URL, found `ftp://x/y.png`"),
        "{message}"
    );
    let message =
        error(json!({"prompt": "a", "tools": [{"type": "function", "function": {"name": ""}}]}));
    assert!(
        message.contains(
            "field `tools[0].function.name`: expected a non-empty string, found an empty string"
        ),
        "{message}"
    );
    let message = error(json!({"custom_id": "x", "url": "/v1/images", "body": {"prompt": "a"}}));
    assert!(
        message.contains("field `url`: expected /v1/chat/completions"),
        "{message}"
    );
    assert!(
        message.contains("found `/v1/images`"),
        "the value found is quoted: {message}"
    );
}

#[test]
fn the_scan_counts_what_each_kind_of_model_takes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.jsonl");
    let lines = [
        json!({"id": "plain", "prompt": "one text"}),
        json!({"id": "chat", "messages": [{"role": "system", "content": "s"},
                                          {"role": "user", "content": "u"}]}),
        json!({"custom_id": "emb", "url": "/v1/embeddings", "body": {"input": "x"}}),
        json!({"custom_id": "resp", "url": "/v1/responses", "body": {"input": "y"}}),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, text).unwrap();
    let scan = pacer_batch::scan(&path, None, false).unwrap();
    assert_eq!(
        (scan.count, scan.for_chat, scan.for_embedding, scan.for_both),
        (4, 3, 2, 1)
    );
    assert_eq!(scan.untaken(true, true), 0);
    assert_eq!(scan.untaken(true, false), 1, "the embeddings line");
    assert_eq!(
        scan.untaken(false, true),
        2,
        "the conversation and the responses line"
    );
}
