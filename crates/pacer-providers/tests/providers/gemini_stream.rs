//! The Gemini provider's streamed replies (`streamGenerateContent?alt=sse`) against a
//! loopback server: the request it sends, the deltas it reads (the same reply `send` reads
//! whole), and a refusal or a broken stream.

use std::sync::Arc;
use std::time::Duration;

use crate::support::{Reply, Server, deltas, drain, event, gather, read_then_cut};
use pacer_core::{Delta, ErrorKind, FinishReason, Provider, Request, Usage};
use pacer_providers::gemini::{GeminiConfig, GeminiProvider};
use serde_json::{Value, json};
use tokio::sync::Notify;

const KEY: &str = "AIzaSyTEST-SECRETsecret0123456789abcd";
const MODEL: &str = "gemini-2.5-flash-001";

fn provider(server: &Server) -> GeminiProvider {
    let mut config = GeminiConfig::new(Some(KEY.into()));
    config.base_url = format!("{}/v1beta", server.root);
    GeminiProvider::new(config).unwrap()
}

/// A chunk whose candidate adds `parts`, ending for `finish` if given.
fn chunk(parts: Value, finish: Option<&str>, usage: Value) -> String {
    let mut candidate = json!({"content": {"role": "model", "parts": parts}});
    if let Some(finish) = finish {
        candidate["finishReason"] = json!(finish);
    }
    let chunk = json!({"candidates": [candidate], "usageMetadata": usage,
        "modelVersion": MODEL, "responseId": "r-1"});
    event(None, &chunk.to_string())
}

fn usage(candidates: u64) -> Value {
    json!({"promptTokenCount": 30, "candidatesTokenCount": candidates,
        "thoughtsTokenCount": 12, "totalTokenCount": 42 + candidates})
}

/// A thought, text in three pieces, then two calls (each whole, as Gemini sends them).
fn events() -> Vec<String> {
    vec![
        chunk(
            json!([{"text": "The user wants weather.", "thought": true}]),
            None,
            json!({"promptTokenCount": 30, "thoughtsTokenCount": 12, "totalTokenCount": 42}),
        ),
        chunk(json!([{"text": "Let me"}]), None, usage(2)),
        chunk(json!([{"text": " check"}]), None, usage(2)),
        chunk(json!([{"text": " the weather."}]), None, usage(5)),
        chunk(
            json!([{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "get_time", "args": {"tz": "CET"}}}]),
            Some("STOP"),
            usage(20),
        ),
    ]
}

/// The same reply, whole.
fn whole() -> Value {
    json!({
        "candidates": [{"content": {"role": "model", "parts": [
            {"text": "The user wants weather.", "thought": true},
            {"text": "Let me check the weather."},
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
            {"functionCall": {"name": "get_time", "args": {"tz": "CET"}}}
        ]}, "finishReason": "STOP"}],
        "usageMetadata": usage(20), "modelVersion": MODEL, "responseId": "r-1"
    })
}

fn request() -> Request {
    Request::text("gemini-2.5-flash", None, "Weather in Paris?")
}

#[tokio::test]
async fn a_streamed_reply_reads_as_send_reads_it_whole() {
    let server = Server::start(Reply::events(&events())).await;
    let gemini = provider(&server);
    let streaming = gemini.stream(&request()).await.unwrap();
    assert_eq!(
        streaming.rate_limits, None,
        "Gemini sends no rate-limit headers"
    );
    let deltas = deltas(streaming.deltas).await;

    let seen = server.only();
    assert_eq!(
        seen.path,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    );
    assert_eq!(seen.query.as_deref(), Some("alt=sse"));
    assert_eq!(seen.header("x-goog-api-key"), Some(KEY));
    let sent: Value = serde_json::from_slice(&gemini.body(&request()).unwrap()).unwrap();
    assert_eq!(seen.body, sent, "the body send posts");

    let counted = |candidates: u64| Usage {
        input_tokens: 30,
        output_tokens: candidates + 12,
        reasoning_tokens: 12,
        cached_input_tokens: 0,
    };
    let call = |index: u32, name: &str, args: &str| {
        [
            Delta::ToolCall {
                index,
                id: format!("call_0_{index}"),
                name: name.into(),
            },
            Delta::ToolArguments {
                index,
                json: args.into(),
            },
        ]
    };
    let mut expected = vec![
        Delta::Model(MODEL.into()),
        Delta::Usage(counted(0)),
        Delta::Text("Let me".into()),
        Delta::Usage(counted(2)),
        Delta::Text(" check".into()),
        Delta::Text(" the weather.".into()),
        Delta::Usage(counted(5)),
    ];
    expected.extend(call(0, "get_weather", r#"{"city":"Paris"}"#));
    expected.extend(call(1, "get_time", r#"{"tz":"CET"}"#));
    expected.extend([
        Delta::Finish(FinishReason::ToolCalls),
        Delta::Usage(counted(20)),
    ]);
    assert_eq!(deltas, expected);

    let whole = Server::start(Reply::ok(&whole())).await;
    let sent = provider(&whole).send(&request()).await.unwrap();
    assert_eq!(gather(&deltas), sent);
}

#[tokio::test]
async fn a_refused_head_is_classified_as_send_classifies_it() {
    let body = json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
        "message": "Resource has been exhausted (e.g. check quota)."}});
    let server = Server::start(Reply::json(429, &body).header("retry-after", "9")).await;
    let gemini = provider(&server);
    let streamed = gemini.stream(&request()).await.unwrap_err();
    let sent = gemini.send(&request()).await.unwrap_err();
    assert_eq!(streamed.kind, ErrorKind::RateLimited);
    assert_eq!(streamed.retry_after, Some(Duration::from_secs(9)));
    assert_eq!(
        (streamed.kind, streamed.status, streamed.retry_after),
        (sent.kind, sent.status, sent.retry_after)
    );
    assert_eq!(streamed.message, sent.message);
}

#[tokio::test]
async fn a_stream_cut_short_ends_with_a_connection_error() {
    let cut = Arc::new(Notify::new());
    let server = Server::start(Reply::events(&events()[..3]).cut_on(&cut)).await;
    let streaming = provider(&server).stream(&request()).await.unwrap();
    let (_, rest) = read_then_cut(streaming.deltas, 5, &cut).await;
    let [Err(error)] = rest.as_slice() else {
        panic!("one error, then the end: {rest:?}");
    };
    assert_eq!(error.kind, ErrorKind::Connection, "{error}");
}

#[tokio::test]
async fn a_stream_that_ends_before_a_finish_is_broken_off() {
    let server = Server::start(Reply::events(&events()[..3])).await;
    let streaming = provider(&server).stream(&request()).await.unwrap();
    let items = drain(streaming.deltas).await;
    let error = items.last().unwrap().as_ref().unwrap_err();
    assert_eq!(error.kind, ErrorKind::Connection);
}

#[tokio::test]
async fn an_embedding_request_plays_back_send() {
    let body = json!({"embeddings": [{"values": [0.5, 0.25]}]});
    let server = Server::start(Reply::ok(&body)).await;
    let request = Request::embedding("gemini-embedding-001", vec!["a".into()]);
    let streaming = provider(&server).stream(&request).await.unwrap();
    let deltas = deltas(streaming.deltas).await;
    assert!(matches!(deltas.last(), Some(Delta::Usage(_))), "{deltas:?}");
    assert!(server.only().path.ends_with(":batchEmbedContents"));
}
