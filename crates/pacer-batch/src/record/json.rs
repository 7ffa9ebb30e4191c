//! A record as JSON: its fields in a fixed order with the prompt's metadata between seed
//! 003's and Pacer's, and its timestamp written and read.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde::de::{self, Deserializer};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Record;

/// `timestamp` as records write it: RFC 3339 UTC with microseconds.
pub(crate) fn format_timestamp(timestamp: &DateTime<Utc>) -> String {
    timestamp.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(super) fn deserialize_timestamp<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<DateTime<Utc>, D::Error> {
    let text = String::deserialize(d)?;
    if let Ok(parsed) = DateTime::parse_from_rfc3339(&text) {
        return Ok(parsed.with_timezone(&Utc));
    }
    // Seed 003 wrote local ISO 8601 times without an offset; read them as UTC.
    NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S%.f")
        .map(|naive| naive.and_utc())
        .map_err(|_| de::Error::custom(format!("`{text}` is not an RFC 3339 timestamp")))
}

/// The name a metadata key is written under: itself, or `prompt_`-prefixed until it clashes
/// with no record field and no other metadata key.
fn metadata_name<'a>(key: &'a str, metadata: &Map<String, Value>) -> std::borrow::Cow<'a, str> {
    if !Record::FIELDS.contains(&key) {
        return key.into();
    }
    let mut name = format!("prompt_{key}");
    while Record::FIELDS.contains(&name.as_str()) || metadata.contains_key(&name) {
        name.insert_str(0, "prompt_");
    }
    name.into()
}

impl Serialize for Record {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let written = [
            self.tool_calls.is_some(),
            self.embedding.is_some(),
            self.embedding_index.is_some(),
            self.first_token_seconds.is_some(),
            self.deployment.is_some(),
        ];
        let skipped = written.iter().filter(|written| !**written).count();
        let len = Self::FIELDS.len() - skipped + self.metadata.len();
        let mut map = serializer.serialize_map(Some(len))?;
        map.serialize_entry("run_id", &self.run_id)?;
        map.serialize_entry("prompt_id", &self.prompt_id)?;
        map.serialize_entry("model", &self.model)?;
        map.serialize_entry("model_version", &self.model_version)?;
        map.serialize_entry("full_response", &self.full_response)?;
        map.serialize_entry("tokens_used", &self.tokens_used)?;
        map.serialize_entry("token_logprobs", &self.token_logprobs)?;
        map.serialize_entry("sampling_params", &self.sampling_params)?;
        map.serialize_entry("timestamp", &format_timestamp(&self.timestamp))?;
        map.serialize_entry("elapsed_seconds", &self.elapsed_seconds)?;
        map.serialize_entry("error", &self.error)?;
        map.serialize_entry("retry_count", &self.retry_count)?;
        for (key, value) in &self.metadata {
            map.serialize_entry(&metadata_name(key, &self.metadata), value)?;
        }
        map.serialize_entry("provider", &self.provider)?;
        map.serialize_entry("label", &self.label)?;
        map.serialize_entry("sample", &self.sample)?;
        map.serialize_entry("status", &self.status)?;
        map.serialize_entry("finish_reason", &self.finish_reason)?;
        map.serialize_entry("truncated", &self.truncated)?;
        map.serialize_entry("parsed", &self.parsed)?;
        if let Some(calls) = &self.tool_calls {
            map.serialize_entry("tool_calls", calls)?;
        }
        if let Some(embedding) = &self.embedding {
            map.serialize_entry("embedding", embedding)?;
        }
        if let Some(index) = &self.embedding_index {
            map.serialize_entry("embedding_index", index)?;
        }
        map.serialize_entry("attempts", &self.attempts)?;
        map.serialize_entry("latency_seconds", &self.latency_seconds)?;
        map.serialize_entry("queue_seconds", &self.queue_seconds)?;
        if let Some(seconds) = &self.first_token_seconds {
            map.serialize_entry("first_token_seconds", seconds)?;
        }
        map.serialize_entry("usage_all_attempts", &self.usage_all_attempts)?;
        map.serialize_entry("cost_usd", &self.cost_usd)?;
        map.serialize_entry("mode", &self.mode)?;
        map.serialize_entry("batch_id", &self.batch_id)?;
        if let Some(deployment) = &self.deployment {
            map.serialize_entry("deployment", deployment)?;
        }
        map.end()
    }
}
