//! Every request shape on OpenAI's chat API, captured at a loopback server: content parts
//! with images, assistant turns with tool calls, tool results, tools and the tool choice;
//! tool calls in replies; the legacy API refusing what it cannot carry; token estimates
//! with images and tools; and batch lines with the same bodies.

use crate::support::openai::*;
use crate::support::{Reply, Server, refusing_root};
use pacer_core::{
    Content, ErrorKind, FinishReason, Image, ImageBilling, Message, Part, Provider, Request, Role,
    Tool, ToolCall, ToolChoice,
};
use pacer_providers::openai::{Api, Encoding, OpenAiConfig, OpenAiProvider};
use serde_json::{Value, json};

/// The head of a 1024 × 512 PNG, then `padding` zero bytes: the size is read from the head,
/// and the padding makes the base64 as long as a real image's.
fn png(padding: usize) -> Image {
    let mut bytes = vec![
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x02, 0x00, 0x08, 0x06, 0x00, 0x00, 0x00,
    ];
    bytes.resize(bytes.len() + padding, 0);
    Image::from_bytes("image/png", &bytes)
}

fn lookup() -> Tool {
    Tool {
        name: "lookup".into(),
        description: Some("Finds a city's weather.".into()),
        parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
    }
}

/// A conversation with every kind of turn: a system message, a user turn with text and two
/// images, an assistant turn that only called a tool, the tool's result, and a question.
pub(crate) fn conversation(model: &str) -> Request {
    let image = png(0);
    let linked = Image {
        url: "https://example.com/cat.png".into(),
        detail: Some("low".into()),
    };
    let mut call = Message::new(Role::Assistant, "");
    call.tool_calls = vec![ToolCall::from_text(
        "call_1",
        "lookup",
        r#"{"city": "Paris"}"#,
    )];
    let mut result = Message::new(Role::Tool, r#"{"sky": "clear"}"#);
    result.tool_call_id = Some("call_1".into());
    let mut request = Request::text(model, Some("Be brief."), "unused");
    request.messages = vec![
        Message::new(Role::System, "Be brief."),
        Message::new(
            Role::User,
            Content::Parts(vec![
                Part::Text {
                    text: "What is in these, and the weather?".into(),
                },
                Part::Image {
                    image_url: image.clone(),
                },
                Part::Image { image_url: linked },
            ]),
        ),
        call,
        result,
        Message::new(Role::User, "So?"),
    ];
    request.params.tools = vec![lookup()];
    request.params.tool_choice = Some(ToolChoice::Tool("lookup".into()));
    request
}

#[tokio::test]
async fn chat_messages_carry_images_tool_calls_and_tool_results() {
    let request = conversation("gpt-4o");
    let body = sent_body(OpenAiConfig::new(None), &request).await;
    let Content::Parts(parts) = &request.messages[1].content else {
        unreachable!("the user turn has parts")
    };
    let Part::Image { image_url: image } = &parts[1] else {
        unreachable!("the second part is the image")
    };
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is in these, and the weather?"},
                {"type": "image_url", "image_url": {"url": image.url}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{\"city\":\"Paris\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "{\"sky\": \"clear\"}"},
            {"role": "user", "content": "So?"}
        ])
    );
    assert_eq!(
        body["tools"],
        json!([{"type": "function", "function": {
            "name": "lookup",
            "description": "Finds a city's weather.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}
        }}])
    );
    assert_eq!(
        body["tool_choice"],
        json!({"type": "function", "function": {"name": "lookup"}})
    );
}

#[tokio::test]
async fn tool_choices_are_words_and_the_typed_tools_replace_extra_ones() {
    for (choice, word) in [
        (ToolChoice::Auto, "auto"),
        (ToolChoice::None, "none"),
        (ToolChoice::Required, "required"),
    ] {
        let mut request = Request::text("gpt-4o", None, "Hi");
        request.params.tools = vec![lookup()];
        request.params.tool_choice = Some(choice);
        request
            .params
            .extra
            .insert("tools".into(), json!([{"type": "web_search"}]));
        let body = sent_body(OpenAiConfig::new(None), &request).await;
        assert_eq!(body["tool_choice"], word);
        assert_eq!(body["tools"][0]["function"]["name"], "lookup", "{body}");
        assert_eq!(body["tools"].as_array().unwrap().len(), 1, "{body}");
    }
    // An assistant turn with text and calls keeps its text.
    let mut turn = Message::new(Role::Assistant, "Looking it up.");
    turn.tool_calls = vec![ToolCall::from_text("c", "lookup", "{}")];
    let mut request = Request::text("gpt-4o", None, "Hi");
    request.messages.push(turn);
    let body = sent_body(OpenAiConfig::new(None), &request).await;
    assert_eq!(body["messages"][1]["content"], "Looking it up.");
    assert!(body.get("tools").is_none() && body.get("tool_choice").is_none());
}

#[tokio::test]
async fn chat_replies_give_their_tool_calls() {
    let reply = json!({
        "id": "chatcmpl-2", "object": "chat.completion", "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": null, "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "lookup", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_b", "type": "function", "function": {"name": "lookup", "arguments": "{\"city\": \"Ro"}}
            ]}}],
        "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70}
    });
    let server = Server::start(Reply::ok(&reply)).await;
    let response = server
        .provider(None)
        .send(&conversation("gpt-4o"))
        .await
        .unwrap();
    let choice = &response.choices[0];
    assert_eq!(choice.text, "");
    assert_eq!(choice.finish_reason, FinishReason::ToolCalls);
    assert_eq!(
        choice.tool_calls,
        [
            ToolCall {
                id: "call_a".into(),
                name: "lookup".into(),
                arguments: json!({"city": "Paris"}),
            },
            // Arguments cut short are kept as the text they are.
            ToolCall {
                id: "call_b".into(),
                name: "lookup".into(),
                arguments: json!("{\"city\": \"Ro"),
            },
        ]
    );
}

#[tokio::test]
async fn legacy_completions_refuse_images_and_tools_before_sending() {
    let mut config = OpenAiConfig::new(None);
    config.api = Api::Completions;
    config.base_url = format!("{}/v1", refusing_root().await);
    let provider = OpenAiProvider::new(config).unwrap();
    let text = Request::text("davinci-002", None, "Hi");
    let mut image = text.clone();
    image.messages[0].content = Content::Parts(vec![Part::Image { image_url: png(0) }]);
    let mut tools = text.clone();
    tools.params.tools = vec![lookup()];
    let mut choice = text.clone();
    choice.params.tool_choice = Some(ToolChoice::None);
    let mut calls = text.clone();
    calls.messages[0].role = Role::Assistant;
    calls.messages[0].tool_calls = vec![ToolCall::from_text("c", "lookup", "{}")];
    let mut results = text.clone();
    results.messages[0].role = Role::Tool;
    for (request, what) in [
        (image, "images"),
        (tools, "tools"),
        (choice, "tools"),
        (calls, "tool calls"),
        (results, "tool results"),
    ] {
        // Refused before any connection: nothing listens at the URL.
        let error = provider.send(&request).await.unwrap_err();
        assert_eq!(error.kind, ErrorKind::BadRequest, "{what}: {error}");
        assert!(error.message.contains(what), "{}", error.message);
        assert_eq!(
            provider
                .batch_api()
                .unwrap()
                .line("x", &request)
                .unwrap_err()
                .kind,
            ErrorKind::BadRequest
        );
    }
}

#[test]
fn estimates_bill_images_by_tiles_and_count_tools() {
    let provider = OpenAiProvider::new(OpenAiConfig::new(None)).unwrap();
    let estimate = |request: &Request| provider.estimate_input_tokens(request);
    let text = Request::text("gpt-4o", None, "Describe this.");
    let with_image = |image: Image| {
        let mut request = text.clone();
        request.messages[0].content = Content::Parts(vec![
            Part::Text {
                text: "Describe this.".into(),
            },
            Part::Image { image_url: image },
        ]);
        request
    };
    // 1024 × 512: 2 × 1 tiles of 512, 85 + 2 × 170 tokens, however long its base64.
    let tiles = 85 + 2 * 170;
    assert_eq!(estimate(&with_image(png(0))) - estimate(&text), tiles);
    assert_eq!(estimate(&with_image(png(300_000))) - estimate(&text), tiles);
    assert_eq!(
        estimate(&with_image(png(0))),
        pacer_core::estimate_request(
            &with_image(png(0)),
            |t| Encoding::O200k.count(t),
            ImageBilling::OpenAi,
            pacer_core::Overheads::OPENAI,
        )
    );

    let mut tooled = text.clone();
    tooled.params.tools = vec![lookup()];
    let tool = lookup();
    let count = |t: &str| Encoding::O200k.count(t);
    assert_eq!(
        estimate(&tooled) - estimate(&text),
        count(&tool.name)
            + count(tool.description.as_deref().unwrap())
            + count(&tool.parameters.to_string())
    );
}

#[tokio::test]
async fn chat_batch_lines_carry_the_same_bodies_and_results_read_tool_calls() {
    let provider = OpenAiProvider::new(OpenAiConfig::new(None)).unwrap();
    let request = conversation("gpt-4o");
    let line = batch_line(&provider, &request);
    assert_eq!(line["url"], "/v1/chat/completions");
    assert_eq!(line["method"], "POST");
    assert_eq!(
        line["body"],
        serde_json::from_slice::<Value>(&provider.body(&request).unwrap()).unwrap()
    );
    let creation = batch_creation(OpenAiConfig::new(None), &[("t-0", request)]).await;
    assert_eq!(creation["endpoint"], "/v1/chat/completions");
    assert_eq!(creation["input_file_id"], "file-in");

    let body = json!({"object": "chat.completion", "model": "gpt-4o", "choices": [
        {"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
         "tool_calls": [{"id": "call_z", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]}}
    ]});
    let lines = batch_results(OpenAiConfig::new(None), &[body]).await;
    let response = lines[0].result.as_ref().unwrap();
    assert_eq!(lines[0].custom_id.as_deref(), Some("t-0"));
    assert_eq!(response.choices[0].tool_calls[0].id, "call_z");
    assert_eq!(response.choices[0].finish_reason, FinishReason::ToolCalls);
}
