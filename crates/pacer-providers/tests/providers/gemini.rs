//! The Gemini provider against a loopback server: the requests it sends (key in a header,
//! never the URL), the replies it reads (candidates, thinking, logprobs, usage, blocked
//! prompts), and what it tells the engine.

use crate::support::{Reply, Server};
use axum::http::Method;
use pacer_core::{
    Accounting, BatchInput, BatchPhase, ErrorKind, FinishReason, Message, Provider, Request, Role,
    TokenLogprob, Usage,
};
use pacer_providers::gemini::{DEFAULT_BASE_URL, GeminiConfig, GeminiProvider};
use serde_json::{Value, json};

const KEY: &str = "AIzaSyTEST-SECRETsecret0123456789abcd";

fn provider(server: &Server, key: Option<&str>) -> GeminiProvider {
    let mut config = GeminiConfig::new(key.map(str::to_owned));
    config.base_url = format!("{}/v1beta", server.root);
    GeminiProvider::new(config).unwrap()
}

fn reply(candidates: Value, usage: Value) -> Value {
    json!({
        "candidates": candidates,
        "usageMetadata": usage,
        "modelVersion": "gemini-2.5-flash-001",
        "responseId": "r-1"
    })
}

fn hello() -> Value {
    reply(
        json!([{"content": {"role": "model", "parts": [{"text": "Hi!"}]}, "finishReason": "STOP"}]),
        json!({"promptTokenCount": 4, "candidatesTokenCount": 2, "totalTokenCount": 6}),
    )
}

#[tokio::test]
async fn request_carries_the_key_in_a_header_and_every_parameter() {
    let server = Server::start(Reply::ok(&hello())).await;
    let mut config = GeminiConfig::new(Some(KEY.into()));
    config.base_url = format!("{}/v1beta/", server.root);
    config.headers = vec![("x-goog-user-project".into(), "proj-1".into())];
    let provider = GeminiProvider::new(config).unwrap();

    let mut request = Request::text("gemini-2.5-flash", Some("Be brief."), "Hello");
    request.messages.push(Message::new(Role::Assistant, "Hi."));
    request
        .messages
        .push(Message::new(Role::System, "Be kind."));
    request.messages.push(Message::new(Role::User, "Again"));
    let p = &mut request.params;
    p.temperature = Some(0.5);
    p.top_p = Some(0.9);
    p.top_k = Some(40);
    p.max_tokens = Some(64);
    p.n = 3;
    p.seed = Some(7);
    p.stop = vec!["END".into()];
    p.logprobs = true;
    p.extra
        .insert("responseMimeType".into(), json!("text/plain"));
    p.extra
        .insert("cachedContent".into(), json!("cachedContents/abc"));
    provider.send(&request).await.unwrap();

    let seen = server.only();
    assert_eq!(seen.method, Method::POST);
    assert_eq!(seen.path, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert_eq!(seen.query, None, "the key must never ride in the URL");
    assert_eq!(seen.header("x-goog-api-key"), Some(KEY));
    assert_eq!(seen.header("x-goog-user-project"), Some("proj-1"));
    assert_eq!(seen.header("authorization"), None);
    assert!(
        seen.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(
        seen.body,
        json!({
            "contents": [
                {"role": "user", "parts": [{"text": "Hello"}]},
                {"role": "model", "parts": [{"text": "Hi."}]},
                {"role": "user", "parts": [{"text": "Again"}]}
            ],
            "systemInstruction": {"parts": [{"text": "Be brief.\n\nBe kind."}]},
            "generationConfig": {
                "temperature": 0.5,
                "topP": 0.9,
                "topK": 40,
                "maxOutputTokens": 64,
                "candidateCount": 3,
                "seed": 7,
                "stopSequences": ["END"],
                "responseLogprobs": true,
                "logprobs": 5,
                "responseMimeType": "text/plain"
            },
            "cachedContent": "cachedContents/abc"
        })
    );
    let body: Value = serde_json::from_slice(&provider.body(&request).unwrap()).unwrap();
    assert_eq!(seen.body, body);
}

#[tokio::test]
async fn a_bare_request_sends_only_its_contents() {
    let server = Server::start(Reply::ok(&hello())).await;
    let mut request = Request::text("models/gemini-2.0-flash", None, "Hi");
    request.params.top_logprobs = Some(2);
    provider(&server, None).send(&request).await.unwrap();
    let seen = server.only();
    // A leading `models/` is the API's own spelling of the name: not doubled.
    assert_eq!(seen.path, "/v1beta/models/gemini-2.0-flash:generateContent");
    assert_eq!(seen.header("x-goog-api-key"), None);
    assert_eq!(
        seen.body,
        json!({"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]})
    );
}

#[tokio::test]
async fn model_names_cannot_reach_the_query_or_other_paths() {
    let server = Server::start(Reply::ok(&hello())).await;
    let provider = provider(&server, Some(KEY));
    let url = provider.url("evil?key=x#y/../z");
    assert_eq!(url.query(), None);
    assert!(
        url.path()
            .starts_with("/v1beta/models/evil%3Fkey=x%23y%2F..%2Fz"),
        "{url}"
    );
    // The cached URL is the one for the model asked about.
    assert!(
        provider
            .url("gemini-a")
            .path()
            .ends_with("/gemini-a:generateContent")
    );
    assert!(
        provider
            .url("gemini-b")
            .path()
            .ends_with("/gemini-b:generateContent")
    );
}

#[tokio::test]
async fn candidates_thinking_logprobs_and_usage() {
    let logprobs = json!({
        "topCandidates": [
            {"candidates": [{"token": "Par", "logProbability": -0.1}, {"token": "Lyon", "logProbability": -2.5}]},
            {"candidates": [{"token": "is", "logProbability": -0.01}]}
        ],
        "chosenCandidates": [
            {"token": "Par", "tokenId": 1, "logProbability": -0.1},
            {"token": "is", "tokenId": 2, "logProbability": -0.01}
        ]
    });
    let candidates = json!([
        {"index": 1, "content": {"role": "model", "parts": [{"text": "Lyon"}]}, "finishReason": "MAX_TOKENS"},
        {
            "content": {"role": "model", "parts": [
                {"text": "The user wants a capital.", "thought": true},
                {"text": "Par"},
                {"text": "is"}
            ]},
            "finishReason": "STOP",
            "avgLogprobs": -0.05,
            "logprobsResult": logprobs
        },
        {"index": 2, "finishReason": "SAFETY"}
    ]);
    let usage = json!({
        "promptTokenCount": 120, "candidatesTokenCount": 9, "thoughtsTokenCount": 30,
        "cachedContentTokenCount": 64, "totalTokenCount": 159
    });
    let server = Server::start(Reply::ok(&reply(candidates, usage))).await;
    let mut request = Request::text("gemini-2.5-flash", None, "Capital of France?");
    request.params.n = 3;
    let response = provider(&server, Some(KEY)).send(&request).await.unwrap();

    assert_eq!(
        response.model_version.as_deref(),
        Some("gemini-2.5-flash-001")
    );
    let texts: Vec<&str> = response.choices.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(texts, ["Paris", "Lyon", ""]);
    let reasons: Vec<&FinishReason> = response.choices.iter().map(|c| &c.finish_reason).collect();
    assert_eq!(
        reasons,
        [
            &FinishReason::Stop,
            &FinishReason::Length,
            &FinishReason::ContentFilter
        ]
    );
    assert_eq!(
        response.choices[0].logprobs.as_deref(),
        Some(
            &[
                TokenLogprob {
                    token_position: 0,
                    token: "Par".into(),
                    logprob: -0.1,
                    top_tokens: vec!["Par".into(), "Lyon".into()],
                    top_logprobs: vec![-0.1, -2.5],
                },
                TokenLogprob {
                    token_position: 1,
                    token: "is".into(),
                    logprob: -0.01,
                    top_tokens: vec!["is".into()],
                    top_logprobs: vec![-0.01],
                },
            ][..]
        )
    );
    assert_eq!(response.choices[1].logprobs, None);
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 120,
            output_tokens: 39,
            reasoning_tokens: 30,
            cached_input_tokens: 64,
        }
    );
    assert_eq!(response.rate_limits, None);
}

#[tokio::test]
async fn a_blocked_prompt_is_content_filtered() {
    let blocked = json!({
        "promptFeedback": {"blockReason": "PROHIBITED_CONTENT", "safetyRatings": []},
        "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8},
        "modelVersion": "gemini-2.5-flash"
    });
    let server = Server::start(Reply::ok(&blocked)).await;
    let error = provider(&server, Some(KEY))
        .send(&Request::text("gemini-2.5-flash", None, "..."))
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::ContentFiltered);
    assert_eq!(error.status, Some(200));
    assert!(
        error.message.contains("PROHIBITED_CONTENT"),
        "{}",
        error.message
    );
    assert_eq!(error.usage.map(|u| u.input_tokens), Some(8));
}

#[tokio::test]
async fn unreadable_successes_are_invalid_responses() {
    for body in [
        r#"{"candidates":[{"content":"#,
        "",
        r#"{"modelVersion":"x"}"#,
        "[]",
    ] {
        let server = Server::start(Reply::raw(200, body)).await;
        let error = provider(&server, Some(KEY))
            .send(&Request::text("gemini-x", None, "Hi"))
            .await
            .unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidResponse, "{body}");
        assert_eq!(error.status, Some(200));
    }
}

#[test]
fn what_the_provider_tells_the_engine() {
    let provider = GeminiProvider::new(GeminiConfig::new(None)).unwrap();
    assert_eq!(provider.kind(), "gemini");
    assert_eq!(provider.accounting(), Accounting::Actual);
    assert_eq!(provider.max_samples_per_call("gemini-2.5-pro"), 8);
    assert!(!provider.reports_rate_limits());
    assert_eq!(
        provider.url("gemini-2.5-pro").to_string(),
        format!("{DEFAULT_BASE_URL}/models/gemini-2.5-pro:generateContent")
    );
    let request = Request::text("gemini-x", None, "Hello there");
    assert_eq!(
        provider.estimate_input_tokens(&request),
        pacer_core::estimate_tokens(&request.messages)
    );
}

#[test]
fn config_checks_and_redaction() {
    let config = GeminiConfig::new(Some(KEY.into()));
    let debug = format!(
        "{config:?} {:?}",
        GeminiProvider::new(config.clone()).unwrap()
    );
    assert!(
        !debug.contains("SECRET") && debug.contains("[redacted]"),
        "{debug}"
    );
    for base_url in [
        "generativelanguage.googleapis.com",
        "mailto:x@y",
        "http://h/v1?key=1",
    ] {
        let mut config = GeminiConfig::new(None);
        config.base_url = base_url.into();
        let error = GeminiProvider::new(config).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Config, "{base_url}");
    }
    let error = GeminiProvider::new(GeminiConfig::new(Some("bad\nkey".into()))).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Config);
}

#[tokio::test]
async fn a_batch_is_created_with_its_lines_inline() {
    let operation = json!({
        "name": "batches/b1",
        "metadata": {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
            "model": "models/gemini-2.5-flash", "displayName": "run-7",
            "state": "BATCH_STATE_PENDING", "createTime": "2026-11-24T03:00:30Z",
            "batchStats": {"requestCount": "2", "pendingRequestCount": "2"}
        }
    });
    let server = Server::start(Reply::ok(&operation)).await;
    let provider = provider(&server, Some(KEY));
    let api = provider.batch_api().unwrap();
    let first = Request::text("gemini-2.5-flash", Some("Be brief."), "One");
    let second = Request::text("gemini-2.5-flash", None, "Two");
    let mut text = Vec::new();
    for (id, request) in [("r-0", &first), ("r-1", &second)] {
        text.extend(api.line(id, request).unwrap());
        text.push(b'\n');
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), text).unwrap();
    let input = BatchInput {
        model: "gemini-2.5-flash",
        tag: "run-7",
        lines: file.path(),
        count: 2,
        uploaded: None,
    };
    let status = api.create(input).await.unwrap();
    assert_eq!(status.id, "batches/b1");
    assert_eq!((status.phase, status.total), (BatchPhase::Queued, 2));

    let seen = server.only();
    assert_eq!(seen.method, Method::POST);
    assert_eq!(
        seen.path,
        "/v1beta/models/gemini-2.5-flash:batchGenerateContent"
    );
    assert_eq!(seen.header("x-goog-api-key"), Some(KEY));
    let body = |request: &Request| -> Value {
        serde_json::from_slice(&provider.body(request).unwrap()).unwrap()
    };
    assert_eq!(
        seen.body,
        json!({"batch": {"displayName": "run-7", "inputConfig": {"requests": {"requests": [
            {"request": body(&first), "metadata": {"key": "r-0"}},
            {"request": body(&second), "metadata": {"key": "r-1"}}
        ]}}}})
    );
}

#[tokio::test]
async fn inline_batch_answers_come_back_in_input_order() {
    let operation = json!({
        "name": "batches/b1",
        "metadata": {"displayName": "run-7", "state": "BATCH_STATE_SUCCEEDED",
                     "batchStats": {"requestCount": "2", "successfulRequestCount": "1",
                                    "failedRequestCount": "1"}},
        "done": true,
        "response": {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput",
            "inlinedResponses": {"inlinedResponses": [
                {"response": hello(), "metadata": {"key": "r-0"}},
                {"error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"},
                 "metadata": {"key": "r-1"}}
            ]}
        }
    });
    let server = Server::start(Reply::ok(&operation)).await;
    let provider = provider(&server, Some(KEY));
    let api = provider.batch_api().unwrap();
    let mut results = api.results("batches/b1").await.unwrap();
    let first = results.next().await.unwrap().unwrap();
    assert_eq!(
        (first.custom_id.as_deref(), first.position),
        (Some("r-0"), Some(0))
    );
    assert_eq!(first.result.unwrap().choices[0].text, "Hi!");
    let second = results.next().await.unwrap().unwrap();
    assert_eq!(
        (second.custom_id.as_deref(), second.position),
        (Some("r-1"), Some(1))
    );
    assert_eq!(second.result.unwrap_err().kind, ErrorKind::RateLimited);
    assert!(results.next().await.is_none());
    drop(results);

    let seen = server.only();
    assert_eq!(
        (&seen.method, seen.path.as_str()),
        (&Method::GET, "/v1beta/batches/b1")
    );
    assert_eq!(seen.header("x-goog-api-key"), Some(KEY));
}
