//! The OpenAI provider against a loopback HTTP server: the requests it sends (the key, JSON,
//! every parameter, what is left out, the URL), and the base URLs and keys it refuses.

use crate::support::openai::*;
use crate::support::{Reply, Server};
use axum::http::Method;
use pacer_core::{ErrorKind, Provider, Request};
use pacer_providers::openai::{OpenAiConfig, OpenAiProvider};
use serde_json::{Value, json};

#[tokio::test]
async fn chat_request_carries_the_key_json_and_every_parameter() {
    let server = Server::start(Reply::ok(&chat_reply("hi"))).await;
    let mut config = server.config(Some(KEY));
    config.headers = vec![("OpenAI-Organization".into(), "org-42".into())];
    let provider = OpenAiProvider::new(config).unwrap();
    let request = full_request("gpt-4o-mini");
    provider.send(&request).await.unwrap();

    let seen = server.only();
    assert_eq!(seen.method, Method::POST);
    assert_eq!(seen.path, "/v1/chat/completions");
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert!(
        seen.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(seen.header("openai-organization"), Some("org-42"));
    assert!(seen.header("user-agent").unwrap().starts_with("pacer/"));
    let body = &seen.body;
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(
        body["messages"],
        json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}])
    );
    assert_eq!(body["temperature"], json!(0.7));
    assert_eq!(body["top_p"], json!(0.9));
    assert_eq!(body["max_tokens"], 64);
    assert_eq!(body["seed"], 42);
    assert_eq!(body["stop"], json!(["\n\n", "END"]));
    assert_eq!(body["n"], 3);
    assert_eq!(body["logprobs"], true);
    assert_eq!(body["top_logprobs"], 5);
    assert_eq!(body["response_format"], json!({"type": "json_object"}));
    assert!(body.get("max_completion_tokens").is_none(), "{body}");
    assert_eq!(
        body,
        &serde_json::from_slice::<Value>(&provider.body(&request).unwrap()).unwrap()
    );
}

#[tokio::test]
async fn chat_request_leaves_out_what_is_unset() {
    let server = Server::start(Reply::ok(&chat_reply("hi"))).await;
    // No key: no Authorization header at all (vLLM, Ollama).
    let provider = server.provider(None);
    let mut request = Request::text("gpt-4o-mini", None, "Hello");
    request.params.n = 1;
    provider.send(&request).await.unwrap();
    let seen = server.only();
    assert_eq!(seen.header("authorization"), None);
    assert_eq!(
        seen.body,
        json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]})
    );
}

#[tokio::test]
async fn top_logprobs_is_sent_as_given() {
    let mut request = Request::text("gpt-4o", None, "Hi");
    request.params.logprobs = true;
    request.params.top_logprobs = Some(2);
    let body = sent_body(OpenAiConfig::new(None), &request).await;
    assert_eq!(body["logprobs"], true);
    assert_eq!(body["top_logprobs"], 2);
    // top_logprobs without logprobs asks for nothing.
    request.params.logprobs = false;
    let body = sent_body(OpenAiConfig::new(None), &request).await;
    assert!(
        body.get("logprobs").is_none() && body.get("top_logprobs").is_none(),
        "{body}"
    );
}

#[tokio::test]
async fn a_trailing_slash_on_base_url_is_ignored() {
    let server = Server::start(Reply::ok(&chat_reply("hi"))).await;
    let mut config = server.config(None);
    config.base_url.push('/');
    let provider = OpenAiProvider::new(config).unwrap();
    assert_eq!(
        provider.url(),
        format!("{}/chat/completions", server.base_url())
    );
    provider
        .send(&Request::text("gpt-4o", None, "Hi"))
        .await
        .unwrap();
    assert_eq!(server.only().path, "/v1/chat/completions");
}

#[test]
fn a_base_url_without_a_scheme_is_refused() {
    for url in [
        "127.0.0.1:8080/v1",
        "api.openai.com/v1",
        "ftp://example.com/v1",
        "",
    ] {
        let mut config = OpenAiConfig::new(None);
        config.base_url = url.into();
        let error = OpenAiProvider::new(config).expect_err(url);
        assert_eq!(error.kind, ErrorKind::Config, "{url}");
        assert!(
            error.message.contains("base_url") && error.message.contains("http://"),
            "{}",
            error.message
        );
    }
    let mut config = OpenAiConfig::new(None);
    config.base_url = "https://example.com/v1".into();
    assert_eq!(
        OpenAiProvider::new(config).unwrap().url(),
        "https://example.com/v1/chat/completions"
    );
}

#[test]
fn a_key_that_cannot_be_a_header_is_refused_without_showing_it() {
    let error = OpenAiProvider::new(OpenAiConfig::new(Some("sk-bad\nSECRETvalue".into())))
        .expect_err("a newline cannot go in a header");
    assert_eq!(error.kind, ErrorKind::Config);
    assert!(!error.to_string().contains("SECRETvalue"), "{error}");
}
