//! The OpenAI provider against a loopback HTTP server: the requests it sends, the replies
//! it reads, and what it tells the engine (token estimates, samples per call, accounting).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use pacer_core::{
    Accounting, ErrorKind, FinishReason, LimitReading, Provider, Request, TokenLogprob, Usage,
};
use pacer_providers::openai::{
    Api, Encoding, OpenAiConfig, OpenAiProvider, chat_prompt_tokens, completion_prompt_tokens,
};
use regex::Regex;
use serde_json::{Value, json};

const KEY: &str = "sk-test-SECRETsecret0123456789";

/// One request as the server saw it.
#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Value,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

/// What the server answers every request with.
#[derive(Clone)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Reply {
    fn ok(body: Value) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type", "application/json".into())],
            body: body.to_string(),
        }
    }

    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

#[derive(Clone)]
struct Shared {
    seen: Arc<Mutex<Vec<Seen>>>,
    reply: Reply,
}

async fn handle(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::http::Response<Body> {
    shared.seen.lock().unwrap().push(Seen {
        method,
        path: uri.path().to_owned(),
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    let reply = &shared.reply;
    let mut builder = axum::http::Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        builder = builder.header(*name, value.as_str());
    }
    builder.body(Body::from(reply.body.clone())).unwrap()
}

/// A loopback server that records every request and answers each with one reply.
struct Server {
    base_url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    async fn start(reply: Reply) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new().fallback(handle).with_state(Shared {
            seen: seen.clone(),
            reply,
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            base_url: format!("http://{addr}/v1"),
            seen,
        }
    }

    fn config(&self, key: Option<&str>) -> OpenAiConfig {
        let mut config = OpenAiConfig::new(key.map(str::to_owned));
        config.base_url = self.base_url.clone();
        config
    }

    fn provider(&self, key: Option<&str>) -> OpenAiProvider {
        OpenAiProvider::new(self.config(key)).unwrap()
    }

    /// The one request the server got.
    fn only(&self) -> Seen {
        let seen = self.seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "{seen:?}");
        seen[0].clone()
    }
}

fn chat_reply(text: &str) -> Value {
    json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}
    })
}

/// Every parameter set, on a system + user conversation.
fn full_request(model: &str) -> Request {
    let mut request = Request::text(model, Some("Be brief."), "Hello");
    let p = &mut request.params;
    p.temperature = Some(0.7);
    p.top_p = Some(0.9);
    p.max_tokens = Some(64);
    p.seed = Some(42);
    p.stop = vec!["\n\n".into(), "END".into()];
    p.n = 3;
    p.logprobs = true;
    p.extra
        .insert("response_format".into(), json!({"type": "json_object"}));
    request
}

/// Sends `request` through a provider made from `config` (its base_url replaced) and returns
/// the body the server got.
async fn sent_body(mut config: OpenAiConfig, request: &Request) -> Value {
    let server = Server::start(Reply::ok(chat_reply("ok"))).await;
    config.base_url = server.base_url.clone();
    let provider = OpenAiProvider::new(config).unwrap();
    provider.send(request).await.unwrap();
    let seen = server.only();
    let body = provider.body(request).unwrap();
    assert_eq!(seen.body, serde_json::from_slice::<Value>(&body).unwrap());
    seen.body
}

#[tokio::test]
async fn chat_request_carries_the_key_json_and_every_parameter() {
    let server = Server::start(Reply::ok(chat_reply("hi"))).await;
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
    let server = Server::start(Reply::ok(chat_reply("hi"))).await;
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
    let server = Server::start(Reply::ok(chat_reply("hi"))).await;
    let mut config = server.config(None);
    config.base_url.push('/');
    let provider = OpenAiProvider::new(config).unwrap();
    assert_eq!(
        provider.url(),
        format!("{}/chat/completions", server.base_url)
    );
    provider
        .send(&Request::text("gpt-4o", None, "Hi"))
        .await
        .unwrap();
    assert_eq!(server.only().path, "/v1/chat/completions");
}

#[tokio::test]
async fn reasoning_models_get_max_completion_tokens_and_no_sampling_parameters() {
    for model in ["o3-mini", "o1", "gpt-5", "ft:o4-mini:acme::x"] {
        let mut request = full_request(model);
        request
            .params
            .extra
            .insert("reasoning_effort".into(), "low".into());
        let body = sent_body(OpenAiConfig::new(Some(KEY.into())), &request).await;
        assert_eq!(body["model"], model);
        assert_eq!(body["max_completion_tokens"], 64, "{model}: {body}");
        for refused in [
            "max_tokens",
            "temperature",
            "top_p",
            "n",
            "stop",
            "logprobs",
            "top_logprobs",
        ] {
            assert!(
                body.get(refused).is_none(),
                "{model} was sent {refused}: {body}"
            );
        }
        assert_eq!(body["seed"], 42, "{model}");
        assert_eq!(body["reasoning_effort"], "low", "{model}");
        assert_eq!(
            body["response_format"],
            json!({"type": "json_object"}),
            "{model}"
        );
        assert_eq!(body["messages"][0]["role"], "system", "{model}");
    }
}

#[test]
fn samples_per_call_follow_the_reasoning_pattern_and_supports_n() {
    let provider = OpenAiProvider::new(OpenAiConfig::new(None)).unwrap();
    assert_eq!(provider.max_samples_per_call("o3-mini"), 1);
    assert_eq!(provider.max_samples_per_call("ft:o4-mini:acme::x"), 1);
    assert!(provider.max_samples_per_call("gpt-4o") > 1);

    let mut config = OpenAiConfig::new(None);
    config.supports_n = Some(false);
    let provider = OpenAiProvider::new(config).unwrap();
    assert_eq!(provider.max_samples_per_call("gpt-4o"), 1);
}

#[tokio::test]
async fn a_custom_reasoning_pattern_decides_which_models_reason() {
    let mut config = OpenAiConfig::new(None);
    config.reasoning = Regex::new("^my-thinker").unwrap();
    assert!(config.is_reasoning("my-thinker-7b") && !config.is_reasoning("o3-mini"));
    let provider = OpenAiProvider::new(config.clone()).unwrap();
    assert_eq!(provider.max_samples_per_call("my-thinker-7b"), 1);
    assert!(provider.max_samples_per_call("o3-mini") > 1);

    let body = sent_body(config.clone(), &full_request("my-thinker-7b")).await;
    assert_eq!(body["max_completion_tokens"], 64);
    assert!(
        body.get("temperature").is_none() && body.get("n").is_none(),
        "{body}"
    );
    let body = sent_body(config, &full_request("o3-mini")).await;
    assert_eq!(body["max_tokens"], 64);
    assert_eq!(body["temperature"], json!(0.7));
    assert_eq!(body["n"], 3);
}

#[tokio::test]
async fn supports_n_true_keeps_n_for_reasoning_models() {
    let mut config = OpenAiConfig::new(None);
    config.supports_n = Some(true);
    let provider = OpenAiProvider::new(config.clone()).unwrap();
    assert!(provider.max_samples_per_call("o3-mini") > 1);
    let mut request = Request::text("o3-mini", None, "Hi");
    request.params.n = 4;
    let body = sent_body(config, &request).await;
    assert_eq!(body["n"], 4, "{body}");
}

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
    let server = Server::start(Reply::ok(reply)).await;
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
        let server = Server::start(Reply::ok(reply.clone())).await;
        config.base_url = server.base_url.clone();
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
        Reply::ok(reply)
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
    let server = Server::start(Reply::ok(reply)).await;
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

#[test]
fn estimates_use_the_model_encoding() {
    // A text o200k and cl100k count differently, so a wrong encoding would show.
    let text = "こんにちは世界。今日はとても良い天気ですね、散歩に行きましょう。";
    assert_ne!(Encoding::O200k.count(text), Encoding::Cl100k.count(text));
    let provider = OpenAiProvider::new(OpenAiConfig::new(Some(KEY.into()))).unwrap();
    // The second model differs from the first, which the provider caches.
    for model in ["gpt-4o", "gpt-4-turbo", "o3-mini", "llama-3.1-8b", "gpt-4o"] {
        let request = Request::text(model, Some("Answer in Japanese."), text);
        assert_eq!(
            provider.estimate_input_tokens(&request),
            chat_prompt_tokens(Encoding::for_model(model), &request.messages),
            "{model}"
        );
    }

    let mut config = OpenAiConfig::new(None);
    config.api = Api::Completions;
    let provider = OpenAiProvider::new(config).unwrap();
    let request = Request::text("gpt-3.5-turbo-instruct", Some("System."), text);
    assert_eq!(
        provider.estimate_input_tokens(&request),
        completion_prompt_tokens(Encoding::Cl100k, &format!("System.\n\n{text}"))
    );
}

#[test]
fn accounting_rate_limits_and_debug_without_the_key() {
    let config = OpenAiConfig::new(Some(KEY.into()));
    let provider = OpenAiProvider::new(config.clone()).unwrap();
    assert_eq!(provider.accounting(), Accounting::Estimate);
    assert!(provider.reports_rate_limits());
    assert_eq!(provider.kind(), "openai");
    for debug in [
        format!("{provider:?}"),
        format!("{config:?}"),
        format!("{config:#?}"),
    ] {
        assert!(!debug.contains(KEY) && !debug.contains("SECRET"), "{debug}");
        assert!(debug.contains("[redacted]"), "{debug}");
    }
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
        assert_eq!(error.kind, ErrorKind::BadRequest, "{url}");
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
    assert_eq!(error.kind, ErrorKind::Auth);
    assert!(!error.to_string().contains("SECRETvalue"), "{error}");
}
