//! What the mock's OpenAI endpoints refuse, over loopback: a missing or wrong key, unknown
//! models and paths, malformed JSON, reasoning models' classic parameters; its model list;
//! and the stats that count it all.

use crate::common::{hello, start};
use pacer_mock::MockServerConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn key_is_required_and_never_echoed() {
    let config = MockServerConfig {
        api_key: Some("sk-right".into()),
        ..MockServerConfig::default()
    };
    let (_server, mut client) = start(config).await;
    let reply = client.chat(&hello("gpt-4o-mini")).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let (kind, code, _) = reply.error();
    assert_eq!(
        (kind.as_str(), code),
        ("invalid_request_error", json!("invalid_api_key"))
    );
    assert_eq!(
        reply.json()["error"]["message"],
        "Incorrect API key provided."
    );

    client.key = Some("sk-wrong-12345".into());
    let reply = client.chat(&hello("gpt-4o-mini")).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(!String::from_utf8_lossy(&reply.body).contains("sk-wrong"));
    assert_eq!(
        client.get("/v1/models").await.status,
        StatusCode::UNAUTHORIZED
    );

    client.key = Some("sk-right".into());
    assert_eq!(
        client.chat(&hello("gpt-4o-mini")).await.status,
        StatusCode::OK
    );
    let stats = client.stats().await;
    assert_eq!((stats.unauthorized, stats.ok), (3, 1));
}

#[tokio::test]
async fn models_unknown_paths_and_malformed_json() {
    let config = MockServerConfig {
        models: vec!["gpt-4o-mini".into(), "o4-mini".into()],
        ..MockServerConfig::default()
    };
    let (_server, client) = start(config).await;
    let v = client.get("/v1/models").await.json();
    assert_eq!(v["object"], "list");
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["gpt-4o-mini", "o4-mini"]);
    assert_eq!(v["data"][0]["object"], "model");
    assert_eq!(v["data"][0]["owned_by"], "pacer-mock");
    assert_eq!(
        client.get("/v1/models/o4-mini").await.json()["id"],
        "o4-mini"
    );

    let reply = client.chat(&hello("gpt-9")).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error().1, "model_not_found");
    assert_eq!(
        reply.json()["error"]["message"],
        "The model `gpt-9` does not exist or you do not have access to it."
    );
    assert_eq!(
        client.get("/v1/models/gpt-9").await.status,
        StatusCode::NOT_FOUND
    );

    let reply = client.post("/v1/audio/speech", &json!({})).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error().0, "invalid_request_error");

    let reply = client
        .try_post_raw("/v1/chat/completions", b"{\"model\": ".to_vec())
        .await
        .unwrap();
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error().0, "invalid_request_error");
    let message = reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("could not parse the JSON body"),
        "{message}"
    );
    let reply = client
        .post("/v1/chat/completions", &json!({"model": "gpt-4o-mini"}))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("messages")
    );

    // Any model when none is configured.
    let (_server, client) = start(MockServerConfig::default()).await;
    assert_eq!(
        client.chat(&hello("anything-at-all")).await.status,
        StatusCode::OK
    );
    let v = client.get("/v1/models").await.json();
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "gpt-4o-mini")
    );
}

#[tokio::test]
async fn reasoning_models_refuse_classic_parameters() {
    let (_server, client) = start(MockServerConfig::default()).await;
    let refused = [
        ("max_tokens", json!(50)),
        ("temperature", json!(0.5)),
        ("top_p", json!(0.9)),
        ("stop", json!(["\n"])),
        ("n", json!(2)),
    ];
    for (param, value) in refused {
        let mut body = hello("o4-mini");
        body[param] = value;
        let reply = client.chat(&body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{param}");
        let (kind, code, got) = reply.error();
        assert_eq!(kind, "invalid_request_error");
        assert_eq!(code, "unsupported_parameter");
        assert_eq!(got, param);
    }
    let reply = client
        .chat(&{
            let mut body = hello("o4-mini");
            body["max_tokens"] = json!(50);
            body
        })
        .await;
    let message = reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("Use 'max_completion_tokens' instead"),
        "{message}"
    );

    // Temperature 1 is the default, so it is allowed; so is max_completion_tokens.
    let mut body = hello("ft:gpt-5-mini:acme::abc");
    body["temperature"] = json!(1);
    body["max_completion_tokens"] = json!(60);
    let reply = client.chat(&body).await;
    assert_eq!(reply.status, StatusCode::OK);
    let v = reply.json();
    let usage = &v["usage"];
    let visible = v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .count() as u64;
    let reasoning = usage["completion_tokens_details"]["reasoning_tokens"]
        .as_u64()
        .unwrap();
    assert_eq!(reasoning, 2 * visible);
    assert_eq!(usage["completion_tokens"], visible + reasoning);
    assert!(usage["completion_tokens"].as_u64().unwrap() <= 60);

    // Classic models take max_tokens and report no reasoning.
    let mut body = hello("gpt-4o-mini");
    body["max_tokens"] = json!(5);
    let v = client.chat(&body).await.json();
    assert!(v["usage"].get("completion_tokens_details").is_none());
    assert_eq!(v["choices"][0]["finish_reason"], "length");
}

#[tokio::test]
async fn stats_count_what_was_sent_and_reset() {
    let config = MockServerConfig {
        models: vec!["gpt-4o-mini".into()],
        ..MockServerConfig::default()
    };
    let (server, client) = start(config).await;
    let mut prompt = 0;
    let mut completion = 0;
    for _ in 0..3 {
        let v = client.chat(&hello("gpt-4o-mini")).await.json();
        prompt += v["usage"]["prompt_tokens"].as_u64().unwrap();
        completion += v["usage"]["completion_tokens"].as_u64().unwrap();
    }
    client.chat(&hello("nope")).await;
    client.post("/v1/nothing", &json!({})).await;
    client
        .try_post_raw("/v1/completions", b"[1,".to_vec())
        .await
        .unwrap();
    client.get("/v1/models").await;

    let stats = client.stats().await;
    assert_eq!(stats.requests, 7);
    assert_eq!(stats.ok, 4);
    assert_eq!(stats.not_found, 2);
    assert_eq!(stats.bad_requests, 1);
    assert_eq!(stats.prompt_tokens, prompt);
    assert_eq!(stats.completion_tokens, completion);
    // Each admitted chat is charged its prompt plus the default cap of 1024.
    assert_eq!(stats.tokens_charged, prompt + 3 * 1024);
    assert_eq!(stats.rate_limited + stats.server_errors + stats.dropped, 0);
    assert!(stats.uptime_seconds >= 0.0);
    let mut direct = server.stats();
    direct.uptime_seconds = stats.uptime_seconds;
    assert_eq!(direct, stats);

    let reply = client.post("/stats/reset", &Value::Null).await;
    assert_eq!(reply.status, StatusCode::OK);
    let stats = client.stats().await;
    assert_eq!((stats.requests, stats.ok, stats.prompt_tokens), (0, 0, 0));
}
