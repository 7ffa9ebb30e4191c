//! The reply shapes of the mock's OpenAI endpoints, over loopback: chat completions and their
//! usage, `n` choices, logprobs, legacy completions, and streamed chat replies.

use crate::common::{hello, start};
use pacer_core::{Message, Role};
use pacer_mock::MockServerConfig;
use pacer_providers::openai::{Encoding, chat_prompt_tokens, completion_prompt_tokens};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn chat_reply_has_choices_usage_and_model() {
    let (server, client) = start(MockServerConfig::default()).await;
    let body = json!({
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is a rate limit?"},
        ],
        "max_tokens": 20,
    });
    let reply = client.chat(&body).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let v = reply.json();
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-mock-"));
    assert_eq!(v["object"], "chat.completion");
    assert!(v["created"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(v["model"], "gpt-4o-mini-mock-1");
    let choices = v["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 1);
    let choice = &choices[0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["message"]["role"], "assistant");
    let text = choice["message"]["content"].as_str().unwrap();
    assert!(!text.is_empty());
    assert!(["stop", "length"].contains(&choice["finish_reason"].as_str().unwrap()));
    assert!(choice["logprobs"].is_null());

    let messages = [
        Message::new(Role::System, "Be brief."),
        Message::new(Role::User, "What is a rate limit?"),
    ];
    let prompt = chat_prompt_tokens(Encoding::for_model("gpt-4o-mini"), &messages);
    let usage = &v["usage"];
    assert_eq!(usage["prompt_tokens"], prompt);
    let completion = usage["completion_tokens"].as_u64().unwrap();
    assert_eq!(completion, text.split_whitespace().count() as u64);
    assert!(completion <= 20);
    assert_eq!(usage["total_tokens"], prompt + completion);
    // No limits configured: no rate headers.
    assert!(reply.header("x-ratelimit-limit-requests").is_none());
    server.shutdown().await;
}

#[tokio::test]
async fn identical_requests_get_identical_text_and_n_gives_n_choices() {
    let (_server, client) = start(MockServerConfig::default()).await;
    let a = client.chat(&hello("gpt-4o")).await.json();
    let b = client.chat(&hello("gpt-4o")).await.json();
    assert_eq!(a["choices"], b["choices"]);
    assert_ne!(a["id"], b["id"]);

    let mut body = hello("gpt-4o");
    body["n"] = json!(3);
    let v = client.chat(&body).await.json();
    let choices = v["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 3);
    for (i, choice) in choices.iter().enumerate() {
        assert_eq!(choice["index"], i);
    }
    let words: usize = choices
        .iter()
        .map(|c| {
            c["message"]["content"]
                .as_str()
                .unwrap()
                .split_whitespace()
                .count()
        })
        .sum();
    assert_eq!(v["usage"]["completion_tokens"], words);
}

#[tokio::test]
async fn chat_logprobs_give_top_k_alternatives() {
    let (_server, client) = start(MockServerConfig::default()).await;
    let mut body = hello("gpt-4o-mini");
    body["logprobs"] = json!(true);
    body["top_logprobs"] = json!(2);
    let v = client.chat(&body).await.json();
    let choice = &v["choices"][0];
    let content = choice["logprobs"]["content"].as_array().unwrap();
    assert!(!content.is_empty());
    // As a tokenizer writes them: each word after the first with its space.
    let text: Vec<String> = choice["message"]["content"]
        .as_str()
        .unwrap()
        .split(' ')
        .enumerate()
        .map(|(i, word)| {
            if i == 0 {
                word.to_owned()
            } else {
                format!(" {word}")
            }
        })
        .collect();
    for (i, entry) in content.iter().enumerate() {
        assert_eq!(entry["token"], text[i]);
        assert!(entry["logprob"].as_f64().unwrap() <= 0.0);
        let top = entry["top_logprobs"].as_array().unwrap();
        assert_eq!(top.len(), 2);
        assert_eq!(top[0]["token"], entry["token"]);
        assert!(top[0]["logprob"].as_f64() >= top[1]["logprob"].as_f64());
    }

    body["top_logprobs"] = json!(0);
    let v = client.chat(&body).await.json();
    let content = v["choices"][0]["logprobs"]["content"].as_array().unwrap();
    assert!(content.iter().all(|e| e["top_logprobs"] == json!([])));

    body["top_logprobs"] = json!(21);
    let reply = client.chat(&body).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error().2, "top_logprobs");
}

#[tokio::test]
async fn legacy_completions_with_logprobs() {
    let (_server, client) = start(MockServerConfig::default()).await;
    let prompt = "Once upon a time";
    let body =
        json!({"model": "davinci-002", "prompt": prompt, "max_tokens": 30, "logprobs": 3, "n": 2});
    let reply = client.post("/v1/completions", &body).await;
    assert_eq!(reply.status, StatusCode::OK);
    let v = reply.json();
    assert!(v["id"].as_str().unwrap().starts_with("cmpl-mock-"));
    assert_eq!(v["object"], "text_completion");
    assert_eq!(v["model"], "davinci-002-mock-1");
    let choices = v["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 2);
    for choice in choices {
        let text = choice["text"].as_str().unwrap();
        let logprobs = &choice["logprobs"];
        let tokens: Vec<&str> = logprobs["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert_eq!(tokens.concat(), text);
        assert_eq!(
            logprobs["token_logprobs"].as_array().unwrap().len(),
            tokens.len()
        );
        let top = logprobs["top_logprobs"].as_array().unwrap();
        assert_eq!(top.len(), tokens.len());
        for (map, token) in top.iter().zip(&tokens) {
            let map = map.as_object().unwrap();
            assert_eq!(map.len(), 3);
            assert!(map.contains_key(*token));
        }
    }
    let prompt_tokens = completion_prompt_tokens(Encoding::for_model("davinci-002"), prompt);
    assert_eq!(v["usage"]["prompt_tokens"], prompt_tokens);

    // Without logprobs: none.
    let v = client
        .post("/v1/completions", &json!({"model": "m", "prompt": "hi"}))
        .await
        .json();
    assert!(v["choices"][0]["logprobs"].is_null());
}

#[tokio::test]
async fn a_streamed_chat_reply_is_server_sent_events_with_the_same_text_and_usage() {
    let (_server, client) = start(MockServerConfig::default()).await;
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 20});
    let whole = client.chat(&body).await.json();
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    let reply = client.chat(&streamed).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    let text = String::from_utf8(reply.body.clone()).unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    let chunks: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, whole["choices"][0]["message"]["content"]);
    assert_eq!(chunks.last().unwrap()["usage"], whole["usage"]);
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    // Without include_usage, no usage chunk.
    streamed["stream_options"] = json!({});
    let text = String::from_utf8(client.chat(&streamed).await.body).unwrap();
    assert!(!text.contains("\"usage\""), "{text}");
}
