//! The trait every provider implements.

use async_trait::async_trait;

use crate::{ProviderError, Request, Response};

/// How a provider counts a request's tokens against its rate limits, which the limiter
/// follows when it settles a permit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accounting {
    /// The estimate made at admission stands (OpenAI counts prompt plus `max_tokens`).
    Estimate,
    /// The actual usage replaces the estimate when the reply is in (Anthropic settles output
    /// tokens at the end; the in-process mock and local models too).
    Actual,
}

/// What one embedding request may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmbeddingLimits {
    /// The most texts.
    pub inputs: usize,
    /// The most tokens over all of them.
    pub tokens: u64,
    /// The most tokens of one text (the model's input length): a longer text is refused, so
    /// a run sends it alone, where its refusal is its own.
    pub input_tokens: u64,
}

impl EmbeddingLimits {
    /// OpenAI's embeddings API: 2,048 texts and 300,000 tokens a request, 8,192 tokens a
    /// text.
    pub const OPENAI: Self = Self {
        inputs: 2048,
        tokens: 300_000,
        input_tokens: 8192,
    };
}

/// The output tokens assumed for a request that sets no `max_tokens`, when its provider sends
/// no cap of its own: servers without a cap answer most prompts well within it.
pub const DEFAULT_MAX_TOKENS: u32 = 1024;

/// A language-model API: translates a [`Request`] to its wire format, sends it and
/// classifies what comes back.
///
/// # Example
///
/// ```
/// use async_trait::async_trait;
/// use pacer_core::{Accounting, Choice, FinishReason, Provider, ProviderError, Request, Response, Usage};
///
/// struct Echo;
///
/// #[async_trait]
/// impl Provider for Echo {
///     fn kind(&self) -> &'static str { "echo" }
///     fn accounting(&self) -> Accounting { Accounting::Actual }
///     async fn send(&self, request: &Request) -> Result<Response, ProviderError> {
///         let text = request.messages.last().map(|m| m.text().into_owned()).unwrap_or_default();
///         Ok(Response {
///             model_version: None,
///             choices: vec![Choice::text(text, FinishReason::Stop)],
///             embeddings: Vec::new(),
///             usage: Usage::default(),
///             rate_limits: None,
///             first_token: None,
///         })
///     }
/// }
/// ```
#[async_trait]
pub trait Provider: Send + Sync {
    /// The provider's short name, written in records (`"mock"`, `"openai"`, ...).
    fn kind(&self) -> &'static str;

    /// How the provider counts tokens against its limits.
    fn accounting(&self) -> Accounting;

    /// Estimates the prompt tokens of `request` before it is sent, for the token limiter.
    fn estimate_input_tokens(&self, request: &Request) -> u64 {
        crate::estimate_request(
            request,
            |text| (text.chars().count() as u64).div_ceil(4),
            crate::ImageBilling::OpenAi,
            crate::Overheads::NEUTRAL,
        )
    }

    /// The most completions one call may ask for (`n`); more samples are sent as separate
    /// calls.
    fn max_samples_per_call(&self, _model: &str) -> u32 {
        1
    }

    /// The output tokens a request without `max_tokens` is assumed to use at most, for the
    /// limiter's and the budget's estimate: the cap the provider sends when the request has
    /// none (Anthropic requires one), else [`DEFAULT_MAX_TOKENS`].
    fn default_max_tokens(&self) -> u32 {
        DEFAULT_MAX_TOKENS
    }

    /// Whether replies carry `x-ratelimit-*` headers the limiter can learn the limits from.
    /// A lane with no configured limits then sends one request first and paces the rest by
    /// what its reply said.
    fn reports_rate_limits(&self) -> bool {
        false
    }

    /// Where the provider has an embeddings API, what one embedding request may carry (a run
    /// packs prompts into requests within it). `None` (the default) for a provider without
    /// one: embedding models are refused before anything is sent.
    fn embedding_limits(&self) -> Option<EmbeddingLimits> {
        None
    }

    /// The provider's batch API, where it has one (OpenAI, Anthropic, Gemini): the same
    /// requests at the batch price, answered within a day.
    fn batch_api(&self) -> Option<&dyn crate::BatchApi> {
        None
    }

    /// Sends `request` and waits for the whole reply.
    async fn send(&self, request: &Request) -> Result<Response, ProviderError>;

    /// Sends `request` for a streamed reply and returns once its head is in: a success's
    /// pieces come as the upstream sends them; a refusal is an error here, as from
    /// [`send`](Self::send). The default waits for the whole reply and plays it back, for a
    /// provider whose API does not stream.
    async fn stream(&self, request: &Request) -> Result<crate::Streaming, ProviderError> {
        self.send(request).await.map(crate::Streaming::of_response)
    }
}
