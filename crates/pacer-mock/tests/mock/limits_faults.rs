//! Rate limits, their headers, the quota and the injected faults, over loopback.

use std::time::Duration;

use crate::common::{Client, hello, http, start};
use pacer_core::parse_duration;
use pacer_mock::MockServerConfig;
use reqwest::StatusCode;
use serde_json::json;

const RATE_HEADERS: [&str; 6] = [
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
];

#[tokio::test]
async fn requests_beyond_the_bucket_get_429_with_every_header() {
    // 60 rpm over a 1 s window: a bucket of one request.
    let config = MockServerConfig {
        rpm: Some(60),
        window: Duration::from_secs(1),
        ..MockServerConfig::default()
    };
    let (_server, client) = start(config).await;
    let first = client.chat(&hello("gpt-4o-mini")).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.header_u64("x-ratelimit-limit-requests"), Some(60));
    assert_eq!(first.header_u64("x-ratelimit-remaining-requests"), Some(0));
    let reset = parse_duration(first.header("x-ratelimit-reset-requests").unwrap()).unwrap();
    assert!(reset > Duration::ZERO && reset <= Duration::from_secs(1));
    // Tokens are not limited: no token headers.
    assert!(first.header("x-ratelimit-limit-tokens").is_none());

    let second = client.chat(&hello("gpt-4o-mini")).await;
    assert_eq!(second.status, StatusCode::TOO_MANY_REQUESTS);
    let (kind, code, param) = second.error();
    assert_eq!(kind, "requests");
    assert_eq!(code, "rate_limit_exceeded");
    assert!(param.is_null());
    let message = second.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message
            .starts_with("Rate limit reached for requests on model gpt-4o-mini: Limit 60, Used "),
        "{message}"
    );
    assert!(
        message.contains("Requested 1. Please try again in "),
        "{message}"
    );
    let retry_ms = second.header_u64("retry-after-ms").unwrap();
    assert!(retry_ms > 0 && retry_ms <= 1000, "{retry_ms}");
    assert_eq!(second.header_u64("retry-after"), Some(1));
    assert_eq!(second.header_u64("x-ratelimit-limit-requests"), Some(60));
    assert_eq!(second.header_u64("x-ratelimit-remaining-requests"), Some(0));
    assert!(parse_duration(second.header("x-ratelimit-reset-requests").unwrap()).is_some());

    let stats = client.stats().await;
    assert_eq!((stats.ok, stats.rate_limited), (1, 1));
}

#[tokio::test]
async fn a_200_reports_limit_and_remaining_for_both_dimensions() {
    let config = MockServerConfig {
        rpm: Some(1200),
        tpm: Some(100_000),
        ..MockServerConfig::default()
    };
    let (_server, client) = start(config).await;
    let mut body = hello("gpt-4o-mini");
    body["max_tokens"] = json!(16);
    let reply = client.chat(&body).await;
    assert_eq!(reply.status, StatusCode::OK);
    // Window 2 s: 40 requests and 3333.3 tokens in the buckets.
    assert_eq!(reply.header_u64("x-ratelimit-limit-requests"), Some(1200));
    assert_eq!(reply.header_u64("x-ratelimit-remaining-requests"), Some(39));
    assert_eq!(reply.header_u64("x-ratelimit-limit-tokens"), Some(100_000));
    let prompt = reply.json()["usage"]["prompt_tokens"].as_u64().unwrap();
    let expected = (100_000.0 * 2.0 / 60.0 - (prompt + 16) as f64).floor() as u64;
    assert_eq!(
        reply.header_u64("x-ratelimit-remaining-tokens"),
        Some(expected)
    );
    for name in ["x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"] {
        let reset = parse_duration(reply.header(name).unwrap()).unwrap();
        assert!(reset > Duration::ZERO, "{name}");
    }
    assert!(reply.header("retry-after").is_none());
}

#[tokio::test]
async fn the_token_bucket_refuses_with_type_tokens() {
    // 600 tpm over 1 s: a bucket of 10 tokens. The first request costs more but finds the
    // bucket full, so it passes and leaves it in debt.
    let config = MockServerConfig {
        tpm: Some(600),
        window: Duration::from_secs(1),
        ..MockServerConfig::default()
    };
    let (_server, client) = start(config).await;
    let mut body = hello("gpt-4o-mini");
    body["max_tokens"] = json!(5);
    assert_eq!(client.chat(&body).await.status, StatusCode::OK);
    let reply = client.chat(&body).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    let (kind, code, _) = reply.error();
    assert_eq!(
        (kind.as_str(), code),
        ("tokens", json!("rate_limit_exceeded"))
    );
    assert!(reply.header_u64("retry-after-ms").unwrap() > 0);
    assert_eq!(reply.header_u64("x-ratelimit-limit-tokens"), Some(600));
    assert_eq!(reply.header_u64("x-ratelimit-remaining-tokens"), Some(0));
    assert!(reply.header("x-ratelimit-limit-requests").is_none());
}

#[tokio::test]
async fn no_rate_headers_sends_none() {
    let config = MockServerConfig {
        rpm: Some(60),
        tpm: Some(1_000_000),
        window: Duration::from_secs(1),
        rate_headers: false,
        ..MockServerConfig::default()
    };
    let (_server, client) = start(config).await;
    let ok = client.chat(&hello("gpt-4o-mini")).await;
    let limited = client.chat(&hello("gpt-4o-mini")).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    for reply in [&ok, &limited] {
        for name in RATE_HEADERS {
            assert!(reply.header(name).is_none(), "{name}");
        }
    }
}

#[tokio::test]
async fn spent_quota_gets_insufficient_quota() {
    let config = MockServerConfig {
        quota_tokens: Some(100),
        ..MockServerConfig::default()
    };
    let (_server, client) = start(config).await;
    let mut body = hello("gpt-4o-mini");
    body["max_tokens"] = json!(60);
    assert_eq!(client.chat(&body).await.status, StatusCode::OK);
    let reply = client.chat(&body).await;
    assert_eq!(reply.status, StatusCode::OK, "still under the quota");
    let reply = client.chat(&body).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    let (kind, code, _) = reply.error();
    assert_eq!(
        (kind.as_str(), code),
        ("insufficient_quota", json!("insufficient_quota"))
    );
    assert_eq!(
        reply.json()["error"]["message"],
        "You exceeded your current quota, please check your plan and billing details."
    );
    assert!(reply.header("retry-after").is_none());
    assert!(reply.header("retry-after-ms").is_none());
    let stats = client.stats().await;
    assert_eq!((stats.ok, stats.quota_exceeded), (2, 1));
}

fn faulty(set: impl FnOnce(&mut MockServerConfig)) -> MockServerConfig {
    let mut config = MockServerConfig {
        rpm: Some(6000),
        ..MockServerConfig::default()
    };
    set(&mut config);
    config
}

#[tokio::test]
async fn injected_server_errors_carry_rate_headers() {
    let (_server, client) = start(faulty(|c| c.fail_500 = 1.0)).await;
    let reply = client.chat(&hello("gpt-4o-mini")).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.error().0, "server_error");
    assert_eq!(reply.header_u64("x-ratelimit-limit-requests"), Some(6000));

    let (_server, client) = start(faulty(|c| c.fail_503 = 1.0)).await;
    let reply = client.chat(&hello("gpt-4o-mini")).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.error().0, "server_error");
    assert_eq!(
        reply.json()["error"]["message"],
        "The engine is currently overloaded, please try again later."
    );
    assert!(reply.header("x-ratelimit-remaining-requests").is_some());
    let stats = client.stats().await;
    assert_eq!(
        (stats.overloaded, stats.ok, stats.tokens_charged > 0),
        (1, 0, true)
    );
}

#[tokio::test]
async fn dropped_connections_give_no_reply() {
    let (_server, client) = start(faulty(|c| c.drop = 1.0)).await;
    let err = client
        .try_post("/v1/chat/completions", &hello("gpt-4o-mini"))
        .await
        .err()
        .expect("no HTTP reply");
    assert!(!err.is_timeout(), "{err}");
    assert!(err.status().is_none(), "{err}");
    let fresh = Client {
        http: http(None),
        base: client.base.clone(),
        key: None,
    };
    let stats = fresh.stats().await;
    assert_eq!((stats.dropped, stats.requests), (1, 1));
}

#[tokio::test]
async fn truncated_bodies_are_not_json() {
    let (_server, client) = start(faulty(|c| c.truncate = 1.0)).await;
    let reply = client.chat(&hello("gpt-4o-mini")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(
        reply.header_u64("content-length"),
        Some(reply.body.len() as u64)
    );
    assert!(!reply.body.is_empty());
    assert!(serde_json::from_slice::<serde_json::Value>(&reply.body).is_err());
    assert_eq!(client.stats().await.truncated, 1);
}

#[tokio::test]
async fn slow_replies_outlast_the_client_timeout() {
    let (_server, client) = start(faulty(|c| {
        c.slow = 1.0;
        c.slow_for = Duration::from_secs(10);
    }))
    .await;
    let impatient = Client {
        http: http(Some(Duration::from_millis(200))),
        base: client.base.clone(),
        key: None,
    };
    let err = impatient
        .try_post("/v1/chat/completions", &hello("gpt-4o-mini"))
        .await
        .err()
        .expect("a timeout");
    assert!(err.is_timeout(), "{err}");
    assert_eq!(client.stats().await.slow, 1);
}

#[tokio::test]
async fn latency_and_faults_are_drawn_from_the_seed() {
    // Half the requests fail; the same seed fails the same ones when sent one by one.
    let outcomes = async || {
        let (server, client) = start(MockServerConfig {
            fail_500: 0.5,
            latency: Duration::from_millis(1),
            latency_sd: Duration::from_millis(1),
            seed: 42,
            ..MockServerConfig::default()
        })
        .await;
        let mut statuses = Vec::new();
        for _ in 0..20 {
            statuses.push(client.chat(&hello("gpt-4o-mini")).await.status.as_u16());
        }
        server.shutdown().await;
        statuses
    };
    let first = outcomes().await;
    assert_eq!(first, outcomes().await);
    assert!(first.contains(&200) && first.contains(&500), "{first:?}");
}
