//! The client APIs' shapes (OpenAI's, Anthropic's Messages) to Pacer's request and back, for
//! entries whose upstream speaks another API (Anthropic, Gemini, the in-process mock), and
//! the small parsing the gateway needs for every request (the token estimate, the output
//! cap, usage in a reply).
//!
//! - `chat`: chat completions (content parts, tools, tool calls and results) and their
//!   stream.
//! - `chunks`: chat's stream written as a reply's deltas come.
//! - `messages`: Anthropic's Messages API (its stream, `count_tokens`, its errors).
//! - `responses`: the Responses API (its stream: `pacer_core::response_events`).
//! - `embeddings`: the embeddings endpoint.
//! - `scan`: the usage in a stream passed through (chat's, the Responses API's,
//!   Anthropic's).
//!
//! A body that is not the shape expected is a [`ShapeError`] naming the field.

pub(crate) mod chat;
pub(crate) mod chunks;
pub(crate) mod embeddings;
pub(crate) mod messages;
pub(crate) mod responses;
mod scan;

pub(crate) use scan::UsageScanner;

use pacer_core::parse::{self, ShapeError};
use pacer_core::{Message, Params, Role, Usage};
use serde_json::{Map, Value};

/// The output cap: `max_completion_tokens`, else `max_tokens` (chat), else
/// `max_output_tokens` (the Responses API).
pub(crate) fn max_tokens(body: &Map<String, Value>) -> Option<u32> {
    ["max_completion_tokens", "max_tokens", "max_output_tokens"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_u64))
        .map(|v| u32::try_from(v).unwrap_or(u32::MAX))
}

/// `n`, at least 1.
pub(crate) fn n(body: &Map<String, Value>) -> u32 {
    body.get("n")
        .and_then(Value::as_u64)
        .map_or(1, |v| u32::try_from(v).unwrap_or(u32::MAX).max(1))
}

/// A reply's usage as Pacer's: chat's and the embeddings' `usage` (`prompt_tokens`,
/// `completion_tokens`), or the Responses API's (`input_tokens`, `output_tokens`), at the top
/// or under `response` (a stream's `response.completed` event).
pub(crate) fn usage(value: &Value) -> Option<Usage> {
    let usage = value.get("usage").filter(|u| u.is_object()).or_else(|| {
        value
            .get("response")?
            .get("usage")
            .filter(|u| u.is_object())
    })?;
    let get = |names: [&str; 2]| {
        names
            .iter()
            .find_map(|k| usage.get(*k).and_then(Value::as_u64))
            .unwrap_or(0)
    };
    let detail = |names: [&str; 2], key: &str| {
        names
            .iter()
            .find_map(|k| usage.get(*k)?.get(key)?.as_u64())
            .unwrap_or(0)
    };
    Some(Usage {
        input_tokens: get(["prompt_tokens", "input_tokens"]),
        output_tokens: get(["completion_tokens", "output_tokens"]),
        reasoning_tokens: detail(
            ["completion_tokens_details", "output_tokens_details"],
            "reasoning_tokens",
        ),
        cached_input_tokens: detail(
            ["prompt_tokens_details", "input_tokens_details"],
            "cached_tokens",
        ),
    })
}

/// The sampling parameters every API shares: `temperature`, `top_p`, the output cap, and
/// the tools with their choice (read in any API's form).
fn shared_params(body: &Map<String, Value>) -> Result<Params, ShapeError> {
    let number = |key: &str| match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(other) => Err(ShapeError::expected(key, "a number", Some(other))),
    };
    let tools = match body.get("tools") {
        None | Some(Value::Null) => Vec::new(),
        Some(tools) => parse::tools(tools).map_err(|e| e.under("tools"))?,
    };
    let tool_choice = match body.get("tool_choice") {
        None | Some(Value::Null) => None,
        Some(choice) => Some(parse::tool_choice(choice).map_err(|e| e.under("tool_choice"))?),
    };
    Ok(Params {
        temperature: number("temperature")?,
        top_p: number("top_p")?,
        max_tokens: max_tokens(body),
        tools,
        tool_choice,
        ..Params::default()
    })
}

/// A stand-in for a body the parser refuses but an OpenAI-compatible upstream may take (its
/// own extensions): the JSON text of `field` as one user message, so the estimate errs high
/// rather than counting nothing.
pub(crate) fn as_one_message(body: &Map<String, Value>, field: &str) -> Vec<Message> {
    let text = match body.get(field) {
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    vec![Message::new(Role::User, text)]
}

#[cfg(test)]
mod tests {
    use super::usage;
    use serde_json::json;

    #[test]
    fn usage_reads_every_apis_names() {
        let chat = json!({"usage": {"prompt_tokens": 3, "completion_tokens": 2,
            "completion_tokens_details": {"reasoning_tokens": 1}}});
        let read = usage(&chat).unwrap();
        assert_eq!((read.input_tokens, read.output_tokens), (3, 2));
        assert_eq!(read.reasoning_tokens, 1);
        let completed = json!({"type": "response.completed", "response": {"usage": {
            "input_tokens": 5, "output_tokens": 4, "input_tokens_details": {"cached_tokens": 2}}}});
        let read = usage(&completed).unwrap();
        assert_eq!((read.input_tokens, read.output_tokens), (5, 4));
        assert_eq!(read.cached_input_tokens, 2);
        assert!(usage(&json!({"usage": null})).is_none());
    }
}
