//! The conversation of a Messages body, as Pacer's messages. The top-level `system` (a
//! string or text blocks) is a system message; each turn's text and image blocks make its
//! content (read by [`parse::content`], which knows Anthropic's image `source`s); an
//! assistant turn's `tool_use` blocks are its tool calls (its replayed `thinking` blocks are
//! dropped); each `tool_result` block of a user turn is a tool message, ahead of the rest of
//! the turn, as Pacer's conversations (OpenAI's) have them.

use pacer_core::parse::{self, ShapeError};
use pacer_core::{Content, Message, Part, Role, ToolCall};
use serde_json::{Map, Value};

const TURNS: &str = "a non-empty list of {role, content} messages";
const BLOCK: &str = "a content block: {type: text, text}, {type: image, source}, ...";

/// The `system` prompt and the `messages` of `body`, in order.
pub(super) fn conversation(body: &Map<String, Value>) -> Result<Vec<Message>, ShapeError> {
    let mut messages: Vec<Message> = system(body.get("system"))?.into_iter().collect();
    let turns = match body.get("messages") {
        Some(Value::Array(turns)) if !turns.is_empty() => turns,
        other => return Err(ShapeError::expected("messages", TURNS, other)),
    };
    for (at, turn) in turns.iter().enumerate() {
        read_turn(&format!("messages[{at}]"), turn, &mut messages)?;
    }
    Ok(messages)
}

/// The system prompt: a string, or a list of text blocks; `None` when empty.
fn system(value: Option<&Value>) -> Result<Option<Message>, ShapeError> {
    const SYSTEM: &str = "a string or a list of {type: text, text} blocks";
    let parts = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(text)) if text.is_empty() => return Ok(None),
        Some(Value::String(text)) => return Ok(Some(Message::new(Role::System, text.as_str()))),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .enumerate()
            .map(
                |(at, block)| match block.get("type").and_then(Value::as_str) {
                    Some("text") => part(&format!("system[{at}]"), block),
                    _ => Err(ShapeError::expected(
                        format!("system[{at}].type"),
                        "text",
                        block.get("type"),
                    )),
                },
            )
            .collect::<Result<Vec<_>, _>>()?,
        other => return Err(ShapeError::expected("system", SYSTEM, other)),
    };
    Ok((!parts.is_empty()).then(|| Message::new(Role::System, content_of(parts))))
}

/// One turn at `field`, read into `messages`: its tool results first, then the turn itself
/// (left out where it held only tool results).
fn read_turn(field: &str, turn: &Value, messages: &mut Vec<Message>) -> Result<(), ShapeError> {
    let Value::Object(turn) = turn else {
        return Err(ShapeError::expected(
            field,
            "a {role, content} message",
            Some(turn),
        ));
    };
    let role = match turn.get("role").and_then(Value::as_str) {
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        _ => {
            return Err(ShapeError::expected(
                format!("{field}.role"),
                "user or assistant",
                turn.get("role"),
            ));
        }
    };
    let field = format!("{field}.content");
    let blocks = match turn.get("content") {
        Some(Value::String(text)) => {
            messages.push(Message::new(role, text.as_str()));
            return Ok(());
        }
        Some(Value::Array(blocks)) => blocks,
        other => {
            return Err(ShapeError::expected(
                field,
                "a string or a list of content blocks",
                other,
            ));
        }
    };
    let (mut parts, mut calls, mut results) = (Vec::new(), Vec::new(), 0);
    for (at, block) in blocks.iter().enumerate() {
        let field = format!("{field}[{at}]");
        if !block.is_object() {
            return Err(ShapeError::expected(field, BLOCK, Some(block)));
        }
        match (role, block.get("type").and_then(Value::as_str)) {
            (_, Some("text" | "image")) => parts.push(part(&field, block)?),
            (Role::Assistant, Some("tool_use")) => calls.push(tool_use(&field, block)?),
            // Extended thinking is not asked for upstream: its replayed blocks have no use.
            (Role::Assistant, Some("thinking" | "redacted_thinking")) => {}
            (Role::User, Some("tool_result")) => {
                messages.push(tool_result(&field, block)?);
                results += 1;
            }
            (Role::Assistant, _) => {
                return Err(ShapeError::expected(
                    format!("{field}.type"),
                    "text, image, tool_use or thinking (in an assistant turn)",
                    block.get("type"),
                ));
            }
            (Role::User | Role::System | Role::Tool, _) => {
                return Err(ShapeError::expected(
                    format!("{field}.type"),
                    "text, image or tool_result (in a user turn)",
                    block.get("type"),
                ));
            }
        }
    }
    if results == 0 || !parts.is_empty() || !calls.is_empty() {
        let mut message = Message::new(role, content_of(parts));
        message.tool_calls = calls;
        messages.push(message);
    }
    Ok(())
}

/// Parts as content: none is empty text, a lone text part plain text.
fn content_of(parts: Vec<Part>) -> Content {
    match <[Part; 1]>::try_from(parts) {
        Ok([Part::Text { text }]) => Content::Text(text),
        Ok([part]) => Content::Parts(vec![part]),
        Err(parts) if parts.is_empty() => Content::Text(String::new()),
        Err(parts) => Content::Parts(parts),
    }
}

/// A text or image block at `field`, read by the shared parser; its errors are placed at
/// `field`.
fn part(field: &str, block: &Value) -> Result<Part, ShapeError> {
    match parse::content("", Value::Array(vec![block.clone()])) {
        Ok(Content::Text(text)) => Ok(Part::Text { text }),
        Ok(Content::Parts(parts)) => parts
            .into_iter()
            .next()
            .ok_or_else(|| ShapeError::expected(field, BLOCK, Some(block))),
        Err(mut error) => {
            // The parser read the block as item `[0]` of a list.
            error.field = error
                .field
                .map(|at| format!("{field}{}", at.strip_prefix("[0]").unwrap_or(&at)));
            Err(error)
        }
    }
}

/// A `tool_use` block: `{id, name, input}`, the input an object (`{}` where absent).
fn tool_use(field: &str, block: &Value) -> Result<ToolCall, ShapeError> {
    let id = non_empty(field, block, "id")?;
    let name = non_empty(field, block, "name")?;
    let arguments = match block.get("input") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(input @ Value::Object(_)) => input.clone(),
        other => {
            return Err(ShapeError::expected(
                format!("{field}.input"),
                "an object",
                other,
            ));
        }
    };
    Ok(ToolCall {
        id,
        name,
        arguments,
    })
}

/// A `tool_result` block: a tool message answering `tool_use_id`, its `content` a string or
/// text and image blocks (none is empty). Pacer's tool message has no error flag, so the
/// result of a call that failed (`is_error`) says so in its text, for the model to read.
fn tool_result(field: &str, block: &Value) -> Result<Message, ShapeError> {
    let id = non_empty(field, block, "tool_use_id")?;
    let content = match block.get("content") {
        None | Some(Value::Null) => Content::Text(String::new()),
        Some(Value::Array(blocks)) if blocks.is_empty() => Content::Text(String::new()),
        Some(content) => parse::content(&format!("{field}.content"), content.clone())?,
    };
    let failed = match block.get("is_error") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(failed)) => *failed,
        other => {
            return Err(ShapeError::expected(
                format!("{field}.is_error"),
                "true or false",
                other,
            ));
        }
    };
    let content = match content {
        Content::Text(text) if failed => Content::Text(format!("Error: {text}")),
        Content::Parts(mut parts) if failed => {
            parts.insert(
                0,
                Part::Text {
                    text: "Error:".into(),
                },
            );
            Content::Parts(parts)
        }
        content => content,
    };
    let mut message = Message::new(Role::Tool, content);
    message.tool_call_id = Some(id);
    Ok(message)
}

/// The non-empty string `key` of `block`.
fn non_empty(field: &str, block: &Value, key: &str) -> Result<String, ShapeError> {
    match block.get(key) {
        Some(Value::String(text)) if !text.is_empty() => Ok(text.clone()),
        other => Err(ShapeError::expected(
            format!("{field}.{key}"),
            "a non-empty string",
            other,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::conversation;
    use pacer_core::{Content, Message, Part, Role};
    use serde_json::{Value, json};

    fn read(body: Value) -> Vec<Message> {
        conversation(body.as_object().unwrap()).unwrap()
    }

    #[test]
    fn every_block_reads_into_pacers_conversation() {
        let m = read(json!({
            "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}},
                       {"type": "text", "text": "Be kind."}],
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "What is in these?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}]},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "hm", "signature": "s"},
                    {"type": "text", "text": "Let me look."},
                    {"type": "tool_use", "id": "toolu_1", "name": "look", "input": {"at": 1}},
                    {"type": "tool_use", "id": "toolu_2", "name": "look", "input": {"at": 2}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "a cat"},
                    {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": true,
                     "content": [{"type": "text", "text": "no such image"}]},
                    {"type": "text", "text": "And now?"}]},
                {"role": "assistant", "content": "Well"}],
        }));
        let roles: Vec<Role> = m.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [
                Role::System,
                Role::User,
                Role::Assistant,
                Role::Tool,
                Role::Tool,
                Role::User,
                Role::Assistant
            ]
        );
        assert_eq!(m[0].text(), "Be brief.\n\nBe kind.");
        assert_eq!(m[1].text(), "What is in these?");
        let urls: Vec<&str> = m[1].content.images().map(|i| i.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "data:image/png;base64,iVBORw0KGgo=",
                "https://example.com/a.png"
            ]
        );
        assert_eq!(m[2].text(), "Let me look.");
        let call = &m[2].tool_calls[1];
        assert_eq!(
            (call.id.as_str(), call.name.as_str(), &call.arguments),
            ("toolu_2", "look", &json!({"at": 2}))
        );
        assert_eq!(m[3].tool_call_id.as_deref(), Some("toolu_1"));
        assert_eq!(m[3].content, Content::Text("a cat".into()));
        assert_eq!(m[4].tool_call_id.as_deref(), Some("toolu_2"));
        assert_eq!(m[4].content, Content::Text("Error: no such image".into()));
        assert_eq!(m[5].content, Content::Text("And now?".into()));
        assert_eq!(m[6].content, Content::Text("Well".into()));
    }

    #[test]
    fn results_alone_make_no_user_turn() {
        let m = read(json!({"system": "Be brief.", "messages": [
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": [
                {"type": "text", "text": "here"},
                {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "u"}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "v",
                "is_error": true, "content": [
                {"type": "image", "source": {"type": "url", "url": "https://x/z.png"}}]}]}]}));
        let roles: Vec<Role> = m.iter().map(|m| m.role).collect();
        assert_eq!(roles, [Role::System, Role::Tool, Role::Tool, Role::Tool]);
        assert_eq!(m[0].content, Content::Text("Be brief.".into()));
        assert!(m[1].content.has_images());
        assert_eq!(m[2].content, Content::Text(String::new()));
        let Content::Parts(parts) = &m[3].content else {
            panic!("{:?}", m[3].content);
        };
        assert_eq!(
            parts[0],
            Part::Text {
                text: "Error:".into()
            }
        );
    }

    #[test]
    fn errors_name_their_field() {
        let user = |content: Value| json!({"messages": [{"role": "user", "content": content}]});
        let assistant = |content: Value| {
            json!({"messages": [{"role": "user", "content": "a"},
                {"role": "assistant", "content": content}]})
        };
        let image = |source: Value| user(json!([{"type": "image", "source": source}]));
        let result = |fields: Value| {
            let mut block = json!({"type": "tool_result", "tool_use_id": "t"});
            for (key, value) in fields.as_object().unwrap() {
                block[key] = value.clone();
            }
            user(json!([block]))
        };
        for (body, field) in [
            (json!({}), "messages"),
            (json!({"messages": []}), "messages"),
            (json!({"messages": ["hi"]}), "messages[0]"),
            (
                json!({"messages": [{"role": "system", "content": "a"}]}),
                "messages[0].role",
            ),
            (assistant(json!(3)), "messages[1].content"),
            (assistant(json!(["text"])), "messages[1].content[0]"),
            (
                assistant(json!([{"type": "text", "text": 3}])),
                "messages[1].content[0].text",
            ),
            (
                assistant(json!([{"type": "tool_result", "tool_use_id": "t"}])),
                "messages[1].content[0].type",
            ),
            (
                assistant(json!([{"type": "tool_use", "name": "f", "input": {}}])),
                "messages[1].content[0].id",
            ),
            (
                assistant(json!([{"type": "tool_use", "id": "t", "name": "f", "input": "x"}])),
                "messages[1].content[0].input",
            ),
            (
                image(json!({"type": "base64", "data": "x"})),
                "messages[0].content[0].source",
            ),
            (
                image(json!({"type": "url", "url": "ftp://x"})),
                "messages[0].content[0].source.url",
            ),
            (
                user(json!([{"type": "document", "source": {}}])),
                "messages[0].content[0].type",
            ),
            (
                user(json!([{"type": "tool_use", "id": "t", "name": "f"}])),
                "messages[0].content[0].type",
            ),
            (
                user(json!([{"type": "tool_result", "content": "x"}])),
                "messages[0].content[0].tool_use_id",
            ),
            (
                result(json!({"is_error": "yes"})),
                "messages[0].content[0].is_error",
            ),
            (
                result(json!({"content": [{"type": "text"}]})),
                "messages[0].content[0].content[0].text",
            ),
            (
                json!({"system": [{"type": "image"}], "messages": [{"role": "user", "content": "a"}]}),
                "system[0].type",
            ),
            (
                json!({"system": 3, "messages": [{"role": "user", "content": "a"}]}),
                "system",
            ),
        ] {
            let error = conversation(body.as_object().unwrap()).unwrap_err();
            assert_eq!(error.field.as_deref(), Some(field), "{body}");
        }
    }
}
