//! The `generateContent` request body as the mock reads it (camelCase on the wire): the
//! mock's own types, holding only what it reads, so that a mistake in the provider's wire
//! types cannot hide on both sides of a test. A value of the wrong type is serde's error.
//! The request, a part and the generation config must be JSON objects: serde would read a
//! struct from an array of its fields, but not one with a flattened field (`_rest`).

use serde::Deserialize;
use serde::de::IgnoredAny;

/// `POST .../models/{model}:generateContent`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GenerateContentRequest {
    /// The conversation: `user` and `model` turns.
    #[serde(default)]
    pub(super) contents: Vec<Content>,
    #[serde(default)]
    pub(super) system_instruction: Option<Content>,
    #[serde(default)]
    pub(super) generation_config: Option<GenerationConfig>,
    /// The other fields (`safetySettings`, `tools`, ...), unread.
    #[serde(flatten)]
    _rest: IgnoredAny,
}

/// One turn, or the system instruction.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Content {
    /// `user` or `model`; none on a system instruction.
    #[serde(default)]
    pub(super) role: Option<String>,
    #[serde(default)]
    pub(super) parts: Vec<Part>,
}

/// One part of a turn; only text parts say anything to the mock.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Part {
    #[serde(default)]
    pub(super) text: Option<String>,
    /// The other fields (`inlineData`, `functionCall`, ...), unread.
    #[serde(flatten)]
    _rest: IgnoredAny,
}

/// `generationConfig`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GenerationConfig {
    #[serde(default)]
    pub(super) temperature: Option<f64>,
    #[serde(default)]
    pub(super) top_p: Option<f64>,
    #[serde(default)]
    pub(super) top_k: Option<u32>,
    /// The output cap, per candidate.
    #[serde(default)]
    pub(super) max_output_tokens: Option<u32>,
    #[serde(default)]
    pub(super) candidate_count: Option<u32>,
    #[serde(default)]
    pub(super) seed: Option<u64>,
    #[serde(default)]
    pub(super) stop_sequences: Option<Vec<String>>,
    /// Whether to return the chosen tokens' log-probabilities.
    #[serde(default)]
    pub(super) response_logprobs: Option<bool>,
    /// Alternatives per token, with `responseLogprobs`.
    #[serde(default)]
    pub(super) logprobs: Option<u8>,
    /// The other fields (`responseMimeType`, `thinkingConfig`, ...), unread.
    #[serde(flatten)]
    _rest: IgnoredAny,
}
