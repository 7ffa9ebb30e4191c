//! From a model spec to its provider.

use std::sync::Arc;

use pacer_core::{Provider, ProviderError};
use pacer_providers::MockProvider;
use pacer_providers::openai::OpenAiProvider;

use crate::config::{ModelSpec, ProviderType};

/// The provider serving `model`.
pub fn build(model: &ModelSpec) -> Result<Arc<dyn Provider>, ProviderError> {
    Ok(match model.provider {
        ProviderType::Mock => Arc::new(MockProvider::new(model.mock.clone())),
        ProviderType::OpenAi => {
            let config = model
                .openai
                .clone()
                .expect("openai models are resolved with their settings");
            Arc::new(OpenAiProvider::new(config)?)
        }
    })
}
