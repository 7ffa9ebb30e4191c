//! Every way an Anthropic call can fail, classified once into an [`ErrorKind`].

use pacer_core::{ErrorKind, ProviderError};

use super::wire::{ErrorDetail, ErrorReply};
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
    let (kind, message) = classify(status, detail, body, api_key, &format!("HTTP {status}"));
    ProviderError::new(kind, message).with_status(status)
}

/// Classifies an `error` event, met in a stream after its 2xx head: as a reply of the
/// status Anthropic documents for the error's type, with that body.
pub(crate) fn event(body: &[u8], api_key: Option<&str>) -> ProviderError {
    let detail = serde_json::from_slice::<ErrorReply>(body)
        .ok()
        .map(|r| r.error);
    let status = match detail.as_ref().map(|d| d.kind.as_str()) {
        Some("invalid_request_error") => 400,
        Some("authentication_error") => 401,
        Some("billing_error") => 402,
        Some("permission_error") => 403,
        Some("not_found_error") => 404,
        Some("request_too_large") => 413,
        Some("rate_limit_error") => 429,
        Some("timeout_error") => 504,
        Some("overloaded_error") => 529,
        // `api_error`, and any type newer than this list.
        _ => 500,
    };
    let (kind, message) = classify(status, detail, body, api_key, "stream error");
    ProviderError::new(kind, message)
}

/// The kind of an error of `status` that `detail` (read from `body`) tells, and its message,
/// `what` first, redacted of the key.
fn classify(
    status: u16,
    detail: Option<ErrorDetail>,
    body: &[u8],
    api_key: Option<&str>,
    what: &str,
) -> (ErrorKind, String) {
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
    (kind, redact(&format!("{what}{label}: {text}"), api_key))
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
    fn stream_error_events_take_their_types_status() {
        let event_kind =
            |kind_text: &str, message: &str| event(error(kind_text, message).as_bytes(), None).kind;
        assert_eq!(
            event_kind("overloaded_error", "Overloaded"),
            ErrorKind::Overloaded
        );
        assert_eq!(event_kind("api_error", "Internal"), ErrorKind::Server);
        assert_eq!(
            event_kind("rate_limit_error", "slow"),
            ErrorKind::RateLimited
        );
        assert_eq!(
            event_kind("billing_error", "pay"),
            ErrorKind::QuotaExhausted
        );
        assert_eq!(event_kind("something_new", "?"), ErrorKind::Server);
        let e = event(error("overloaded_error", "Overloaded").as_bytes(), None);
        assert_eq!(e.message, "stream error overloaded_error: Overloaded");
        assert_eq!(e.status, None);
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
