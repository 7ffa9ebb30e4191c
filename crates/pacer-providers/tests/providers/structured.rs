//! Structured output on the wire: what each provider sends for a request with an output
//! schema, captured by a loopback server. (The lane, not the provider, validates replies.)

use std::sync::Arc;

use crate::support::openai::OpenAiServer;
use crate::support::{Reply, Server};
use pacer_core::{Provider, Request};
use pacer_providers::anthropic::{AnthropicConfig, AnthropicProvider};
use pacer_providers::gemini::{GeminiConfig, GeminiProvider};
use pacer_providers::openai::{Api, OpenAiProvider};
use serde_json::{Value, json};

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {"answer": {"type": "string"}, "confidence": {"type": "number"}},
        "required": ["answer"]
    })
}

fn request(model: &str) -> Request {
    let mut request = Request::text(model, Some("Be brief."), "Capital of France?");
    request.params.schema = Some(Arc::new(schema()));
    request
}

fn openai(server: &Server, api: Api) -> OpenAiProvider {
    let mut config = server.config(None);
    config.api = api;
    OpenAiProvider::new(config).unwrap()
}

const ANSWER: &str = r#"{"answer": "Paris"}"#;

#[tokio::test]
async fn openai_chat_sends_a_json_schema_response_format() {
    let reply = json!({
        "id": "c1", "object": "chat.completion", "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14}
    });
    let server = Server::start(Reply::ok(&reply)).await;
    let mut request = request("gpt-4o-mini");
    // A `response_format` among the extra parameters gives way to the schema.
    request
        .params
        .extra
        .insert("response_format".into(), json!({"type": "json_object"}));
    let response = openai(&server, Api::Chat).send(&request).await.unwrap();
    assert_eq!(response.choices[0].text, ANSWER);
    assert_eq!(
        response.choices[0].parsed, None,
        "the lane parses, not the provider"
    );
    let body = server.only().body;
    assert_eq!(
        body["response_format"],
        json!({
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": schema(), "strict": false}
        })
    );
    assert!(body.get("schema").is_none(), "{body}");
}

#[tokio::test]
async fn openai_legacy_completions_send_no_schema() {
    let reply = json!({
        "id": "x", "object": "text_completion", "model": "davinci-002",
        "choices": [{"index": 0, "text": ANSWER, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14}
    });
    let server = Server::start(Reply::ok(&reply)).await;
    openai(&server, Api::Completions)
        .send(&request("davinci-002"))
        .await
        .unwrap();
    let body = server.only().body;
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["model", "prompt"], "{body}");
}

#[tokio::test]
async fn gemini_sends_json_mime_type_and_response_json_schema() {
    let reply = json!({
        "candidates": [{"content": {"role": "model", "parts": [{"text": ANSWER}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 5, "totalTokenCount": 14}
    });
    let server = Server::start(Reply::ok(&reply)).await;
    let mut config = GeminiConfig::new(Some("test-key".into()));
    config.base_url = format!("{}/v1beta", server.root);
    let mut request = request("gemini-2.5-flash");
    request.params.temperature = Some(0.0);
    // Only one of the two schema fields may be set: an extra `responseSchema` is dropped.
    request
        .params
        .extra
        .insert("responseSchema".into(), json!({"type": "STRING"}));
    request
        .params
        .extra
        .insert("responseMimeType".into(), json!("text/plain"));
    GeminiProvider::new(config)
        .unwrap()
        .send(&request)
        .await
        .unwrap();
    let body = server.only().body;
    assert_eq!(
        body["generationConfig"],
        json!({
            "temperature": 0.0,
            "responseMimeType": "application/json",
            "responseJsonSchema": schema()
        })
    );
}

#[tokio::test]
async fn anthropic_asks_for_the_schema_in_the_system_prompt() {
    let reply = json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
        "content": [{"type": "text", "text": ANSWER}],
        "stop_reason": "end_turn", "usage": {"input_tokens": 30, "output_tokens": 5}
    });
    let server = Server::start(Reply::ok(&reply)).await;
    let mut config = AnthropicConfig::new(Some("test-key".into()));
    config.base_url = server.root.clone();
    AnthropicProvider::new(config)
        .unwrap()
        .send(&request("claude-x"))
        .await
        .unwrap();
    let body = server.only().body;
    let system = body["system"].as_str().unwrap();
    let (own, instruction) = system.split_once("\n\n").unwrap();
    assert_eq!(own, "Be brief.");
    assert!(
        instruction.starts_with("Answer with a single JSON value that matches this JSON Schema"),
        "{instruction}"
    );
    let shown = instruction.split_once("JSON Schema: ").unwrap().1;
    assert_eq!(serde_json::from_str::<Value>(shown).unwrap(), schema());
    // Nothing else in the body: no tools, no unknown fields.
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["model", "messages", "max_tokens", "system"],
        "{body}"
    );
}

#[tokio::test]
async fn anthropic_with_no_system_prompt_gets_the_instruction_alone() {
    let reply = json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
        "content": [{"type": "text", "text": ANSWER}],
        "stop_reason": "end_turn", "usage": {"input_tokens": 30, "output_tokens": 5}
    });
    let server = Server::start(Reply::ok(&reply)).await;
    let mut config = AnthropicConfig::new(Some("test-key".into()));
    config.base_url = server.root.clone();
    let mut request = Request::text("claude-x", None, "Hi");
    request.params.schema = Some(Arc::new(schema()));
    AnthropicProvider::new(config)
        .unwrap()
        .send(&request)
        .await
        .unwrap();
    let system = server.only().body["system"].as_str().unwrap().to_owned();
    assert!(
        system.starts_with("Answer with a single JSON value"),
        "{system}"
    );
}
