//! Pacer's conversation as Anthropic's turns: content parts become text and image blocks, an
//! assistant's tool calls `tool_use` blocks, and tool results `tool_result` blocks in a user
//! turn (the Messages API has no tool role, and wants user and assistant turns to alternate).

use pacer_core::{Content, ErrorKind, Image, Message, Part, ProviderError, Role};

use super::wire::{Block, ImageSource, Message as Turn, MessageContent};

/// The turns of `messages`, system messages left out (they go to the top-level `system`).
///
/// Consecutive tool results share one user turn, as do tool results and the user message
/// right after them: the results' blocks come first, as the API requires.
pub(crate) fn turns(messages: &[Message]) -> Result<Vec<Turn>, ProviderError> {
    let mut turns: Vec<Turn> = Vec::with_capacity(messages.len());
    for message in messages {
        match message.role {
            Role::System => {}
            Role::User => {
                let content = content(&message.content);
                match turns.last_mut() {
                    Some(last) if holds_tool_results(last) => append(last, content),
                    _ => turns.push(Turn {
                        role: "user".into(),
                        content,
                    }),
                }
            }
            Role::Assistant => turns.push(Turn {
                role: "assistant".into(),
                content: assistant_content(message),
            }),
            Role::Tool => {
                let result = tool_result(message)?;
                match turns.last_mut() {
                    Some(last) if holds_tool_results(last) => {
                        append(last, MessageContent::Blocks(vec![result]));
                    }
                    _ => turns.push(Turn {
                        role: "user".into(),
                        content: MessageContent::Blocks(vec![result]),
                    }),
                }
            }
        }
    }
    Ok(turns)
}

/// A message's content: a string stays a string, parts become blocks.
fn content(content: &Content) -> MessageContent {
    match content {
        Content::Text(text) => MessageContent::Text(text.clone()),
        Content::Parts(parts) => MessageContent::Blocks(parts.iter().map(block).collect()),
    }
}

/// One part as a block.
fn block(part: &Part) -> Block {
    match part {
        Part::Text { text } => Block::Text { text: text.clone() },
        Part::Image { image_url } => Block::Image {
            source: image_source(image_url),
        },
    }
}

/// An inline image goes as base64, any other as a URL Anthropic fetches.
fn image_source(image: &Image) -> ImageSource {
    match image.data() {
        Some((media_type, data)) => ImageSource::Base64 {
            media_type: media_type.to_owned(),
            data: data.to_owned(),
        },
        None => ImageSource::Url {
            url: image.url.clone(),
        },
    }
}

/// An assistant turn: its content as it is when it called no tool, else its text (where
/// there is any) followed by one `tool_use` block per call.
fn assistant_content(message: &Message) -> MessageContent {
    if message.tool_calls.is_empty() {
        return content(&message.content);
    }
    let mut blocks = match &message.content {
        Content::Text(text) if text.is_empty() => Vec::new(),
        Content::Text(text) => vec![Block::Text { text: text.clone() }],
        Content::Parts(parts) => parts.iter().map(block).collect(),
    };
    blocks.extend(message.tool_calls.iter().map(|call| Block::ToolUse {
        id: call.id.clone(),
        name: call.name.clone(),
        input: call.arguments.clone(),
    }));
    MessageContent::Blocks(blocks)
}

/// A tool message as a `tool_result` block answering its `tool_call_id`: its text, or its
/// blocks where it holds images.
fn tool_result(message: &Message) -> Result<Block, ProviderError> {
    let tool_use_id = message.tool_call_id.clone().ok_or_else(|| {
        ProviderError::new(
            ErrorKind::BadRequest,
            "a tool message has no tool_call_id: Anthropic needs the id of the call it answers",
        )
    })?;
    let content = if message.content.has_images() {
        content(&message.content)
    } else {
        MessageContent::Text(message.text().into_owned())
    };
    Ok(Block::ToolResult {
        tool_use_id,
        content,
    })
}

/// Whether `turn` is a user turn of tool results, which what follows joins.
fn holds_tool_results(turn: &Turn) -> bool {
    turn.role == "user"
        && matches!(&turn.content, MessageContent::Blocks(blocks)
            if blocks.iter().any(|b| matches!(b, Block::ToolResult { .. })))
}

/// Appends `content` to `turn`'s blocks.
fn append(turn: &mut Turn, content: MessageContent) {
    let MessageContent::Blocks(blocks) = &mut turn.content else {
        // Only turns of blocks are appended to (see `holds_tool_results`).
        return;
    };
    match content {
        MessageContent::Text(text) => blocks.push(Block::Text { text }),
        MessageContent::Blocks(more) => blocks.extend(more),
    }
}

#[cfg(test)]
mod tests {
    use pacer_core::{Message, Role, ToolCall};
    use serde_json::json;

    use super::turns;

    fn tool(id: &str, text: &str) -> Message {
        let mut message = Message::new(Role::Tool, text);
        message.tool_call_id = Some(id.into());
        message
    }

    #[test]
    fn tool_results_share_a_user_turn_with_the_message_after_them() {
        let mut call = Message::new(Role::Assistant, "");
        call.tool_calls = vec![
            ToolCall::from_text("t1", "f", "{}"),
            ToolCall::from_text("t2", "g", r#"{"x":1}"#),
        ];
        let messages = [
            Message::new(Role::User, "Go"),
            call,
            tool("t1", "one"),
            tool("t2", "two"),
            Message::new(Role::User, "And?"),
        ];
        let turns = serde_json::to_value(turns(&messages).unwrap()).unwrap();
        assert_eq!(
            turns,
            json!([
                {"role": "user", "content": "Go"},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "t1", "name": "f", "input": {}},
                    {"type": "tool_use", "id": "t2", "name": "g", "input": {"x": 1}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": "one"},
                    {"type": "tool_result", "tool_use_id": "t2", "content": "two"},
                    {"type": "text", "text": "And?"}
                ]}
            ])
        );
    }

    #[test]
    fn a_tool_message_without_a_call_id_is_a_bad_request() {
        let error = turns(&[Message::new(Role::Tool, "42")]).unwrap_err();
        assert_eq!(error.kind, pacer_core::ErrorKind::BadRequest);
        assert!(error.message.contains("tool_call_id"), "{error}");
    }
}
