//! The Messages request body as the mock reads it: the mock's own type, holding only what
//! it reads, so that a mistake in the provider's wire types cannot hide on both sides of a
//! test. The endpoint checks that the body is an object with the required fields first, in
//! Anthropic's words; a value of the wrong type is then serde's error.

use serde::Deserialize;

use crate::content;

/// `POST /v1/messages`.
#[derive(Debug, Deserialize)]
pub(super) struct MessagesRequest {
    pub(super) model: String,
    /// `user` and `assistant` turns only; the endpoint checks the roles.
    pub(super) messages: Vec<Message>,
    /// The output cap, which Anthropic requires.
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
}

/// One turn; content blocks (images, tool results, ...) are read as their text.
#[derive(Debug, Deserialize)]
pub(super) struct Message {
    pub(super) role: String,
    #[serde(default, deserialize_with = "content::text")]
    pub(super) content: String,
}
