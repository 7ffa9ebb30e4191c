//! Every way an Anthropic call can fail, classified once into an [`ErrorKind`].

use pacer_core::{ErrorKind, ProviderError};

use super::wire::ErrorReply;
use crate::http::{excerpt, redact};

/// Phrases of a refusal that no waiting will lift: the account is out of credit or past its
/// spend limit.
const QUOTA_PHRASES: [&str; 5] = [
    "credit balance",
    "spend limit",
    "usage limit",
    "billing",
    "purchase credits",
];

/// Phrases of a prompt longer than the model's context window.
const CONTEXT_PHRASES: [&str; 5] = [
    "prompt is too long",
    "exceed context",
    "exceeds context",
    "context limit",
    "context window",
];

/// Classifies a non-2xx reply from its status and its `{"type": "error", "error": ...}` body.
pub(crate) fn status(status: u16, body: &[u8], api_key: Option<&str>) -> ProviderError {
    let detail = serde_json::from_slice::<ErrorReply>(body)
        .ok()
        .map(|r| r.error);
    let kind_text = detail.as_ref().map(|d| d.kind.as_str()).unwrap_or_default();
    let text = match &detail {
        Some(d) if !d.message.is_empty() => d.message.clone(),
        _ => excerpt(body, api_key),
    };
    let lower = text.to_ascii_lowercase();
    let says = |phrases: &[&str]| phrases.iter().any(|p| lower.contains(p));
    let kind = match status {
        _ if kind_text == "billing_error" => ErrorKind::QuotaExhausted,
        402 => ErrorKind::QuotaExhausted,
        400 | 429 if says(&QUOTA_PHRASES) => ErrorKind::QuotaExhausted,
        401 | 403 => ErrorKind::Auth,
        404 => ErrorKind::NotFound,
        408 => ErrorKind::Timeout,
        429 => ErrorKind::RateLimited,
        400 | 413 if says(&CONTEXT_PHRASES) => ErrorKind::ContextLength,
        400..=499 if status != 409 => ErrorKind::BadRequest,
        _ if kind_text == "overloaded_error" => ErrorKind::Overloaded,
        529 => ErrorKind::Overloaded,
        // 409 and every other 5xx (`api_error`).
        _ => ErrorKind::Server,
    };
    let label = if kind_text.is_empty() {
        String::new()
    } else {
        format!(" {kind_text}")
    };
    let message = redact(&format!("HTTP {status}{label}: {text}"), api_key);
    ProviderError::new(kind, message).with_status(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(kind: &str, message: &str) -> String {
        serde_json::to_string(&ErrorReply::new(kind, message)).unwrap()
    }

    fn kind(status_code: u16, kind: &str, message: &str) -> ErrorKind {
        status(status_code, error(kind, message).as_bytes(), None).kind
    }

    #[test]
    fn classifies_every_status_class() {
        let cases = [
            (
                401,
                "authentication_error",
                "invalid x-api-key",
                ErrorKind::Auth,
            ),
            (403, "permission_error", "not allowed", ErrorKind::Auth),
            (
                404,
                "not_found_error",
                "model: claude-9",
                ErrorKind::NotFound,
            ),
            (
                400,
                "invalid_request_error",
                "messages: field required",
                ErrorKind::BadRequest,
            ),
            (
                400,
                "invalid_request_error",
                "prompt is too long: 210000 tokens > 200000 maximum",
                ErrorKind::ContextLength,
            ),
            (
                400,
                "invalid_request_error",
                "input length and `max_tokens` exceed context limit: 190000 + 20000 > 200000",
                ErrorKind::ContextLength,
            ),
            (
                413,
                "request_too_large",
                "Request exceeds the maximum size",
                ErrorKind::BadRequest,
            ),
            (
                429,
                "rate_limit_error",
                "Number of request tokens has exceeded your per-minute rate limit",
                ErrorKind::RateLimited,
            ),
            (
                400,
                "invalid_request_error",
                "Your credit balance is too low to access the Anthropic API.",
                ErrorKind::QuotaExhausted,
            ),
            (
                429,
                "rate_limit_error",
                "You have reached your specified workspace API usage limits.",
                ErrorKind::QuotaExhausted,
            ),
            (
                402,
                "billing_error",
                "payment required",
                ErrorKind::QuotaExhausted,
            ),
            (500, "api_error", "Internal server error", ErrorKind::Server),
            (529, "overloaded_error", "Overloaded", ErrorKind::Overloaded),
            (503, "overloaded_error", "Overloaded", ErrorKind::Overloaded),
            (502, "", "", ErrorKind::Server),
            (409, "", "", ErrorKind::Server),
            (408, "", "", ErrorKind::Timeout),
        ];
        for (code, kind_text, message, expected) in cases {
            assert_eq!(kind(code, kind_text, message), expected, "{code} {message}");
        }
        assert_eq!(
            status(503, b"<html>busy</html>", None).kind,
            ErrorKind::Server
        );
    }

    #[test]
    fn messages_name_status_and_type_but_never_the_key() {
        let key = "sk-ant-api03-SECRETsecret0123";
        let body = error("authentication_error", &format!("invalid x-api-key {key}"));
        let e = status(401, body.as_bytes(), Some(key));
        assert_eq!(
            e.message,
            "HTTP 401 authentication_error: invalid x-api-key [redacted]"
        );
        let plain = status(502, format!("bad gateway ({key})").as_bytes(), Some(key));
        assert_eq!(plain.message, "HTTP 502: bad gateway ([redacted])");
    }
}
