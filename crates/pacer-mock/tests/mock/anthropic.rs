//! Anthropic's Messages API on the mock: reply shapes, stop reasons, the key and validation
//! errors, over loopback. Its limits, quota and faults are in `anthropic_limits.rs`.

use crate::common::{anthropic_error, claude, has_rate_headers, start};
use pacer_core::{Message, Role};
use pacer_mock::MockServerConfig;
use pacer_providers::openai::{Encoding, chat_prompt_tokens};
use reqwest::StatusCode;
use serde_json::json;

fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

#[tokio::test]
async fn messages_reply_has_anthropics_shape_and_chats_text() {
    let (_server, client) = start(MockServerConfig::default()).await;
    let mut body = json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 40,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "What is a rate limit?"}],
        "temperature": 0.5,
    });
    let reply = client.messages(&body).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert!(!has_rate_headers(&reply), "no limits, no headers");
    let v = reply.json();
    assert!(v["id"].as_str().unwrap().starts_with("msg_"), "{v}");
    assert_eq!(
        (v["type"].as_str(), v["role"].as_str()),
        (Some("message"), Some("assistant"))
    );
    assert_eq!(v["model"], "claude-sonnet-4-5-mock-1");
    let content = v["content"].as_array().unwrap();
    assert_eq!(content.len(), 1);
    assert_eq!(content[0]["type"], "text");
    let text = content[0]["text"].as_str().unwrap();
    assert!(["end_turn", "max_tokens"].contains(&v["stop_reason"].as_str().unwrap()));
    assert!(v["stop_sequence"].is_null());
    let messages = [
        Message::new(Role::System, "Be brief."),
        Message::new(Role::User, "What is a rate limit?"),
    ];
    let usage = &v["usage"];
    assert_eq!(
        usage["input_tokens"],
        chat_prompt_tokens(Encoding::Cl100k, &messages)
    );
    assert_eq!(usage["output_tokens"], words(text));
    assert_eq!(usage["cache_creation_input_tokens"], 0);
    assert_eq!(usage["cache_read_input_tokens"], 0);

    // The same conversation gets the same text on OpenAI's chat endpoint.
    let chat = client
        .chat(&json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 40,
            "temperature": 0.5,
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "What is a rate limit?"},
            ],
        }))
        .await
        .json();
    assert_eq!(chat["choices"][0]["message"]["content"], text);
    // A system prompt as text blocks reads the same.
    body["system"] = json!([{"type": "text", "text": "Be "}, {"type": "text", "text": "brief."}]);
    assert_eq!(client.messages(&body).await.json()["content"], v["content"]);
    let stats = client.stats().await;
    assert_eq!((stats.anthropic_requests, stats.openai_requests), (2, 1));
}

#[tokio::test]
async fn stop_reasons_follow_max_tokens_and_stop_sequences() {
    let (_server, client) = start(MockServerConfig::default()).await;
    // Replies are at least 8 words long.
    let v = client.messages(&claude("claude-x", 3)).await.json();
    assert_eq!(v["stop_reason"], "max_tokens");
    assert_eq!(v["usage"]["output_tokens"], 3);

    let mut body = claude("claude-x", 200);
    let v = client.messages(&body).await.json();
    assert_eq!(v["stop_reason"], "end_turn");
    let text = v["content"][0]["text"].as_str().unwrap().to_owned();
    let stop = text.split(' ').nth(2).unwrap().to_owned();
    let before = &text[..text.find(&stop).unwrap()];
    body["stop_sequences"] = json!(["never-said", stop]);
    let v = client.messages(&body).await.json();
    assert_eq!(v["stop_reason"], "stop_sequence");
    assert_eq!(v["stop_sequence"], stop);
    assert_eq!(v["content"][0]["text"], before);
    assert_eq!(v["usage"]["output_tokens"], words(before));
}

#[tokio::test]
async fn key_version_fields_and_models_are_checked() {
    let config = MockServerConfig {
        api_key: Some("sk-ant-right".into()),
        models: vec!["claude-x".into()],
        ..MockServerConfig::default()
    };
    let (_server, mut client) = start(config).await;
    let reply = client.messages(&claude("claude-x", 10)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anthropic_error(&reply).0, "authentication_error");
    // OpenAI's bearer key is not Anthropic's.
    let bearer = [
        ("anthropic-version", "2023-06-01"),
        ("authorization", "Bearer sk-ant-right"),
    ];
    let reply = client
        .post_with("/v1/messages", &bearer, &claude("claude-x", 10))
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);

    client.key = Some("sk-ant-wrong".into());
    let reply = client.messages(&claude("claude-x", 10)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.json(),
        json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}})
    );

    let key = [("x-api-key", "sk-ant-right")];
    let reply = client
        .post_with("/v1/messages", &key, &claude("claude-x", 10))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let (kind, message) = anthropic_error(&reply);
    assert_eq!(kind, "invalid_request_error");
    assert!(message.contains("anthropic-version"), "{message}");

    client.key = Some("sk-ant-right".into());
    let mut body = claude("claude-x", 10);
    body.as_object_mut().unwrap().remove("max_tokens");
    let reply = client.messages(&body).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        anthropic_error(&reply),
        (
            "invalid_request_error".into(),
            "max_tokens: Field required".into()
        )
    );
    let reply = client
        .messages(&json!({"model": "claude-x", "max_tokens": 5}))
        .await;
    assert_eq!(anthropic_error(&reply).1, "messages: Field required");

    let reply = client.messages(&claude("claude-9", 10)).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(
        anthropic_error(&reply),
        ("not_found_error".into(), "model: claude-9".into())
    );

    assert_eq!(
        client.messages(&claude("claude-x", 10)).await.status,
        StatusCode::OK
    );
    let stats = client.stats().await;
    assert_eq!(stats.anthropic_requests, 8);
    assert_eq!(
        (
            stats.unauthorized,
            stats.bad_requests,
            stats.not_found,
            stats.ok
        ),
        (3, 3, 1, 1)
    );
}
