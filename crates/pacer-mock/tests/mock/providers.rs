//! Pacer's own Anthropic and Gemini providers against the mock: they send a request, read
//! the reply, and classify the mock's 429s, overloads and spent quotas as they would the
//! real services'. Loopback only.

use std::time::Duration;

use pacer_core::{ErrorKind, Message, Provider, Request, Role};
use pacer_mock::{MockServer, MockServerConfig};
use pacer_providers::anthropic::{AnthropicConfig, AnthropicProvider};
use pacer_providers::gemini::{GeminiConfig, GeminiProvider};
use pacer_providers::mock::reply;
use pacer_providers::openai::{Encoding, chat_prompt_tokens};

const ANTHROPIC_KEY: &str = "sk-ant-mock-key";
const GEMINI_KEY: &str = "AIza-mock-key";

async fn start(set: impl FnOnce(&mut MockServerConfig)) -> MockServer {
    let mut config = MockServerConfig::default();
    set(&mut config);
    MockServer::start(config).await.expect("server starts")
}

fn anthropic(server: &MockServer, key: &str) -> AnthropicProvider {
    let mut config = AnthropicConfig::new(Some(key.into()));
    config.base_url = server.anthropic_url();
    AnthropicProvider::new(config).expect("provider")
}

fn gemini(server: &MockServer, key: &str) -> GeminiProvider {
    let mut config = GeminiConfig::new(Some(key.into()));
    config.base_url = server.gemini_url();
    GeminiProvider::new(config).expect("provider")
}

fn question(model: &str) -> Request {
    Request::text(model, Some("Be brief."), "What is a rate limit?")
}

/// One request per minute per model over a 1 s window: a bucket of one request.
fn one_request(config: &mut MockServerConfig) {
    config.rpm = Some(60);
    config.window = Duration::from_secs(1);
}

#[tokio::test]
async fn anthropic_provider_reads_replies_and_limits() {
    let server = start(|c| {
        one_request(c);
        c.api_key = Some(ANTHROPIC_KEY.into());
    })
    .await;
    let provider = anthropic(&server, ANTHROPIC_KEY);
    let request = question("claude-x");
    let response = provider.send(&request).await.expect("a reply");
    let expected = reply(&request);
    assert_eq!(response.choices.len(), 1);
    assert_eq!(response.choices[0].text, expected.choices[0].text);
    assert_eq!(
        response.choices[0].finish_reason,
        expected.choices[0].finish_reason
    );
    assert_eq!(response.model_version.as_deref(), Some("claude-x-mock-1"));
    assert_eq!(
        response.usage.input_tokens,
        chat_prompt_tokens(Encoding::Cl100k, &request.messages)
    );
    assert_eq!(response.usage.output_tokens, expected.usage.output_tokens);
    let limits = response.rate_limits.expect("anthropic-ratelimit-* headers");
    assert_eq!(
        (limits.requests.limit, limits.requests.remaining),
        (Some(60), Some(0))
    );

    let error = provider.send(&request).await.unwrap_err();
    assert_eq!(
        (error.kind, error.status),
        (ErrorKind::RateLimited, Some(429))
    );
    assert_eq!(error.retry_after, Some(Duration::from_secs(1)));
    let limits = error.rate_limits.expect("headers on the 429 too");
    assert_eq!(limits.requests.remaining, Some(0));
    assert!(limits.requests.reset.unwrap() <= Duration::from_secs(2));

    let error = anthropic(&server, "sk-ant-wrong-key")
        .send(&request)
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Auth);
    server.shutdown().await;
}

#[tokio::test]
async fn anthropic_provider_classifies_overload_and_credit_balance() {
    let server = start(|c| c.fail_503 = 1.0).await;
    let error = anthropic(&server, "k")
        .send(&question("claude-x"))
        .await
        .unwrap_err();
    assert_eq!(
        (error.kind, error.status),
        (ErrorKind::Overloaded, Some(529))
    );

    let server = server_with_quota().await;
    let provider = anthropic(&server, "k");
    provider
        .send(&question("claude-x"))
        .await
        .expect("under the quota");
    let error = provider.send(&question("claude-x")).await.unwrap_err();
    assert_eq!(
        (error.kind, error.status),
        (ErrorKind::QuotaExhausted, Some(400))
    );
    assert!(
        error.message.contains("credit balance"),
        "{}",
        error.message
    );
}

/// A server whose quota the first request spends.
async fn server_with_quota() -> MockServer {
    start(|c| c.quota_tokens = Some(1)).await
}

#[tokio::test]
async fn gemini_provider_reads_candidates_and_logprobs() {
    let server = start(|c| c.api_key = Some(GEMINI_KEY.into())).await;
    let provider = gemini(&server, GEMINI_KEY);
    let mut request = question("gemini-x");
    request
        .messages
        .push(Message::new(Role::Assistant, "Sure."));
    request.messages.push(Message::new(Role::User, "Go on."));
    request.params.n = 2;
    request.params.logprobs = true;
    request.params.top_logprobs = Some(2);
    let response = provider.send(&request).await.expect("a reply");
    let expected = reply(&request);
    assert_eq!(response.choices.len(), 2);
    for (got, want) in response.choices.iter().zip(&expected.choices) {
        assert_eq!(got.text, want.text);
        assert_eq!(got.finish_reason, want.finish_reason);
        let logprobs = got.logprobs.as_ref().expect("logprobs");
        assert_eq!(logprobs.len(), want.logprobs.as_ref().unwrap().len());
        assert!(
            logprobs
                .iter()
                .all(|lp| lp.top_tokens.len() == 2 && lp.logprob <= 0.0)
        );
    }
    let prompt: u64 = request
        .messages
        .iter()
        .map(|m| Encoding::Cl100k.count(&m.text()))
        .sum();
    assert_eq!(response.usage.input_tokens, prompt);
    assert_eq!(response.usage.output_tokens, expected.usage.output_tokens);
    assert_eq!(response.model_version.as_deref(), Some("gemini-x-mock-1"));
    assert!(
        response.rate_limits.is_none(),
        "Gemini sends no rate headers"
    );

    let error = gemini(&server, "AIza-wrong")
        .send(&request)
        .await
        .unwrap_err();
    assert_eq!((error.kind, error.status), (ErrorKind::Auth, Some(400)));
}

#[tokio::test]
async fn gemini_provider_classifies_limits_overload_and_the_daily_quota() {
    let server = start(one_request).await;
    let provider = gemini(&server, "k");
    provider.send(&question("gemini-x")).await.expect("a reply");
    let error = provider.send(&question("gemini-x")).await.unwrap_err();
    assert_eq!(
        (error.kind, error.status),
        (ErrorKind::RateLimited, Some(429))
    );
    assert_eq!(error.retry_after, Some(Duration::from_secs(1)));

    let server = start(|c| c.fail_503 = 1.0).await;
    let error = gemini(&server, "k")
        .send(&question("gemini-x"))
        .await
        .unwrap_err();
    assert_eq!(
        (error.kind, error.status),
        (ErrorKind::Overloaded, Some(503))
    );

    let server = server_with_quota().await;
    let provider = gemini(&server, "k");
    provider
        .send(&question("gemini-x"))
        .await
        .expect("under the quota");
    let error = provider.send(&question("gemini-x")).await.unwrap_err();
    assert_eq!(
        (error.kind, error.status),
        (ErrorKind::QuotaExhausted, Some(429))
    );
    assert!(error.message.contains("PerDay"), "{}", error.message);
}

#[tokio::test]
async fn stats_count_every_protocol() {
    let server = start(|_| {}).await;
    anthropic(&server, "k")
        .send(&question("claude-x"))
        .await
        .unwrap();
    gemini(&server, "k")
        .send(&question("gemini-x"))
        .await
        .unwrap();
    gemini(&server, "k")
        .send(&question("gemini-x"))
        .await
        .unwrap();
    let stats = server.stats();
    assert_eq!(stats.requests, 3);
    assert_eq!(
        (
            stats.openai_requests,
            stats.anthropic_requests,
            stats.gemini_requests
        ),
        (0, 1, 2)
    );
    assert_eq!(stats.ok, 3);
    assert!(stats.prompt_tokens > 0 && stats.completion_tokens > 0);
    // Both correct their charge to the output used.
    assert_eq!(
        stats.tokens_charged,
        stats.prompt_tokens + stats.completion_tokens
    );
}
