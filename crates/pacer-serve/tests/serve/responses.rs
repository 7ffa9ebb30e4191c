//! `POST /v1/responses`: an OpenAI-compatible entry's body passed through to the upstream's
//! Responses API (`pacer mock` for whole replies; a stand-in server on loopback sending
//! OpenAI's own events for a stream) and paced by its estimate; other entries'
//! translated (in process) and answered in the Responses API's shape, whole or streamed,
//! tool calls included.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::post as route_post;
use pacer_mock::{MockServer, MockServerConfig};
use pacer_providers::MockProvider;
use pacer_providers::openai::OpenAiConfig;
use pacer_serve::{GatewayConfig, ModelRoute, Upstream, UsageLog};
use serde_json::{Value, json};

use crate::common::in_process::{self, events, route};
use crate::common::{LOOPBACK, gateway, get, openai_route, post};

#[tokio::test]
async fn an_openai_entry_passes_the_body_to_the_upstreams_responses_api() {
    let mock = MockServer::start(MockServerConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("usage.jsonl");
    let mut config = GatewayConfig::new(vec![openai_route("m", "gpt-4o-mini", &mock, None)]);
    config.usage_log = UsageLog::File(log.clone());
    let gw = gateway(config).await;
    let body = json!({"model": "m", "instructions": "Be brief.", "input": [
        {"role": "user", "content": [{"type": "input_text", "text": "Hello there"}]}],
        "max_output_tokens": 32, "store": false});
    let reply = post(&gw.url(), "/responses", None, &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let response = reply.json();
    assert_eq!(response["object"], "response");
    // The upstream's name went out in the body, and its reply comes back as it was.
    assert!(
        response["model"]
            .as_str()
            .unwrap()
            .starts_with("gpt-4o-mini"),
        "{response}"
    );
    assert_eq!(response["output"][0]["type"], "message");
    assert_eq!(response["store"], false);
    let output = response["usage"]["output_tokens"].as_u64().unwrap();
    let input = response["usage"]["input_tokens"].as_u64().unwrap();
    assert!(input > 0 && output > 0);
    assert_eq!(mock.stats().responses_requests, 1);
    let metrics = get(&format!("http://{}", gw.addr()), "/metrics", None)
        .await
        .text;
    assert!(
        metrics.contains(&format!(
            "pacer_tokens_total{{model=\"m\",kind=\"output\"}} {output}"
        )),
        "{metrics}"
    );
    gw.shutdown().await.unwrap();
    let line: Value = serde_json::from_str(
        std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(line["endpoint"], "responses");
    assert_eq!(
        (&line["input_tokens"], &line["output_tokens"]),
        (&json!(input), &json!(output))
    );
}

/// A Responses API stream, as OpenAI sends it (shortened).
const STREAM: &str = concat!(
    "event: response.created\n",
    "data: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",",
    "\"object\":\"response\",\"status\":\"in_progress\",\"output\":[],\"usage\":null}}\n\n",
    "event: response.output_text.delta\n",
    "data: {\"type\":\"response.output_text.delta\",\"sequence_number\":1,\"item_id\":\"msg_1\",",
    "\"output_index\":0,\"content_index\":0,\"delta\":\"Hi\"}\n\n",
    "event: response.completed\n",
    "data: {\"type\":\"response.completed\",\"sequence_number\":2,\"response\":{\"id\":\"resp_1\",",
    "\"object\":\"response\",\"status\":\"completed\",\"output\":[{\"type\":\"message\",",
    "\"id\":\"msg_1\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"Hi\"}]}],",
    "\"usage\":{\"input_tokens\":11,\"output_tokens\":3,\"total_tokens\":14}}}\n\n",
);

/// A stand-in for an upstream's `POST /v1/responses` that streams [`STREAM`] and keeps the
/// bodies it was sent.
async fn streaming_upstream() -> (SocketAddr, Arc<Mutex<Vec<Value>>>) {
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let kept = seen.clone();
    let app = Router::new().route(
        "/v1/responses",
        route_post(move |body: String| {
            let kept = kept.clone();
            async move {
                kept.lock()
                    .unwrap()
                    .push(serde_json::from_str(&body).unwrap());
                ([("content-type", "text/event-stream")], STREAM)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(LOOPBACK).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, seen)
}

#[tokio::test]
async fn an_openai_entry_passes_a_responses_stream_through_and_counts_its_usage() {
    let (addr, seen) = streaming_upstream().await;
    let mut upstream = OpenAiConfig::new(Some("sk-test".into()));
    upstream.base_url = format!("http://{addr}/v1");
    let mock = MockServer::start(MockServerConfig::default())
        .await
        .unwrap();
    let gw = gateway(GatewayConfig::new(vec![ModelRoute {
        upstream: Upstream::OpenAi(upstream),
        ..openai_route("m", "gpt-4.1", &mock, None)
    }]))
    .await;
    let body = json!({"model": "m", "input": "Say hi", "stream": true});
    let reply = post(&gw.url(), "/responses", None, &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.headers["content-type"], "text/event-stream");
    assert_eq!(reply.text, STREAM);
    let sent = seen.lock().unwrap().clone();
    assert_eq!(
        sent,
        [json!({"model": "gpt-4.1", "input": "Say hi", "stream": true})]
    );
    let metrics = get(&format!("http://{}", gw.addr()), "/metrics", None)
        .await
        .text;
    for line in [
        "pacer_tokens_total{model=\"m\",kind=\"input\"} 11",
        "pacer_tokens_total{model=\"m\",kind=\"output\"} 3",
        "pacer_requests_total{model=\"m\",status=\"200\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} not in {metrics}");
    }
    assert!(!metrics.contains("StreamIncomplete"), "{metrics}");
    gw.shutdown().await.unwrap();
}

/// A Responses API body for `model` offering the `weather` tool.
fn weather_request(model: &str, input: Value) -> Value {
    json!({"model": model, "instructions": "Use the tools.", "input": input,
        "tools": [{"type": "function", "name": "weather", "description": "The weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                "required": ["city"]}}],
        "max_output_tokens": 64})
}

#[tokio::test(start_paused = true)]
async fn a_translated_entry_answers_in_the_responses_apis_shape_with_tool_calls() {
    let provider = Arc::new(MockProvider::default());
    let app = pacer_serve::router(GatewayConfig::new(vec![route("m", &provider, None)])).unwrap();
    let asking = weather_request("m", json!("What is the weather in Paris? Ask weather."));
    let reply = in_process::post(&app, "/v1/responses", None, &asking).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let response = &reply.body;
    assert_eq!(
        (&response["object"], &response["status"], &response["model"]),
        (&json!("response"), &json!("completed"), &json!("m"))
    );
    let call = &response["output"][0];
    assert_eq!(
        (&call["type"], &call["name"]),
        (&json!("function_call"), &json!("weather"))
    );
    let arguments: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
    assert!(arguments["city"].is_string(), "{arguments}");
    let usage = &response["usage"];
    assert!(usage["input_tokens"].as_u64().unwrap() > 0);
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["input_tokens"].as_u64().unwrap() + usage["output_tokens"].as_u64().unwrap()
    );
    assert_eq!(usage["input_tokens_details"]["cached_tokens"], 0);
    assert_eq!(usage["output_tokens_details"]["reasoning_tokens"], 0);
    // The call and its result go back as input items, and the answer is text.
    let answered = weather_request(
        "m",
        json!([
            {"role": "user", "content": "What is the weather in Paris?"},
            call,
            {"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"},
        ]),
    );
    let reply = in_process::post(&app, "/v1/responses", None, &answered).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let message = &reply.body["output"][0];
    assert_eq!(
        (&message["type"], &message["role"]),
        (&json!("message"), &json!("assistant"))
    );
    assert_eq!(message["content"][0]["type"], "output_text");
    // The mock's answer to a tool result quotes it: the result reached the provider.
    let text = message["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("sunny"), "{text}");
    assert_eq!(provider.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_translated_entry_streams_the_responses_api_events() {
    let provider = Arc::new(MockProvider::default());
    let app = pacer_serve::router(GatewayConfig::new(vec![route("m", &provider, None)])).unwrap();
    let body = json!({"model": "m", "input": "Tell me a story", "max_output_tokens": 16});
    let whole = in_process::post(&app, "/v1/responses", None, &body).await;
    assert_eq!(whole.status, 200, "{}", whole.text);
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let reply = in_process::post(&app, "/v1/responses", None, &streamed).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.headers["content-type"], "text/event-stream");
    let events = events(&reply.text);
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"response.created"));
    let last = events.last().unwrap();
    assert!(
        ["response.completed", "response.incomplete"].contains(&last["type"].as_str().unwrap()),
        "{kinds:?}"
    );
    let text: String = events
        .iter()
        .filter(|e| e["type"] == "response.output_text.delta")
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    // The same request gets the same answer from the mock, whole or streamed.
    assert_eq!(
        text,
        whole.body["output"][0]["content"][0]["text"]
            .as_str()
            .unwrap()
    );
    // The last event holds the whole response (its ids are this request's own).
    assert_eq!(
        last["response"]["output"][0]["content"],
        whole.body["output"][0]["content"]
    );
    assert_eq!(last["response"]["usage"], whole.body["usage"]);
}

#[tokio::test(start_paused = true)]
async fn a_translated_entry_refuses_what_it_cannot_serve_naming_the_field() {
    let provider = Arc::new(MockProvider::default());
    let app = pacer_serve::router(GatewayConfig::new(vec![route("m", &provider, None)])).unwrap();
    let chained = json!({"model": "m", "input": "and then?", "previous_response_id": "resp_1"});
    let reply = in_process::post(&app, "/v1/responses", None, &chained).await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(reply.body["error"]["param"], "previous_response_id");
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("OpenAI-compatible entry")
    );
    let malformed = json!({"model": "m", "input": [{"role": "robot", "content": "hi"}]});
    let reply = in_process::post(&app, "/v1/responses", None, &malformed).await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(reply.body["error"]["param"], "input[0].role");
    assert_eq!(reply.body["error"]["type"], "invalid_request_error");
    assert_eq!(provider.calls(), 0);
}
