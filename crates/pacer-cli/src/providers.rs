//! From a model spec to its provider.

use std::sync::Arc;

use pacer_core::{Provider, ProviderError};
use pacer_providers::MockProvider;
use pacer_providers::anthropic::AnthropicProvider;
use pacer_providers::gemini::GeminiProvider;
use pacer_providers::openai::OpenAiProvider;

use crate::config::{Connection, ModelSpec};

/// The provider serving `model`.
pub fn build(model: &ModelSpec) -> Result<Arc<dyn Provider>, ProviderError> {
    Ok(match &model.connection {
        Connection::Mock => Arc::new(MockProvider::new(model.mock.clone())),
        Connection::OpenAi(config) => Arc::new(OpenAiProvider::new(config.clone())?),
        Connection::Anthropic(config) => Arc::new(AnthropicProvider::new(config.clone())?),
        Connection::Gemini(config) => Arc::new(GeminiProvider::new(config.clone())?),
        // Loaded once here; the lane's requests share it.
        #[cfg(feature = "local")]
        Connection::Local(config) => Arc::new(
            pacer_providers::local::LocalProvider::load(config)
                .map_err(|e| ProviderError::new(pacer_core::ErrorKind::Config, e.to_string()))?,
        ),
    })
}
