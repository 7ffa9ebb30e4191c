//! Lanes against `pacer mock` on loopback, through the real providers: the server's own
//! headers (OpenAI's `x-ratelimit-*`, Anthropic's `anthropic-ratelimit-*`) teach the lane how
//! much the server's buckets hold, and its capacity 429s pause nothing. These count, they do
//! not time: the timing is tested on the paused clock (`lane_in_flight.rs`, and the
//! limiter's `server_word.rs`).

use std::sync::Arc;
use std::time::Duration;

use pacer_core::{Provider, Request};
use pacer_engine::{Lane, LaneConfig, Stats, WorkItem};
use pacer_limit::{Dimension, Limiter, LimiterConfig, Limits};
use pacer_mock::{MockServer, MockServerConfig};
use pacer_providers::anthropic::{AnthropicConfig, AnthropicProvider};
use pacer_providers::openai::{OpenAiConfig, OpenAiProvider};

#[derive(Clone, Copy, Debug)]
enum Family {
    OpenAi,
    Anthropic,
}

fn provider(family: Family, server: &MockServer) -> Arc<dyn Provider> {
    match family {
        Family::OpenAi => Arc::new(
            OpenAiProvider::new(OpenAiConfig {
                base_url: server.url(),
                ..OpenAiConfig::new(Some("sk-test".into()))
            })
            .unwrap(),
        ),
        Family::Anthropic => Arc::new(
            AnthropicProvider::new(AnthropicConfig {
                base_url: server.anthropic_url(),
                ..AnthropicConfig::new(Some("sk-ant-test".into()))
            })
            .unwrap(),
        ),
    }
}

/// Runs `n` short prompts through a lane that learns its limits from the first reply, as
/// `pacer run` does for these providers.
async fn run(family: Family, server: &MockServer, n: usize) -> (Stats, Arc<Limiter>) {
    let limiter = Arc::new(Limiter::new(LimiterConfig {
        probe: true,
        ..LimiterConfig::new(Limits::default())
    }));
    let model = match family {
        Family::OpenAi => "gpt-4o-mini",
        Family::Anthropic => "claude-sonnet-4-5",
    };
    let items = (0..n).map(|i| {
        let mut request = Request::text(model, None, &format!("Say hello, number {i}."));
        request.params.max_tokens = Some(16);
        WorkItem::prompt(format!("q{i}"), request, ())
    });
    let mut config = LaneConfig::new("mock");
    config.jitter_seed = Some(1);
    let lane = Lane::builder(config, provider(family, server))
        .limiter(limiter.clone())
        .build();
    let stats = lane
        .process_all(items, |o| assert!(o.is_ok(), "{:?}", o.result.err()))
        .await;
    (stats, limiter)
}

#[tokio::test]
async fn a_minute_long_window_is_learned_from_either_family_of_headers() {
    for family in [Family::OpenAi, Family::Anthropic] {
        // 600 a minute counted over the whole minute: 600 may go at once.
        let server = MockServer::start(MockServerConfig {
            rpm: Some(600),
            window: Duration::from_secs(60),
            ..MockServerConfig::default()
        })
        .await
        .unwrap();
        let (stats, limiter) = run(family, &server, 150).await;
        assert_eq!(stats.succeeded, 150, "{family:?}");
        assert_eq!(server.stats().rate_limited, 0, "{family:?}");
        // The probe's reply said 599 remain: the burst is the server's, not one second's 10
        // (less the one request it refills in the 100 ms its clock may lag).
        let burst = limiter.burst(Dimension::Requests).unwrap();
        assert!(burst >= 598.0 - 1e-6, "{family:?}: burst {burst}");
        server.shutdown().await;
    }
}

#[tokio::test]
async fn token_windows_are_learned_apart_from_request_windows() {
    // Requests over 2 s, tokens over 10 s: 200 requests, 10,000 tokens at once.
    let server = MockServer::start(MockServerConfig {
        rpm: Some(6_000),
        tpm: Some(60_000),
        window: Duration::from_secs(2),
        token_window: Some(Duration::from_secs(10)),
        ..MockServerConfig::default()
    })
    .await
    .unwrap();
    let (stats, limiter) = run(Family::OpenAi, &server, 40).await;
    assert_eq!(stats.succeeded, 40);
    assert_eq!(server.stats().rate_limited, 0);
    // Less what each refills in the 100 ms a server's clock may lag: 10 requests, 100 tokens.
    let requests = limiter.burst(Dimension::Requests).unwrap();
    let tokens = limiter.burst(Dimension::Tokens).unwrap();
    assert!(
        (188.9..=190.0).contains(&requests),
        "requests burst {requests}"
    );
    assert!(
        (9_800.0..=9_900.0).contains(&tokens),
        "tokens burst {tokens}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn capacity_429s_pause_nothing_in_either_family() {
    for family in [Family::OpenAi, Family::Anthropic] {
        let server = MockServer::start(MockServerConfig {
            rpm: Some(6_000),
            fail_429: 0.15,
            seed: 11,
            ..MockServerConfig::default()
        })
        .await
        .unwrap();
        let (stats, limiter) = run(family, &server, 120).await;
        let seen = server.stats();
        assert_eq!(stats.succeeded, 120, "{family:?}");
        assert!(seen.busy >= 5, "{family:?}: {seen:?}");
        assert_eq!(stats.rate_limited_requests, seen.busy, "{family:?}");
        // Each was retried alone after its retry-after; the lane never paused.
        assert_eq!(stats.rate_limit_events, 0, "{family:?}");
        assert_eq!(limiter.cooldowns(), 0, "{family:?}");
        assert_eq!(stats.retries, 0, "{family:?}: a 429 is no error retry");
        server.shutdown().await;
    }
}
