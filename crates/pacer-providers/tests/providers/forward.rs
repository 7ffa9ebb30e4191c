//! The gateway's pass-through against a loopback server: a client's body posted as it is to
//! Anthropic's two Messages endpoints and to OpenAI's chat endpoint, with the provider's
//! auth, the reply returned whole or as a stream, and a refusal classified as `send`'s.

use std::time::Duration;

use crate::support::openai::OpenAiServer;
use crate::support::{Reply, Server, event};
use http_body_util::BodyExt;
use pacer_core::{ErrorKind, Provider, Request};
use pacer_providers::Forwarded;
use pacer_providers::anthropic::{AnthropicConfig, AnthropicProvider, Endpoint};
use pacer_providers::openai::Api;
use serde_json::json;

const KEY: &str = "sk-ant-api03-SECRETsecret0123456789";

fn provider(server: &Server) -> AnthropicProvider {
    let mut config = AnthropicConfig::new(Some(KEY.into()));
    config.base_url = server.root.clone();
    config.headers = vec![("anthropic-beta".into(), "token-counting-2024-11-01".into())];
    AnthropicProvider::new(config).unwrap()
}

/// A client's body, spaced and ordered as the client wrote it.
const BODY: &str = r#"{"model": "claude-sonnet-4-5", "max_tokens": 64,
    "messages": [{"role": "user", "content": "Hi"}], "metadata": {"user_id": "u-1"}}"#;

#[tokio::test]
async fn a_body_goes_as_it_is_with_the_providers_auth_and_comes_back_whole() {
    let reply = json!({"id": "msg_01", "type": "message", "content": []});
    let server = Server::start(
        Reply::ok(&reply)
            .header("anthropic-ratelimit-requests-limit", "50")
            .header("anthropic-ratelimit-requests-remaining", "49"),
    )
    .await;
    let forwarded = provider(&server)
        .forward(Endpoint::Messages, BODY.as_bytes().to_vec(), false)
        .await
        .unwrap();
    let Forwarded::Whole {
        status,
        body,
        rate_limits,
    } = forwarded
    else {
        panic!("a whole reply: {forwarded:?}");
    };
    assert_eq!(status, 200);
    assert_eq!(body, reply.to_string().as_bytes());
    assert_eq!(rate_limits.unwrap().requests.remaining, Some(49));
    let seen = server.only();
    assert_eq!(seen.path, "/v1/messages");
    assert_eq!(seen.header("x-api-key"), Some(KEY));
    assert_eq!(seen.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(
        seen.header("anthropic-beta"),
        Some("token-counting-2024-11-01")
    );
    assert_eq!(
        seen.body,
        serde_json::from_str::<serde_json::Value>(BODY).unwrap()
    );
}

#[tokio::test]
async fn count_tokens_has_its_own_endpoint() {
    let server = Server::start(Reply::ok(&json!({"input_tokens": 12}))).await;
    let forwarded = provider(&server)
        .forward(Endpoint::CountTokens, BODY.as_bytes().to_vec(), false)
        .await
        .unwrap();
    assert!(
        matches!(&forwarded, Forwarded::Whole { body, .. } if body.as_ref() == br#"{"input_tokens":12}"#),
        "{forwarded:?}"
    );
    assert_eq!(server.only().path, "/v1/messages/count_tokens");
}

#[tokio::test]
async fn a_stream_comes_back_as_the_server_sent_it() {
    let events = [
        event(Some("message_start"), r#"{"type":"message_start"}"#),
        event(Some("message_stop"), r#"{"type":"message_stop"}"#),
    ];
    let server =
        Server::start(Reply::events(&events).header("anthropic-ratelimit-requests-remaining", "9"))
            .await;
    let forwarded = provider(&server)
        .forward(Endpoint::Messages, BODY.as_bytes().to_vec(), true)
        .await
        .unwrap();
    let Forwarded::Stream { reply, rate_limits } = forwarded else {
        panic!("a stream: {forwarded:?}");
    };
    assert_eq!(rate_limits.unwrap().requests.remaining, Some(9));
    let body = reply.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, events.concat().as_bytes());
}

#[tokio::test]
async fn a_refusal_is_classified_as_sends_whether_streamed_or_not() {
    let body = json!({"type": "error", "error": {"type": "rate_limit_error",
        "message": "Number of request tokens has exceeded your per-minute rate limit"}});
    let server = Server::start(
        Reply::json(429, &body)
            .header("retry-after", "7")
            .header("anthropic-ratelimit-input-tokens-remaining", "0"),
    )
    .await;
    let anthropic = provider(&server);
    let sent = anthropic
        .send(&Request::text("claude-sonnet-4-5", None, "Hi"))
        .await
        .unwrap_err();
    for stream in [false, true] {
        let error = anthropic
            .forward(Endpoint::Messages, BODY.as_bytes().to_vec(), stream)
            .await
            .unwrap_err();
        assert_eq!(error.kind, ErrorKind::RateLimited);
        assert_eq!(error.retry_after, Some(Duration::from_secs(7)));
        let limits = error.rate_limits.as_ref().expect("the 429's headers");
        assert_eq!(limits.input_tokens.remaining, Some(0));
        assert_eq!(
            (error.kind, error.status, &error.message),
            (sent.kind, sent.status, &sent.message)
        );
    }
}

#[tokio::test]
async fn openai_forwards_through_the_same_path() {
    let body = json!({"error": {"message": "Rate limit reached", "type": "requests",
        "code": "rate_limit_exceeded"}});
    let server = Server::start(Reply::json(429, &body).header("retry-after-ms", "1500")).await;
    let openai = server.provider(Some("sk-proj-SECRETsecret0123456789"));
    for stream in [false, true] {
        let error = openai
            .forward(Api::Chat, br#"{"model":"m"}"#.to_vec(), stream)
            .await
            .unwrap_err();
        assert_eq!(error.kind, ErrorKind::RateLimited);
        assert_eq!(error.retry_after, Some(Duration::from_millis(1500)));
    }
}
