//! Anthropic's Messages API wire format, as serde types, private to the provider: it writes
//! requests and reads replies with them. `pacer mock` keeps its own, so that a mistake here
//! shows up against it. Unknown fields are ignored on the way in, so newer servers'
//! additions do no harm.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `POST /v1/messages`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct MessagesRequest {
    /// The model.
    pub(crate) model: String,
    /// The conversation: `user` and `assistant` turns only.
    pub(crate) messages: Vec<Message>,
    /// The output cap; the API requires it.
    pub(crate) max_tokens: u32,
    /// The system prompt (a string, or text blocks read as their joined text).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_text"
    )]
    pub(crate) system: Option<String>,
    /// Sampling temperature, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) top_p: Option<f64>,
    /// Top-k sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) top_k: Option<u32>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) stop_sequences: Option<Vec<String>>,
    /// The tools the model may use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) tools: Vec<Tool>,
    /// Whether and which tool it must use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tool_choice: Option<ToolChoice>,
    /// Anything else, passed through (`metadata`, `thinking`, ...).
    #[serde(flatten)]
    pub(crate) extra: Map<String, Value>,
}

/// One turn of the conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Message {
    /// `user` or `assistant`.
    pub(crate) role: String,
    /// What the turn says.
    pub(crate) content: MessageContent,
}

/// A turn's content: a string, or content blocks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum MessageContent {
    /// Plain text.
    Text(String),
    /// Blocks, in order.
    Blocks(Vec<Block>),
}

/// One content block of a request's turn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Block {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// An image.
    Image {
        /// Where the image comes from.
        source: ImageSource,
    },
    /// A tool call of an earlier assistant turn.
    ToolUse {
        /// The call's id, which its result names.
        id: String,
        /// The tool called.
        name: String,
        /// The arguments, a JSON object.
        input: Value,
    },
    /// A tool's result, in a user turn.
    ToolResult {
        /// The call it answers.
        tool_use_id: String,
        /// What the tool returned: text, or text and image blocks.
        content: MessageContent,
    },
}

/// Where an image block's image is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ImageSource {
    /// The image itself.
    Base64 {
        /// `image/png`, `image/jpeg`, `image/gif` or `image/webp`.
        media_type: String,
        /// The image's bytes, base64.
        data: String,
    },
    /// A URL Anthropic fetches.
    Url {
        /// The URL.
        url: String,
    },
}

/// A tool the model may use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum Tool {
    /// A function declared by the request's tools.
    Custom(CustomTool),
    /// Any other tool (a server tool such as web search), from the extra parameters, as it
    /// came.
    Other(Value),
}

/// A client tool: a function the caller runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct CustomTool {
    /// Its name.
    pub(crate) name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    /// The JSON Schema of its input.
    pub(crate) input_schema: Value,
}

/// Whether and which tool the model must use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ToolChoice {
    /// The model decides.
    Auto,
    /// Some tool.
    Any,
    /// This tool.
    Tool {
        /// The tool.
        name: String,
    },
    /// No tool.
    None,
}

/// The text of a string, or of an array of `{type: "text", text}` blocks; empty otherwise.
fn text_of(value: Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text),
        Value::Array(blocks) => Some(
            blocks
                .iter()
                .filter_map(|b| b.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(""),
        ),
        _ => None,
    }
}

fn optional_text<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Ok(text_of(Value::deserialize(deserializer)?))
}

/// A reply: `{"type": "message", ...}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct MessagesResponse {
    /// The message's id (`msg_...`).
    #[serde(default)]
    pub(crate) id: String,
    /// `message`.
    #[serde(default, rename = "type")]
    pub(crate) kind: String,
    /// `assistant`.
    #[serde(default)]
    pub(crate) role: String,
    /// The exact model that answered.
    #[serde(default)]
    pub(crate) model: Option<String>,
    /// What the model wrote, block by block.
    #[serde(default)]
    pub(crate) content: Vec<ContentBlock>,
    /// `end_turn`, `max_tokens`, `stop_sequence`, `tool_use`, `pause_turn`, `refusal`.
    #[serde(default)]
    pub(crate) stop_reason: Option<String>,
    /// The stop sequence that was met, if one was.
    #[serde(default)]
    pub(crate) stop_sequence: Option<String>,
    /// Tokens billed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) usage: Option<WireUsage>,
}

/// One block of the reply.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ContentBlock {
    /// `text`, `thinking`, `tool_use`, ...
    #[serde(rename = "type")]
    pub(crate) kind: String,
    /// The text of a `text` block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) text: Option<String>,
    /// A `tool_use` block's call id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
    /// A `tool_use` block's tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    /// A `tool_use` block's arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) input: Option<Value>,
    /// The rest of the block (`thinking`, `citations`, ...).
    #[serde(flatten)]
    pub(crate) extra: Map<String, Value>,
}

/// Tokens billed, as Anthropic reports them. `input_tokens` leaves out the tokens written
/// to and read from the prompt cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WireUsage {
    /// Prompt tokens after the last cache breakpoint, neither read nor written to a cache.
    #[serde(default)]
    pub(crate) input_tokens: u64,
    /// Output tokens, thinking included.
    #[serde(default)]
    pub(crate) output_tokens: u64,
    /// Prompt tokens written to the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cache_creation_input_tokens: Option<u64>,
    /// Prompt tokens read from the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cache_read_input_tokens: Option<u64>,
}

/// An error reply: `{"type": "error", "error": {...}}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ErrorReply {
    /// `error`.
    #[serde(default, rename = "type")]
    pub(crate) kind: String,
    /// What went wrong.
    pub(crate) error: ErrorDetail,
    /// The request's id, for Anthropic's support.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) request_id: Option<String>,
}

/// What went wrong.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ErrorDetail {
    /// `invalid_request_error`, `authentication_error`, `permission_error`,
    /// `not_found_error`, `request_too_large`, `rate_limit_error`, `api_error`,
    /// `overloaded_error`, `billing_error`, ...
    #[serde(default, rename = "type")]
    pub(crate) kind: String,
    /// In words.
    #[serde(default)]
    pub(crate) message: String,
}

impl ErrorReply {
    /// An error reply of `kind` saying `message`, as the classification tests write them.
    #[cfg(test)]
    pub(crate) fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind: "error".into(),
            error: ErrorDetail {
                kind: kind.into(),
                message: message.into(),
            },
            request_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_blocks_and_a_block_system_as_text() {
        let request: MessagesRequest = serde_json::from_value(json!({
            "model": "claude-x",
            "max_tokens": 10,
            "system": [{"type": "text", "text": "Be "}, {"type": "text", "text": "brief."}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
            "metadata": {"user_id": "u1"}
        }))
        .unwrap();
        assert_eq!(request.system.as_deref(), Some("Be brief."));
        assert_eq!(
            request.messages[0].content,
            MessageContent::Blocks(vec![Block::Text { text: "Hi".into() }])
        );
        assert_eq!(request.extra["metadata"], json!({"user_id": "u1"}));
        let back = serde_json::to_value(&request).unwrap();
        assert_eq!(back["system"], "Be brief.");
        assert_eq!(back["metadata"], json!({"user_id": "u1"}));
    }

    #[test]
    fn blocks_and_tools_are_written_as_anthropic_reads_them() {
        let blocks = vec![
            Block::Image {
                source: ImageSource::Url {
                    url: "https://x/y.png".into(),
                },
            },
            Block::ToolResult {
                tool_use_id: "toolu_1".into(),
                content: MessageContent::Text("42".into()),
            },
        ];
        assert_eq!(
            serde_json::to_value(&blocks).unwrap(),
            json!([
                {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "42"}
            ])
        );
        let choice = ToolChoice::Tool { name: "f".into() };
        assert_eq!(
            serde_json::to_value(&choice).unwrap(),
            json!({"type": "tool", "name": "f"})
        );
        let tools = vec![
            Tool::Custom(CustomTool {
                name: "f".into(),
                description: None,
                input_schema: json!({"type": "object"}),
            }),
            Tool::Other(json!({"type": "web_search_20250305", "name": "web_search"})),
        ];
        assert_eq!(
            serde_json::to_value(&tools).unwrap(),
            json!([
                {"name": "f", "input_schema": {"type": "object"}},
                {"type": "web_search_20250305", "name": "web_search"}
            ])
        );
    }
}
