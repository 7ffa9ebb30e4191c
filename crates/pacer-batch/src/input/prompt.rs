//! One prompt as read from an input file, and where in the file it came from.

use pacer_core::{Message, Params};
use serde_json::{Map, Value};

/// One prompt of a run: its id, its conversation, and what else the input said about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Prompt {
    /// Unique within the file: `prompt_id`, `id` or `custom_id` (the first present), or
    /// `prompt_0001`-style from the item's position when none is.
    pub id: String,
    /// The conversation: the system message first when one is given, then the chat, or the
    /// single user message of a `prompt`.
    pub messages: Vec<Message>,
    /// Texts to embed, from an `input` list; empty otherwise (an embedding model embeds a
    /// prompt's one user text, see [`Prompt::embed_texts`]).
    pub inputs: Vec<String>,
    /// Which models the prompt is for: a batch line's `url`, or its shape.
    pub endpoint: Endpoint,
    /// Per-prompt parameter overrides: a request body's parameters (batch lines, request
    /// files), and an item's own `tools` and `tool_choice`; `None` when the item sets none.
    pub params: Option<Params>,
    /// Every other field of the item, in input order, copied as is; `category` is renamed
    /// `prompt_category` (the name `run_pilot.py` results use), and a batch line's
    /// `body.model` is kept as `batch_model`.
    pub metadata: Map<String, Value>,
    /// Where in the file the prompt came from.
    pub origin: Origin,
}

/// Which models a prompt is for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// Any: chat models answer it, embedding models embed it when it is one user text.
    #[default]
    Any,
    /// Chat (and Responses API) models only: a batch line for `/v1/chat/completions`,
    /// `/v1/responses` or `/v1/completions`, or an `input` list of messages.
    Chat,
    /// Embedding models only: a batch line for `/v1/embeddings`, or an `input` list of texts.
    Embeddings,
}

impl Prompt {
    /// The texts an embedding model embeds for this prompt: its `input` list, or its one
    /// user message when that is all it says; `None` when it is no embedding prompt (a
    /// conversation, a system message, images) or is for chat models only.
    pub fn embed_texts(&self) -> Option<Vec<&str>> {
        if self.endpoint == Endpoint::Chat {
            return None;
        }
        if !self.inputs.is_empty() {
            return Some(self.inputs.iter().map(String::as_str).collect());
        }
        match self.messages.as_slice() {
            [only] if only.role == pacer_core::Role::User => match &only.content {
                pacer_core::Content::Text(text) => Some(vec![text.as_str()]),
                pacer_core::Content::Parts(_) => None,
            },
            _ => None,
        }
    }

    /// Whether a chat model answers this prompt.
    pub fn for_chat(&self) -> bool {
        self.endpoint != Endpoint::Embeddings && !self.messages.is_empty()
    }
}

/// Where an item starts in its input file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    /// 1-based line number on which the item starts. Exact for JSONL and CSV; for an element
    /// of a JSON array, the line of its first character, counted as the file streams by.
    pub line: u64,
    /// 1-based position of the item among all the items of the file, invalid ones included.
    pub index: u64,
}
