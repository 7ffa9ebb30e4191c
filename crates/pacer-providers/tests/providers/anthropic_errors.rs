//! Every way an Anthropic call can fail, through `send` against a loopback server: each
//! error class, the headers a refusal carries, unreadable replies, and keys kept out of
//! every message.

use std::time::Duration;

use crate::support::{Reply, Server};
use pacer_core::{ErrorKind, Provider, ProviderError, Request};
use pacer_providers::anthropic::{AnthropicConfig, AnthropicProvider};

const KEY: &str = "sk-ant-api03-SECRETsecret0123456789";

fn provider(root: String) -> AnthropicProvider {
    let mut config = AnthropicConfig::new(Some(KEY.into()));
    config.base_url = root;
    AnthropicProvider::new(config).unwrap()
}

/// What `send` fails with when the server answers `reply`.
async fn failure(reply: Reply) -> ProviderError {
    let server = Server::start(reply).await;
    let error = provider(server.root.clone())
        .send(&Request::text("claude-sonnet-4-5", None, "Hello"))
        .await
        .expect_err("the call must fail");
    assert!(!error.to_string().contains("SECRET"), "{error}");
    assert!(!format!("{error:?}").contains("SECRET"), "{error:?}");
    error
}

/// Anthropic's error body, written out here rather than with the provider's own wire type
/// (private to it), so the test checks the provider against the documented shape.
fn error_body(kind: &str, message: &str) -> serde_json::Value {
    serde_json::json!({"type": "error", "error": {"type": kind, "message": message}})
}

#[tokio::test]
async fn each_status_and_type_has_its_kind() {
    let cases = [
        (
            401,
            "authentication_error",
            "invalid x-api-key",
            ErrorKind::Auth,
        ),
        (
            403,
            "permission_error",
            "Your API key does not have permission to use the specified resource.",
            ErrorKind::Auth,
        ),
        (
            404,
            "not_found_error",
            "model: claude-9",
            ErrorKind::NotFound,
        ),
        (
            400,
            "invalid_request_error",
            "max_tokens: Field required",
            ErrorKind::BadRequest,
        ),
        (
            400,
            "invalid_request_error",
            "prompt is too long: 215000 tokens > 200000 maximum",
            ErrorKind::ContextLength,
        ),
        (
            413,
            "request_too_large",
            "Request exceeds the maximum allowed number of bytes.",
            ErrorKind::BadRequest,
        ),
        (
            400,
            "invalid_request_error",
            "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.",
            ErrorKind::QuotaExhausted,
        ),
        (
            429,
            "rate_limit_error",
            "You have reached your specified API usage limits. You will regain access on 2026-12-01 at 00:00 UTC.",
            ErrorKind::QuotaExhausted,
        ),
        (
            400,
            "invalid_request_error",
            "This request would exceed your organization's monthly spend limit.",
            ErrorKind::QuotaExhausted,
        ),
        (500, "api_error", "Internal server error", ErrorKind::Server),
        (529, "overloaded_error", "Overloaded", ErrorKind::Overloaded),
    ];
    for (status, kind, message, expected) in cases {
        let error = failure(Reply::json(status, &error_body(kind, message))).await;
        assert_eq!(error.kind, expected, "{status} {message}");
        assert_eq!(error.status, Some(status));
        assert_eq!(error.message, format!("HTTP {status} {kind}: {message}"));
    }
    let quota = failure(Reply::json(
        400,
        &error_body("invalid_request_error", "Your credit balance is too low"),
    ))
    .await;
    assert!(quota.kind.stops_lane() && !quota.kind.is_retryable());
}

#[tokio::test]
async fn a_rate_limit_carries_retry_after_and_the_exhausted_limit() {
    let reply = Reply::json(
        429,
        &error_body(
            "rate_limit_error",
            "This request would exceed the rate limit for your organization of 50,000 input tokens per minute.",
        ),
    )
    .header("retry-after", "7")
    .header("anthropic-ratelimit-input-tokens-limit", "50000")
    .header("anthropic-ratelimit-input-tokens-remaining", "0")
    .header("anthropic-ratelimit-input-tokens-reset", "2999-01-01T00:00:00Z")
    .header("anthropic-ratelimit-requests-remaining", "10")
    .header("anthropic-ratelimit-requests-reset", "2000-01-01T00:00:00Z");
    let error = failure(reply).await;
    assert_eq!(error.kind, ErrorKind::RateLimited);
    assert_eq!(error.status, Some(429));
    assert_eq!(error.retry_after, Some(Duration::from_secs(7)));
    let limits = error.rate_limits.expect("the 429's headers are read");
    assert_eq!(limits.input_tokens.limit, Some(50000));
    assert_eq!(limits.input_tokens.remaining, Some(0));
    assert!(limits.input_tokens.reset.unwrap() > Duration::from_secs(86_400 * 365 * 900));
    assert_eq!(limits.requests.reset, Some(Duration::ZERO));
    assert_eq!(limits.exhausted_reset(), limits.input_tokens.reset);
}

#[tokio::test]
async fn bodies_that_are_not_the_error_json_are_classified_by_status() {
    let error = failure(Reply::raw(
        502,
        "<html><title>502 Bad Gateway</title></html>",
    ))
    .await;
    assert_eq!(error.kind, ErrorKind::Server);
    assert!(
        error.message.contains("502 Bad Gateway"),
        "{}",
        error.message
    );
    let error = failure(Reply::raw(529, "")).await;
    assert_eq!(error.kind, ErrorKind::Overloaded);
    let error = failure(Reply::raw(503, "upstream connect error").header("retry-after", "2")).await;
    assert_eq!(error.kind, ErrorKind::Server);
    assert_eq!(error.retry_after, Some(Duration::from_secs(2)));
}

#[tokio::test]
async fn the_key_never_shows_even_when_the_server_echoes_it() {
    let echoed = format!("invalid x-api-key: {KEY}");
    let error = failure(Reply::json(
        401,
        &error_body("authentication_error", &echoed),
    ))
    .await;
    assert_eq!(error.kind, ErrorKind::Auth);
    assert_eq!(
        error.message,
        "HTTP 401 authentication_error: invalid x-api-key: [redacted]"
    );
    let error = failure(Reply::raw(401, &format!("Unauthorized ({KEY})"))).await;
    assert_eq!(error.message, "HTTP 401: Unauthorized ([redacted])");
    let error = failure(Reply::raw(500, &format!("{}{KEY}", "x".repeat(290)))).await;
    assert!(!error.message.contains("sk-ant"), "{}", error.message);
}

#[tokio::test]
async fn unreadable_successes_are_invalid_responses() {
    for body in [
        r#"{"type":"message","content":[{"type":"text","te"#,
        "",
        "<html>ok</html>",
        r#"{"id":"x"}"#,
    ] {
        let reply = Reply::raw(200, body).header("anthropic-ratelimit-requests-remaining", "7");
        let error = failure(reply).await;
        assert_eq!(error.kind, ErrorKind::InvalidResponse, "{body}");
        assert_eq!(error.status, Some(200), "{body}");
        assert_eq!(
            error.rate_limits.map(|l| l.requests.remaining),
            Some(Some(7)),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_refused_connection_is_a_connection_error() {
    let error = provider(crate::support::refusing_root().await)
        .send(&Request::text("claude-x", None, "Hi"))
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Connection, "{error}");
    assert_eq!(error.status, None);
    assert!(!error.to_string().contains("SECRET"));
}
