//! A model entry's request shape: an embedding model (`kind = "embedding"`, packed
//! `embed_batch` texts a request, vectors maybe to a side file), and the `tools` and
//! `tool_choice` its requests carry.

use pacer_batch::EmbedSettings;
use pacer_core::{Tool, ToolChoice};

use super::ConfigError;
use super::file::ModelEntry;
use super::provider::ProviderType;

/// Whether the entry is an embedding model: `kind = "embedding"`, or, without a `kind`, a
/// name that says so (`text-embedding-3-small`, `gemini-embedding-001`, `nomic-embed-text`).
pub(super) fn embed_settings(
    entry: &ModelEntry,
    provider: ProviderType,
    samples: u32,
    at: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Option<EmbedSettings>, ConfigError> {
    let embedding = match entry.request_kind.as_deref() {
        Some("embedding" | "embeddings") => true,
        Some("chat" | "completion") => false,
        Some(other) => {
            return Err(at(
                "kind",
                format!("expected \"chat\" or \"embedding\", found {other:?}"),
            ));
        }
        None => entry.name.to_ascii_lowercase().contains("embed"),
    };
    let only = |key: &str| {
        at(
            key,
            "applies to embedding models only; add kind = \"embedding\" to the entry".into(),
        )
    };
    if !embedding {
        return match (entry.embed_batch, entry.embeddings_file) {
            (Some(_), _) => Err(only("embed_batch")),
            (_, Some(_)) => Err(only("embeddings_file")),
            (None, None) => Ok(None),
        };
    }
    let no_embeddings = match provider {
        ProviderType::Anthropic => Some("anthropic"),
        #[cfg(feature = "local")]
        ProviderType::Local => Some("local"),
        ProviderType::Mock | ProviderType::OpenAi | ProviderType::Gemini => None,
    };
    if let Some(name) = no_embeddings {
        return Err(at(
            "kind",
            format!(
                "an embedding model, but {name} has no embeddings API; embeddings work with openai (and compatible servers), gemini and mock"
            ),
        ));
    }
    if samples > 1 {
        return Err(at(
            "samples",
            format!("an embedding model embeds each text once; found samples = {samples}"),
        ));
    }
    if entry.mode.as_deref() == Some("batch") {
        return Err(at(
            "mode",
            "embedding models run live, packed many texts a request; remove mode = \"batch\""
                .into(),
        ));
    }
    let defaults = EmbedSettings::default();
    let batch = match entry.embed_batch {
        Some(0) => return Err(at("embed_batch", "expected at least 1".into())),
        Some(batch) => batch,
        None => defaults.batch,
    };
    Ok(Some(EmbedSettings {
        batch,
        side_file: entry.embeddings_file.unwrap_or(defaults.side_file),
    }))
}

/// The entry's `tools` and `tool_choice`, read in any of the forms prompts may use.
pub(super) fn tools(
    entry: &ModelEntry,
    at: &dyn Fn(&str, String) -> ConfigError,
) -> Result<(Vec<Tool>, Option<ToolChoice>), ConfigError> {
    let tools = match &entry.tools {
        None => Vec::new(),
        Some(tools) => pacer_core::parse::tools(tools).map_err(|e| {
            let e = e.under("tools");
            let field = e.field.clone().unwrap_or_default();
            at(
                &field,
                format!("expected {}, found {}", e.expected, e.found),
            )
        })?,
    };
    let choice = entry
        .tool_choice
        .as_ref()
        .map(pacer_core::parse::tool_choice)
        .transpose()
        .map_err(|e| {
            at(
                "tool_choice",
                format!("expected {}, found {}", e.expected, e.found),
            )
        })?;
    Ok((tools, choice))
}
