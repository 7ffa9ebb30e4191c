//! Every way an OpenAI-compatible call can fail, classified once into an [`ErrorKind`].

use pacer_core::{ErrorKind, ProviderError};

use super::responses_wire::ResponseError;
use super::wire::{ErrorDetail, ErrorReply};
use crate::http::{excerpt, redact};

/// Classifies a non-2xx reply from its status and its `{"error": ...}` body.
pub(crate) fn status(status: u16, body: &[u8], api_key: Option<&str>) -> ProviderError {
    let detail = serde_json::from_slice::<ErrorReply>(body)
        .ok()
        .map(|r| r.error);
    let code = detail
        .as_ref()
        .and_then(|d| d.code_text())
        .unwrap_or_default();
    let kind_text = detail
        .as_ref()
        .and_then(|d| d.kind.clone())
        .unwrap_or_default();
    let text = match &detail {
        Some(d) if !d.message.is_empty() => d.message.clone(),
        _ => excerpt(body, api_key),
    };
    let is = |what: &str| code == what || kind_text == what;
    let lower = text.to_ascii_lowercase();
    let kind = match status {
        401 | 403 => ErrorKind::Auth,
        404 => ErrorKind::NotFound,
        408 => ErrorKind::Timeout,
        429 if is("insufficient_quota") || is("billing_hard_limit_reached") => {
            ErrorKind::QuotaExhausted
        }
        429 => ErrorKind::RateLimited,
        400 | 413 | 422
            if is("context_length_exceeded")
                || lower.contains("maximum context length")
                || lower.contains("context window") =>
        {
            ErrorKind::ContextLength
        }
        400 if is("content_filter") || is("content_policy_violation") => ErrorKind::ContentFiltered,
        400..=499 if status != 409 => ErrorKind::BadRequest,
        503 | 529 if lower.contains("overloaded") => ErrorKind::Overloaded,
        529 => ErrorKind::Overloaded,
        // 409 (a conflict OpenAI asks to retry) and every 5xx.
        _ => ErrorKind::Server,
    };
    let label = [code.as_str(), kind_text.as_str()]
        .into_iter()
        .find(|s| !s.is_empty())
        .map(|s| format!(" {s}"))
        .unwrap_or_default();
    let message = redact(&format!("HTTP {status}{label}: {text}"), api_key);
    ProviderError::new(kind, message).with_status(status)
}

/// Classifies a Responses API reply whose `status` is `failed`: a 200 whose body is an
/// error. The codes are the API's: the server's faults and rate limits are retried, an image
/// refused by the content policy is filtered, any other code (a prompt or an image the API
/// cannot use) is the request's fault.
pub(crate) fn failed_response(error: Option<&ResponseError>) -> ProviderError {
    let code = error.and_then(|e| e.code.as_deref()).unwrap_or_default();
    let kind = match code {
        "server_error" | "vector_store_timeout" | "" => ErrorKind::Server,
        "rate_limit_exceeded" => ErrorKind::RateLimited,
        "image_content_policy_violation" => ErrorKind::ContentFiltered,
        _ => ErrorKind::BadRequest,
    };
    let text = error
        .and_then(|e| e.message.as_deref())
        .unwrap_or("the response failed");
    let label = if code.is_empty() {
        String::new()
    } else {
        format!(" {code}")
    };
    ProviderError::new(
        kind,
        redact(&format!("response failed{label}: {text}"), None),
    )
}

/// Classifies an error a chat stream carried after its 2xx head, by its code (or else its
/// type): the server's fault unless it names another.
pub(crate) fn stream_error(detail: &ErrorDetail, api_key: Option<&str>) -> ProviderError {
    let code = detail
        .code_text()
        .or_else(|| detail.kind.clone())
        .unwrap_or_default();
    let kind = match code.as_str() {
        "rate_limit_exceeded" => ErrorKind::RateLimited,
        "insufficient_quota" => ErrorKind::QuotaExhausted,
        "context_length_exceeded" => ErrorKind::ContextLength,
        "content_filter" | "content_policy_violation" => ErrorKind::ContentFiltered,
        "invalid_request_error" => ErrorKind::BadRequest,
        _ => ErrorKind::Server,
    };
    let label = if code.is_empty() {
        String::new()
    } else {
        format!(" {code}")
    };
    let message = format!("stream error{label}: {}", detail.message);
    ProviderError::new(kind, redact(&message, api_key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(status_code: u16, body: &str) -> ErrorKind {
        status(status_code, body.as_bytes(), None).kind
    }

    #[test]
    fn classifies_every_status_class() {
        let err = |code: &str, t: &str| {
            format!(r#"{{"error":{{"message":"m","type":"{t}","code":"{code}"}}}}"#)
        };
        assert_eq!(
            kind(429, &err("rate_limit_exceeded", "requests")),
            ErrorKind::RateLimited
        );
        assert_eq!(
            kind(429, &err("insufficient_quota", "insufficient_quota")),
            ErrorKind::QuotaExhausted
        );
        assert_eq!(
            kind(401, &err("invalid_api_key", "invalid_request_error")),
            ErrorKind::Auth
        );
        assert_eq!(kind(403, "forbidden"), ErrorKind::Auth);
        assert_eq!(
            kind(404, &err("model_not_found", "invalid_request_error")),
            ErrorKind::NotFound
        );
        assert_eq!(
            kind(
                400,
                &err("context_length_exceeded", "invalid_request_error")
            ),
            ErrorKind::ContextLength
        );
        assert_eq!(
            kind(
                400,
                &err("content_policy_violation", "invalid_request_error")
            ),
            ErrorKind::ContentFiltered
        );
        assert_eq!(
            kind(400, &err("unsupported_parameter", "invalid_request_error")),
            ErrorKind::BadRequest
        );
        assert_eq!(kind(422, "bad"), ErrorKind::BadRequest);
        assert_eq!(kind(408, ""), ErrorKind::Timeout);
        assert_eq!(kind(409, ""), ErrorKind::Server);
        assert_eq!(kind(500, &err("", "server_error")), ErrorKind::Server);
        assert_eq!(kind(502, "<html>bad gateway</html>"), ErrorKind::Server);
        assert_eq!(
            kind(
                503,
                r#"{"error":{"message":"The engine is currently overloaded"}}"#
            ),
            ErrorKind::Overloaded
        );
        assert_eq!(kind(529, ""), ErrorKind::Overloaded);
    }

    #[test]
    fn failed_responses_are_classified_by_their_code() {
        let failed = |code: Option<&str>| {
            failed_response(Some(&ResponseError {
                code: code.map(str::to_owned),
                message: Some("m".into()),
            }))
        };
        assert_eq!(failed(Some("server_error")).kind, ErrorKind::Server);
        assert_eq!(
            failed(Some("rate_limit_exceeded")).kind,
            ErrorKind::RateLimited
        );
        assert_eq!(failed(Some("invalid_image")).kind, ErrorKind::BadRequest);
        assert_eq!(
            failed(Some("image_content_policy_violation")).kind,
            ErrorKind::ContentFiltered
        );
        assert_eq!(failed(None).kind, ErrorKind::Server);
        assert_eq!(failed_response(None).kind, ErrorKind::Server);
        assert_eq!(
            failed(Some("invalid_prompt")).message,
            "response failed invalid_prompt: m"
        );
    }

    #[test]
    fn stream_errors_are_classified_by_code_or_type() {
        let detail = |code: Option<&str>, kind: Option<&str>| ErrorDetail {
            message: "m sk-proj-abcdef123456".into(),
            kind: kind.map(str::to_owned),
            code: code.map(|c| serde_json::json!(c)),
            param: None,
        };
        let error = stream_error(&detail(None, Some("server_error")), None);
        assert_eq!(error.kind, ErrorKind::Server);
        assert_eq!(error.message, "stream error server_error: m [redacted]");
        assert_eq!(error.status, None);
        let limited = detail(Some("rate_limit_exceeded"), Some("tokens"));
        assert_eq!(stream_error(&limited, None).kind, ErrorKind::RateLimited);
        assert_eq!(
            stream_error(&detail(None, None), None).kind,
            ErrorKind::Server
        );
    }

    #[test]
    fn messages_name_status_and_code_but_never_the_key() {
        let body = r#"{"error":{"message":"Incorrect API key provided: sk-proj-abcdef123456. You can find your API key at https://platform.openai.com.","type":"invalid_request_error","code":"invalid_api_key"}}"#;
        let e = status(401, body.as_bytes(), Some("sk-proj-abcdef123456"));
        assert!(
            e.message
                .starts_with("HTTP 401 invalid_api_key: Incorrect API key provided: [redacted]."),
            "{}",
            e.message
        );
        let masked = redact("key sk-abc***************wxyz is wrong", None);
        assert_eq!(masked, "key [redacted] is wrong");
        assert_eq!(redact("ask-me and sk-1", None), "ask-me and sk-1");
        assert_eq!(redact("ask-me, sk-abcdefgh", None), "ask-me, [redacted]");
        let plain = status(400, b"not json at all", Some("secret-key-value"));
        assert_eq!(plain.message, "HTTP 400: not json at all");
    }
}
