//! Which API serves a model, and how it is reached.

use pacer_providers::anthropic::AnthropicConfig;
use pacer_providers::gemini::GeminiConfig;
#[cfg(feature = "local")]
use pacer_providers::local::LocalConfig;
use pacer_providers::openai::OpenAiConfig;

/// Which API a model is reached through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderType {
    /// The in-process mock.
    Mock,
    /// OpenAI or any OpenAI-compatible server.
    OpenAi,
    /// Anthropic's Messages API (Claude).
    Anthropic,
    /// Google's Gemini API.
    Gemini,
    /// A GGUF model in-process (the `local` feature).
    #[cfg(feature = "local")]
    Local,
}

impl ProviderType {
    /// The provider named by a model entry's `type` (or the `TYPE` of `-m TYPE:NAME`).
    pub(super) fn parse(kind: &str) -> Result<Self, String> {
        match kind.to_ascii_lowercase().as_str() {
            "mock" => Ok(ProviderType::Mock),
            "openai" | "openai-compatible" | "vllm" | "ollama" | "llamacpp" | "llama.cpp" => {
                Ok(ProviderType::OpenAi)
            }
            "anthropic" | "claude" => Ok(ProviderType::Anthropic),
            "gemini" | "google" => Ok(ProviderType::Gemini),
            #[cfg(feature = "local")]
            "local" => Ok(ProviderType::Local),
            #[cfg(not(feature = "local"))]
            "local" => Err(format!(
                "provider `{kind}` is not part of this build of pacer; build it with `--features local` (available: openai, anthropic, gemini, mock)"
            )),
            #[cfg(feature = "local")]
            _ => Err(format!(
                "unknown provider `{kind}`; expected one of: openai, anthropic (or claude), gemini, local, mock"
            )),
            #[cfg(not(feature = "local"))]
            _ => Err(format!(
                "unknown provider `{kind}`; expected one of: openai, anthropic (or claude), gemini, mock"
            )),
        }
    }
}

/// The settings that reach one model's API.
#[derive(Clone, Debug)]
pub enum Connection {
    /// The in-process mock needs none.
    Mock,
    /// An OpenAI-compatible server.
    OpenAi(OpenAiConfig),
    /// Anthropic.
    Anthropic(AnthropicConfig),
    /// Gemini.
    Gemini(GeminiConfig),
    /// A GGUF model in-process.
    #[cfg(feature = "local")]
    Local(LocalConfig),
}
