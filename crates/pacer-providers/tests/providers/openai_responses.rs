//! OpenAI's Responses API against a loopback server: the body (instructions, input items,
//! parameters, reasoning, tools, logprobs, the output schema), the replies (text, logprobs,
//! function calls, refusals, incomplete and failed responses, usage), its errors, and its
//! batch lines and results.

use std::sync::Arc;

use crate::openai_shapes::conversation;
use crate::support::openai::*;
use crate::support::{Reply, Server};
use pacer_core::{
    Choice, Content, ErrorKind, FinishReason, Provider, Request, TokenLogprob, ToolCall,
    ToolChoice, Usage,
};
use pacer_providers::openai::{Api, OpenAiConfig, OpenAiProvider};
use serde_json::{Value, json};

fn responses_config() -> OpenAiConfig {
    let mut config = OpenAiConfig::new(Some(KEY.into()));
    config.api = Api::Responses;
    config
}

/// A completed response whose output is `output`.
fn response_reply(output: Value) -> Value {
    json!({
        "id": "resp_1", "object": "response", "created_at": 1, "status": "completed",
        "model": "gpt-4o-2024-08-06", "output": output,
        "usage": {"input_tokens": 30, "output_tokens": 8, "total_tokens": 38,
                  "input_tokens_details": {"cached_tokens": 0},
                  "output_tokens_details": {"reasoning_tokens": 0}}
    })
}

/// The reply `send` reads from a server answering `reply` to a plain question.
async fn read(reply: Value) -> Choice {
    let server = Server::start(Reply::ok(&reply)).await;
    let mut config = responses_config();
    config.base_url = server.base_url();
    let provider = OpenAiProvider::new(config).unwrap();
    let mut response = provider
        .send(&Request::text("gpt-4o", None, "Hi"))
        .await
        .unwrap();
    response.choices.remove(0)
}

/// The body a Responses provider sends for `request`, checked against `body()`.
async fn responses_body(request: &Request) -> Value {
    let server = Server::start(Reply::ok(&response_reply(json!([])))).await;
    let mut config = responses_config();
    config.base_url = server.base_url();
    let provider = OpenAiProvider::new(config).unwrap();
    // An empty completed output is unreadable: only the body matters here.
    let _ = provider.send(request).await;
    let seen = server.only();
    assert_eq!(seen.path, "/v1/responses");
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    let body = provider.body(request).unwrap();
    assert_eq!(seen.body, serde_json::from_slice::<Value>(&body).unwrap());
    seen.body
}

#[tokio::test]
async fn the_body_carries_instructions_input_items_and_every_parameter() {
    let mut request = conversation("gpt-4o");
    let Content::Parts(parts) = &request.messages[1].content else {
        unreachable!("the user turn has parts")
    };
    let pacer_core::Part::Image { image_url: image } = &parts[1] else {
        unreachable!("the second part is the image")
    };
    let inline = image.url.clone();
    let p = &mut request.params;
    p.temperature = Some(0.7);
    p.top_p = Some(0.9);
    p.max_tokens = Some(64);
    p.seed = Some(42);
    p.stop = vec!["END".into()];
    p.logprobs = true;
    p.top_logprobs = Some(3);
    p.tool_choice = Some(ToolChoice::Required);
    p.schema = Some(Arc::new(json!({"type": "object"})));
    p.extra.insert("reasoning_effort".into(), json!("low"));
    p.extra.insert("service_tier".into(), json!("flex"));
    let body = responses_body(&request).await;
    assert_eq!(
        body,
        json!({
            "model": "gpt-4o",
            "instructions": "Be brief.",
            "input": [
                {"type": "message", "role": "user", "content": [
                    {"type": "input_text", "text": "What is in these, and the weather?"},
                    {"type": "input_image", "image_url": inline, "detail": "auto"},
                    {"type": "input_image", "image_url": "https://example.com/cat.png", "detail": "low"}
                ]},
                {"type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": "{\"city\":\"Paris\"}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "{\"sky\": \"clear\"}"},
                {"type": "message", "role": "user", "content": "So?"}
            ],
            "max_output_tokens": 64,
            "temperature": 0.7,
            "top_p": 0.9,
            "tools": [{"type": "function", "name": "lookup", "description": "Finds a city's weather.",
                       "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                       "strict": false}],
            "tool_choice": "required",
            "include": ["message.output_text.logprobs"],
            "top_logprobs": 3,
            "store": false,
            "service_tier": "flex",
            "reasoning": {"effort": "low"},
            "text": {"format": {"type": "json_schema", "name": "output", "schema": {"type": "object"}, "strict": false}}
        })
    );
}

#[tokio::test]
async fn assistant_text_is_output_text_and_system_turns_join_as_instructions() {
    let mut request = Request::text("gpt-4o", Some("Be brief."), "Hi");
    request.messages.push(pacer_core::Message::new(
        pacer_core::Role::Assistant,
        Content::Parts(vec![pacer_core::Part::Text {
            text: "Hello.".into(),
        }]),
    ));
    request.messages.push(pacer_core::Message::new(
        pacer_core::Role::System,
        "Now answer in French.",
    ));
    request.params.tool_choice = Some(ToolChoice::Tool("lookup".into()));
    request.params.extra.insert("store".into(), json!(true));
    request.params.extra.insert(
        "response_format".into(),
        json!({"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}),
    );
    let body = responses_body(&request).await;
    assert_eq!(body["instructions"], "Be brief.\n\nNow answer in French.");
    assert_eq!(
        body["input"],
        json!([
            {"type": "message", "role": "user", "content": "Hi"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello."}]}
        ])
    );
    assert_eq!(
        body["tool_choice"],
        json!({"type": "function", "name": "lookup"})
    );
    assert_eq!(body["store"], true);
    assert_eq!(
        body["text"],
        json!({"format": {"type": "json_schema", "name": "x", "schema": {}}})
    );
    assert!(body.get("response_format").is_none(), "{body}");
    for absent in [
        "n",
        "stop",
        "seed",
        "temperature",
        "include",
        "top_logprobs",
    ] {
        assert!(body.get(absent).is_none(), "{absent}: {body}");
    }
}

#[tokio::test]
async fn reasoning_models_lose_sampling_parameters_and_every_model_one_sample() {
    let mut request = Request::text("o3-mini", None, "Hi");
    let p = &mut request.params;
    p.temperature = Some(0.2);
    p.top_p = Some(0.5);
    p.max_tokens = Some(500);
    p.logprobs = true;
    p.n = 1;
    p.extra
        .insert("reasoning".into(), json!({"summary": "auto"}));
    p.extra.insert("reasoning_effort".into(), json!("high"));
    let body = responses_body(&request).await;
    assert_eq!(body["max_output_tokens"], 500);
    assert_eq!(
        body["reasoning"],
        json!({"summary": "auto", "effort": "high"})
    );
    for absent in [
        "temperature",
        "top_p",
        "include",
        "top_logprobs",
        "reasoning_effort",
    ] {
        assert!(body.get(absent).is_none(), "{absent}: {body}");
    }
    let mut config = responses_config();
    config.supports_n = Some(true);
    let provider = OpenAiProvider::new(config).unwrap();
    assert_eq!(provider.max_samples_per_call("gpt-4o"), 1);
    assert_eq!(provider.max_samples_per_call("o3-mini"), 1);
    assert!(
        provider.url().ends_with("/v1/responses"),
        "{}",
        provider.url()
    );
}

#[tokio::test]
async fn replies_give_text_logprobs_usage_and_the_model_version() {
    let logprob = |token: &str, logprob: f64| {
        json!({"token": token, "logprob": logprob, "bytes": [],
               "top_logprobs": [{"token": token, "logprob": logprob, "bytes": []}]})
    };
    let reply = json!({
        "id": "resp_2", "object": "response", "status": "completed", "model": "o4-mini-2025-04-16",
        "output": [
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed", "content": [
                {"type": "output_text", "text": "Hi", "annotations": [], "logprobs": [logprob("Hi", -0.1)]},
                {"type": "output_text", "text": " there", "annotations": [], "logprobs": [logprob(" there", -0.2)]}
            ]}
        ],
        "usage": {"input_tokens": 20, "output_tokens": 30, "total_tokens": 50,
                  "input_tokens_details": {"cached_tokens": 16},
                  "output_tokens_details": {"reasoning_tokens": 12}}
    });
    let server = Server::start(Reply::ok(&reply).header("x-ratelimit-limit-requests", "500")).await;
    let mut config = responses_config();
    config.base_url = server.base_url();
    let response = OpenAiProvider::new(config)
        .unwrap()
        .send(&Request::text("o4-mini", None, "Hi"))
        .await
        .unwrap();
    assert_eq!(
        response.model_version.as_deref(),
        Some("o4-mini-2025-04-16")
    );
    assert_eq!(response.choices.len(), 1);
    let choice = &response.choices[0];
    assert_eq!(choice.text, "Hi there");
    assert_eq!(choice.finish_reason, FinishReason::Stop);
    let token = |position: usize, token: &str, logprob: f64| TokenLogprob {
        token_position: position,
        token: token.into(),
        logprob,
        top_tokens: vec![token.into()],
        top_logprobs: vec![logprob],
    };
    assert_eq!(
        choice.logprobs.as_deref().unwrap(),
        [token(0, "Hi", -0.1), token(1, " there", -0.2)]
    );
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 20,
            output_tokens: 30,
            reasoning_tokens: 12,
            cached_input_tokens: 16
        }
    );
    assert_eq!(response.rate_limits.unwrap().requests.limit, Some(500));
}

#[tokio::test]
async fn function_calls_refusals_and_incomplete_replies() {
    let calls = read(response_reply(json!([
        {"type": "function_call", "id": "fc_1", "call_id": "call_a", "name": "lookup",
         "arguments": "{\"city\":\"Paris\"}", "status": "completed"},
        {"type": "function_call", "id": "fc_2", "call_id": "call_b", "name": "lookup",
         "arguments": "{}", "status": "completed"}
    ])))
    .await;
    assert_eq!(calls.finish_reason, FinishReason::ToolCalls);
    assert_eq!(calls.text, "");
    assert_eq!(
        calls.tool_calls,
        [
            ToolCall::from_text("call_a", "lookup", "{\"city\":\"Paris\"}"),
            ToolCall::from_text("call_b", "lookup", "{}"),
        ]
    );
    assert_eq!(calls.logprobs, None);

    let refusal = read(response_reply(json!([
        {"type": "message", "role": "assistant", "content": [
            {"type": "refusal", "refusal": "I can't help with that."}
        ]}
    ])))
    .await;
    assert_eq!(refusal.finish_reason, FinishReason::Refusal);
    assert_eq!(refusal.text, "I can't help with that.");

    for (reason, finish) in [
        ("max_output_tokens", FinishReason::Length),
        ("content_filter", FinishReason::ContentFilter),
    ] {
        let mut reply = response_reply(json!([
            {"type": "message", "role": "assistant", "content": [
                {"type": "output_text", "text": "Once upon", "annotations": []}
            ]}
        ]));
        reply["status"] = json!("incomplete");
        reply["incomplete_details"] = json!({"reason": reason});
        let choice = read(reply).await;
        assert_eq!(choice.finish_reason, finish, "{reason}");
        assert_eq!(choice.text, "Once upon");
    }
    // Cut off while reasoning: no message at all, and still a (truncated) answer.
    let mut reply = response_reply(json!([{"type": "reasoning", "summary": []}]));
    reply["status"] = json!("incomplete");
    reply["incomplete_details"] = json!({"reason": "max_output_tokens"});
    let choice = read(reply).await;
    assert_eq!(
        (choice.text.as_str(), choice.finish_reason),
        ("", FinishReason::Length)
    );
}

#[tokio::test]
async fn failed_responses_and_http_errors_are_classified_as_chat_errors_are() {
    let failed = json!({"id": "resp_3", "object": "response", "status": "failed", "output": [],
        "error": {"code": "server_error", "message": "Something went wrong."}});
    let error_body = |message: &str, kind: &str, code: &str| json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
    for (reply, kind) in [
        (Reply::ok(&failed), ErrorKind::Server),
        (
            Reply::json(
                429,
                &error_body("Rate limit reached", "requests", "rate_limit_exceeded"),
            )
            .header("retry-after-ms", "250"),
            ErrorKind::RateLimited,
        ),
        (
            Reply::json(
                400,
                &error_body(
                    "Your input exceeds the context window of this model.",
                    "invalid_request_error",
                    "context_length_exceeded",
                ),
            ),
            ErrorKind::ContextLength,
        ),
        (
            Reply::json(
                401,
                &error_body(
                    &format!("Incorrect API key provided: {KEY}"),
                    "invalid_request_error",
                    "invalid_api_key",
                ),
            ),
            ErrorKind::Auth,
        ),
    ] {
        let server = Server::start(reply).await;
        let mut config = responses_config();
        config.base_url = server.base_url();
        let error = OpenAiProvider::new(config)
            .unwrap()
            .send(&Request::text("gpt-4o", None, "Hi"))
            .await
            .unwrap_err();
        assert_eq!(error.kind, kind, "{error}");
        assert!(!error.message.contains("SECRET"), "{}", error.message);
        if kind == ErrorKind::RateLimited {
            assert_eq!(
                error.retry_after,
                Some(std::time::Duration::from_millis(250))
            );
        }
    }
}

#[tokio::test]
async fn batch_lines_ask_responses_and_results_are_read_as_responses() {
    let mut config = responses_config();
    config.base_url = "http://127.0.0.1:9/v1".into();
    let provider = OpenAiProvider::new(config).unwrap();
    let request = conversation("gpt-4o");
    let line = batch_line(&provider, &request);
    assert_eq!(line["url"], "/v1/responses");
    assert_eq!(
        line["body"],
        serde_json::from_slice::<Value>(&provider.body(&request).unwrap()).unwrap()
    );
    let creation = batch_creation(responses_config(), &[("t-0", request)]).await;
    assert_eq!(creation["endpoint"], "/v1/responses");

    let text = response_reply(json!([{"type": "message", "role": "assistant",
        "content": [{"type": "output_text", "text": "Paris", "annotations": []}]}]));
    let call = response_reply(json!([{"type": "function_call", "call_id": "call_q",
        "name": "lookup", "arguments": "{}"}]));
    let lines = batch_results(responses_config(), &[text, call]).await;
    let first = lines[0].result.as_ref().unwrap();
    assert_eq!(first.choices[0].text, "Paris");
    assert_eq!(first.usage.input_tokens, 30);
    let second = lines[1].result.as_ref().unwrap();
    assert_eq!(second.choices[0].finish_reason, FinishReason::ToolCalls);
    assert_eq!(lines[1].custom_id.as_deref(), Some("t-1"));
}
