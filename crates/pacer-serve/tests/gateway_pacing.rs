//! Pacing in the gateway in front of `pacer mock`, over loopback only: a 429 with
//! `Retry-After` for a request that would wait too long, waiting requests paced under the
//! limit, a rate limit per gateway key, and upstream server errors retried.

mod common;

use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use pacer_limit::Limits;
use pacer_mock::{MockServer, MockServerConfig};
use pacer_serve::{GatewayConfig, GatewayKey};
use serde_json::json;

#[tokio::test]
async fn a_request_that_would_wait_too_long_gets_429_with_retry_after() {
    let mock = MockServer::start(MockServerConfig::default())
        .await
        .unwrap();
    let mut route = openai_route("m", "gpt-4o-mini", &mock, None);
    route.limits = Limits {
        rpm: NonZeroU64::new(60),
        ..Limits::default()
    };
    let mut config = GatewayConfig::new(vec![route]);
    config.max_queue_wait = Duration::from_millis(200);
    let gw = gateway(config).await;
    let base = gw.url();
    let first = post(&base, "/chat/completions", None, &chat("m", "hi")).await;
    assert_eq!(first.status, 200);
    let second = post(&base, "/chat/completions", None, &chat("m", "hi")).await;
    assert_eq!(second.status, 429, "{}", second.text);
    assert_eq!(second.json()["error"]["code"], "gateway_queue_timeout");
    assert_eq!(second.json()["error"]["type"], "rate_limit_error");
    let retry_after: u64 = second.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert!(second.headers.contains_key("retry-after-ms"));
    // The refused request never reached the upstream.
    assert_eq!(mock.stats().requests, 1);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn waiting_requests_are_paced_under_the_limit_and_all_succeed() {
    let mock = MockServer::start(MockServerConfig {
        rpm: Some(600),
        window: Duration::from_secs(1),
        ..MockServerConfig::default()
    })
    .await
    .unwrap();
    let mut route = openai_route("m", "gpt-4o-mini", &mock, None);
    route.limits = Limits {
        rpm: NonZeroU64::new(600),
        ..Limits::default()
    };
    let gw = gateway(GatewayConfig::new(vec![route])).await;
    let base = Arc::new(gw.url());
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..25 {
        let base = base.clone();
        tasks.spawn(async move {
            post(
                &base,
                "/chat/completions",
                None,
                &chat("m", &format!("q{i}")),
            )
            .await
            .status
        });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    let stats = mock.stats();
    assert_eq!((stats.ok, stats.rate_limited), (25, 0));
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn upstream_server_errors_are_retried() {
    let mock = MockServer::start(MockServerConfig {
        fail_500: 0.5,
        seed: 7,
        ..MockServerConfig::default()
    })
    .await
    .unwrap();
    let gw = gateway(GatewayConfig::new(vec![openai_route(
        "m",
        "gpt-4o-mini",
        &mock,
        None,
    )]))
    .await;
    let base = gw.url();
    for i in 0..10 {
        let reply = post(
            &base,
            "/chat/completions",
            None,
            &chat("m", &format!("q{i}")),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    // Streams too: a failure before the first byte is retried.
    for i in 0..10 {
        let mut body = chat("m", &format!("s{i}"));
        body["stream"] = json!(true);
        let reply = post(&base, "/chat/completions", None, &body).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert!(reply.text.ends_with("data: [DONE]\n\n"), "{}", reply.text);
    }
    let stats = mock.stats();
    assert!(stats.server_errors > 0, "{stats:?}");
    assert_eq!(stats.ok, 20);
    let metrics = get(&format!("http://{}", gw.addr()), "/metrics", None)
        .await
        .text;
    let attempts = format!(
        "pacer_upstream_attempts_total{{model=\"m\"}} {}",
        20 + stats.server_errors
    );
    assert!(metrics.contains(&attempts), "{metrics}");
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn each_gateway_key_may_have_its_own_rate_limit() {
    let mock = MockServer::start(MockServerConfig::default())
        .await
        .unwrap();
    let mut config = GatewayConfig::new(vec![openai_route("m", "gpt-4o-mini", &mock, None)]);
    config.keys = vec![
        GatewayKey {
            id: "a".into(),
            key: "key-a".into(),
        },
        GatewayKey {
            id: "b".into(),
            key: "key-b".into(),
        },
    ];
    config.client_rpm = Some(60);
    config.max_queue_wait = Duration::from_millis(200);
    let gw = gateway(config).await;
    let base = gw.url();
    assert_eq!(
        post(&base, "/chat/completions", Some("key-a"), &chat("m", "1"))
            .await
            .status,
        200
    );
    let second = post(&base, "/chat/completions", Some("key-a"), &chat("m", "2")).await;
    assert_eq!(second.status, 429, "{}", second.text);
    assert_eq!(second.json()["error"]["code"], "gateway_client_rate_limit");
    assert!(second.headers.contains_key("retry-after"));
    // Another key has its own allowance.
    assert_eq!(
        post(&base, "/chat/completions", Some("key-b"), &chat("m", "3"))
            .await
            .status,
        200
    );
    assert_eq!(mock.stats().requests, 2);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_queue_bound_refuses_only_what_the_requests_ahead_would_keep_too_long() {
    let mock = MockServer::start(MockServerConfig::default())
        .await
        .unwrap();
    let mut route = openai_route("m", "gpt-4o-mini", &mock, None);
    // 1,200 a minute paced at 98%, a 1 s burst: within a 3 s bound, 18 go at once (a second's
    // 20, less the 2 refilled in the 100 ms a server's clock may lag) and 58 more (19.6 a
    // second) wait their turn; the rest are refused at once, told how long the line would
    // keep them.
    route.limits = Limits {
        rpm: NonZeroU64::new(1_200),
        ..Limits::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("usage.jsonl");
    let mut config = GatewayConfig::new(vec![route]);
    config.max_queue_wait = Duration::from_secs(3);
    config.usage_log = pacer_serve::UsageLog::File(log.clone());
    let gw = gateway(config).await;
    let base = Arc::new(gw.url());
    let tasks: Vec<_> = (0..120)
        .map(|i| {
            let base = base.clone();
            tokio::spawn(async move {
                post(
                    &base,
                    "/chat/completions",
                    None,
                    &chat("m", &format!("q{i}")),
                )
                .await
            })
        })
        .collect();
    let mut admitted = 0;
    let mut refused = Vec::new();
    for task in tasks {
        let reply = task.await.unwrap();
        match reply.status {
            200 => admitted += 1,
            429 => {
                assert_eq!(reply.json()["error"]["code"], "gateway_queue_timeout");
                let ms: u64 = reply.headers["retry-after-ms"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                refused.push(ms);
            }
            other => panic!("{other}: {}", reply.text),
        }
    }
    gw.shutdown().await.unwrap();
    // Everything the bound holds was served (more if the requests came in slowly), and each
    // refusal says the line would have kept it past what was left of its bound (a refused
    // request takes no place in the line, so those after it see the same line).
    assert!(admitted >= 76, "{admitted} admitted");
    assert!(!refused.is_empty(), "none refused");
    assert!(refused.iter().all(|ms| *ms > 2_900), "{refused:?}");
    // The log has every request's queue wait, the refused ones' too; none admitted waited
    // past the bound.
    let lines = std::fs::read_to_string(&log).unwrap();
    let records: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 120);
    for record in &records {
        let wait = record["queue_wait_ms"].as_f64().expect("a queue wait");
        if record["status"] == 200 {
            assert!(wait <= 3_100.0, "{record}");
        }
    }
}
