//! Gemini's `generateContent` on the mock: reply shapes, candidates and logprobs, the key
//! and validation errors, the 429s' `QuotaFailure` and `RetryInfo`, the daily quota and
//! faults, over loopback.

use std::time::Duration;

use crate::common::{gemini_hello, has_rate_headers, start};
use pacer_mock::MockServerConfig;
use pacer_providers::openai::Encoding;
use reqwest::StatusCode;
use serde_json::{Value, json};

const QUOTA_FAILURE: &str = "type.googleapis.com/google.rpc.QuotaFailure";
const RETRY_INFO: &str = "type.googleapis.com/google.rpc.RetryInfo";

fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// The detail of type `type_url` in an error body.
fn detail<'a>(body: &'a Value, type_url: &str) -> Option<&'a Value> {
    body["error"]["details"]
        .as_array()?
        .iter()
        .find(|d| d["@type"] == type_url)
}

#[tokio::test]
async fn reply_has_geminis_shape_and_chats_text() {
    let (_server, client) = start(MockServerConfig::default()).await;
    let body = json!({
        "contents": [{"role": "user", "parts": [{"text": "What is a rate limit?"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"maxOutputTokens": 40, "temperature": 0.5},
    });
    let reply = client.generate("gemini-2.0-flash", &body).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let v = reply.json();
    let candidates = v["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 1);
    let candidate = &candidates[0];
    assert_eq!(candidate["content"]["role"], "model");
    assert_eq!(candidate["index"], 0);
    let text = candidate["content"]["parts"][0]["text"].as_str().unwrap();
    assert!(["STOP", "MAX_TOKENS"].contains(&candidate["finishReason"].as_str().unwrap()));
    assert!(candidate.get("logprobsResult").is_none());
    let prompt =
        Encoding::Cl100k.count("Be brief.") + Encoding::Cl100k.count("What is a rate limit?");
    let usage = &v["usageMetadata"];
    assert_eq!(usage["promptTokenCount"], prompt);
    assert_eq!(usage["candidatesTokenCount"], words(text));
    assert_eq!(usage["totalTokenCount"], prompt + words(text));
    assert_eq!(v["modelVersion"], "gemini-2.0-flash-mock-1");

    // The same conversation gets the same text on OpenAI's chat endpoint, and on /v1/.
    let chat = client
        .chat(&json!({
            "model": "gemini-2.0-flash",
            "max_tokens": 40,
            "temperature": 0.5,
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "What is a rate limit?"},
            ],
        }))
        .await
        .json();
    assert_eq!(chat["choices"][0]["message"]["content"], text);
    let v1 = client
        .post_with("/v1/models/gemini-2.0-flash:generateContent", &[], &body)
        .await
        .json();
    assert_eq!(v1["candidates"], v["candidates"]);
    assert_eq!(client.stats().await.gemini_requests, 2);
}

#[tokio::test]
async fn candidate_count_gives_that_many_candidates() {
    let (_server, client) = start(MockServerConfig::default()).await;
    let mut body = gemini_hello();
    body["generationConfig"] = json!({"candidateCount": 3, "maxOutputTokens": 5});
    let v = client.generate("gemini-x", &body).await.json();
    let candidates = v["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 3);
    for (i, candidate) in candidates.iter().enumerate() {
        assert_eq!(candidate["index"], i);
        // Replies are at least 8 words long.
        assert_eq!(candidate["finishReason"], "MAX_TOKENS");
    }
    assert_eq!(v["usageMetadata"]["candidatesTokenCount"], 15);

    body["generationConfig"] = json!({"candidateCount": 9});
    let reply = client.generate("gemini-x", &body).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"]["status"], "INVALID_ARGUMENT");
}

#[tokio::test]
async fn logprobs_give_sorted_negative_alternatives_deterministically() {
    let (_server, client) = start(MockServerConfig::default()).await;
    let mut body = gemini_hello();
    body["generationConfig"] = json!({
        "responseLogprobs": true, "logprobs": 3, "maxOutputTokens": 30, "candidateCount": 2,
    });
    let v = client.generate("gemini-x", &body).await.json();
    for candidate in v["candidates"].as_array().unwrap() {
        let text = candidate["content"]["parts"][0]["text"].as_str().unwrap();
        let result = &candidate["logprobsResult"];
        let chosen: Vec<&str> = result["chosenCandidates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["token"].as_str().unwrap())
            .collect();
        assert_eq!(chosen.concat(), text);
        let top = result["topCandidates"].as_array().unwrap();
        assert_eq!(top.len(), chosen.len());
        for (step, token) in top.iter().zip(&chosen) {
            let alternatives = step["candidates"].as_array().unwrap();
            assert_eq!(alternatives.len(), 3);
            assert_eq!(alternatives[0]["token"], *token);
            let values: Vec<f64> = alternatives
                .iter()
                .map(|a| a["logProbability"].as_f64().unwrap())
                .collect();
            assert!(values.iter().all(|l| *l <= 0.0), "{values:?}");
            assert!(values.windows(2).all(|w| w[0] >= w[1]), "{values:?}");
        }
        assert!(candidate["avgLogprobs"].as_f64().unwrap() <= 0.0);
    }
    let again = client.generate("gemini-x", &body).await.json();
    assert_eq!(again["candidates"], v["candidates"]);
}

#[tokio::test]
async fn keys_go_in_a_header_or_the_query() {
    let config = MockServerConfig {
        api_key: Some("AIza-right".into()),
        models: vec!["gemini-x".into()],
        ..MockServerConfig::default()
    };
    let (_server, mut client) = start(config).await;
    let reply = client.generate("gemini-x", &gemini_hello()).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.json()["error"]["status"], "PERMISSION_DENIED");

    client.key = Some("AIza-wrong".into());
    let reply = client.generate("gemini-x", &gemini_hello()).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.json(),
        json!({"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT", "details": [{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}})
    );

    let path = "/v1beta/models/gemini-x:generateContent?key=AIza-right";
    assert_eq!(
        client.post_with(path, &[], &gemini_hello()).await.status,
        StatusCode::OK
    );
    client.key = Some("AIza-right".into());
    assert_eq!(
        client.generate("gemini-x", &gemini_hello()).await.status,
        StatusCode::OK
    );

    let reply = client.generate("gemini-9", &gemini_hello()).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.json()["error"]["status"], "NOT_FOUND");
    let reply = client.generate("gemini-x", &json!({"contents": []})).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let message = reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("contents"), "{message}");

    let stats = client.stats().await;
    assert_eq!(stats.gemini_requests, 6);
    assert_eq!(
        (
            stats.unauthorized,
            stats.ok,
            stats.not_found,
            stats.bad_requests
        ),
        (2, 2, 1, 1)
    );
}

#[tokio::test]
async fn a_429_names_the_quota_and_the_delay_in_its_body() {
    // 60 rpm over a 1 s window: a bucket of one request.
    let config = MockServerConfig {
        rpm: Some(60),
        window: Duration::from_secs(1),
        ..MockServerConfig::default()
    };
    let (_server, client) = start(config).await;
    let ok = client.generate("gemini-x", &gemini_hello()).await;
    assert_eq!(ok.status, StatusCode::OK);
    let reply = client.generate("gemini-x", &gemini_hello()).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    for reply in [&ok, &reply] {
        assert!(!has_rate_headers(reply));
        assert!(reply.header("retry-after").is_none());
    }
    let body = reply.json();
    let error = &body["error"];
    assert_eq!(
        (error["code"].as_u64(), error["status"].as_str()),
        (Some(429), Some("RESOURCE_EXHAUSTED"))
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("You exceeded your current quota")
    );
    let violation = &detail(&body, QUOTA_FAILURE).unwrap()["violations"][0];
    assert_eq!(
        violation["quotaMetric"],
        "generativelanguage.googleapis.com/generate_content_free_tier_requests"
    );
    assert_eq!(
        violation["quotaId"],
        "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
    );
    assert_eq!(
        violation["quotaDimensions"],
        json!({"model": "gemini-x", "location": "global"})
    );
    assert_eq!(violation["quotaValue"], "60");
    assert_eq!(detail(&body, RETRY_INFO).unwrap()["retryDelay"], "1s");
    assert_eq!(client.stats().await.rate_limited, 1);

    // Tokens: 600 tpm over 1 s, a bucket of 10, left in debt by the first request.
    let config = MockServerConfig {
        tpm: Some(600),
        window: Duration::from_secs(1),
        ..MockServerConfig::default()
    };
    let (_server, client) = start(config).await;
    let mut body = gemini_hello();
    body["generationConfig"] = json!({"maxOutputTokens": 20});
    assert_eq!(
        client.generate("gemini-x", &body).await.status,
        StatusCode::OK
    );
    let reply = client.generate("gemini-x", &body).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    let body = reply.json();
    let violation = &detail(&body, QUOTA_FAILURE).unwrap()["violations"][0];
    assert_eq!(
        violation["quotaId"],
        "GenerateContentInputTokensPerModelPerMinute-FreeTier"
    );
    let delay = detail(&body, RETRY_INFO).unwrap()["retryDelay"]
        .as_str()
        .unwrap();
    let seconds: u64 = delay.strip_suffix('s').unwrap().parse().unwrap();
    // At most prompt plus 20 output tokens of debt, refilled at 10 a second.
    assert!((1..=6).contains(&seconds), "{delay}");
}

#[tokio::test]
async fn a_spent_quota_is_the_daily_quota() {
    let config = MockServerConfig {
        quota_tokens: Some(50),
        ..MockServerConfig::default()
    };
    let (_server, client) = start(config).await;
    let mut refused = None;
    for _ in 0..20 {
        let reply = client.generate("gemini-x", &gemini_hello()).await;
        if reply.status != StatusCode::OK {
            refused = Some(reply);
            break;
        }
    }
    let reply = refused.expect("the quota runs out");
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    let body = reply.json();
    assert_eq!(body["error"]["status"], "RESOURCE_EXHAUSTED");
    let violation = &detail(&body, QUOTA_FAILURE).unwrap()["violations"][0];
    assert_eq!(
        violation["quotaId"],
        "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
    );
    assert!(detail(&body, RETRY_INFO).is_none());
    assert_eq!(client.stats().await.quota_exceeded, 1);
}

#[tokio::test]
async fn faults_answer_as_gemini_does() {
    let faulty = |fail_500, fail_503| MockServerConfig {
        fail_500,
        fail_503,
        ..MockServerConfig::default()
    };
    let (_server, client) = start(faulty(0.0, 1.0)).await;
    let reply = client.generate("gemini-x", &gemini_hello()).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        reply.json(),
        json!({"error": {"code": 503, "message": "The model is overloaded. Please try again later.",
            "status": "UNAVAILABLE"}})
    );
    let (_server, client) = start(faulty(1.0, 0.0)).await;
    let reply = client.generate("gemini-x", &gemini_hello()).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    let body = reply.json();
    assert_eq!(
        (
            body["error"]["code"].as_u64(),
            body["error"]["status"].as_str()
        ),
        (Some(500), Some("INTERNAL"))
    );
    assert_eq!(client.stats().await.server_errors, 1);
}
