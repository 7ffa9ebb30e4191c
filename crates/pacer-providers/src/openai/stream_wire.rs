//! OpenAI's streamed chat completion, as serde types: the `chat.completion.chunk` each
//! server-sent event carries. Every field may be missing from a chunk; unknown fields are
//! ignored.

use serde::Deserialize;

use super::wire::{ErrorDetail, WireUsage};

/// One `data:` event of a streamed chat completion.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub(crate) struct ChatChunk {
    /// The exact model version that answers.
    #[serde(default)]
    pub(crate) model: Option<String>,
    /// What each choice adds; none in the last chunk, which carries the usage.
    #[serde(default)]
    pub(crate) choices: Vec<ChunkChoice>,
    /// Tokens billed, in the last chunk (with `stream_options.include_usage`); null before.
    #[serde(default)]
    pub(crate) usage: Option<WireUsage>,
    /// An error the server met after its head was sent.
    #[serde(default)]
    pub(crate) error: Option<ErrorDetail>,
}

/// What one choice adds.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub(crate) struct ChunkChoice {
    /// Which choice.
    #[serde(default)]
    pub(crate) index: u32,
    /// The new text and calls (null in some servers' last chunk).
    #[serde(default)]
    pub(crate) delta: Option<ChunkDelta>,
    /// Why the choice ended, in its last chunk.
    #[serde(default)]
    pub(crate) finish_reason: Option<String>,
}

/// The new pieces of a choice.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub(crate) struct ChunkDelta {
    /// More text.
    #[serde(default)]
    pub(crate) content: Option<String>,
    /// More of a refusal.
    #[serde(default)]
    pub(crate) refusal: Option<String>,
    /// New calls, and more of their arguments (null where there are none, on some
    /// compatible servers).
    #[serde(default)]
    pub(crate) tool_calls: Option<Vec<ChunkToolCall>>,
}

/// A piece of one tool call: its id and name when it begins, then its arguments in pieces.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub(crate) struct ChunkToolCall {
    /// The call's position among the choice's calls (left out by some compatible servers).
    #[serde(default)]
    pub(crate) index: Option<u32>,
    /// The call's id, in its first piece.
    #[serde(default)]
    pub(crate) id: Option<String>,
    /// The function, and more of its arguments.
    #[serde(default)]
    pub(crate) function: Option<ChunkFunction>,
}

/// A piece of a function call.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub(crate) struct ChunkFunction {
    /// The function called, in the call's first piece.
    #[serde(default)]
    pub(crate) name: Option<String>,
    /// More of the arguments' JSON text.
    #[serde(default)]
    pub(crate) arguments: Option<String>,
}
