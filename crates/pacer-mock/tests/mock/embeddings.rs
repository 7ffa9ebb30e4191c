//! Embeddings over loopback: OpenAI's `/v1/embeddings` in each input form and encoding,
//! with its limits and refusals, and Gemini's `embedContent` and `batchEmbedContents`; the
//! vectors are the in-process mock's.

use std::time::Duration;

use base64::Engine;
use pacer_mock::MockServerConfig;
use pacer_providers::mock::{DEFAULT_DIMENSIONS, embedding};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::start;

/// The numbers of a JSON list, as `f32`s.
fn floats(value: &Value) -> Vec<f32> {
    value
        .as_array()
        .expect("a list of numbers")
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[tokio::test]
async fn openai_embeds_strings_and_token_lists_as_the_in_process_mock_does() {
    let (_server, client) = start(MockServerConfig::default()).await;
    let reply = client
        .post(
            "/v1/embeddings",
            &json!({"model": "text-embedding-3-small", "input": ["Hello world", "Hi"]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
    let body = reply.json();
    assert_eq!(body["object"], "list");
    assert_eq!(body["model"], "text-embedding-3-small");
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 3, "total_tokens": 3})
    );
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    for (i, (item, text)) in data.iter().zip(["Hello world", "Hi"]).enumerate() {
        assert_eq!(
            (&item["object"], &item["index"]),
            (&json!("embedding"), &json!(i))
        );
        let expected = embedding("text-embedding-3-small", text, DEFAULT_DIMENSIONS);
        assert_eq!(floats(&item["embedding"]), expected);
    }

    let tokens = client
        .post(
            "/v1/embeddings",
            &json!({"model": "text-embedding-3-small", "input": [[9906, 1917], [13347]], "dimensions": 16}),
        )
        .await
        .json();
    assert_eq!(tokens["usage"]["prompt_tokens"], 3);
    let vector = floats(&tokens["data"][0]["embedding"]);
    assert_eq!(vector, embedding("text-embedding-3-small", "9906 1917", 16));

    let encoded = client
        .post(
            "/v1/embeddings",
            &json!({"model": "text-embedding-3-small", "input": "Hi", "dimensions": 4,
                    "encoding_format": "base64"}),
        )
        .await
        .json();
    let text = encoded["data"][0]["embedding"].as_str().unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap();
    let decoded: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(decoded, embedding("text-embedding-3-small", "Hi", 4));

    let stats = client.stats().await;
    assert_eq!((stats.embedding_requests, stats.embedding_inputs), (3, 5));
    assert_eq!((stats.openai_requests, stats.ok), (3, 3));
    assert_eq!((stats.prompt_tokens, stats.completion_tokens), (7, 0));
}

#[tokio::test]
async fn openai_refuses_empty_and_oversized_inputs_in_its_words() {
    let (_server, client) = start(MockServerConfig::default()).await;
    let embed = |input: Value| json!({"model": "text-embedding-3-small", "input": input});
    for input in [json!(""), json!([]), json!(["a", ""]), json!([1, "a"])] {
        let reply = client.post("/v1/embeddings", &embed(input.clone())).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{input}");
        let message = reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.starts_with("'$.input' is invalid."), "{message}");
    }
    let reply = client
        .post("/v1/embeddings", &embed(json!(vec!["a"; 2049])))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.error(),
        (
            "invalid_request_error".into(),
            json!("array_above_max_length"),
            json!("input")
        )
    );
    let ada = json!({"model": "text-embedding-ada-002", "input": "a", "dimensions": 8});
    assert_eq!(
        client.post("/v1/embeddings", &ada).await.status,
        StatusCode::BAD_REQUEST
    );
    let format =
        json!({"model": "text-embedding-3-small", "input": "a", "encoding_format": "int8"});
    let reply = client.post("/v1/embeddings", &format).await;
    assert_eq!(reply.error().2, "encoding_format");
    let stats = client.stats().await;
    assert_eq!((stats.bad_requests, stats.embedding_inputs), (7, 0));
}

#[tokio::test]
async fn openai_embeddings_count_their_input_tokens_against_the_limits() {
    let (_server, client) = start(MockServerConfig {
        rpm: Some(60),
        tpm: Some(600),
        window: Duration::from_secs(1),
        ..MockServerConfig::default()
    })
    .await;
    // "Hello world" is 2 tokens: no output is reserved.
    let body = json!({"model": "text-embedding-3-small", "input": "Hello world"});
    let reply = client.post("/v1/embeddings", &body).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header_u64("x-ratelimit-limit-tokens"), Some(600));
    assert_eq!(reply.header_u64("x-ratelimit-remaining-tokens"), Some(8));
    assert_eq!(reply.header_u64("x-ratelimit-remaining-requests"), Some(0));
    let limited = client.post("/v1/embeddings", &body).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.error().1, "rate_limit_exceeded");
    assert!(limited.header("retry-after-ms").is_some());
    let stats = client.stats().await;
    assert_eq!((stats.rate_limited, stats.tokens_charged), (1, 2));
}

#[tokio::test]
async fn gemini_embeds_one_content_or_a_batch_of_at_most_a_hundred() {
    let (_server, client) = start(MockServerConfig::default()).await;
    let one = json!({"content": {"parts": [{"text": "Hello world"}]}, "outputDimensionality": 8});
    let reply = client
        .post_with(
            "/v1beta/models/gemini-embedding-001:embedContent",
            &[],
            &one,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
    let values = floats(&reply.json()["embedding"]["values"]);
    assert_eq!(values, embedding("gemini-embedding-001", "Hello world", 8));

    let request = |text: &str, dims: u64| {
        json!({"model": "models/gemini-embedding-001", "content": {"parts": [{"text": text}]},
               "outputDimensionality": dims})
    };
    let batch = json!({"requests": [request("a", 4), request("b", 6)]});
    let reply = client
        .post_with(
            "/v1beta/models/gemini-embedding-001:batchEmbedContents",
            &[],
            &batch,
        )
        .await
        .json();
    let embeddings = reply["embeddings"].as_array().unwrap();
    assert_eq!(
        floats(&embeddings[0]["values"]),
        embedding("gemini-embedding-001", "a", 4)
    );
    assert_eq!(
        floats(&embeddings[1]["values"]),
        embedding("gemini-embedding-001", "b", 6)
    );

    let too_many = json!({"requests": vec![request("a", 4); 101]});
    let reply = client
        .post_with(
            "/v1beta/models/gemini-embedding-001:batchEmbedContents",
            &[],
            &too_many,
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"]["status"], "INVALID_ARGUMENT");
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 100 requests")
    );

    let stats = client.stats().await;
    assert_eq!(
        (
            stats.gemini_requests,
            stats.embedding_requests,
            stats.embedding_inputs
        ),
        (3, 3, 3)
    );
}
