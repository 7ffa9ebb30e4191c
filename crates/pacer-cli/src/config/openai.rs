//! The `openai` provider's settings of one model entry: where the server is, the key, the
//! endpoint and which models reason.

use pacer_providers::openai::{Api, OpenAiConfig};

use super::ConfigError;
use super::file::ModelEntry;

/// The OpenAI settings of `entry`: `base_url`, else `OPENAI_BASE_URL`, else OpenAI; the key
/// from `api_key`, else `OPENAI_API_KEY`.
pub(super) fn settings(
    entry: &ModelEntry,
    at: &dyn Fn(&str, String) -> ConfigError,
) -> Result<OpenAiConfig, ConfigError> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let mut config = OpenAiConfig::new(entry.api_key.clone().or_else(|| env("OPENAI_API_KEY")));
    let (base_key, base_url) = match (&entry.base_url, env("OPENAI_BASE_URL")) {
        (Some(url), _) => ("base_url", url.clone()),
        (None, Some(url)) => ("OPENAI_BASE_URL", url),
        (None, None) => ("base_url", config.base_url.clone()),
    };
    let trimmed = base_url.trim().trim_end_matches('/');
    if !(trimmed.starts_with("http://") || trimmed.starts_with("https://")) {
        return Err(at(
            base_key,
            format!("expected an http:// or https:// URL ending in /v1, found `{base_url}`"),
        ));
    }
    config.base_url = trimmed.to_owned();
    if config.api_key.is_none() && config.base_url == pacer_providers::openai::DEFAULT_BASE_URL {
        return Err(at(
            "api_key",
            "no API key for OpenAI: set OPENAI_API_KEY (or `api_key = \"${MY_KEY}\"` in the model's entry)".into(),
        ));
    }
    config.api = match entry.api.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("chat") | Some("chat/completions") => Api::Chat,
        Some("completions") | Some("completion") | Some("legacy") => Api::Completions,
        Some("responses") => Api::Responses,
        Some(other) => {
            return Err(at(
                "api",
                format!("expected `chat`, `responses` or `completions`, found `{other}`"),
            ));
        }
    };
    if let Some(pattern) = &entry.reasoning_pattern {
        config.reasoning = regex::Regex::new(pattern).map_err(|e| {
            at(
                "reasoning_pattern",
                format!("not a valid regular expression: {e}"),
            )
        })?;
    }
    config.supports_n = entry.supports_n;
    Ok(config)
}
