//! From a model spec to its provider.

use std::sync::Arc;

use pacer_core::Provider;
use pacer_providers::MockProvider;

use crate::config::{ModelSpec, ProviderType};

/// The provider serving `model`.
pub fn build(model: &ModelSpec) -> Arc<dyn Provider> {
    match model.provider {
        ProviderType::Mock => Arc::new(MockProvider::new(model.mock.clone())),
    }
}
