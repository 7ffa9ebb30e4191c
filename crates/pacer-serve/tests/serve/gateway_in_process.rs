//! The gateway driven in process, without sockets, on tokio's paused clock: routing, the
//! queue bound, pacing, per-key limits, a model stopped by a refused key, and the budget.
//! Each model is the in-process mock provider, so time is the only thing these tests wait
//! for, and it is virtual.

use std::sync::Arc;
use std::time::Duration;

use pacer_core::ErrorKind;
use pacer_engine::{Budget, Spending};
use pacer_providers::{MockConfig, MockProvider};
use pacer_serve::{GatewayConfig, GatewayKey};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::common::chat;
use crate::common::in_process::{CHAT, post, route};

#[tokio::test(start_paused = true)]
async fn requests_are_routed_by_model_and_translated() {
    let provider = Arc::new(MockProvider::default());
    let app = pacer_serve::router(GatewayConfig::new(vec![
        route("a", &provider, None),
        route("b", &provider, None),
    ]))
    .unwrap();
    let reply = post(&app, CHAT, None, &chat("b", "hello")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["object"], "chat.completion");
    assert_eq!(reply.body["model"], "b");
    assert!(reply.body["choices"][0]["message"]["content"].is_string());
    let unknown = post(&app, CHAT, None, &chat("c", "hello")).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body["error"]["code"], "model_not_found");
    // A legacy completion needs an OpenAI-compatible entry.
    let legacy = post(
        &app,
        "/v1/completions",
        None,
        &json!({"model": "a", "prompt": "x"}),
    )
    .await;
    assert_eq!(legacy.status, 400, "{}", legacy.body);
    let broken = post(&app, CHAT, None, &json!({"model": "a", "messages": 3})).await;
    assert_eq!(broken.status, 400);
    assert_eq!(broken.body["error"]["type"], "invalid_request_error");
    assert_eq!(provider.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_request_that_would_wait_too_long_gets_429_with_retry_after() {
    let provider = Arc::new(MockProvider::default());
    let mut config = GatewayConfig::new(vec![route("m", &provider, Some(60))]);
    config.max_queue_wait = Duration::from_millis(200);
    let app = pacer_serve::router(config).unwrap();
    assert_eq!(post(&app, CHAT, None, &chat("m", "hi")).await.status, 200);
    let second = post(&app, CHAT, None, &chat("m", "hi")).await;
    assert_eq!(second.status, 429, "{}", second.body);
    assert_eq!(second.body["error"]["code"], "gateway_queue_timeout");
    assert_eq!(second.body["error"]["type"], "rate_limit_error");
    let retry_after: u64 = second.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert!(second.headers.contains_key("retry-after-ms"));
    // The refused request never reached the provider.
    assert_eq!(provider.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn waiting_requests_are_paced_under_the_limit_and_all_succeed() {
    let provider = Arc::new(MockProvider::default());
    let app =
        pacer_serve::router(GatewayConfig::new(vec![route("m", &provider, Some(600))])).unwrap();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..25 {
        let app = app.clone();
        tasks.spawn(async move {
            post(&app, CHAT, None, &chat("m", &format!("q{i}")))
                .await
                .status
        });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    // 600 a minute at 98%: a second's burst less the 100 ms a server's clock may lag (8.8
    // requests) at once, the other 16 at 9.8 a second.
    let elapsed = started.elapsed().as_secs_f64();
    assert!((1.5..2.0).contains(&elapsed), "{elapsed} s");
    assert_eq!(provider.calls(), 25);
}

#[tokio::test(start_paused = true)]
async fn each_gateway_key_may_have_its_own_rate_limit() {
    let provider = Arc::new(MockProvider::default());
    let mut config = GatewayConfig::new(vec![route("m", &provider, None)]);
    config.keys = ["a", "b"]
        .map(|id| GatewayKey::new(id, format!("key-{id}")))
        .to_vec();
    // A key's allowance may go at once: one request a minute, the second waits a minute.
    config.client_rpm = Some(1);
    config.max_queue_wait = Duration::from_millis(200);
    let app = pacer_serve::router(config).unwrap();
    assert_eq!(
        post(&app, CHAT, Some("key-a"), &chat("m", "1"))
            .await
            .status,
        200
    );
    let second = post(&app, CHAT, Some("key-a"), &chat("m", "2")).await;
    assert_eq!(second.status, 429, "{}", second.body);
    assert_eq!(second.body["error"]["code"], "gateway_client_rate_limit");
    assert!(second.headers.contains_key("retry-after"));
    // Another key has its own allowance; a wrong one none.
    assert_eq!(
        post(&app, CHAT, Some("key-b"), &chat("m", "3"))
            .await
            .status,
        200
    );
    assert_eq!(
        post(&app, CHAT, Some("key-c"), &chat("m", "4"))
            .await
            .status,
        401
    );
    assert_eq!(post(&app, CHAT, None, &chat("m", "5")).await.status, 401);
    assert_eq!(provider.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_key_has_its_own_limits_and_models_and_is_told_which_limit_refused_it() {
    let provider = Arc::new(MockProvider::default());
    let mut config = GatewayConfig::new(vec![
        route("m", &provider, None),
        route("other", &provider, None),
    ]);
    // `a`: 1,000 tokens a minute on `m` only (its rpm is the gateway's 600); `b`: 1 a minute.
    let mut a = GatewayKey::new("a", "key-a");
    a.limits.tpm = std::num::NonZeroU64::new(1_000);
    a.models = Some(vec!["m".into()]);
    let mut b = GatewayKey::new("b", "key-b");
    b.limits.rpm = std::num::NonZeroU64::new(1);
    config.keys = vec![a, b];
    config.client_rpm = Some(600);
    config.max_queue_wait = Duration::from_millis(200);
    let app = pacer_serve::router(config).unwrap();
    let ask = |max_tokens: u64| {
        let mut body = chat("m", "hi");
        body["max_tokens"] = json!(max_tokens);
        body
    };
    // 600 of 1,000 tokens reserved (the prompt and max_tokens), settled at what was used.
    assert_eq!(post(&app, CHAT, Some("key-a"), &ask(600)).await.status, 200);
    let over = post(&app, CHAT, Some("key-a"), &ask(990)).await;
    assert_eq!(over.status, 429, "{}", over.body);
    assert_eq!(over.body["error"]["code"], "gateway_client_rate_limit");
    let message = over.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("tpm 1000 (tokens a minute)"), "{message}");
    assert!(message.contains("frees up"), "{message}");
    // A request larger than the key's whole minute can never go.
    let huge = post(&app, CHAT, Some("key-a"), &ask(5_000)).await;
    assert_eq!(huge.status, 400, "{}", huge.body);
    // Not its model: 403, naming what it may use; /v1/models lists only those.
    let other = post(&app, CHAT, Some("key-a"), &chat("other", "hi")).await;
    assert_eq!(other.status, 403, "{}", other.body);
    assert_eq!(other.body["error"]["code"], "model_not_allowed");
    assert!(
        other.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("it may use: m")
    );
    let listed = crate::common::in_process::get_as(&app, "/v1/models", "key-a").await;
    let ids: Vec<&str> = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["m"]);
    // `b`: its own rpm, not the gateway's.
    assert_eq!(
        post(&app, CHAT, Some("key-b"), &chat("other", "1"))
            .await
            .status,
        200
    );
    let second = post(&app, CHAT, Some("key-b"), &chat("other", "2")).await;
    assert_eq!(second.status, 429);
    let message = second.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("rpm 1 (requests a minute)"), "{message}");
    assert_eq!(provider.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_keys_budget_is_its_own_and_survives_a_restart() {
    let provider = Arc::new(MockProvider::default());
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("usage.jsonl");
    let gateway = || {
        let mut config = GatewayConfig::new(vec![route("m", &provider, None)]);
        let mut a = GatewayKey::new("a", "key-a");
        a.budget_tokens = Some(300);
        config.keys = vec![a, GatewayKey::new("b", "key-b")];
        config.usage_log = pacer_serve::UsageLog::File(log.clone());
        pacer_serve::router(config).unwrap()
    };
    let mut ask = chat("m", "hi");
    ask["max_tokens"] = json!(100);
    let app = gateway();
    // Each request holds its worst case (prompt + 100) and is charged what it used.
    let mut answered = 0;
    let refused = loop {
        let reply = post(&app, CHAT, Some("key-a"), &ask).await;
        if reply.status != 200 {
            break reply;
        }
        answered += 1;
        assert!(answered < 30, "never refused");
    };
    assert!(answered >= 2, "{answered}");
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.body["error"]["type"], "insufficient_quota");
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("key `a`'s own budget"), "{message}");
    // Another key is not held back by it.
    assert_eq!(post(&app, CHAT, Some("key-b"), &ask).await.status, 200);
    drop(app);
    // A gateway started again on the same usage log knows what `a` spent.
    let text = std::fs::read_to_string(&log).unwrap();
    let spent: u64 = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["client"] == "a")
        .map(|l| l["input_tokens"].as_u64().unwrap() + l["output_tokens"].as_u64().unwrap())
        .sum();
    // Refused once what it spent and the next worst case (~10 + 100) would pass 300.
    assert!((180..=300).contains(&spent), "{spent}");
    let again = gateway();
    let first = post(&again, CHAT, Some("key-a"), &ask).await;
    assert_eq!(first.status, 429, "{}", first.body);
    assert_eq!(post(&again, CHAT, Some("key-b"), &ask).await.status, 200);
}

#[tokio::test(start_paused = true)]
async fn the_queue_bound_refuses_only_what_the_requests_ahead_would_keep_too_long() {
    let provider = Arc::new(MockProvider::default());
    // 1,200 a minute paced at 98%, a 1 s burst: within a 3 s bound, 18 go at once (a second's
    // 20, less the 2 refilled in the 100 ms a server's clock may lag) and 58 more (19.6 a
    // second) wait their turn; the rest are refused at once, told how long the line would
    // keep them.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("usage.jsonl");
    let mut config = GatewayConfig::new(vec![route("m", &provider, Some(1_200))]);
    config.max_queue_wait = Duration::from_secs(3);
    config.usage_log = pacer_serve::UsageLog::File(log.clone());
    let app = pacer_serve::router(config).unwrap();
    let tasks: Vec<_> = (0..120)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move { post(&app, CHAT, None, &chat("m", &format!("q{i}"))).await })
        })
        .collect();
    let mut admitted = 0;
    let mut refused = Vec::new();
    for task in tasks {
        let reply = task.await.unwrap();
        match reply.status {
            200 => admitted += 1,
            429 => {
                assert_eq!(reply.body["error"]["code"], "gateway_queue_timeout");
                let ms: u64 = reply.headers["retry-after-ms"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                refused.push(ms);
            }
            other => panic!("{other}: {}", reply.body),
        }
    }
    assert!((76..=78).contains(&admitted), "{admitted} admitted");
    assert_eq!(refused.len(), 120 - admitted);
    assert!(refused.iter().all(|ms| *ms > 2_900), "{refused:?}");
    // The log has every request's queue wait, the refused ones' too; none admitted waited
    // past the bound.
    let lines = std::fs::read_to_string(&log).unwrap();
    let records: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 120);
    for record in &records {
        let wait = record["queue_wait_ms"].as_f64().expect("a queue wait");
        if record["status"] == 200 {
            assert!(wait <= 3_000.0, "{record}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn an_upstream_refusing_the_key_stops_the_model_and_later_requests_fail_at_once() {
    let provider = Arc::new(MockProvider::new(MockConfig {
        fail_rate: 1.0,
        fail_kind: ErrorKind::Auth,
        ..MockConfig::default()
    }));
    let healthy = Arc::new(MockProvider::default());
    let app = pacer_serve::router(GatewayConfig::new(vec![
        route("m", &provider, None),
        route("other", &healthy, None),
    ]))
    .unwrap();
    for _ in 0..3 {
        let reply = post(&app, CHAT, None, &chat("m", "hi")).await;
        assert_eq!(reply.status, 502, "{}", reply.body);
        assert_eq!(reply.body["error"]["type"], "upstream_auth_error");
        assert_eq!(reply.body["error"]["code"], "Auth");
    }
    // Only the first reached the provider: the model's lane stopped, as `pacer run`'s does.
    assert_eq!(provider.calls(), 1);
    // The other model is served.
    assert_eq!(
        post(&app, CHAT, None, &chat("other", "hi")).await.status,
        200
    );
}

#[tokio::test(start_paused = true)]
async fn the_budget_refuses_requests_once_it_would_be_passed() {
    let provider = Arc::new(MockProvider::default());
    let mut config = GatewayConfig::new(vec![route("m", &provider, None)]);
    // Each request holds its prompt (9 tokens) and its 16-token cap until it is answered.
    config.budget = Some(Budget::new(None, Some(100), Spending::default()));
    let app = pacer_serve::router(config).unwrap();
    // A request whose worst case alone passes the budget is refused alone.
    let mut huge = chat("m", "q");
    huge["max_tokens"] = json!(1_000);
    let refused = post(&app, CHAT, None, &huge).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.body["error"]["code"], "BudgetExhausted");
    let mut served = 0;
    let mut last = None;
    for i in 0..20 {
        let reply = post(&app, CHAT, None, &chat("m", &format!("q{i}"))).await;
        if reply.status == 200 {
            assert!(last.is_none(), "served after the budget refused one");
            served += 1;
        } else {
            assert_eq!(reply.status, 429, "{}", reply.body);
            assert_eq!(reply.body["error"]["type"], "insufficient_quota");
            assert_eq!(reply.body["error"]["code"], "BudgetExhausted");
            last = Some(reply);
        }
    }
    assert!(served >= 3, "{served} served");
    assert!(last.is_some(), "the budget never refused");
    assert_eq!(provider.calls(), served);
}

#[tokio::test(start_paused = true)]
async fn an_upstream_404_fails_that_request_alone() {
    let provider = Arc::new(MockProvider::new(MockConfig {
        fail_rate: 1.0,
        fail_kind: ErrorKind::NotFound,
        ..MockConfig::default()
    }));
    let app = pacer_serve::router(GatewayConfig::new(vec![route("m", &provider, None)])).unwrap();
    for _ in 0..3 {
        let reply = post(&app, CHAT, None, &chat("m", "hi")).await;
        assert_eq!(reply.status, 404, "{}", reply.body);
    }
    // Each reached the upstream: a client's body may name what the upstream lacks, which
    // says nothing of other clients' requests.
    assert_eq!(provider.calls(), 3);
}
