//! The Anthropic provider with every request shape: images as content blocks, tools and tool
//! choices, tool calls and tool results in the conversation, tool-use and refusal replies,
//! image token estimates, batch lines, and embedding requests refused before any call.

use crate::support::{Reply, Server, refusing_root};
use pacer_core::{
    BatchApi, Content, ErrorKind, FinishReason, Image, Message, Part, Provider, Request, Role,
    Tool, ToolCall, ToolChoice,
};
use pacer_providers::anthropic::{AnthropicConfig, AnthropicProvider};
use serde_json::{Value, json};

/// The head of a 1024 × 512 PNG: enough for its size to be read.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x02, 0x00, 0x08, 0x06, 0x00, 0x00, 0x00,
];

fn provider(root: &str) -> AnthropicProvider {
    let mut config = AnthropicConfig::new(None);
    config.base_url = root.to_owned();
    AnthropicProvider::new(config).unwrap()
}

fn message(content: Value, stop_reason: &str) -> Value {
    json!({
        "id": "msg_01", "type": "message", "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": content,
        "stop_reason": stop_reason, "stop_sequence": null,
        "usage": {"input_tokens": 20, "output_tokens": 9}
    })
}

fn weather() -> Tool {
    Tool {
        name: "weather".into(),
        description: Some("The weather in a city.".into()),
        parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
    }
}

fn tool_result(id: &str, text: &str) -> Message {
    let mut message = Message::new(Role::Tool, text);
    message.tool_call_id = Some(id.into());
    message
}

/// A conversation with an image question, a tool call and its two results.
fn conversation() -> Request {
    let png = Image::from_bytes("image/png", PNG);
    let mut request = Request::text("claude-sonnet-4-5", Some("Be brief."), "Hello");
    request.messages[1].content = Content::Parts(vec![
        Part::Text {
            text: "What is in these?".into(),
        },
        Part::Image { image_url: png },
        Part::Image {
            image_url: Image {
                url: "https://example.com/cat.jpg".into(),
                detail: None,
            },
        },
    ]);
    let mut call = Message::new(Role::Assistant, "Let me look.");
    call.tool_calls = vec![
        ToolCall::from_text("toolu_1", "weather", r#"{"city":"Paris"}"#),
        ToolCall::from_text("toolu_2", "weather", r#"{"city":"Rome"}"#),
    ];
    request.messages.push(call);
    request.messages.push(tool_result("toolu_1", "sunny"));
    request.messages.push(tool_result("toolu_2", "rain"));
    request.params.tools = vec![weather()];
    request.params.tool_choice = Some(ToolChoice::Auto);
    request
}

#[tokio::test]
async fn parts_tools_and_tool_turns_reach_the_wire_as_blocks() {
    let server = Server::start(Reply::ok(&message(
        json!([{"type": "text", "text": "Done."}]),
        "end_turn",
    )))
    .await;
    let request = conversation();
    provider(&server.root).send(&request).await.unwrap();
    let body = server.only().body;
    let png = Image::from_bytes("image/png", PNG);
    let (_, data) = png.data().unwrap();
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [
                {"type": "text", "text": "What is in these?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}
            ]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "weather", "input": {"city": "Rome"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "rain"}
            ]}
        ])
    );
    assert_eq!(body["system"], "Be brief.");
    assert_eq!(
        body["tools"],
        json!([{
            "name": "weather",
            "description": "The weather in a city.",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}
        }])
    );
    assert_eq!(body["tool_choice"], json!({"type": "auto"}));
}

#[test]
fn every_tool_choice_has_its_anthropic_type() {
    let provider = provider("http://127.0.0.1:9");
    let cases = [
        (ToolChoice::Auto, json!({"type": "auto"})),
        (ToolChoice::Required, json!({"type": "any"})),
        (ToolChoice::None, json!({"type": "none"})),
        (
            ToolChoice::Tool("weather".into()),
            json!({"type": "tool", "name": "weather"}),
        ),
    ];
    for (choice, expected) in cases {
        let mut request = Request::text("claude-x", None, "Hi");
        request.params.tools = vec![weather()];
        request.params.tool_choice = Some(choice);
        let body: Value = serde_json::from_slice(&provider.body(&request).unwrap()).unwrap();
        assert_eq!(body["tool_choice"], expected);
    }
    let plain: Value = serde_json::from_slice(
        &provider
            .body(&Request::text("claude-x", None, "Hi"))
            .unwrap(),
    )
    .unwrap();
    assert!(plain.get("tools").is_none() && plain.get("tool_choice").is_none());
    assert_eq!(
        plain["messages"],
        json!([{"role": "user", "content": "Hi"}])
    );
}

#[tokio::test]
async fn tool_use_blocks_become_tool_calls() {
    let reply = message(
        json!([
            {"type": "text", "text": "Checking "},
            {"type": "tool_use", "id": "toolu_9", "name": "weather", "input": {"city": "Oslo"}},
            {"type": "text", "text": "both."},
            {"type": "tool_use", "id": "toolu_10", "name": "time", "input": {}}
        ]),
        "tool_use",
    );
    let server = Server::start(Reply::ok(&reply)).await;
    let response = provider(&server.root)
        .send(&Request::text("claude-x", None, "Weather?"))
        .await
        .unwrap();
    let choice = &response.choices[0];
    assert_eq!(choice.text, "Checking both.");
    assert_eq!(choice.finish_reason, FinishReason::ToolCalls);
    assert_eq!(
        choice.tool_calls,
        vec![
            ToolCall {
                id: "toolu_9".into(),
                name: "weather".into(),
                arguments: json!({"city": "Oslo"}),
            },
            ToolCall {
                id: "toolu_10".into(),
                name: "time".into(),
                arguments: json!({}),
            },
        ]
    );
}

#[tokio::test]
async fn a_refusal_reads_as_a_refusal() {
    let reply = message(json!([{"type": "text", "text": "I can't."}]), "refusal");
    let server = Server::start(Reply::ok(&reply)).await;
    let response = provider(&server.root)
        .send(&Request::text("claude-x", None, "Something bad"))
        .await
        .unwrap();
    assert_eq!(response.choices[0].finish_reason, FinishReason::Refusal);
    assert_eq!(response.choices[0].text, "I can't.");
    assert!(response.choices[0].tool_calls.is_empty());
}

#[test]
fn images_are_estimated_by_their_pixels_never_their_base64() {
    let provider = provider("http://127.0.0.1:9");
    let text_only = Request::text("claude-x", None, "Describe.");
    let with_image = |bytes: &[u8]| {
        let mut request = text_only.clone();
        request.messages[0].content = Content::Parts(vec![
            Part::Text {
                text: "Describe.".into(),
            },
            Part::Image {
                image_url: Image::from_bytes("image/png", bytes),
            },
        ]);
        request
    };
    let base = provider.estimate_input_tokens(&text_only);
    // 1024 × 512 / 750 = 699.05: 700 tokens.
    assert_eq!(provider.estimate_input_tokens(&with_image(PNG)), base + 700);
    // The same image with 300 kB after its header: the same pixels, the same tokens.
    let mut large = PNG.to_vec();
    large.resize(300_000, 0);
    assert_eq!(
        provider.estimate_input_tokens(&with_image(&large)),
        base + 700
    );
}

#[test]
fn batch_lines_carry_the_live_body() {
    let provider = provider("http://127.0.0.1:9");
    let request = conversation();
    let line: Value = serde_json::from_slice(&provider.line("job-1", &request).unwrap()).unwrap();
    let live: Value = serde_json::from_slice(&provider.body(&request).unwrap()).unwrap();
    assert_eq!(line, json!({"custom_id": "job-1", "params": live}));
    assert_eq!(live["tools"][0]["name"], "weather");
    assert_eq!(live["messages"][2]["content"][1]["type"], "tool_result");
}

#[tokio::test]
async fn an_embedding_request_fails_at_once() {
    // Nothing listens there: a request that went out would fail to connect instead.
    let provider = provider(&refusing_root().await);
    let request = Request::embedding("claude-x", vec!["a".into(), "b".into()]);
    let error = provider.send(&request).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::BadRequest);
    assert!(error.message.contains("no embeddings API"), "{error}");
    assert_eq!(
        provider.line("job-1", &request).unwrap_err().kind,
        ErrorKind::BadRequest
    );
}

#[tokio::test]
async fn a_tool_result_without_a_call_id_fails_at_once() {
    let provider = provider(&refusing_root().await);
    let mut request = Request::text("claude-x", None, "Hi");
    request.messages.push(Message::new(Role::Tool, "42"));
    let error = provider.send(&request).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::BadRequest);
}
