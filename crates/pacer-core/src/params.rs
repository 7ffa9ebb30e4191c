//! Sampling and output parameters, common to every provider.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The parameters of one request. `None` leaves the provider's default in place.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling mass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Top-k sampling (Anthropic, Gemini, local models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// The most output tokens one completion may use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Seed for providers that sample reproducibly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// Completions asked for in this one call (OpenAI's `n`); 0 and 1 both mean one.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub n: u32,
    /// Whether to return the log-probabilities of the generated tokens.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub logprobs: bool,
    /// How many alternatives to return per token when `logprobs` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<u8>,
    /// Provider-specific parameters, passed through as they are.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
    /// The JSON Schema the output must match, for structured output: each provider sends it
    /// in its own way (see the providers' docs), and the lane checks every reply against it.
    ///
    /// Shared, since every request of a lane carries the same schema. Never serialized nor
    /// read: it is no sampling parameter, so it stays out of records' `sampling_params`, and
    /// a prompt file cannot set it.
    #[serde(skip)]
    pub schema: Option<Arc<Value>>,
    /// Tools the model may call, from the model's entry or the prompt. Not serialized into
    /// records' `sampling_params`: they are no sampling parameter.
    #[serde(skip)]
    pub tools: Vec<crate::Tool>,
    /// Whether and which tool the model must call; `None` leaves the provider's default.
    #[serde(skip)]
    pub tool_choice: Option<crate::ToolChoice>,
}

fn one() -> u32 {
    1
}

/// One completion (as serde's default has it: a request read back from JSON equals the one
/// written), nothing else set.
impl Default for Params {
    fn default() -> Self {
        Self {
            temperature: None,
            top_p: None,
            top_k: None,
            max_tokens: None,
            seed: None,
            stop: Vec::new(),
            n: 1,
            logprobs: false,
            top_logprobs: None,
            extra: Map::new(),
            schema: None,
            tools: Vec::new(),
            tool_choice: None,
        }
    }
}

fn is_one(n: &u32) -> bool {
    *n <= 1
}

impl Params {
    /// The output tokens this request may use at most, over all its completions, given the
    /// default to assume when `max_tokens` is unset.
    pub fn max_output_tokens(&self, default_max_tokens: u32) -> u64 {
        u64::from(self.max_tokens.unwrap_or(default_max_tokens)) * u64::from(self.n.max(1))
    }
}
