//! Anthropic's Messages API on the mock: the `anthropic-ratelimit-*` headers, the request,
//! input- and output-token limits, the credit-balance quota and faults, over loopback.

use std::time::{Duration, SystemTime};

use crate::common::{self, anthropic_error, claude, has_rate_headers, start};
use pacer_core::{Message, RateLimitInfo, Role, parse_rfc3339};
use pacer_mock::MockServerConfig;
use pacer_providers::openai::{Encoding, chat_prompt_tokens};
use reqwest::StatusCode;
use serde_json::json;

/// The wait until an `anthropic-ratelimit-*-reset` header's time, which must be in the
/// near future (or this second).
fn reset_in(reply: &common::Reply, name: &str) -> Duration {
    let text = reply.header(name).unwrap_or_else(|| panic!("no {name}"));
    assert!(text.ends_with('Z') && text.len() == 20, "{text}");
    let at = parse_rfc3339(text).unwrap_or_else(|| panic!("{name}: {text}"));
    let now = SystemTime::now();
    assert!(at + Duration::from_secs(1) >= now, "{text} is past");
    at.duration_since(now).unwrap_or_default()
}

#[tokio::test]
async fn requests_past_the_limit_get_rate_limit_error_with_rfc3339_resets() {
    // 60 rpm over a 1 s window: a bucket of one request.
    let config = MockServerConfig {
        rpm: Some(60),
        window: Duration::from_secs(1),
        ..MockServerConfig::default()
    };
    let (_server, client) = start(config).await;
    let first = client.messages(&claude("claude-x", 16)).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(
        first.header_u64("anthropic-ratelimit-requests-limit"),
        Some(60)
    );
    assert_eq!(
        first.header_u64("anthropic-ratelimit-requests-remaining"),
        Some(0)
    );
    assert!(reset_in(&first, "anthropic-ratelimit-requests-reset") <= Duration::from_secs(2));
    // No token limit: no token headers; never OpenAI's headers.
    assert!(first.header("anthropic-ratelimit-tokens-limit").is_none());
    assert!(first.header("x-ratelimit-limit-requests").is_none());

    let second = client.messages(&claude("claude-x", 16)).await;
    assert_eq!(second.status, StatusCode::TOO_MANY_REQUESTS);
    let (kind, message) = anthropic_error(&second);
    assert_eq!(kind, "rate_limit_error");
    assert!(message.contains("60 requests per minute"), "{message}");
    assert_eq!(second.header("retry-after"), Some("1"));
    assert!(second.header("retry-after-ms").is_none());
    assert_eq!(
        second.header_u64("anthropic-ratelimit-requests-remaining"),
        Some(0)
    );
    reset_in(&second, "anthropic-ratelimit-requests-reset");
    let pairs = second
        .headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.to_str().unwrap()));
    let info = RateLimitInfo::from_anthropic_headers(pairs, SystemTime::now()).unwrap();
    assert_eq!(
        (info.requests.limit, info.requests.remaining),
        (Some(60), Some(0))
    );
    assert!(info.requests.reset.unwrap() <= Duration::from_secs(2));
    let stats = client.stats().await;
    assert_eq!((stats.ok, stats.rate_limited), (1, 1));
}

#[tokio::test]
async fn a_burst_past_the_input_token_limit_gets_429s() {
    // 3000 itpm over 1 s: a bucket of 50 input tokens, refilling 50 a second.
    let config = MockServerConfig {
        itpm: Some(3000),
        window: Duration::from_secs(1),
        ..MockServerConfig::default()
    };
    let (_server, client) = start(config).await;
    let prompt = chat_prompt_tokens(
        Encoding::Cl100k,
        &[Message::new(Role::User, "Say hello to the rate limiter.")],
    );
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..10 {
        let reply = client.messages(&claude("claude-x", 16)).await;
        statuses.push(reply.status.as_u16());
        if reply.status == StatusCode::OK {
            assert_eq!(
                reply.header_u64("anthropic-ratelimit-input-tokens-limit"),
                Some(3000)
            );
            // The tightest token limit is the input one.
            assert_eq!(
                reply.header_u64("anthropic-ratelimit-tokens-limit"),
                Some(3000)
            );
            assert!(
                reply
                    .header("anthropic-ratelimit-output-tokens-limit")
                    .is_none()
            );
            assert!(reply.header("anthropic-ratelimit-requests-limit").is_none());
        } else if limited.is_none() {
            limited = Some(reply);
        }
    }
    assert_eq!(statuses[0], 200, "{statuses:?}");
    let admitted = statuses.iter().filter(|s| **s == 200).count() as u64;
    assert!(
        admitted <= 50 / prompt + 2,
        "{statuses:?} for {prompt} tokens each"
    );
    let limited = limited.unwrap_or_else(|| panic!("no 429 in {statuses:?}"));
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    let (kind, message) = anthropic_error(&limited);
    assert_eq!(kind, "rate_limit_error");
    assert!(
        message.contains("3000 input tokens per minute"),
        "{message}"
    );
    assert_eq!(limited.header("retry-after"), Some("1"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        client.messages(&claude("claude-x", 16)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn output_is_charged_from_max_tokens_then_corrected() {
    // 6000 otpm over 10 s: a bucket of 1000 output tokens, refilling 100 a second. Each
    // request may write 600, and replies take a second.
    let config = MockServerConfig {
        otpm: Some(6000),
        window: Duration::from_secs(10),
        latency: Duration::from_secs(1),
        ..MockServerConfig::default()
    };
    let (_server, client) = start(config).await;
    let body = claude("claude-x", 600);
    let (a, b, c, d) = tokio::join!(
        client.messages(&body),
        client.messages(&body),
        client.messages(&body),
        client.messages(&body),
    );
    let replies = [a, b, c, d];
    let ok: Vec<_> = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .collect();
    assert_eq!(ok.len(), 1, "one fits the bucket while it is in flight");
    for reply in replies.iter().filter(|r| r.status != StatusCode::OK) {
        assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(
            anthropic_error(reply)
                .1
                .contains("6000 output tokens per minute")
        );
        // 400 left, 600 needed, 100 a second.
        assert_eq!(reply.header("retry-after"), Some("2"));
        assert!(
            reply
                .header_u64("anthropic-ratelimit-output-tokens-remaining")
                .unwrap()
                < 600
        );
    }
    // Once replied, the 600 charged are corrected to the few words written.
    let used = ok[0].json()["usage"]["output_tokens"].as_u64().unwrap();
    assert!(used < 100);
    let remaining = ok[0]
        .header_u64("anthropic-ratelimit-output-tokens-remaining")
        .unwrap();
    assert!(
        remaining >= 1000 - used - 50,
        "{remaining} after using {used}"
    );
    assert_eq!(client.messages(&body).await.status, StatusCode::OK);
    let stats = client.stats().await;
    assert_eq!(stats.rate_limited, 3);
    assert_eq!(
        stats.tokens_charged,
        stats.prompt_tokens + stats.completion_tokens
    );
}

#[tokio::test]
async fn a_spent_quota_is_a_credit_balance_error() {
    let config = MockServerConfig {
        quota_tokens: Some(100),
        ..MockServerConfig::default()
    };
    let (_server, client) = start(config).await;
    let mut refused = None;
    for _ in 0..20 {
        let reply = client.messages(&claude("claude-x", 50)).await;
        if reply.status != StatusCode::OK {
            refused = Some(reply);
            break;
        }
    }
    let reply = refused.expect("the quota runs out");
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.json(),
        json!({"type": "error", "error": {"type": "invalid_request_error", "message":
            "Your credit balance is too low to access the Anthropic API. Please go to Plans & \
             Billing to upgrade or purchase credits."}})
    );
    assert!(reply.header("retry-after").is_none());
    assert_eq!(client.stats().await.quota_exceeded, 1);
}

#[tokio::test]
async fn faults_answer_as_anthropic_does() {
    let faulty = |fail_500, fail_503| MockServerConfig {
        rpm: Some(6000),
        fail_500,
        fail_503,
        ..MockServerConfig::default()
    };
    let (_server, client) = start(faulty(0.0, 1.0)).await;
    let reply = client.messages(&claude("claude-x", 10)).await;
    assert_eq!(reply.status.as_u16(), 529);
    assert_eq!(
        anthropic_error(&reply),
        ("overloaded_error".into(), "Overloaded".into())
    );
    assert_eq!(
        reply.header_u64("anthropic-ratelimit-requests-limit"),
        Some(6000)
    );
    assert_eq!(client.stats().await.overloaded, 1);

    let (_server, client) = start(faulty(1.0, 0.0)).await;
    let reply = client.messages(&claude("claude-x", 10)).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(anthropic_error(&reply).0, "api_error");

    // Without rate headers a 429 still says when to come back.
    let (_server, client) = start(MockServerConfig {
        rpm: Some(60),
        window: Duration::from_secs(1),
        rate_headers: false,
        ..MockServerConfig::default()
    })
    .await;
    client.messages(&claude("claude-x", 10)).await;
    let reply = client.messages(&claude("claude-x", 10)).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert!(!has_rate_headers(&reply));
}
