//! The `anthropic` and `gemini` providers' settings of one model entry: where the API is and
//! the key, each from the entry or the provider's usual environment variables.

use pacer_providers::anthropic::{self, AnthropicConfig};
use pacer_providers::gemini::{self, GeminiConfig};

use super::ConfigError;
use super::file::ModelEntry;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `base_url` from the entry, else the environment variable `var`, else `default`; checked to
/// be an http(s) URL and returned without a trailing slash.
fn base_url(
    entry: &ModelEntry,
    var: &str,
    default: &str,
    shape: &str,
    at: &dyn Fn(&str, String) -> ConfigError,
) -> Result<String, ConfigError> {
    let (key, url) = match (&entry.base_url, env(var)) {
        (Some(url), _) => ("base_url", url.clone()),
        (None, Some(url)) => (var, url),
        (None, None) => ("base_url", default.to_owned()),
    };
    let trimmed = url.trim().trim_end_matches('/');
    if !(trimmed.starts_with("http://") || trimmed.starts_with("https://")) {
        return Err(at(
            key,
            format!("expected an http:// or https:// URL ({shape}), found `{url}`"),
        ));
    }
    Ok(trimmed.to_owned())
}

/// The Anthropic settings of `entry`: `base_url` (the host root, as Anthropic's SDK takes it)
/// else `ANTHROPIC_BASE_URL`; the key from `api_key` else `ANTHROPIC_API_KEY`, required for
/// Anthropic itself (a local stand-in may need none).
pub(super) fn anthropic(
    entry: &ModelEntry,
    at: &dyn Fn(&str, String) -> ConfigError,
) -> Result<AnthropicConfig, ConfigError> {
    let mut config =
        AnthropicConfig::new(entry.api_key.clone().or_else(|| env("ANTHROPIC_API_KEY")));
    config.base_url = base_url(
        entry,
        "ANTHROPIC_BASE_URL",
        anthropic::DEFAULT_BASE_URL,
        "the host root, e.g. https://api.anthropic.com",
        at,
    )?;
    if config.api_key.is_none() && config.base_url == anthropic::DEFAULT_BASE_URL {
        return Err(at(
            "api_key",
            "no API key for Anthropic: set ANTHROPIC_API_KEY (or `api_key = \"${MY_KEY}\"` in the model's entry)".into(),
        ));
    }
    Ok(config)
}

/// The Gemini settings of `entry`: `base_url` (up to the API version) else
/// `GEMINI_BASE_URL`; the key from `api_key`, else `GEMINI_API_KEY`, else `GOOGLE_API_KEY`,
/// required for Google's API itself.
pub(super) fn gemini(
    entry: &ModelEntry,
    at: &dyn Fn(&str, String) -> ConfigError,
) -> Result<GeminiConfig, ConfigError> {
    let key = entry
        .api_key
        .clone()
        .or_else(|| env("GEMINI_API_KEY"))
        .or_else(|| env("GOOGLE_API_KEY"));
    let mut config = GeminiConfig::new(key);
    config.base_url = base_url(
        entry,
        "GEMINI_BASE_URL",
        gemini::DEFAULT_BASE_URL,
        "up to the API version, e.g. https://generativelanguage.googleapis.com/v1beta",
        at,
    )?;
    if config.api_key.is_none() && config.base_url == gemini::DEFAULT_BASE_URL {
        return Err(at(
            "api_key",
            "no API key for Gemini: set GEMINI_API_KEY or GOOGLE_API_KEY (or `api_key = \"${MY_KEY}\"` in the model's entry)".into(),
        ));
    }
    Ok(config)
}
