//! Every way a Gemini call can fail, through `send` against a loopback server: each status,
//! the wait a 429's `RetryInfo` asks for, a daily quota told from a per-minute limit, and
//! keys kept out of every message.

use std::time::Duration;

use crate::support::{Reply, Server};
use pacer_core::{ErrorKind, Provider, ProviderError, Request};
use pacer_providers::gemini::{GeminiConfig, GeminiProvider};
use serde_json::{Value, json};

const KEY: &str = "AIzaSyTEST-SECRETsecret0123456789abcd";

fn provider(root: &str) -> GeminiProvider {
    let mut config = GeminiConfig::new(Some(KEY.into()));
    config.base_url = format!("{root}/v1beta");
    GeminiProvider::new(config).unwrap()
}

/// What `send` fails with when the server answers `reply`.
async fn failure(reply: Reply) -> ProviderError {
    let server = Server::start(reply).await;
    let error = provider(&server.root)
        .send(&Request::text("gemini-2.5-flash", None, "Hello"))
        .await
        .expect_err("the call must fail");
    assert!(!error.to_string().contains("SECRET"), "{error}");
    assert!(!format!("{error:?}").contains("SECRET"), "{error:?}");
    assert_eq!(server.only().query, None);
    error
}

fn status_body(code: u16, status: &str, message: &str, details: Value) -> Value {
    json!({"error": {"code": code, "message": message, "status": status, "details": details}})
}

fn quota_failure(quota_id: &str, metric: &str) -> Value {
    json!({
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [{
            "quotaMetric": metric,
            "quotaId": quota_id,
            "quotaDimensions": {"location": "global", "model": "gemini-2.5-flash"},
            "quotaValue": "250"
        }]
    })
}

fn retry_info(delay: &str) -> Value {
    json!({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay})
}

#[tokio::test]
async fn a_per_minute_limit_is_rate_limited_with_the_retry_delay() {
    for (delay, wait) in [
        ("32s", Duration::from_secs(32)),
        ("1.5s", Duration::from_millis(1500)),
    ] {
        let details = json!([
            quota_failure(
                "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                "generativelanguage.googleapis.com/generate_content_free_tier_requests"
            ),
            {"@type": "type.googleapis.com/google.rpc.Help", "links": []},
            retry_info(delay)
        ]);
        let body = status_body(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota.",
            details,
        );
        let error = failure(Reply::json(429, &body)).await;
        assert_eq!(error.kind, ErrorKind::RateLimited, "{delay}");
        assert_eq!(error.status, Some(429));
        assert_eq!(error.retry_after, Some(wait), "{delay}");
        assert_eq!(error.rate_limits, None);
        assert_eq!(
            error.message,
            "HTTP 429 RESOURCE_EXHAUSTED: You exceeded your current quota."
        );
    }
    // Without RetryInfo, a retry-after header still counts.
    let body = status_body(429, "RESOURCE_EXHAUSTED", "Resource exhausted.", json!([]));
    let error = failure(Reply::json(429, &body).header("retry-after", "3")).await;
    assert_eq!(error.kind, ErrorKind::RateLimited);
    assert_eq!(error.retry_after, Some(Duration::from_secs(3)));
}

#[tokio::test]
async fn a_used_up_daily_quota_stops_the_lane_until_pacific_midnight() {
    let details = json!([
        quota_failure(
            "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
            "generativelanguage.googleapis.com/generate_content_free_tier_requests"
        ),
        retry_info("20s")
    ]);
    let body = status_body(
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota.",
        details,
    );
    let error = failure(Reply::json(429, &body)).await;
    assert_eq!(error.kind, ErrorKind::QuotaExhausted);
    assert!(error.kind.stops_lane());
    assert_eq!(error.status, Some(429));
    let message = &error.message;
    assert!(
        message.starts_with(
            "HTTP 429 RESOURCE_EXHAUSTED: the daily quota GenerateRequestsPerDayPerProjectPerModel-FreeTier is used up; it resets at midnight Pacific time, in about "
        ),
        "{message}"
    );
    assert!(
        message.ends_with("You exceeded your current quota."),
        "{message}"
    );

    // A daily quota named only by its metric.
    let details = json!([{
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [{"quotaMetric": "generativelanguage.googleapis.com/input_tokens_per_day"}]
    }]);
    let body = status_body(429, "RESOURCE_EXHAUSTED", "Quota exceeded.", details);
    assert_eq!(
        failure(Reply::json(429, &body)).await.kind,
        ErrorKind::QuotaExhausted
    );
}

#[tokio::test]
async fn each_status_has_its_kind() {
    let key_invalid = json!([{
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "API_KEY_INVALID",
        "domain": "googleapis.com"
    }]);
    let cases = [
        (
            400,
            "INVALID_ARGUMENT",
            "Invalid JSON payload received.",
            json!([]),
            ErrorKind::BadRequest,
        ),
        (
            400,
            "INVALID_ARGUMENT",
            "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
            json!([]),
            ErrorKind::ContextLength,
        ),
        (
            400,
            "FAILED_PRECONDITION",
            "User location is not supported for the API use.",
            json!([]),
            ErrorKind::BadRequest,
        ),
        (
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            key_invalid.clone(),
            ErrorKind::Auth,
        ),
        (
            400,
            "INVALID_ARGUMENT",
            "Bad key.",
            key_invalid,
            ErrorKind::Auth,
        ),
        (
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
            json!([]),
            ErrorKind::Auth,
        ),
        (
            403,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers.",
            json!([]),
            ErrorKind::Auth,
        ),
        (
            404,
            "NOT_FOUND",
            "models/gemini-9 is not found for API version v1beta.",
            json!([]),
            ErrorKind::NotFound,
        ),
        (
            500,
            "INTERNAL",
            "An internal error has occurred.",
            json!([]),
            ErrorKind::Server,
        ),
        (
            503,
            "UNAVAILABLE",
            "The model is overloaded. Please try again later.",
            json!([]),
            ErrorKind::Overloaded,
        ),
        (
            504,
            "DEADLINE_EXCEEDED",
            "Deadline expired before operation could complete.",
            json!([]),
            ErrorKind::Timeout,
        ),
    ];
    for (status, code, message, details, expected) in cases {
        let error = failure(Reply::json(
            status,
            &status_body(status, code, message, details),
        ))
        .await;
        assert_eq!(error.kind, expected, "{status} {message}");
        assert_eq!(error.status, Some(status));
        assert_eq!(error.message, format!("HTTP {status} {code}: {message}"));
        assert_eq!(error.retry_after, None);
    }
    let error = failure(Reply::raw(502, "<html>Bad Gateway</html>")).await;
    assert_eq!(error.kind, ErrorKind::Server);
    assert_eq!(error.message, "HTTP 502: <html>Bad Gateway</html>");
}

#[tokio::test]
async fn the_key_never_shows_even_when_the_server_echoes_it() {
    let echoed = format!("API key not valid: {KEY}. Please pass a valid API key.");
    let body = status_body(400, "INVALID_ARGUMENT", &echoed, json!([]));
    let error = failure(Reply::json(400, &body)).await;
    assert_eq!(error.kind, ErrorKind::Auth);
    assert_eq!(
        error.message,
        "HTTP 400 INVALID_ARGUMENT: API key not valid: [redacted]. Please pass a valid API key."
    );
    let error = failure(Reply::raw(
        403,
        &format!("forbidden for key={KEY}&alt=json"),
    ))
    .await;
    assert_eq!(
        error.message,
        "HTTP 403: forbidden for key=[redacted]&alt=json"
    );
    // Another Google key, quoted by a proxy.
    let error = failure(Reply::raw(500, "upstream rejected AIzaSyOTHER0123456789")).await;
    assert_eq!(error.message, "HTTP 500: upstream rejected [redacted]");
}

#[tokio::test]
async fn a_refused_connection_is_a_connection_error_without_the_key() {
    let error = provider(&crate::support::refusing_root().await)
        .send(&Request::text("gemini-x", None, "Hi"))
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Connection, "{error}");
    assert_eq!(error.status, None);
    assert!(!format!("{error} {error:?}").contains("SECRET"));
}
