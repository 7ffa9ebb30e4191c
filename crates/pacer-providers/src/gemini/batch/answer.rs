//! A batch's answers, inline or a responses file's lines, as results: a response is read as
//! a live reply, an error classified as the live call's would be.

use std::time::SystemTime;

use async_trait::async_trait;
use pacer_core::{BatchLine, BatchResults, ErrorKind, ProviderError};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::gemini::{classify, convert};
use crate::transfer::{self, parse};

/// One answer: inline (`{response | error, metadata: {key}}`) or a responses-file line
/// (`{key, response | error}`).
#[derive(Debug, Default, Deserialize)]
pub(super) struct WireLine {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    metadata: Option<Value>,
    /// A `GenerateContentResponse`, read as a live reply.
    #[serde(default)]
    response: Option<Value>,
    /// A `google.rpc.Status`.
    #[serde(default)]
    error: Option<Value>,
}

/// The HTTP status a live request failing with `error` (a `google.rpc.Status`) gets: its
/// `code` where that is an HTTP status, else from its `status` word or its gRPC code.
fn live_status(error: &Value) -> u16 {
    let code = error["code"].as_u64().unwrap_or(0);
    if (100..600).contains(&code) {
        return code as u16;
    }
    let grpc = match error["status"].as_str() {
        Some("CANCELLED") => 1,
        Some("INVALID_ARGUMENT") => 3,
        Some("DEADLINE_EXCEEDED") => 4,
        Some("NOT_FOUND") => 5,
        Some("ALREADY_EXISTS") => 6,
        Some("PERMISSION_DENIED") => 7,
        Some("RESOURCE_EXHAUSTED") => 8,
        Some("FAILED_PRECONDITION") => 9,
        Some("ABORTED") => 10,
        Some("OUT_OF_RANGE") => 11,
        Some("UNIMPLEMENTED") => 12,
        Some("UNAVAILABLE") => 14,
        Some("UNAUTHENTICATED") => 16,
        // INTERNAL, UNKNOWN, DATA_LOSS, none, or a word newer than this table.
        _ => code,
    };
    match grpc {
        1 => 499,
        3 | 9 | 11 => 400,
        4 => 504,
        5 => 404,
        6 | 10 => 409,
        7 => 403,
        8 => 429,
        12 => 501,
        14 => 503,
        16 => 401,
        _ => 500,
    }
}

/// One answer as a result: a response read as a live reply, an error classified as live.
fn result_line(
    wire: WireLine,
    position: Option<usize>,
    key: Option<&str>,
    now: SystemTime,
) -> BatchLine {
    let custom_id = wire.key.or_else(|| {
        let key = wire.metadata.as_ref()?.get("key")?.as_str()?;
        Some(key.to_owned())
    });
    let result = match (wire.response, wire.error) {
        (_, Some(error)) => {
            let status = live_status(&error);
            let body = json!({"error": error}).to_string();
            Err(classify::status(status, body.as_bytes(), key, now))
        }
        (Some(response), None) => convert::response(response.to_string().as_bytes()),
        (None, None) => Err(ProviderError::new(
            ErrorKind::InvalidResponse,
            "a batch answer held neither a response nor an error",
        )),
    };
    BatchLine {
        custom_id,
        position,
        result,
    }
}

/// A batch's answers, pulled one at a time.
pub(super) struct Results<'a> {
    source: Source,
    key: Option<&'a str>,
    /// When the results were asked for: dates a daily quota's reset in a line's error.
    now: SystemTime,
}

enum Source {
    /// Inline answers, in input order, read whole with the batch (its input was at most
    /// 20 MB).
    Inline(std::iter::Enumerate<std::vec::IntoIter<WireLine>>),
    /// A responses file, read line by line.
    File(transfer::Lines),
}

impl<'a> Results<'a> {
    /// The answers inline in the operation, in input order (none where the batch ended
    /// without any).
    pub(super) fn inline(answers: Vec<WireLine>, key: Option<&'a str>) -> Self {
        Self::new(Source::Inline(answers.into_iter().enumerate()), key)
    }

    /// The lines of a responses file, as they download.
    pub(super) fn file(lines: transfer::Lines, key: Option<&'a str>) -> Self {
        Self::new(Source::File(lines), key)
    }

    fn new(source: Source, key: Option<&'a str>) -> Self {
        Self {
            source,
            key,
            now: SystemTime::now(),
        }
    }
}

#[async_trait]
impl BatchResults for Results<'_> {
    async fn next(&mut self) -> Option<Result<BatchLine, ProviderError>> {
        match &mut self.source {
            Source::Inline(answers) => {
                let (position, wire) = answers.next()?;
                Some(Ok(result_line(wire, Some(position), self.key, self.now)))
            }
            Source::File(lines) => match lines.next().await {
                Ok(Some(line)) => Some(Ok(match parse::<WireLine>(&line, "result line") {
                    Ok(wire) => result_line(wire, None, self.key, self.now),
                    Err(error) => BatchLine {
                        custom_id: None,
                        position: None,
                        result: Err(error),
                    },
                })),
                Ok(None) => None,
                Err(error) => Some(Err(error)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use pacer_core::ErrorKind;
    use serde_json::{Value, json};

    use super::{WireLine, result_line};

    fn answer(value: Value) -> WireLine {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn inline_answers_are_read_as_live_replies_and_errors() {
        let now = SystemTime::now();
        let response = json!({
            "candidates": [{"content": {"role": "model", "parts": [{"text": "Hello"}]},
                            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 7},
            "modelVersion": "gemini-x-001"
        });
        let got = result_line(
            answer(json!({"response": response, "metadata": {"key": "j1"}})),
            Some(0),
            None,
            now,
        );
        assert_eq!(
            (got.custom_id.as_deref(), got.position),
            (Some("j1"), Some(0))
        );
        let response = got.result.unwrap();
        assert_eq!(response.choices[0].text, "Hello");
        assert_eq!(response.usage.input_tokens, 5);

        let key = "AIzaSyA-1234567890abcdefghijklmnopqrstu";
        let error = |error: Value| {
            result_line(answer(json!({"error": error})), Some(1), Some(key), now)
                .result
                .unwrap_err()
        };
        let cases = [
            (
                json!({"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}),
                ErrorKind::BadRequest,
                400,
            ),
            (
                json!({"code": 429, "message": "slow", "status": "RESOURCE_EXHAUSTED"}),
                ErrorKind::RateLimited,
                429,
            ),
            (
                json!({"code": 500, "message": "oops", "status": "INTERNAL"}),
                ErrorKind::Server,
                500,
            ),
            (
                json!({"code": 503, "message": "busy", "status": "UNAVAILABLE"}),
                ErrorKind::Overloaded,
                503,
            ),
            // gRPC codes, as a google.rpc.Status carries them.
            (
                json!({"code": 3, "message": "bad"}),
                ErrorKind::BadRequest,
                400,
            ),
            (
                json!({"code": 14, "message": "busy"}),
                ErrorKind::Overloaded,
                503,
            ),
            (
                json!({"code": 13, "message": "oops"}),
                ErrorKind::Server,
                500,
            ),
            (
                json!({"message": "?", "status": "DEADLINE_EXCEEDED"}),
                ErrorKind::Timeout,
                504,
            ),
            (
                json!({"code": 400, "message": "The input token count (2000000) exceeds the maximum number of tokens allowed (1048576)."}),
                ErrorKind::ContextLength,
                400,
            ),
        ];
        for (value, kind, status) in cases {
            let e = error(value.clone());
            assert_eq!((e.kind, e.status), (kind, Some(status)), "{value}");
        }
        let e = error(json!({"code": 400, "message": format!("key {key} is bad")}));
        assert_eq!(e.message, "HTTP 400: key [redacted] is bad");
        let empty = result_line(answer(json!({"key": "j2"})), None, None, now);
        assert_eq!(empty.custom_id.as_deref(), Some("j2"));
        assert_eq!(empty.result.unwrap_err().kind, ErrorKind::InvalidResponse);
    }
}
