//! The replies the OpenAI provider reads from a loopback HTTP server: chat choices in index
//! order with usage, logprobs and rate limits, odd finish reasons, and the legacy Completions
//! API (its prompt, its logprobs count, its replies).

use std::time::Duration;

use crate::support::openai::*;
use crate::support::{Reply, Server};
use axum::http::Method;
use pacer_core::{FinishReason, LimitReading, Provider, Request, TokenLogprob, Usage};
use pacer_providers::openai::{Api, OpenAiConfig, OpenAiProvider};
use serde_json::json;

#[tokio::test]
async fn legacy_completions_send_a_prompt_and_a_logprobs_count() {
    let reply = json!({
        "id": "cmpl-1", "object": "text_completion", "model": "gpt-3.5-turbo-instruct-0914",
        "choices": [
            {"index": 1, "text": " Rome", "finish_reason": "length", "logprobs": null},
            {"index": 0, "text": " Paris", "finish_reason": "stop", "logprobs": {
                "tokens": [" Par", "is", "."],
                "token_logprobs": [-0.25, -0.5, null],
                "top_logprobs": [{" Lon": -3.0, " Par": -0.25, " Ber": -2.0}, {"is": -0.5}, null]
            }}
        ],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
    });
    let server = Server::start(Reply::ok(&reply)).await;
    let mut config = server.config(Some(KEY));
    config.api = Api::Completions;
    let provider = OpenAiProvider::new(config).unwrap();
    let mut request = full_request("gpt-3.5-turbo-instruct");
    request.params.n = 2;
    let response = provider.send(&request).await.unwrap();

    let seen = server.only();
    assert_eq!(seen.method, Method::POST);
    assert_eq!(seen.path, "/v1/completions");
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    let body = &seen.body;
    assert_eq!(body["prompt"], "Be brief.\n\nHello");
    assert!(body.get("messages").is_none(), "{body}");
    assert_eq!(body["logprobs"], 5);
    assert_eq!(body["max_tokens"], 64);
    assert_eq!(body["n"], 2);
    assert_eq!(body["stop"], json!(["\n\n", "END"]));
    assert_eq!(body["response_format"], json!({"type": "json_object"}));

    assert_eq!(
        response.model_version.as_deref(),
        Some("gpt-3.5-turbo-instruct-0914")
    );
    assert_eq!(response.choices.len(), 2);
    assert_eq!(response.choices[0].text, " Paris");
    assert_eq!(response.choices[0].finish_reason, FinishReason::Stop);
    assert_eq!(response.choices[1].text, " Rome");
    assert_eq!(response.choices[1].finish_reason, FinishReason::Length);
    assert_eq!(response.choices[1].logprobs, None);
    let token = |position: usize, token: &str, logprob: f64, top: &[(&str, f64)]| TokenLogprob {
        token_position: position,
        token: token.into(),
        logprob,
        top_tokens: top.iter().map(|t| t.0.to_owned()).collect(),
        top_logprobs: top.iter().map(|t| t.1).collect(),
    };
    assert_eq!(
        response.choices[0].logprobs.as_deref().unwrap(),
        [
            token(
                0,
                " Par",
                -0.25,
                &[(" Par", -0.25), (" Ber", -2.0), (" Lon", -3.0)]
            ),
            token(1, "is", -0.5, &[("is", -0.5)]),
            token(2, ".", 0.0, &[]),
        ]
    );
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 7,
            output_tokens: 3,
            ..Usage::default()
        }
    );
}

#[tokio::test]
async fn legacy_logprobs_count_is_capped_at_five() {
    let mut config = OpenAiConfig::new(None);
    config.api = Api::Completions;
    let reply = json!({"choices": [{"index": 0, "text": "x"}]});
    for (asked, sent) in [(Some(3), 3), (Some(10), 5), (Some(0), 0), (None, 5)] {
        let server = Server::start(Reply::ok(&reply.clone())).await;
        config.base_url = server.base_url();
        let provider = OpenAiProvider::new(config.clone()).unwrap();
        let mut request = Request::text("davinci-002", None, "Hi");
        request.params.logprobs = true;
        request.params.top_logprobs = asked;
        provider.send(&request).await.unwrap();
        let body = server.only().body;
        assert_eq!(body["logprobs"], sent, "{asked:?}: {body}");
        assert_eq!(body["prompt"], "Hi");
    }
}

#[tokio::test]
async fn chat_replies_are_read_in_index_order_with_usage_logprobs_and_limits() {
    let reply = json!({
        "id": "chatcmpl-9", "object": "chat.completion", "created": 1,
        "model": "gpt-4o-2024-08-06",
        "choices": [
            {"index": 2, "message": {"role": "assistant", "content": null, "refusal": "I can't help with that."}, "finish_reason": "stop"},
            {"index": 0, "message": {"role": "assistant", "content": "Hi there"}, "finish_reason": "stop",
             "logprobs": {"content": [
                {"token": "Hi", "logprob": -0.1, "top_logprobs": [{"token": "Hi", "logprob": -0.1}, {"token": "Hello", "logprob": -2.5}]},
                {"token": " there", "logprob": -0.3, "top_logprobs": []}
             ]}},
            {"index": 1, "message": {"role": "assistant", "content": "Hello, how can"}, "finish_reason": "length", "logprobs": null}
        ],
        "usage": {
            "prompt_tokens": 20, "completion_tokens": 30, "total_tokens": 50,
            "prompt_tokens_details": {"cached_tokens": 16},
            "completion_tokens_details": {"reasoning_tokens": 12}
        }
    });
    let server = Server::start(
        Reply::ok(&reply)
            .header("x-ratelimit-limit-requests", "10000")
            .header("x-ratelimit-remaining-requests", "9999")
            .header("x-ratelimit-reset-requests", "6m0s")
            .header("x-ratelimit-limit-tokens", "2000000")
            .header("x-ratelimit-remaining-tokens", "1999950")
            .header("x-ratelimit-reset-tokens", "20ms"),
    )
    .await;
    let provider = server.provider(Some(KEY));
    let mut request = Request::text("gpt-4o", None, "Hi");
    request.params.n = 3;
    let response = provider.send(&request).await.unwrap();

    assert_eq!(response.model_version.as_deref(), Some("gpt-4o-2024-08-06"));
    let texts: Vec<_> = response.choices.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(
        texts,
        ["Hi there", "Hello, how can", "I can't help with that."]
    );
    assert_eq!(response.choices[0].finish_reason, FinishReason::Stop);
    assert_eq!(response.choices[1].finish_reason, FinishReason::Length);
    assert_eq!(
        response.choices[0].logprobs.as_deref().unwrap(),
        [
            TokenLogprob {
                token_position: 0,
                token: "Hi".into(),
                logprob: -0.1,
                top_tokens: vec!["Hi".into(), "Hello".into()],
                top_logprobs: vec![-0.1, -2.5],
            },
            TokenLogprob {
                token_position: 1,
                token: " there".into(),
                logprob: -0.3,
                top_tokens: vec![],
                top_logprobs: vec![],
            },
        ]
    );
    assert_eq!(response.choices[1].logprobs, None);
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 20,
            output_tokens: 30,
            reasoning_tokens: 12,
            cached_input_tokens: 16
        }
    );
    let limits = response.rate_limits.expect("rate limits on a 200");
    assert_eq!(
        limits.requests,
        LimitReading {
            limit: Some(10000),
            remaining: Some(9999),
            reset: Some(Duration::from_secs(360))
        }
    );
    assert_eq!(
        limits.tokens,
        LimitReading {
            limit: Some(2_000_000),
            remaining: Some(1_999_950),
            reset: Some(Duration::from_millis(20)),
        }
    );
}

#[tokio::test]
async fn odd_finish_reasons_and_a_reply_without_headers_or_usage() {
    let reply = json!({"choices": [
        {"index": 0, "message": {"content": "a"}},
        {"index": 1, "message": {"content": "b"}, "finish_reason": "content_filter"},
        {"index": 2, "message": {"content": "c"}, "finish_reason": "tool_calls"},
        {"index": 3, "message": {"content": "d"}, "finish_reason": "weird"}
    ]});
    let server = Server::start(Reply::ok(&reply)).await;
    let response = server
        .provider(None)
        .send(&Request::text("gpt-4o", None, "Hi"))
        .await
        .unwrap();
    let reasons: Vec<_> = response
        .choices
        .iter()
        .map(|c| c.finish_reason.clone())
        .collect();
    assert_eq!(
        reasons,
        [
            FinishReason::Stop,
            FinishReason::ContentFilter,
            FinishReason::ToolCalls,
            FinishReason::Other("weird".into()),
        ]
    );
    assert_eq!(response.model_version, None);
    assert_eq!(response.usage, Usage::default());
    assert_eq!(response.rate_limits, None);
}
