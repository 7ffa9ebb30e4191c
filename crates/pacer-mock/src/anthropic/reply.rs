//! How Anthropic says things: its reply, its `{"type": "error", ...}` bodies and its
//! `anthropic-ratelimit-*` headers, resets as RFC 3339 times.

use std::time::SystemTime;

use hyper::StatusCode;
use hyper::header::{HeaderName, HeaderValue, RETRY_AFTER};
use pacer_core::{Choice, FinishReason, Response};
use pacer_providers::mock::output_tokens;
use serde_json::{Value, json};

use crate::complete::{Protocol, Rendered};
use crate::limiter::{Dimension, Limited, Reading, Readings};
use crate::replies::first_stop;
use crate::respond::{Reply, json_value, serialize};
use crate::timefmt::{ceil_seconds, rfc3339_ceil};

/// An Anthropic error reply: `{"type": "error", "error": {"type": kind, "message": ...}}`.
pub(crate) fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> Reply {
    let body = json!({
        "type": "error",
        "error": {"type": kind, "message": message.into()},
    });
    json_value(status, &body)
}

/// One Messages request, for its reply.
#[derive(Debug)]
pub(crate) struct Messages {
    /// Its input tokens.
    pub(super) prompt_tokens: u64,
    /// Its stop sequences.
    pub(super) stop: Vec<String>,
    /// Whether the client asked for the reply as events (`"stream": true`), which the live
    /// endpoint sends; a batch line is answered whole.
    pub(super) stream: bool,
}

/// Anthropic's `stop_reason` for a reply that ended for `finish` (a stop sequence aside).
fn stop_reason(finish: &FinishReason) -> &'static str {
    match finish {
        FinishReason::Length => "max_tokens",
        FinishReason::ToolCalls => "tool_use",
        FinishReason::Refusal => "refusal",
        FinishReason::Stop | FinishReason::ContentFilter | FinishReason::Other(_) => "end_turn",
    }
}

/// A reply's content blocks: its text (when it has some or calls nothing), then a
/// `tool_use` block per call, its id the call's with Anthropic's `toolu_` prefix.
fn blocks(choice: &Choice) -> Vec<Value> {
    let mut blocks = Vec::new();
    if !choice.text.is_empty() || choice.tool_calls.is_empty() {
        blocks.push(json!({"type": "text", "text": choice.text}));
    }
    blocks.extend(choice.tool_calls.iter().map(|call| {
        let id = call.id.strip_prefix("call_").unwrap_or(&call.id);
        json!({"type": "tool_use", "id": format!("toolu_{id}"), "name": call.name, "input": call.arguments})
    }));
    blocks
}

/// The header dimensions, by the name Anthropic gives them.
const HEADERS: [(&str, Dimension); 3] = [
    ("requests", Dimension::Requests),
    ("input-tokens", Dimension::InputTokens),
    ("output-tokens", Dimension::OutputTokens),
];

/// What `anthropic-ratelimit-tokens-*` report: the token limit when one is set, else the
/// most restrictive of the input and output limits (the one with least left), as Anthropic
/// reports it.
fn tokens_reading(readings: &Readings) -> Option<Reading> {
    readings.get(Dimension::Tokens).or_else(|| {
        [Dimension::InputTokens, Dimension::OutputTokens]
            .into_iter()
            .filter_map(|d| readings.get(d))
            .min_by(|a, b| a.remaining.cmp(&b.remaining).then(b.reset.cmp(&a.reset)))
    })
}

fn insert(reply: &mut Reply, name: String, value: HeaderValue) {
    if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
        reply.headers_mut().insert(name, value);
    }
}

/// The English name of a limited dimension, in a 429's message.
fn per_minute(dimension: Dimension) -> &'static str {
    match dimension {
        Dimension::Requests => "requests",
        Dimension::Tokens => "tokens",
        Dimension::InputTokens => "input tokens",
        Dimension::OutputTokens => "output tokens",
    }
}

impl Protocol for Messages {
    const SETTLES: bool = true;

    fn quota(&self, _model: &str) -> Reply {
        error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "Your credit balance is too low to access the Anthropic API. Please go to Plans & \
             Billing to upgrade or purchase credits.",
        )
    }

    fn limited(&self, limited: &Limited, model: &str) -> Reply {
        let mut reply = error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            format!(
                "This request would exceed the rate limit for your organization of {} {} per \
                 minute for model {model}. For details, refer to: \
                 https://docs.claude.com/en/api/rate-limits. You can see the response headers \
                 for current usage. Please reduce the prompt length or the maximum tokens \
                 requested, or try again later.",
                limited.limit,
                per_minute(limited.dimension),
            ),
        );
        reply.headers_mut().insert(
            RETRY_AFTER,
            HeaderValue::from(ceil_seconds(limited.retry_after)),
        );
        reply
    }

    fn server_error(&self) -> Reply {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            "Internal server error",
        )
    }

    fn busy(&self, _model: &str) -> Reply {
        let mut reply = error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "The service is receiving more requests than it can serve right now. Please retry \
             after a brief wait.",
        );
        reply
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        reply
    }

    fn overloaded(&self) -> Reply {
        // Anthropic's own status for an overloaded API.
        let status = StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        error(status, "overloaded_error", "Overloaded")
    }

    fn rate_headers(&self, reply: &mut Reply, readings: &Readings) {
        let now = SystemTime::now();
        let named = HEADERS
            .map(|(name, d)| (name, readings.get(d)))
            .into_iter()
            .chain([("tokens", tokens_reading(readings))]);
        for (name, reading) in named {
            let Some(reading) = reading else { continue };
            let prefix = format!("anthropic-ratelimit-{name}");
            insert(reply, format!("{prefix}-limit"), reading.limit.into());
            insert(
                reply,
                format!("{prefix}-remaining"),
                reading.remaining.into(),
            );
            if let Ok(reset) = HeaderValue::from_str(&rfc3339_ceil(now + reading.reset)) {
                insert(reply, format!("{prefix}-reset"), reset);
            }
        }
    }

    fn render(&self, id: u64, response: Response) -> Rendered {
        let mut choice = response
            .choices
            .into_iter()
            .next()
            .unwrap_or_else(|| Choice::text("", FinishReason::Stop));
        let (stop_reason, stop_sequence) = match first_stop(&choice.text, &self.stop) {
            Some((at, sequence)) => {
                choice.text.truncate(at);
                ("stop_sequence", Some(sequence.to_owned()))
            }
            None => (stop_reason(&choice.finish_reason), None),
        };
        let output_tokens = output_tokens(&choice);
        // The mock caches nothing, so both cache counts are 0; Anthropic sends them anyway.
        let body = json!({
            "id": format!("msg_mock{id:016}"),
            "type": "message",
            "role": "assistant",
            "model": response.model_version,
            "content": blocks(&choice),
            "stop_reason": stop_reason,
            "stop_sequence": stop_sequence,
            "usage": {
                "input_tokens": self.prompt_tokens,
                "output_tokens": output_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        });
        Rendered {
            body: serialize(&body),
            prompt_tokens: self.prompt_tokens,
            output_tokens,
            embedded: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn calls_are_tool_use_blocks() {
        let mut choice = Choice::text("", FinishReason::ToolCalls);
        choice.tool_calls = vec![pacer_core::ToolCall::from_text(
            "call_ab",
            "f",
            r#"{"a":1}"#,
        )];
        assert_eq!(
            blocks(&choice),
            [json!({"type": "tool_use", "id": "toolu_ab", "name": "f", "input": {"a": 1}})]
        );
        assert_eq!(stop_reason(&choice.finish_reason), "tool_use");
        assert_eq!(stop_reason(&FinishReason::Refusal), "refusal");
        let text = Choice::text("", FinishReason::Stop);
        assert_eq!(blocks(&text), [json!({"type": "text", "text": ""})]);
    }

    fn reading(remaining: u64, reset_ms: u64) -> Option<Reading> {
        Some(Reading {
            limit: 100,
            remaining,
            reset: Duration::from_millis(reset_ms),
        })
    }

    #[test]
    fn tokens_headers_report_the_tightest_token_limit() {
        let readings = |tokens, input, output| Readings::from([None, tokens, input, output]);
        assert_eq!(tokens_reading(&readings(None, None, None)), None);
        let both = readings(None, reading(50, 10), reading(20, 10));
        assert_eq!(tokens_reading(&both), reading(20, 10));
        let tie = readings(None, reading(20, 10), reading(20, 30));
        assert_eq!(tokens_reading(&tie), reading(20, 30));
        let tpm = readings(reading(90, 0), reading(1, 10), None);
        assert_eq!(tokens_reading(&tpm), reading(90, 0));
    }
}
