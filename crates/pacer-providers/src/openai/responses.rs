//! Between Pacer's [`Request`]/[`Response`] and OpenAI's Responses API.
//!
//! A request becomes `instructions` (the system messages' text) and `input` items: messages
//! with `input_text`/`input_image` parts (`output_text` for the assistant's), each call of
//! an assistant turn a `function_call` item, each tool result a `function_call_output`.
//! The parameters follow the chat API's rules for reasoning models; the API has no `n`, no
//! `stop` and no `seed`, so they are not sent (the provider asks one sample per call).
//!
//! A reply's `message` items give the text (a `refusal` part's words too), its
//! `function_call` items the tool calls; `reasoning` items are skipped.

use std::borrow::Cow;

use pacer_core::{
    Choice, Content, FinishReason, Message, Part, ProviderError, Request, Response, Role, ToolCall,
    Usage,
};
use serde_json::{Map, Value, json};

use super::classify;
use super::convert::{invalid, token_logprobs};
use super::responses_wire::{
    IncompleteDetails, InputContent, InputItem, InputPart, OutputItem, OutputPart, ResponsesReply,
    ResponsesRequest, ResponsesUsage,
};
use super::tools;

/// What `include` names to have output tokens' log-probabilities returned.
const LOGPROBS: &str = "message.output_text.logprobs";
/// Alternatives per token when logprobs are asked for without a count.
const DEFAULT_TOP_LOGPROBS: u8 = 5;

/// The Responses body for `request`. Reasoning models lose `temperature`, `top_p` and
/// logprobs, as on the chat API. `reasoning_effort` among the extra parameters becomes
/// `reasoning: {effort}`, a chat-style `response_format` becomes `text.format`, and an
/// output schema is sent as `text.format` (not strict, as on the chat API); the other
/// extra parameters pass through. Responses are not stored unless `store` says so.
pub(crate) fn request(request: &Request, reasoning: bool) -> ResponsesRequest {
    let p = &request.params;
    let mut extra = p.extra.clone();
    let mut instructions: Vec<Cow<'_, str>> = Vec::new();
    let mut input = Vec::new();
    for message in &request.messages {
        // `instructions` is text: a system message with an image stays in the input.
        if message.role == Role::System && !message.content.has_images() {
            instructions.push(message.text());
        } else {
            push_items(&mut input, message);
        }
    }
    if let Some(effort) = extra.remove("reasoning_effort") {
        match extra.get_mut("reasoning") {
            Some(Value::Object(reasoning)) => {
                reasoning.entry("effort").or_insert(effort);
            }
            _ => {
                extra.insert("reasoning".into(), json!({"effort": effort}));
            }
        }
    }
    if let Some(format) = extra.remove("response_format") {
        set_text_format(&mut extra, text_format(format));
    }
    if let Some(schema) = &p.schema {
        let format =
            json!({"type": "json_schema", "name": "output", "schema": **schema, "strict": false});
        set_text_format(&mut extra, format);
    }
    let mut include = match extra.remove("include") {
        Some(Value::Array(items)) => items
            .into_iter()
            .filter_map(|item| item.as_str().map(str::to_owned))
            .collect(),
        Some(other) => {
            extra.insert("include".into(), other);
            Vec::new()
        }
        None => Vec::new(),
    };
    let logprobs = p.logprobs && !reasoning;
    if logprobs && !include.iter().any(|item| item == LOGPROBS) {
        include.push(LOGPROBS.to_owned());
    }
    let tools = tools::responses_tools(&p.tools);
    if !tools.is_empty() {
        extra.remove("tools");
    }
    let tool_choice = p.tool_choice.as_ref().map(tools::responses_tool_choice);
    if tool_choice.is_some() {
        extra.remove("tool_choice");
    }
    let store = (!extra.contains_key("store")).then_some(false);
    ResponsesRequest {
        model: request.model.clone(),
        instructions: (!instructions.is_empty()).then(|| instructions.join("\n\n")),
        input,
        max_output_tokens: p.max_tokens,
        temperature: p.temperature.filter(|_| !reasoning),
        top_p: p.top_p.filter(|_| !reasoning),
        tools,
        tool_choice,
        include,
        top_logprobs: logprobs.then(|| p.top_logprobs.unwrap_or(DEFAULT_TOP_LOGPROBS)),
        store,
        extra,
    }
}

/// The input items of one message.
fn push_items(input: &mut Vec<InputItem>, message: &Message) {
    let input_text = |text: String| InputPart::InputText { text };
    match message.role {
        Role::System | Role::User => input.push(InputItem::Message {
            role: message.role.as_str(),
            content: content(&message.content, input_text),
        }),
        Role::Assistant => {
            if !message.content.is_empty() {
                input.push(InputItem::Message {
                    role: "assistant",
                    content: content(&message.content, |text| InputPart::OutputText { text }),
                });
            }
            input.extend(
                message
                    .tool_calls
                    .iter()
                    .map(|call| InputItem::FunctionCall {
                        call_id: call.id.clone(),
                        name: call.name.clone(),
                        arguments: call.arguments_text(),
                    }),
            );
        }
        Role::Tool => input.push(InputItem::FunctionCallOutput {
            call_id: message.tool_call_id.clone().unwrap_or_default(),
            output: content(&message.content, input_text),
        }),
    }
}

/// A content in the Responses form, its text parts made by `text_part`.
fn content(content: &Content, text_part: impl Fn(String) -> InputPart) -> InputContent {
    match content {
        Content::Text(text) => InputContent::Text(text.clone()),
        Content::Parts(parts) => InputContent::Parts(
            parts
                .iter()
                .map(|part| match part {
                    Part::Text { text } => text_part(text.clone()),
                    Part::Image { image_url } => InputPart::InputImage {
                        image_url: image_url.url.clone(),
                        detail: image_url.detail.clone().unwrap_or_else(|| "auto".into()),
                    },
                })
                .collect(),
        ),
    }
}

/// A chat-style `response_format` in the Responses API's `text.format` form, which has the
/// `json_schema` object's fields at its top.
fn text_format(format: Value) -> Value {
    match format {
        Value::Object(mut format) if format.get("type") == Some(&json!("json_schema")) => {
            if let Some(Value::Object(schema)) = format.remove("json_schema") {
                format.extend(schema);
            }
            Value::Object(format)
        }
        other => other,
    }
}

/// Sets `text.format`, keeping the rest of a `text` among the extra parameters (`verbosity`).
fn set_text_format(extra: &mut Map<String, Value>, format: Value) {
    let text = extra
        .entry("text")
        .or_insert_with(|| Value::Object(Map::new()));
    if !text.is_object() {
        *text = Value::Object(Map::new());
    }
    text["format"] = format;
}

/// Reads a response. A `failed` one is classified as its error code says; one still in
/// progress (a background response) cannot be read.
pub(crate) fn response(body: &[u8]) -> Result<Response, ProviderError> {
    let reply: ResponsesReply = serde_json::from_slice(body).map_err(invalid)?;
    let stopped = match reply.status.as_deref() {
        None | Some("completed") => None,
        Some("incomplete") => Some(incomplete(reply.incomplete_details)),
        Some("failed") => return Err(classify::failed_response(reply.error.as_ref())),
        Some(other) => return Err(invalid(format!("the response is {other}"))),
    };
    let mut text = String::new();
    let mut tokens = Vec::new();
    let mut refused = false;
    let mut said = false;
    let mut tool_calls = Vec::new();
    for item in reply.output {
        match item {
            OutputItem::Message { content } => {
                said = true;
                for part in content {
                    match part {
                        OutputPart::OutputText { text: t, logprobs } => {
                            text.push_str(&t);
                            tokens.extend(logprobs.unwrap_or_default());
                        }
                        OutputPart::Refusal { refusal } => {
                            refused = true;
                            text.push_str(&refusal);
                        }
                        OutputPart::Other => {}
                    }
                }
            }
            OutputItem::FunctionCall {
                call_id,
                name,
                arguments,
            } => tool_calls.push(ToolCall::from_text(call_id, name, &arguments)),
            OutputItem::Other => {}
        }
    }
    if !said && tool_calls.is_empty() && stopped.is_none() {
        return Err(invalid("a completed response without a message or a call"));
    }
    let finish_reason = stopped.unwrap_or(if refused {
        FinishReason::Refusal
    } else if !tool_calls.is_empty() {
        FinishReason::ToolCalls
    } else {
        FinishReason::Stop
    });
    Ok(Response {
        model_version: reply.model,
        choices: vec![Choice {
            text,
            finish_reason,
            logprobs: (!tokens.is_empty()).then(|| token_logprobs(tokens)),
            parsed: None,
            tool_calls,
        }],
        embeddings: Vec::new(),
        usage: usage(reply.usage.unwrap_or_default()),
        rate_limits: None,
        first_token: None,
    })
}

/// Why an `incomplete` response stopped.
fn incomplete(details: Option<IncompleteDetails>) -> FinishReason {
    match details.and_then(|d| d.reason).as_deref() {
        Some("max_output_tokens") | None => FinishReason::Length,
        Some("content_filter") => FinishReason::ContentFilter,
        Some(other) => FinishReason::Other(other.to_owned()),
    }
}

fn usage(wire: ResponsesUsage) -> Usage {
    Usage {
        input_tokens: wire.input_tokens,
        output_tokens: wire.output_tokens,
        reasoning_tokens: wire
            .output_tokens_details
            .and_then(|d| d.reasoning_tokens)
            .unwrap_or(0),
        cached_input_tokens: wire
            .input_tokens_details
            .and_then(|d| d.cached_tokens)
            .unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chat_response_format_takes_the_text_format_shape() {
        let chat = json!({"type": "json_schema", "json_schema": {"name": "n", "schema": {}, "strict": true}});
        assert_eq!(
            text_format(chat),
            json!({"type": "json_schema", "name": "n", "schema": {}, "strict": true})
        );
        assert_eq!(
            text_format(json!({"type": "json_object"})),
            json!({"type": "json_object"})
        );
    }

    #[test]
    fn the_text_format_keeps_the_rest_of_text() {
        let mut extra = Map::new();
        extra.insert("text".into(), json!({"verbosity": "low"}));
        set_text_format(&mut extra, json!({"type": "json_object"}));
        assert_eq!(
            extra["text"],
            json!({"verbosity": "low", "format": {"type": "json_object"}})
        );
    }

    #[test]
    fn a_response_in_progress_or_empty_is_unreadable() {
        for body in [
            json!({"status": "in_progress", "output": []}),
            json!({"status": "completed", "output": [{"type": "reasoning", "summary": []}]}),
        ] {
            let error = response(body.to_string().as_bytes()).unwrap_err();
            assert_eq!(error.kind, pacer_core::ErrorKind::InvalidResponse, "{body}");
        }
    }
}
