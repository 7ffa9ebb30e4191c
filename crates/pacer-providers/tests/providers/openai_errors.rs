//! Every way an OpenAI call can fail, through `send` against a loopback server: each HTTP
//! error class, unreadable replies, and refused, dropped or silent connections.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use pacer_core::{ErrorKind, Provider, ProviderError, Request};
use pacer_providers::openai::{OpenAiConfig, OpenAiProvider};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const KEY: &str = "sk-proj-SECRETsecret0123456789";

/// The status, headers and body the server answers every request with.
#[derive(Clone)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, &'static str)>,
    body: String,
}

async fn handle(State(reply): State<Reply>) -> axum::http::Response<Body> {
    let mut builder = axum::http::Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Body::from(reply.body)).unwrap()
}

/// A base URL whose server answers every request with `reply`.
async fn serve(reply: Reply) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().fallback(handle).with_state(reply);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1")
}

fn provider(base_url: String) -> OpenAiProvider {
    let mut config = OpenAiConfig::new(Some(KEY.into()));
    config.base_url = base_url;
    OpenAiProvider::new(config).unwrap()
}

fn request() -> Request {
    Request::text("gpt-4o-mini", None, "Hello")
}

/// What `send` fails with when the server answers `status`, `headers` and `body`.
async fn failure(
    status: u16,
    headers: &[(&'static str, &'static str)],
    body: &str,
) -> ProviderError {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    let url = serve(Reply {
        status,
        headers: all,
        body: body.into(),
    })
    .await;
    let error = provider(url)
        .send(&request())
        .await
        .expect_err("the call must fail");
    assert!(!error.to_string().contains(KEY), "{error}");
    error
}

fn openai_error(message: &str, kind: &str, code: &str) -> String {
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}}).to_string()
}

#[tokio::test]
async fn rate_limited_with_retry_after_ms_and_exhausted_limits() {
    let body = openai_error(
        "Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 3, Used 3.",
        "requests",
        "rate_limit_exceeded",
    );
    let headers = [
        ("retry-after-ms", "1500"),
        ("x-ratelimit-limit-requests", "3"),
        ("x-ratelimit-remaining-requests", "0"),
        ("x-ratelimit-reset-requests", "20s"),
    ];
    let error = failure(429, &headers, &body).await;
    assert_eq!(error.kind, ErrorKind::RateLimited);
    assert_eq!(error.status, Some(429));
    assert_eq!(error.retry_after, Some(Duration::from_millis(1500)));
    let limits = error.rate_limits.expect("the 429's headers are read");
    assert_eq!(limits.requests.limit, Some(3));
    assert_eq!(limits.requests.remaining, Some(0));
    assert_eq!(limits.requests.reset, Some(Duration::from_secs(20)));
    assert!(
        error.message.contains("rate_limit_exceeded"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn rate_limited_with_retry_after_seconds() {
    let body = openai_error("Rate limit reached", "tokens", "rate_limit_exceeded");
    let error = failure(429, &[("retry-after", "2")], &body).await;
    assert_eq!(error.kind, ErrorKind::RateLimited);
    assert_eq!(error.retry_after, Some(Duration::from_secs(2)));
    assert_eq!(error.rate_limits, None);
}

#[tokio::test]
async fn insufficient_quota_is_not_a_rate_limit() {
    let body = openai_error(
        "You exceeded your current quota, please check your plan and billing details.",
        "insufficient_quota",
        "insufficient_quota",
    );
    let error = failure(429, &[], &body).await;
    assert_eq!(error.kind, ErrorKind::QuotaExhausted);
    assert_eq!(error.status, Some(429));
    assert_eq!(error.retry_after, None);
}

#[tokio::test]
async fn auth_failures_never_repeat_the_key() {
    // OpenAI quotes a masked key; a careless proxy may quote the whole of it.
    let message = format!("Incorrect API key provided: {KEY} (sk-proj-********6789).");
    let error = failure(
        401,
        &[],
        &openai_error(&message, "invalid_request_error", "invalid_api_key"),
    )
    .await;
    assert_eq!(error.kind, ErrorKind::Auth);
    assert_eq!(error.status, Some(401));
    assert!(
        !error.message.contains("SECRET") && !error.message.contains("****"),
        "{}",
        error.message
    );
    assert!(
        error.message.contains("Incorrect API key provided"),
        "{}",
        error.message
    );

    // The same in a body that is not JSON.
    let error = failure(401, &[], &format!("Unauthorized: bad key {KEY}")).await;
    assert_eq!(error.kind, ErrorKind::Auth);
    assert!(!error.message.contains("SECRET"), "{}", error.message);

    let error = failure(
        403,
        &[],
        &openai_error(
            "Country not supported",
            "request_forbidden",
            "unsupported_country_region_territory",
        ),
    )
    .await;
    assert_eq!(error.kind, ErrorKind::Auth);
    assert_eq!(error.status, Some(403));
}

#[tokio::test]
async fn client_errors_are_classified_by_status_and_code() {
    let cases = [
        (
            404,
            openai_error(
                "The model `gpt-9` does not exist",
                "invalid_request_error",
                "model_not_found",
            ),
            ErrorKind::NotFound,
        ),
        (
            400,
            openai_error(
                "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.",
                "invalid_request_error",
                "context_length_exceeded",
            ),
            ErrorKind::ContextLength,
        ),
        (
            400,
            openai_error(
                "Unsupported parameter: 'max_tokens'",
                "invalid_request_error",
                "unsupported_parameter",
            ),
            ErrorKind::BadRequest,
        ),
        (400, "not json".to_owned(), ErrorKind::BadRequest),
        (
            422,
            openai_error("bad", "invalid_request_error", ""),
            ErrorKind::BadRequest,
        ),
        (408, String::new(), ErrorKind::Timeout),
    ];
    for (status, body, kind) in cases {
        let error = failure(status, &[], &body).await;
        assert_eq!(error.kind, kind, "{status} {body}");
        assert_eq!(error.status, Some(status));
        assert!(
            error.message.starts_with(&format!("HTTP {status}")),
            "{}",
            error.message
        );
    }
}

#[tokio::test]
async fn server_errors_are_server_or_overloaded() {
    let error = failure(
        500,
        &[],
        &openai_error("The server had an error", "server_error", ""),
    )
    .await;
    assert_eq!(error.kind, ErrorKind::Server);
    assert_eq!(error.status, Some(500));

    let overloaded = json!({"error": {"message": "The engine is currently overloaded, please try again later", "type": "server_error"}});
    let error = failure(503, &[("retry-after", "1")], &overloaded.to_string()).await;
    assert_eq!(error.kind, ErrorKind::Overloaded);
    assert_eq!(error.status, Some(503));
    assert_eq!(error.retry_after, Some(Duration::from_secs(1)));

    let html = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>";
    let error = failure(502, &[("content-type", "text/html")], html).await;
    assert_eq!(error.kind, ErrorKind::Server);
    assert_eq!(error.status, Some(502));
    assert!(
        error.message.contains("502 Bad Gateway"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn unreadable_successes_are_invalid_responses() {
    let truncated =
        r#"{"id":"chatcmpl-1","choices":[{"index":0,"message":{"role":"assistant","content":"Hel"#;
    let empty = r#"{"id":"chatcmpl-1","object":"chat.completion","choices":[]}"#;
    for body in [truncated, empty, "", "<html>ok</html>"] {
        let error = failure(200, &[("x-ratelimit-remaining-requests", "7")], body).await;
        assert_eq!(error.kind, ErrorKind::InvalidResponse, "{body}");
        assert_eq!(error.status, Some(200), "{body}");
        assert_eq!(
            error.rate_limits.map(|l| l.requests.remaining),
            Some(Some(7)),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_refused_connection_is_a_connection_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let error = provider(format!("http://{addr}/v1"))
        .send(&request())
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Connection, "{error}");
    assert_eq!(error.status, None);
    assert_eq!(error.rate_limits, None);
    assert!(!error.to_string().contains(KEY));
}

/// A base URL whose server reads each request, then calls `answer` with the socket.
async fn raw_server<F, Fut>(answer: F) -> String
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buffer = vec![0; 64 * 1024];
            let _ = socket.read(&mut buffer).await;
            tokio::spawn(answer(socket));
        }
    });
    format!("http://{addr}/v1")
}

#[tokio::test]
async fn a_connection_dropped_without_a_reply_is_a_connection_error() {
    let url = raw_server(|socket| async move { drop(socket) }).await;
    let error = provider(url).send(&request()).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Connection, "{error}");
    assert_eq!(error.status, None);
    assert!(!error.to_string().contains(KEY));
}

#[tokio::test]
async fn a_body_cut_short_is_a_connection_error_that_keeps_the_headers() {
    let url = raw_server(|mut socket| async move {
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\
                    x-ratelimit-remaining-requests: 5\r\n\r\n{\"choices\":[";
        socket.write_all(head.as_bytes()).await.unwrap();
        socket.flush().await.unwrap();
        drop(socket);
    })
    .await;
    let error = provider(url).send(&request()).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Connection, "{error}");
    assert_eq!(error.status, None);
    assert_eq!(
        error.rate_limits.map(|l| l.requests.remaining),
        Some(Some(5))
    );
}

#[tokio::test]
async fn a_server_that_never_answers_leaves_send_pending() {
    // The engine times calls out; the provider itself just waits.
    let url = raw_server(|socket| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(socket);
    })
    .await;
    let provider = provider(url);
    let request = request();
    let waited = tokio::time::timeout(Duration::from_millis(300), provider.send(&request)).await;
    assert!(waited.is_err(), "send returned before the server answered");
}
