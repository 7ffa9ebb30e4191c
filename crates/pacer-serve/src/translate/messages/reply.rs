//! Pacer's reply in Anthropic's words: the `message` object (a text block, then a
//! `tool_use` block per call), its `stop_reason` and `usage` (which the stream's events
//! share), the `count_tokens` reply, and the `{"type": "error", ...}` body.

use pacer_core::{FinishReason, Response, Usage};
use serde_json::{Map, Value, json};

/// Pacer's response as an Anthropic `message` named `model`, its id `msg_` + `id`: the first
/// completion's text as a text block (where it has text), then a `tool_use` block per call.
pub(crate) fn message(id: &str, model: &str, response: &Response) -> Value {
    let mut content = Vec::new();
    let mut stop = "end_turn";
    if let Some(choice) = response.choices.first() {
        if !choice.text.is_empty() {
            content.push(json!({"type": "text", "text": choice.text}));
        }
        content.extend(choice.tool_calls.iter().map(|call| {
            json!({"type": "tool_use", "id": call.id, "name": call.name, "input": input(&call.arguments)})
        }));
        stop = stop_reason(&choice.finish_reason, !choice.tool_calls.is_empty());
    }
    json!({
        "id": format!("msg_{id}"),
        "type": "message",
        "role": "assistant",
        "content": content,
        "model": model,
        "stop_reason": stop,
        "stop_sequence": null,
        "usage": usage(&response.usage),
    })
}

/// A call's arguments as a `tool_use` block's `input`, which is always an object: arguments
/// that are not one (text the model wrote that is not JSON) are left out.
fn input(arguments: &Value) -> Value {
    match arguments {
        Value::Object(_) => arguments.clone(),
        _ => Value::Object(Map::new()),
    }
}

/// Anthropic's `stop_reason` for a reply that ended for `finish`, `called` whether it
/// called a tool. A stop sequence's hit cannot be told from an end of turn (Pacer's `Stop`
/// is both); a reply that called tools but says it stopped (as some OpenAI-compatible
/// servers do) ends in `tool_use`, which clients' tool loops wait for.
pub(super) fn stop_reason(finish: &FinishReason, called: bool) -> &str {
    match finish {
        FinishReason::Stop if called => "tool_use",
        FinishReason::Stop => "end_turn",
        FinishReason::Length => "max_tokens",
        FinishReason::ToolCalls => "tool_use",
        FinishReason::Refusal | FinishReason::ContentFilter => "refusal",
        FinishReason::Other(other) => other,
    }
}

/// Pacer's usage as Anthropic's: its `input_tokens` leave out the tokens read from the
/// cache, which `cache_read_input_tokens` counts (sent only where there are some).
pub(super) fn usage(usage: &Usage) -> Value {
    let cached = usage.cached_input_tokens.min(usage.input_tokens);
    let mut out = json!({
        "input_tokens": usage.input_tokens - cached,
        "output_tokens": usage.output_tokens,
    });
    if cached > 0 {
        out["cache_read_input_tokens"] = json!(cached);
    }
    out
}

/// The `count_tokens` reply: `{"input_tokens": N}`.
pub(crate) fn count(input_tokens: u64) -> Value {
    json!({ "input_tokens": input_tokens })
}

/// Anthropic's error body for an HTTP `status`: `{"type": "error", "error": {"type",
/// "message"}}`, the type the one Anthropic gives that status (`invalid_request_error` for
/// a 4xx it names no other type for, as its documentation says; `api_error` otherwise).
pub(crate) fn error_body(status: u16, message: &str) -> Value {
    let kind = match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        503 | 529 => "overloaded_error",
        _ => "api_error",
    };
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

#[cfg(test)]
mod tests {
    use super::{count, error_body, message};
    use pacer_core::{Choice, FinishReason, Response, ToolCall, Usage};
    use serde_json::json;

    fn reply(choice: Choice, usage: Usage) -> Response {
        Response {
            model_version: Some("gpt-x-2025".into()),
            choices: vec![choice],
            embeddings: Vec::new(),
            usage,
            rate_limits: None,
            first_token: None,
        }
    }

    fn usage(input: u64, output: u64, cached: u64) -> Usage {
        Usage {
            input_tokens: input,
            output_tokens: output,
            cached_input_tokens: cached,
            ..Usage::default()
        }
    }

    #[test]
    fn a_text_reply_is_a_message() {
        let m = message(
            "gw-1",
            "claude-x",
            &reply(Choice::text("Hi", FinishReason::Stop), usage(5, 2, 0)),
        );
        assert_eq!(
            m,
            json!({"id": "msg_gw-1", "type": "message", "role": "assistant",
                "content": [{"type": "text", "text": "Hi"}], "model": "claude-x",
                "stop_reason": "end_turn", "stop_sequence": null,
                "usage": {"input_tokens": 5, "output_tokens": 2}})
        );
    }

    #[test]
    fn calls_are_tool_use_blocks_after_the_text() {
        let mut choice = Choice::text("Looking.", FinishReason::ToolCalls);
        choice.tool_calls = vec![
            ToolCall::from_text("call_1", "weather", r#"{"city":"Paris"}"#),
            ToolCall::from_text("call_2", "clock", "not json"),
        ];
        let m = message("gw-2", "m", &reply(choice, usage(10, 4, 6)));
        assert_eq!(
            m["content"],
            json!([{"type": "text", "text": "Looking."},
                {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "call_2", "name": "clock", "input": {}}])
        );
        assert_eq!(m["stop_reason"], "tool_use");
        assert_eq!(
            m["usage"],
            json!({"input_tokens": 4, "output_tokens": 4, "cache_read_input_tokens": 6})
        );
        let mut only_calls = Choice::text("", FinishReason::Stop);
        only_calls.tool_calls = vec![ToolCall::from_text("c", "f", "{}")];
        let m = message("gw-3", "m", &reply(only_calls, usage(1, 1, 0)));
        assert_eq!(m["content"][0]["type"], "tool_use");
        assert_eq!(m["stop_reason"], "tool_use");
    }

    #[test]
    fn each_finish_has_its_stop_reason() {
        for (finish, stop) in [
            (FinishReason::Stop, "end_turn"),
            (FinishReason::Length, "max_tokens"),
            (FinishReason::ToolCalls, "tool_use"),
            (FinishReason::Refusal, "refusal"),
            (FinishReason::ContentFilter, "refusal"),
            (FinishReason::Other("pause_turn".into()), "pause_turn"),
        ] {
            let m = message("i", "m", &reply(Choice::text("x", finish), usage(1, 1, 0)));
            assert_eq!(m["stop_reason"], stop);
        }
    }

    #[test]
    fn counts_and_errors_in_anthropics_shape() {
        assert_eq!(count(42), json!({"input_tokens": 42}));
        for (status, kind) in [
            (400, "invalid_request_error"),
            (401, "authentication_error"),
            (403, "permission_error"),
            (404, "not_found_error"),
            (413, "request_too_large"),
            (422, "invalid_request_error"),
            (429, "rate_limit_error"),
            (500, "api_error"),
            (502, "api_error"),
            (503, "overloaded_error"),
            (529, "overloaded_error"),
        ] {
            assert_eq!(
                error_body(status, "why"),
                json!({"type": "error", "error": {"type": kind, "message": "why"}}),
                "{status}"
            );
        }
    }
}
