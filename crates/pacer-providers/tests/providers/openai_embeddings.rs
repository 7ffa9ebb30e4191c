//! Embedding requests on the OpenAI provider against a loopback server: the endpoint and
//! body whatever the API, vectors in input order (as floats or base64), usage, a reply of
//! the wrong length, the token estimate, and embedding batches.

use crate::support::openai::*;
use crate::support::{Reply, Server};
use base64::Engine;
use pacer_core::{ErrorKind, Provider, Request, Usage};
use pacer_providers::openai::{Api, Encoding, OpenAiConfig, OpenAiProvider};
use serde_json::{Value, json};

const MODEL: &str = "text-embedding-3-small";

fn inputs() -> Vec<String> {
    vec!["The food was delicious.".into(), "Paris".into()]
}

/// An embeddings reply with `vectors` (JSON values) given in reverse index order.
fn embeddings_reply(vectors: &[Value]) -> Value {
    let data: Vec<Value> = vectors
        .iter()
        .enumerate()
        .rev()
        .map(|(index, vector)| json!({"object": "embedding", "index": index, "embedding": vector}))
        .collect();
    json!({"object": "list", "data": data, "model": "text-embedding-3-small",
           "usage": {"prompt_tokens": 7, "total_tokens": 7}})
}

fn provider(server: &Server, api: Api) -> OpenAiProvider {
    let mut config = server.config(Some(KEY));
    config.api = api;
    OpenAiProvider::new(config).unwrap()
}

#[tokio::test]
async fn embedding_requests_go_to_embeddings_whatever_the_api() {
    for api in [Api::Chat, Api::Completions, Api::Responses] {
        let reply = embeddings_reply(&[json!([0.5, -1.0, 0.25]), json!([1.5, 0.0, -0.5])]);
        let server = Server::start(Reply::ok(&reply)).await;
        let mut request = Request::embedding(MODEL, inputs());
        let p = &mut request.params;
        p.temperature = Some(0.3);
        p.max_tokens = Some(10);
        p.extra.insert("dimensions".into(), json!(3));
        p.extra.insert("encoding_format".into(), json!("float"));
        p.extra.insert("user".into(), json!("u-1"));
        p.extra.insert("reasoning_effort".into(), json!("low"));
        let response = provider(&server, api).send(&request).await.unwrap();

        let seen = server.only();
        assert_eq!(seen.path, "/v1/embeddings", "{api:?}");
        assert_eq!(
            seen.header("authorization"),
            Some(format!("Bearer {KEY}").as_str())
        );
        assert_eq!(
            seen.body,
            json!({"model": MODEL, "input": inputs(), "dimensions": 3,
                   "encoding_format": "float", "user": "u-1"})
        );
        assert_eq!(
            response.embeddings,
            [vec![0.5, -1.0, 0.25], vec![1.5, 0.0, -0.5]]
        );
        assert!(response.choices.is_empty());
        assert_eq!(response.model_version.as_deref(), Some(MODEL));
        assert_eq!(
            response.usage,
            Usage {
                input_tokens: 7,
                ..Usage::default()
            }
        );
    }
}

#[tokio::test]
async fn base64_vectors_are_decoded_as_little_endian_floats() {
    let encode = |floats: &[f32]| {
        let bytes: Vec<u8> = floats.iter().flat_map(|f| f.to_le_bytes()).collect();
        json!(base64::engine::general_purpose::STANDARD.encode(bytes))
    };
    let first = [0.125f32, -2.5, 3.0e-7];
    let second = [1.0f32, f32::MIN_POSITIVE, -0.0];
    let server = Server::start(Reply::ok(&embeddings_reply(&[
        encode(&first),
        encode(&second),
    ])))
    .await;
    let mut request = Request::embedding(MODEL, inputs());
    request
        .params
        .extra
        .insert("encoding_format".into(), json!("base64"));
    let response = provider(&server, Api::Chat).send(&request).await.unwrap();
    assert_eq!(server.only().body["encoding_format"], "base64");
    assert_eq!(response.embeddings, [first.to_vec(), second.to_vec()]);
}

#[tokio::test]
async fn a_reply_with_the_wrong_number_of_vectors_is_invalid() {
    for vectors in [
        vec![json!([0.5])],
        vec![json!([0.5]), json!([0.5]), json!([0.5])],
    ] {
        let server = Server::start(Reply::ok(&embeddings_reply(&vectors))).await;
        let error = provider(&server, Api::Chat)
            .send(&Request::embedding(MODEL, inputs()))
            .await
            .unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidResponse, "{error}");
        assert!(error.message.contains("for 2 inputs"), "{}", error.message);
    }
    let server = Server::start(Reply::ok(&json!({"object": "list", "data": [
        {"index": 0, "embedding": {"not": "a vector"}}
    ]})))
    .await;
    let error = provider(&server, Api::Chat)
        .send(&Request::embedding(MODEL, vec!["a".into()]))
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidResponse);
}

#[test]
fn the_estimate_counts_the_inputs_alone() {
    for api in [Api::Chat, Api::Completions, Api::Responses] {
        let mut config = OpenAiConfig::new(None);
        config.api = api;
        let provider = OpenAiProvider::new(config).unwrap();
        let request = Request::embedding(MODEL, inputs());
        let expected: u64 = inputs().iter().map(|t| Encoding::Cl100k.count(t)).sum();
        assert_eq!(
            provider.estimate_input_tokens(&request),
            expected,
            "{api:?}"
        );
    }
}

#[tokio::test]
async fn embedding_batches_ask_embeddings_and_read_vectors() {
    let provider = OpenAiProvider::new(OpenAiConfig::new(None)).unwrap();
    let request = Request::embedding(MODEL, inputs());
    let line = batch_line(&provider, &request);
    assert_eq!(line["url"], "/v1/embeddings");
    assert_eq!(line["body"], json!({"model": MODEL, "input": inputs()}));
    let creation = batch_creation(OpenAiConfig::new(None), &[("t-0", request)]).await;
    assert_eq!(creation["endpoint"], "/v1/embeddings");

    let reply = embeddings_reply(&[json!([0.5, 0.5]), json!([-0.5, 1.0])]);
    // A chat lane's results hold chat bodies: each line is read by what its body is.
    let chat = chat_reply("hi");
    let lines = batch_results(OpenAiConfig::new(None), &[reply, chat]).await;
    let vectors = lines[0].result.as_ref().unwrap();
    assert_eq!(vectors.embeddings, [vec![0.5, 0.5], vec![-0.5, 1.0]]);
    assert_eq!(vectors.usage.input_tokens, 7);
    let text = lines[1].result.as_ref().unwrap();
    assert_eq!(text.choices[0].text, "hi");
}
