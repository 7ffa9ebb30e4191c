//! Between Pacer's [`Request`]/[`Response`] and Anthropic's wire types.

use super::wire::{ContentBlock, MessagesRequest, MessagesResponse, WireUsage};
use super::{tools, turns};
use pacer_core::{
    Choice, ErrorKind, FinishReason, ProviderError, Request, Response, Role, ToolCall, Usage,
};
use serde_json::{Map, Value};

/// The Messages body for `request`: system messages joined (blank-line separated) into the
/// top-level `system`, the other turns in order as [`turns::turns`] writes them, the tools
/// as [`tools`] writes them, `max_tokens` from the request or `default_max_tokens`, and the
/// request's `extra` parameters merged in last. `n` is never sent: the API gives one
/// completion per call.
///
/// An embedding request is a [`ErrorKind::BadRequest`]: Anthropic has no embeddings API. So
/// is a tool message that names no call.
///
/// An output schema becomes one more system paragraph, [`schema_instruction`], asking for
/// JSON that matches it: the Messages API has no JSON Schema mode that works on every model
/// without tools. (Newer models take `output_config: {"format": {"type": "json_schema",
/// ...}}`, with a stricter schema subset; pass it in the model's extra parameters to use
/// it.) The lane validates every reply either way.
pub(crate) fn request(
    request: &Request,
    default_max_tokens: u32,
) -> Result<MessagesRequest, ProviderError> {
    if request.is_embedding() {
        return Err(ProviderError::new(
            ErrorKind::BadRequest,
            "Anthropic has no embeddings API: an embedding request cannot go to an anthropic \
             model",
        ));
    }
    let p = &request.params;
    let instruction = p.schema.as_deref().map(schema_instruction);
    let system: Vec<std::borrow::Cow<'_, str>> = request
        .messages
        .iter()
        .filter(|m| m.role == Role::System)
        .map(|m| m.text())
        .chain(instruction.as_deref().map(std::borrow::Cow::Borrowed))
        .collect();
    let mut extra = p.extra.clone();
    Ok(MessagesRequest {
        model: request.model.clone(),
        messages: turns::turns(&request.messages)?,
        max_tokens: p.max_tokens.unwrap_or(default_max_tokens),
        system: (!system.is_empty()).then(|| system.join("\n\n")),
        temperature: p.temperature,
        top_p: p.top_p,
        top_k: p.top_k,
        stop_sequences: (!p.stop.is_empty()).then(|| p.stop.clone()),
        tools: tools::tools(p, &mut extra),
        tool_choice: tools::tool_choice(p, &mut extra),
        extra,
    })
}

/// The system paragraph that asks for JSON matching `schema` (included, compact).
pub(crate) fn schema_instruction(schema: &Value) -> String {
    format!(
        "Answer with a single JSON value that matches this JSON Schema, and nothing else: \
         no prose, no code fence.\nJSON Schema: {schema}"
    )
}

/// Why the model stopped, in Pacer's words.
pub(crate) fn finish_reason(reason: Option<&str>) -> FinishReason {
    match reason {
        None | Some("end_turn") | Some("stop_sequence") => FinishReason::Stop,
        Some("max_tokens") => FinishReason::Length,
        Some("tool_use") => FinishReason::ToolCalls,
        Some("refusal") => FinishReason::Refusal,
        Some(other) => FinishReason::Other(other.to_owned()),
    }
}

/// Anthropic's usage in Pacer's terms. Anthropic's `input_tokens` counts only the prompt
/// tokens neither written to nor read from the cache, so the whole prompt is the sum of the
/// three; of it, `cache_read_input_tokens` were read from the cache.
pub(crate) fn usage(wire: WireUsage) -> Usage {
    let written = wire.cache_creation_input_tokens.unwrap_or(0);
    let read = wire.cache_read_input_tokens.unwrap_or(0);
    Usage {
        input_tokens: wire.input_tokens + written + read,
        output_tokens: wire.output_tokens,
        reasoning_tokens: 0,
        cached_input_tokens: read,
    }
}

/// The call a `tool_use` block makes, its `input` the arguments (an object; `{}` where the
/// block has none).
fn tool_call(block: &ContentBlock) -> ToolCall {
    ToolCall {
        id: block.id.clone().unwrap_or_default(),
        name: block.name.clone().unwrap_or_default(),
        arguments: block
            .input
            .clone()
            .unwrap_or_else(|| Value::Object(Map::new())),
    }
}

/// Reads a reply: its `text` blocks joined, in order, make the one choice's text, and its
/// `tool_use` blocks the choice's tool calls.
pub(crate) fn response(body: &[u8]) -> Result<Response, ProviderError> {
    let reply: MessagesResponse = serde_json::from_slice(body).map_err(|e| {
        ProviderError::new(ErrorKind::InvalidResponse, format!("unreadable reply: {e}"))
    })?;
    if reply.kind != "message" && reply.content.is_empty() {
        return Err(ProviderError::new(
            ErrorKind::InvalidResponse,
            "unreadable reply: no message",
        ));
    }
    let text = reply
        .content
        .iter()
        .filter(|b| b.kind == "text")
        .filter_map(|b| b.text.as_deref())
        .collect::<String>();
    let tool_calls = reply
        .content
        .iter()
        .filter(|b| b.kind == "tool_use")
        .map(tool_call)
        .collect();
    Ok(Response {
        model_version: reply.model,
        choices: vec![Choice {
            text,
            finish_reason: finish_reason(reply.stop_reason.as_deref()),
            logprobs: None,
            parsed: None,
            tool_calls,
        }],
        usage: usage(reply.usage.unwrap_or_default()),
        rate_limits: None,
        first_token: None,
        embeddings: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pacer_core::Message as CoreMessage;
    use serde_json::json;

    #[test]
    fn systems_are_lifted_and_joined() {
        let mut request = Request::text("claude-x", Some("One."), "Hi");
        request
            .messages
            .push(CoreMessage::new(Role::Assistant, "Hello"));
        request
            .messages
            .push(CoreMessage::new(Role::System, "Two."));
        request.messages.push(CoreMessage::new(Role::User, "Bye"));
        let body = serde_json::to_value(super::request(&request, 4096).unwrap()).unwrap();
        assert_eq!(
            body,
            json!({
                "model": "claude-x",
                "messages": [
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello"},
                    {"role": "user", "content": "Bye"}
                ],
                "max_tokens": 4096,
                "system": "One.\n\nTwo."
            })
        );
    }

    #[test]
    fn stop_reasons_and_cache_usage() {
        assert_eq!(finish_reason(Some("end_turn")), FinishReason::Stop);
        assert_eq!(finish_reason(Some("stop_sequence")), FinishReason::Stop);
        assert_eq!(finish_reason(Some("max_tokens")), FinishReason::Length);
        assert_eq!(finish_reason(Some("tool_use")), FinishReason::ToolCalls);
        assert_eq!(finish_reason(Some("refusal")), FinishReason::Refusal);
        assert_eq!(
            finish_reason(Some("pause_turn")),
            FinishReason::Other("pause_turn".into())
        );
        let wire = WireUsage {
            input_tokens: 10,
            output_tokens: 5,
            cache_creation_input_tokens: Some(100),
            cache_read_input_tokens: Some(1000),
        };
        assert_eq!(
            usage(wire),
            Usage {
                input_tokens: 1110,
                output_tokens: 5,
                reasoning_tokens: 0,
                cached_input_tokens: 1000,
            }
        );
    }

    #[test]
    fn unreadable_replies_are_invalid_responses() {
        for body in [
            "",
            "{}",
            "[1]",
            r#"{"type":"message","content":[{"type":"te"#,
        ] {
            assert_eq!(
                response(body.as_bytes()).unwrap_err().kind,
                ErrorKind::InvalidResponse,
                "{body}"
            );
        }
    }
}
