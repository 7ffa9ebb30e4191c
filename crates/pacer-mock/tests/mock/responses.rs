//! OpenAI's Responses API over loopback: its reply's shape, reasoning models, cut output,
//! function calls and their outputs, log-probabilities, structured output, refusals, and
//! its limits and stats.

use std::time::Duration;

use pacer_mock::MockServerConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::start;

fn tools() -> Value {
    json!([{"type": "function", "name": "get_weather", "description": "The weather.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}])
}

#[tokio::test]
async fn a_text_reply_has_the_responses_shape_and_matches_chat() {
    let (_server, client) = start(MockServerConfig::default()).await;
    let body = json!({"model": "gpt-4o-mini", "instructions": "Be brief.",
        "input": "What is a rate limit?", "temperature": 0.5, "store": false});
    let reply = client.post("/v1/responses", &body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
    let response = reply.json();
    assert_eq!(response["object"], "response");
    assert!(response["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(response["status"], "completed");
    assert_eq!(response["incomplete_details"], Value::Null);
    assert_eq!(
        (&response["store"], &response["temperature"]),
        (&json!(false), &json!(0.5))
    );
    assert_eq!(response["instructions"], "Be brief.");
    let output = response["output"].as_array().unwrap();
    assert_eq!(output.len(), 1);
    assert_eq!(
        (&output[0]["type"], &output[0]["role"]),
        (&json!("message"), &json!("assistant"))
    );
    let part = &output[0]["content"][0];
    assert_eq!(part["type"], "output_text");
    assert_eq!(part["annotations"], json!([]));

    // The same conversation on chat completions gets the same words and usage.
    let chat = client
        .chat(
            &json!({"model": "gpt-4o-mini", "temperature": 0.5, "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is a rate limit?"}]}),
        )
        .await
        .json();
    assert_eq!(part["text"], chat["choices"][0]["message"]["content"]);
    let usage = &response["usage"];
    assert_eq!(usage["input_tokens"], chat["usage"]["prompt_tokens"]);
    assert_eq!(usage["output_tokens"], chat["usage"]["completion_tokens"]);
    assert_eq!(usage["input_tokens_details"], json!({"cached_tokens": 0}));
    assert_eq!(
        usage["output_tokens_details"],
        json!({"reasoning_tokens": 0})
    );

    let stats = client.stats().await;
    assert_eq!(
        (stats.responses_requests, stats.openai_requests, stats.ok),
        (1, 2, 2)
    );
}

#[tokio::test]
async fn reasoning_models_reason_refuse_sampling_and_get_cut() {
    let (_server, client) = start(MockServerConfig::default()).await;
    let reply = client
        .post(
            "/v1/responses",
            &json!({"model": "o4-mini", "input": "Hi", "temperature": 0.2}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.error(),
        (
            "invalid_request_error".into(),
            json!("unsupported_parameter"),
            json!("temperature")
        )
    );
    let reply = client
        .post(
            "/v1/responses",
            &json!({"model": "gpt-4o-mini", "input": "Hi", "reasoning": {"effort": "low"}}),
        )
        .await;
    assert_eq!(reply.error().2, "reasoning.effort");
    let reply = client
        .post(
            "/v1/responses",
            &json!({"model": "gpt-4o-mini", "input": "Hi", "max_output_tokens": 8}),
        )
        .await;
    assert_eq!(reply.error().1, "integer_below_min_value");

    // 16 tokens leave a reasoning model 5 visible ones: fewer than any reply.
    let body = json!({"model": "o4-mini", "input": "Hi", "max_output_tokens": 16,
                      "reasoning": {"effort": "low"}});
    let response = client.post("/v1/responses", &body).await.json();
    assert_eq!(response["status"], "incomplete");
    assert_eq!(
        response["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    assert_eq!(response["reasoning"]["effort"], "low");
    let output = response["output"].as_array().unwrap();
    assert_eq!(output[0]["type"], "reasoning");
    assert_eq!(output[1]["status"], "incomplete");
    let words = output[1]["content"][0]["text"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .count();
    assert_eq!(words, 5);
    let usage = &response["usage"];
    assert_eq!(usage["output_tokens_details"]["reasoning_tokens"], 10);
    assert_eq!(usage["output_tokens"], 15);
}

#[tokio::test]
async fn function_calls_and_their_outputs_make_a_conversation() {
    let (_server, client) = start(MockServerConfig::default()).await;
    let ask =
        json!({"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]});
    let body = json!({"model": "gpt-4o-mini", "input": [ask], "tools": tools(), "tool_choice": "required"});
    let response = client.post("/v1/responses", &body).await.json();
    let call = &response["output"][0];
    assert_eq!(
        (&call["type"], &call["name"]),
        (&json!("function_call"), &json!("get_weather"))
    );
    assert!(call["call_id"].as_str().unwrap().starts_with("call_"));
    let arguments: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
    assert!(arguments["city"].is_string());

    let result =
        json!({"type": "function_call_output", "call_id": call["call_id"], "output": "18 degrees"});
    let follow = json!({"model": "gpt-4o-mini", "input": [ask, call, result], "tools": tools()});
    let answer = client.post("/v1/responses", &follow).await.json();
    assert_eq!(
        answer["output"][0]["content"][0]["text"],
        "The get_weather tool returned: 18 degrees"
    );
    let stray = json!({"model": "gpt-4o-mini", "input": [ask, result]});
    let reply = client.post("/v1/responses", &stray).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn logprobs_schemas_and_refusals() {
    let (_server, client) = start(MockServerConfig::default()).await;
    let body = json!({"model": "gpt-4o-mini", "input": "Hi",
        "include": ["message.output_text.logprobs"], "top_logprobs": 2});
    let response = client.post("/v1/responses", &body).await.json();
    let logprobs = response["output"][0]["content"][0]["logprobs"]
        .as_array()
        .unwrap()
        .clone();
    assert!(!logprobs.is_empty());
    for lp in &logprobs {
        assert_eq!(lp["top_logprobs"].as_array().unwrap().len(), 2);
        assert_eq!(lp["bytes"], json!(lp["token"].as_str().unwrap().as_bytes()));
    }

    let schema = json!({"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]});
    let body = json!({"model": "gpt-4o-mini", "input": "Hi",
        "text": {"format": {"type": "json_schema", "name": "a", "schema": schema, "strict": true}}});
    let response = client.post("/v1/responses", &body).await.json();
    let text = response["output"][0]["content"][0]["text"]
        .as_str()
        .unwrap();
    let value: Value = serde_json::from_str(text).unwrap();
    assert!(value["answer"].is_string());
    assert_eq!(response["text"]["format"]["type"], "json_schema");

    let body = json!({"model": "gpt-4o-mini", "input": "Say it [refuse]"});
    let response = client.post("/v1/responses", &body).await.json();
    assert_eq!(
        response["output"][0]["content"][0],
        json!({"type": "refusal", "refusal": pacer_providers::mock::REFUSAL_TEXT})
    );
}

#[tokio::test]
async fn max_output_tokens_is_the_output_reserved() {
    let (_server, client) = start(MockServerConfig {
        tpm: Some(6000),
        window: Duration::from_secs(1),
        ..MockServerConfig::default()
    })
    .await;
    // A bucket of 100 tokens: the prompt plus the 50 reserved fit, twice they do not.
    let body = json!({"model": "gpt-4o-mini", "input": "Hi", "max_output_tokens": 50});
    let reply = client.post("/v1/responses", &body).await;
    assert_eq!(reply.status, StatusCode::OK);
    let prompt = reply.json()["usage"]["input_tokens"].as_u64().unwrap();
    assert_eq!(
        reply.header_u64("x-ratelimit-remaining-tokens"),
        Some(100 - prompt - 50)
    );
    let reply = client.post("/v1/responses", &body).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply.error().0, "tokens");
    assert_eq!(client.stats().await.tokens_charged, prompt + 50);
}

#[tokio::test]
async fn a_stream_is_the_responses_apis_events_of_the_same_reply() {
    let (_server, client) = start(MockServerConfig::default()).await;
    let body = json!({"model": "gpt-4o-mini", "input": "What is a rate limit?"});
    let whole = client.post("/v1/responses", &body).await.json();
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let reply = client.post("/v1/responses", &streamed).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers["content-type"], "text/event-stream");
    let text = String::from_utf8(reply.body).unwrap();
    let kinds: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("event: "))
        .collect();
    assert_eq!(kinds.first(), Some(&"response.created"));
    assert_eq!(kinds.last(), Some(&"response.completed"));
    assert!(kinds.contains(&"response.output_text.delta"), "{kinds:?}");
    let completed: Value = text
        .split("\n\n")
        .find(|event| event.starts_with("event: response.completed"))
        .and_then(|event| event.split_once("data: "))
        .map(|(_, data)| serde_json::from_str(data).unwrap())
        .unwrap();
    assert_eq!(
        completed["response"]["output"][0]["content"][0]["text"],
        whole["output"][0]["content"][0]["text"]
    );
    assert_eq!(completed["response"]["usage"], whole["usage"]);
}
