//! The events of a streamed Messages reply, as serde types: each server-sent event's data,
//! told apart by its `type`. Unknown types and fields are ignored.

use serde::Deserialize;
use serde_json::Value;

/// One event's data.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum StreamEvent {
    /// The reply begins: its model and the prompt's usage.
    MessageStart {
        /// The message so far, its content empty.
        message: StartedMessage,
    },
    /// A content block begins.
    ContentBlockStart {
        /// Its position among the reply's blocks.
        index: u32,
        /// The block, its text or input still empty (or a first piece).
        content_block: StartedBlock,
    },
    /// More of a block.
    ContentBlockDelta {
        /// The block.
        index: u32,
        /// What it adds.
        delta: BlockDelta,
    },
    /// A block is done.
    ContentBlockStop {
        /// The block.
        index: u32,
    },
    /// The reply's end: why it stopped, and the usage so far.
    MessageDelta {
        /// The stop reason.
        delta: MessageEnd,
        /// The usage so far (the output tokens; newer servers repeat the rest).
        #[serde(default)]
        usage: Option<StreamUsage>,
    },
    /// The last event.
    MessageStop,
    /// A keep-alive.
    Ping,
    /// An error met after the head was sent; the data is an error reply.
    Error,
    /// An event newer than this list.
    #[serde(other)]
    Other,
}

/// The message of `message_start`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub(crate) struct StartedMessage {
    /// The exact model that answers.
    #[serde(default)]
    pub(crate) model: Option<String>,
    /// The prompt's usage.
    #[serde(default)]
    pub(crate) usage: Option<StreamUsage>,
}

/// A block as `content_block_start` opens it.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub(crate) struct StartedBlock {
    /// `text`, `tool_use`, `thinking`, ...
    #[serde(rename = "type")]
    pub(crate) kind: String,
    /// A text block's first text (usually empty).
    #[serde(default)]
    pub(crate) text: Option<String>,
    /// A `tool_use` block's call id.
    #[serde(default)]
    pub(crate) id: Option<String>,
    /// A `tool_use` block's tool.
    #[serde(default)]
    pub(crate) name: Option<String>,
    /// A `tool_use` block's input so far (`{}`; the arguments come as JSON pieces).
    #[serde(default)]
    pub(crate) input: Option<Value>,
}

/// What a `content_block_delta` adds.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum BlockDelta {
    /// More text.
    TextDelta {
        /// The text.
        text: String,
    },
    /// More of a tool call's input, as JSON text.
    InputJsonDelta {
        /// The piece.
        partial_json: String,
    },
    /// Thinking, its signature, citations: not part of the reply's text.
    #[serde(other)]
    Other,
}

/// The stop reason `message_delta` gives.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub(crate) struct MessageEnd {
    /// `end_turn`, `max_tokens`, `tool_use`, ...
    #[serde(default)]
    pub(crate) stop_reason: Option<String>,
}

/// Usage as the stream reports it: each count where the event has it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct StreamUsage {
    /// Prompt tokens neither read nor written to a cache.
    #[serde(default)]
    pub(crate) input_tokens: Option<u64>,
    /// Output tokens so far.
    #[serde(default)]
    pub(crate) output_tokens: Option<u64>,
    /// Prompt tokens written to the cache.
    #[serde(default)]
    pub(crate) cache_creation_input_tokens: Option<u64>,
    /// Prompt tokens read from the cache.
    #[serde(default)]
    pub(crate) cache_read_input_tokens: Option<u64>,
}
