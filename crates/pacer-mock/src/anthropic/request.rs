//! The Messages request body as the mock reads it: the mock's own types, holding only what
//! it reads, so that a mistake in the provider's wire types cannot hide on both sides of a
//! test. The endpoint checks that the body is an object with the required fields first, in
//! Anthropic's words; a value of the wrong type is then serde's error.
//!
//! A turn's content is a string or blocks: `text`, `image` (a `base64`, `url` or `file`
//! source), `tool_use`, `tool_result` (its content a string or `text` and `image` blocks),
//! and `document`, `thinking` and `redacted_thinking`, taken and read as nothing. A block
//! of another type is refused.

use serde::de::{Error as _, IgnoredAny};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::content;

/// `POST /v1/messages`.
#[derive(Debug, Deserialize)]
pub(super) struct MessagesRequest {
    pub(super) model: String,
    /// `user` and `assistant` turns only; the endpoint checks the roles.
    pub(super) messages: Vec<Message>,
    /// The output cap, which a Messages request requires (the endpoint checks it is there);
    /// `count_tokens` takes none, read as 0.
    #[serde(default)]
    pub(super) max_tokens: u32,
    /// The system prompt: a string, or text blocks read as their joined text.
    #[serde(default, deserialize_with = "content::optional_text")]
    pub(super) system: Option<String>,
    #[serde(default)]
    pub(super) temperature: Option<f64>,
    #[serde(default)]
    pub(super) top_p: Option<f64>,
    #[serde(default)]
    pub(super) top_k: Option<u32>,
    #[serde(default)]
    pub(super) stop_sequences: Option<Vec<String>>,
    /// Client tools (no `type`, or `custom`) and server tools (`web_search_...`), which the
    /// mock never calls.
    #[serde(default)]
    pub(super) tools: Option<Vec<ToolDefinition>>,
    #[serde(default)]
    pub(super) tool_choice: Option<WireToolChoice>,
    /// Whether to stream the reply as events.
    #[serde(default)]
    pub(super) stream: Option<bool>,
}

/// One turn.
#[derive(Debug, Deserialize)]
pub(super) struct Message {
    pub(super) role: String,
    /// A string reads as one text block.
    #[serde(deserialize_with = "blocks")]
    pub(super) content: Vec<Block>,
}

/// One content block.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum Block {
    Text {
        text: String,
    },
    Image {
        source: ImageSource,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Value,
    },
    ToolResult {
        tool_use_id: String,
        /// A string, or `text` and `image` blocks.
        #[serde(default, deserialize_with = "optional_blocks")]
        content: Vec<Block>,
    },
    Document(IgnoredAny),
    Thinking(IgnoredAny),
    RedactedThinking(IgnoredAny),
}

/// Where an image is.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum ImageSource {
    Base64 { media_type: String, data: String },
    Url { url: String },
    File { file_id: String },
}

/// A tool the model may call.
#[derive(Debug, Deserialize)]
pub(super) struct ToolDefinition {
    pub(super) name: String,
    /// None, or `custom`, for a client tool; a server tool's type otherwise.
    #[serde(default, rename = "type")]
    pub(super) kind: Option<String>,
    #[serde(default)]
    pub(super) description: Option<String>,
    #[serde(default)]
    pub(super) input_schema: Option<Value>,
}

/// `tool_choice`: `{"type": "auto" | "any" | "tool" | "none", "name"?}`.
#[derive(Debug, Deserialize)]
pub(super) struct WireToolChoice {
    #[serde(rename = "type")]
    pub(super) kind: String,
    #[serde(default)]
    pub(super) name: Option<String>,
}

/// A string as one text block, or a list of blocks.
fn read_blocks(value: Value) -> Result<Vec<Block>, String> {
    match value {
        Value::String(text) => Ok(vec![Block::Text { text }]),
        blocks @ Value::Array(_) => serde_json::from_value(blocks).map_err(|e| e.to_string()),
        _ => Err("content: Input should be a valid string or a list of content blocks".into()),
    }
}

/// Reads a turn's `content`.
fn blocks<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Block>, D::Error> {
    read_blocks(Value::deserialize(deserializer)?).map_err(D::Error::custom)
}

/// Reads a tool result's `content`: absent or null is none.
fn optional_blocks<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Block>, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(Vec::new()),
        value => read_blocks(value).map_err(D::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Block, ImageSource, Message};

    fn message(content: serde_json::Value) -> Result<Message, serde_json::Error> {
        serde_json::from_value(json!({"role": "user", "content": content}))
    }

    #[test]
    fn blocks_of_every_kind_are_read() {
        let m = message(json!([
            {"type": "text", "text": "Hi"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA"}},
            {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
            {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "done"},
            {"type": "tool_result", "tool_use_id": "toolu_1"},
            {"type": "document", "source": {"type": "text", "data": "x"}},
            {"type": "thinking", "thinking": "hm", "signature": "s"},
        ]))
        .unwrap();
        assert_eq!(m.content.len(), 8);
        assert!(
            matches!(&m.content[1], Block::Image { source: ImageSource::Base64 { media_type, .. } } if media_type == "image/png")
        );
        assert!(matches!(&m.content[4], Block::ToolResult { content, .. } if content.len() == 1));
        assert!(matches!(&m.content[5], Block::ToolResult { content, .. } if content.is_empty()));
        assert!(matches!(
            &message(json!("Hi")).unwrap().content[..],
            [Block::Text { .. }]
        ));
    }

    #[test]
    fn unknown_blocks_and_types_are_refused() {
        let err = message(json!([{"type": "video"}])).unwrap_err().to_string();
        assert!(err.contains("unknown variant `video`"), "{err}");
        assert!(message(json!(7)).is_err());
        assert!(message(json!([{"type": "text"}])).is_err());
    }
}
