//! One conversation as the input gives it: OpenAI chat messages (text or content parts,
//! assistant tool calls, `tool` results), the Responses API's input items
//! (`function_call`, `function_call_output`, `input_text`, `input_image`), and Anthropic's
//! image blocks, all read into Pacer's [`Message`]s.

use crate::{Content, Image, Message, Part, Role, ToolCall};
use serde_json::{Map, Value};

use super::ShapeError;

const LIST: &str = "a non-empty list of {role, content} messages";
const ROLES: &str = "one of system, developer, user, assistant, tool";

/// A non-empty list of messages (or Responses API input items) in `field`.
pub fn messages(field: &str, value: Value) -> Result<Vec<Message>, ShapeError> {
    let Value::Array(list) = value else {
        return Err(ShapeError::expected(field, LIST, Some(&value)));
    };
    if list.is_empty() {
        return Err(ShapeError::expected(field, LIST, Some(&Value::Array(list))));
    }
    let mut messages: Vec<Message> = Vec::with_capacity(list.len());
    for (at, item) in list.into_iter().enumerate() {
        let field = format!("{field}[{at}]");
        let Value::Object(item) = item else {
            return Err(ShapeError::expected(
                field,
                "a {role, content} object",
                Some(&item),
            ));
        };
        match item.get("type").and_then(Value::as_str) {
            Some("function_call") => {
                let call = function_call(&field, item)?;
                // Calls in a row are one assistant turn, as the chat format has them.
                match messages.last_mut() {
                    Some(last) if last.role == Role::Assistant && !last.tool_calls.is_empty() => {
                        last.tool_calls.push(call);
                    }
                    _ => {
                        let mut turn = Message::new(Role::Assistant, "");
                        turn.tool_calls.push(call);
                        messages.push(turn);
                    }
                }
            }
            Some("function_call_output") => messages.push(function_output(&field, item)?),
            _ => messages.push(message(&field, item)?),
        }
    }
    Ok(messages)
}

/// One `{role, content}` message; other keys (`name`, ...) are ignored.
fn message(field: &str, mut item: Map<String, Value>) -> Result<Message, ShapeError> {
    let role_field = format!("{field}.role");
    let role = match item.shift_remove("role") {
        Some(Value::String(role)) => match role.as_str() {
            "system" | "developer" => Role::System,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "tool" => Role::Tool,
            _ => {
                return Err(ShapeError::expected(
                    role_field,
                    ROLES,
                    Some(&Value::String(role)),
                ));
            }
        },
        other => return Err(ShapeError::expected(role_field, ROLES, other.as_ref())),
    };
    let tool_calls = match item.shift_remove("tool_calls") {
        None | Some(Value::Null) => Vec::new(),
        Some(calls) => chat_tool_calls(&format!("{field}.tool_calls"), calls)?,
    };
    let content_field = format!("{field}.content");
    let content = match item.shift_remove("content") {
        // An assistant turn that only calls tools has no content.
        None | Some(Value::Null) if !tool_calls.is_empty() => Content::Text(String::new()),
        Some(content) => self::content(&content_field, content)?,
        None => {
            return Err(ShapeError::expected(
                content_field,
                "a string or a list of content parts",
                None,
            ));
        }
    };
    let tool_call_id = match (role, item.shift_remove("tool_call_id")) {
        (Role::Tool, Some(Value::String(id))) if !id.is_empty() => Some(id),
        (Role::Tool, other) => {
            return Err(ShapeError::expected(
                format!("{field}.tool_call_id"),
                "the id of the tool call this message answers",
                other.as_ref(),
            ));
        }
        _ => None,
    };
    Ok(Message {
        role,
        content,
        tool_calls,
        tool_call_id,
    })
}

/// A message's content: a string, or a list of parts.
pub fn content(field: &str, value: Value) -> Result<Content, ShapeError> {
    match value {
        Value::String(text) => Ok(Content::Text(text)),
        Value::Array(parts) if !parts.is_empty() => {
            let parts = parts
                .into_iter()
                .enumerate()
                .map(|(at, p)| part(&format!("{field}[{at}]"), p))
                .collect::<Result<Vec<_>, _>>()?;
            // A lone text part is plain text: the same request, sent the simplest way.
            Ok(match <[Part; 1]>::try_from(parts) {
                Ok([Part::Text { text }]) => Content::Text(text),
                Ok([part]) => Content::Parts(vec![part]),
                Err(parts) => Content::Parts(parts),
            })
        }
        other => Err(ShapeError::expected(
            field,
            "a string or a non-empty list of content parts",
            Some(&other),
        )),
    }
}

/// One content part: text (`text`, `input_text`, `output_text`) or an image (`image_url`,
/// `input_image`, or Anthropic's `image` with a `source`).
fn part(field: &str, value: Value) -> Result<Part, ShapeError> {
    const PART: &str = "a content part: {type: text, text} or {type: image_url, image_url: {url}}";
    let Value::Object(mut part) = value else {
        return Err(ShapeError::expected(field, PART, Some(&value)));
    };
    let kind = part.get("type").and_then(Value::as_str).unwrap_or("");
    match kind {
        "text" | "input_text" | "output_text" => match part.shift_remove("text") {
            Some(Value::String(text)) => Ok(Part::Text { text }),
            other => Err(ShapeError::expected(
                format!("{field}.text"),
                "a string",
                other.as_ref(),
            )),
        },
        "image_url" | "input_image" => {
            let (url, detail) = match part.shift_remove("image_url") {
                Some(Value::String(url)) => (url, part.shift_remove("detail")),
                Some(Value::Object(mut image)) => (
                    url_of(&format!("{field}.image_url.url"), image.shift_remove("url"))?,
                    { image.shift_remove("detail") },
                ),
                other => {
                    return Err(ShapeError::expected(
                        format!("{field}.image_url"),
                        "an http(s):// URL or a data: URL, or {url, detail}",
                        other.as_ref(),
                    ));
                }
            };
            let url = url_of(&format!("{field}.image_url"), Some(Value::String(url)))?;
            let detail = detail.and_then(|d| d.as_str().map(str::to_owned));
            Ok(Part::Image {
                image_url: Image { url, detail },
            })
        }
        "image" => anthropic_image(field, part.shift_remove("source")),
        _ => Err(ShapeError::expected(
            format!("{field}.type"),
            "text, input_text, output_text, image_url, input_image or image",
            part.get("type"),
        )),
    }
}

/// An image URL: `https://`, `http://` or a base64 `data:` URL.
fn url_of(field: &str, value: Option<Value>) -> Result<String, ShapeError> {
    const URL: &str = "an http(s):// URL or a data:<media type>;base64,... URL";
    match value {
        Some(Value::String(url))
            if url.starts_with("https://")
                || url.starts_with("http://")
                || (url.starts_with("data:") && url.contains(";base64,")) =>
        {
            Ok(url)
        }
        other => Err(ShapeError::expected(field, URL, other.as_ref())),
    }
}

/// Anthropic's image block: `{source: {type: base64, media_type, data}}` or `{type: url}`.
fn anthropic_image(field: &str, source: Option<Value>) -> Result<Part, ShapeError> {
    const SOURCE: &str = "{type: base64, media_type, data} or {type: url, url}";
    let field = format!("{field}.source");
    let Some(Value::Object(mut source)) = source else {
        return Err(ShapeError::expected(field, SOURCE, source.as_ref()));
    };
    let url = match source.get("type").and_then(Value::as_str) {
        Some("base64") => match (
            source.shift_remove("media_type"),
            source.shift_remove("data"),
        ) {
            (Some(Value::String(media_type)), Some(Value::String(data))) => {
                format!("data:{media_type};base64,{data}")
            }
            _ => return Err(ShapeError::expected(field, SOURCE, None)),
        },
        Some("url") => url_of(&format!("{field}.url"), source.shift_remove("url"))?,
        _ => return Err(ShapeError::expected(field, SOURCE, source.get("type"))),
    };
    Ok(Part::Image {
        image_url: Image { url, detail: None },
    })
}

/// The chat format's `tool_calls`: `[{id, type: function, function: {name, arguments}}]`.
fn chat_tool_calls(field: &str, value: Value) -> Result<Vec<ToolCall>, ShapeError> {
    const CALLS: &str = "a list of {id, function: {name, arguments}} tool calls";
    let Value::Array(calls) = value else {
        return Err(ShapeError::expected(field, CALLS, Some(&value)));
    };
    calls
        .into_iter()
        .enumerate()
        .map(|(at, call)| {
            let field = format!("{field}[{at}]");
            let Value::Object(mut call) = call else {
                return Err(ShapeError::expected(field, CALLS, Some(&call)));
            };
            let id = string_field(&field, &mut call, "id")?;
            let Some(Value::Object(mut function)) = call.shift_remove("function") else {
                return Err(ShapeError::expected(
                    format!("{field}.function"),
                    "{name, arguments}",
                    None,
                ));
            };
            let name = string_field(&format!("{field}.function"), &mut function, "name")?;
            Ok(arguments(id, name, function.shift_remove("arguments")))
        })
        .collect()
}

/// A Responses API `function_call` item: `{call_id, name, arguments}`.
fn function_call(field: &str, mut item: Map<String, Value>) -> Result<ToolCall, ShapeError> {
    let id = string_field(field, &mut item, "call_id")?;
    let name = string_field(field, &mut item, "name")?;
    Ok(arguments(id, name, item.shift_remove("arguments")))
}

/// A Responses API `function_call_output` item: `{call_id, output}`, a tool message.
fn function_output(field: &str, mut item: Map<String, Value>) -> Result<Message, ShapeError> {
    let id = string_field(field, &mut item, "call_id")?;
    let output = match item.shift_remove("output") {
        Some(Value::String(text)) => text,
        Some(other) if !other.is_null() => other.to_string(),
        other => {
            return Err(ShapeError::expected(
                format!("{field}.output"),
                "the tool's output",
                other.as_ref(),
            ));
        }
    };
    let mut message = Message::new(Role::Tool, output);
    message.tool_call_id = Some(id);
    Ok(message)
}

/// A call whose arguments are JSON text (OpenAI) or already JSON.
fn arguments(id: String, name: String, arguments: Option<Value>) -> ToolCall {
    match arguments {
        Some(Value::String(text)) => ToolCall::from_text(id, name, &text),
        Some(value) => ToolCall {
            id,
            name,
            arguments: value,
        },
        None => ToolCall {
            id,
            name,
            arguments: Value::Object(Map::new()),
        },
    }
}

/// The non-empty string `key` of `item`, at `field`.
fn string_field(
    field: &str,
    item: &mut Map<String, Value>,
    key: &str,
) -> Result<String, ShapeError> {
    match item.shift_remove(key) {
        Some(Value::String(text)) if !text.is_empty() => Ok(text),
        other => Err(ShapeError::expected(
            format!("{field}.{key}"),
            "a non-empty string",
            other.as_ref(),
        )),
    }
}

/// Whether `value` is a list of strings only (an embedding request's `input`).
pub fn is_text_list(value: &Value) -> bool {
    matches!(value, Value::Array(list) if !list.is_empty() && list.iter().all(Value::is_string))
}
