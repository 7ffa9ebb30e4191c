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
    /// Per-prompt parameter overrides. Only OpenAI Batch API lines carry them (from their
    /// `body`); `None` for every other item.
    pub params: Option<Params>,
    /// Every other field of the item, in input order, copied as is; `category` is renamed
    /// `prompt_category` (the name `run_pilot.py` results use), and a batch line's
    /// `body.model` is kept as `batch_model`.
    pub metadata: Map<String, Value>,
    /// Where in the file the prompt came from.
    pub origin: Origin,
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
