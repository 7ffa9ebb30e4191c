//! The Gemini provider with every request shape: images as `inlineData` and `fileData`
//! parts, function declarations and `toolConfig`, tool calls and results in the
//! conversation, `functionCall` replies, image token estimates and batch lines.

use crate::support::{Reply, Server, refusing_root};
use pacer_core::{
    BatchApi, Content, ErrorKind, FinishReason, Image, Message, Part, Provider, Request, Role,
    Tool, ToolCall, ToolChoice,
};
use pacer_providers::gemini::{GeminiConfig, GeminiProvider};
use serde_json::{Value, json};

/// The head of a 1024 × 512 PNG: enough for its size to be read.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x02, 0x00, 0x08, 0x06, 0x00, 0x00, 0x00,
];

fn provider(root: &str) -> GeminiProvider {
    let mut config = GeminiConfig::new(None);
    config.base_url = format!("{root}/v1beta");
    GeminiProvider::new(config).unwrap()
}

fn reply(candidates: Value) -> Value {
    json!({
        "candidates": candidates,
        "usageMetadata": {"promptTokenCount": 30, "candidatesTokenCount": 8, "totalTokenCount": 38},
        "modelVersion": "gemini-2.5-flash-001"
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

/// A conversation with an image question, two tool calls and their results.
fn conversation() -> Request {
    let mut request = Request::text("gemini-2.5-flash", Some("Be brief."), "Hello");
    request.messages[1].content = Content::Parts(vec![
        Part::Text {
            text: "What is in these?".into(),
        },
        Part::Image {
            image_url: Image::from_bytes("image/png", PNG),
        },
        Part::Image {
            image_url: Image {
                url: "https://example.com/cat.webp?size=large".into(),
                detail: None,
            },
        },
    ]);
    let mut call = Message::new(Role::Assistant, "");
    call.tool_calls = vec![
        ToolCall::from_text("call_0_0", "weather", r#"{"city":"Paris"}"#),
        ToolCall::from_text("call_0_1", "time", "{}"),
    ];
    request.messages.push(call);
    request.messages.push(tool_result(
        "call_0_0",
        r#"{"sky": "clear", "celsius": 21}"#,
    ));
    request.messages.push(tool_result("call_0_1", "12:00"));
    request.params.tools = vec![weather()];
    request.params.tool_choice = Some(ToolChoice::Required);
    request
}

#[tokio::test]
async fn parts_tools_and_tool_turns_reach_the_wire() {
    let server = Server::start(Reply::ok(&reply(json!([
        {"content": {"role": "model", "parts": [{"text": "Done."}]}, "finishReason": "STOP"}
    ]))))
    .await;
    let request = conversation();
    provider(&server.root).send(&request).await.unwrap();
    let seen = server.only();
    assert_eq!(seen.path, "/v1beta/models/gemini-2.5-flash:generateContent");
    let png = Image::from_bytes("image/png", PNG);
    let (_, data) = png.data().unwrap();
    assert_eq!(
        seen.body["contents"],
        json!([
            {"role": "user", "parts": [
                {"text": "What is in these?"},
                {"inlineData": {"mimeType": "image/png", "data": data}},
                {"fileData": {"mimeType": "image/webp",
                              "fileUri": "https://example.com/cat.webp?size=large"}}
            ]},
            {"role": "model", "parts": [
                {"functionCall": {"name": "weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "time", "args": {}}}
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "weather",
                                      "response": {"sky": "clear", "celsius": 21}}},
                {"functionResponse": {"name": "time", "response": {"result": "12:00"}}}
            ]}
        ])
    );
    assert_eq!(
        seen.body["systemInstruction"],
        json!({"parts": [{"text": "Be brief."}]})
    );
    assert_eq!(
        seen.body["tools"],
        json!([{"functionDeclarations": [{
            "name": "weather",
            "description": "The weather in a city.",
            "parametersJsonSchema": {"type": "object", "properties": {"city": {"type": "string"}}}
        }]}])
    );
    assert_eq!(
        seen.body["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY"}})
    );
}

#[test]
fn every_tool_choice_has_its_mode() {
    let provider = provider("http://127.0.0.1:9");
    let cases = [
        (ToolChoice::Auto, json!({"mode": "AUTO"})),
        (ToolChoice::None, json!({"mode": "NONE"})),
        (ToolChoice::Required, json!({"mode": "ANY"})),
        (
            ToolChoice::Tool("weather".into()),
            json!({"mode": "ANY", "allowedFunctionNames": ["weather"]}),
        ),
    ];
    for (choice, expected) in cases {
        let mut request = Request::text("gemini-x", None, "Hi");
        request.params.tools = vec![weather()];
        request.params.tool_choice = Some(choice);
        let body: Value = serde_json::from_slice(&provider.body(&request).unwrap()).unwrap();
        assert_eq!(body["toolConfig"]["functionCallingConfig"], expected);
    }
    let plain: Value =
        serde_json::from_slice(&provider.body(&Request::text("g", None, "Hi")).unwrap()).unwrap();
    assert!(plain.get("tools").is_none() && plain.get("toolConfig").is_none());
}

#[tokio::test]
async fn function_calls_become_tool_calls() {
    let server = Server::start(Reply::ok(&reply(json!([
        {"content": {"role": "model", "parts": [
            {"text": "Checking."},
            {"functionCall": {"name": "weather", "args": {"city": "Oslo"}}},
            {"functionCall": {"id": "fc-7", "name": "time"}}
        ]}, "finishReason": "STOP"},
        {"content": {"role": "model", "parts": [
            {"functionCall": {"name": "weather", "args": {"city": "Rome"}}}
        ]}, "finishReason": "STOP", "index": 1},
        {"content": {"role": "model", "parts": [{"text": "Sunny."}]},
         "finishReason": "STOP", "index": 2}
    ]))))
    .await;
    let mut request = Request::text("gemini-x", None, "Weather?");
    request.params.n = 3;
    let response = provider(&server.root).send(&request).await.unwrap();
    let [first, second, third] = &response.choices[..] else {
        panic!("{response:?}");
    };
    assert_eq!(first.text, "Checking.");
    assert_eq!(first.finish_reason, FinishReason::ToolCalls);
    assert_eq!(
        first.tool_calls,
        vec![
            ToolCall {
                id: "call_0_0".into(),
                name: "weather".into(),
                arguments: json!({"city": "Oslo"}),
            },
            ToolCall {
                id: "fc-7".into(),
                name: "time".into(),
                arguments: json!({}),
            },
        ]
    );
    assert_eq!(second.tool_calls[0].id, "call_1_0");
    assert_eq!(second.finish_reason, FinishReason::ToolCalls);
    assert_eq!(third.finish_reason, FinishReason::Stop);
    assert!(third.tool_calls.is_empty());
}

#[test]
fn images_are_estimated_by_geminis_tiles() {
    let provider = provider("http://127.0.0.1:9");
    let text_only = Request::text("gemini-x", None, "Describe.");
    let mut with_image = text_only.clone();
    with_image.messages[0].content = Content::Parts(vec![
        Part::Text {
            text: "Describe.".into(),
        },
        Part::Image {
            image_url: Image::from_bytes("image/png", PNG),
        },
    ]);
    // 1024 × 512: 2 × 1 tiles of 768 pixels, 258 tokens each.
    assert_eq!(
        provider.estimate_input_tokens(&with_image),
        provider.estimate_input_tokens(&text_only) + 2 * 258
    );
}

#[test]
fn batch_lines_carry_the_live_body_and_refuse_embeddings() {
    let provider = provider("http://127.0.0.1:9");
    let request = conversation();
    let line: Value = serde_json::from_slice(&provider.line("job-1", &request).unwrap()).unwrap();
    let live: Value = serde_json::from_slice(&provider.body(&request).unwrap()).unwrap();
    assert_eq!(line, json!({"request": live, "metadata": {"key": "job-1"}}));
    assert_eq!(live["toolConfig"]["functionCallingConfig"]["mode"], "ANY");
    let embedding = Request::embedding("gemini-embedding-001", vec!["a".into()]);
    assert_eq!(
        provider.line("job-2", &embedding).unwrap_err().kind,
        ErrorKind::BadRequest
    );
}

#[tokio::test]
async fn a_result_for_an_unknown_call_fails_at_once() {
    // Nothing listens there: a request that went out would fail to connect instead.
    let provider = provider(&refusing_root().await);
    let mut request = Request::text("gemini-x", None, "Hi");
    request.messages.push(tool_result("call_9", "42"));
    let error = provider.send(&request).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::BadRequest);
    assert!(error.message.contains("call_9"), "{error}");
}
