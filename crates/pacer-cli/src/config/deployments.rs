//! A model entry's deployments (`deployments = [{ id, base_url, api_key, rpm, ... }]`): each
//! checked as an entry of its own, the entry's keys under the deployment's.

use serde_json::Value;

use super::file::ModelEntry;
use super::model::{KnownLimits, ModelSpec, model};
use super::{ConfigError, FileConfig, Overrides};

/// What a deployment may set; the rest comes from its entry.
const DEPLOYMENT_KEYS: [&str; 19] = [
    "id",
    "type",
    "provider",
    "name",
    "base_url",
    "api_key",
    "api",
    "rpm",
    "tpm",
    "itpm",
    "otpm",
    "concurrency",
    "timeout_secs",
    "price",
    "latency_ms",
    "fail_rate",
    "fail_kind",
    "rate_limit_every",
    "retry_after_ms",
];

/// The deployments of `entry`, each checked as an entry of its own: the entry's keys with
/// the deployment's over them. Ids default to the position, from 1.
pub(super) fn deployments(
    entry: &ModelEntry,
    config: &FileConfig,
    o: &Overrides,
    known: &KnownLimits<'_>,
    at: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Vec<ModelSpec>, ConfigError> {
    let Some(list) = &entry.deployments else {
        return Ok(Vec::new());
    };
    if list.is_empty() {
        return Err(at(
            "deployments",
            "expected at least one deployment, e.g. [{ base_url = \"...\", rpm = 500 }]".into(),
        ));
    }
    let mut base = serde_json::to_value(entry).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut base {
        map.remove("deployments");
    }
    let mut specs: Vec<ModelSpec> = Vec::with_capacity(list.len());
    for (i, deployment) in list.iter().enumerate() {
        let here = format!("deployments[{i}]");
        // A mistake in a key the deployment sets is its own; in one it takes from its entry,
        // the entry's.
        let at_here = |field: &str, message: String| {
            let key = field.split(['.', '[']).next().unwrap_or(field);
            if deployment.contains_key(key) {
                at(&format!("{here}.{field}"), message)
            } else {
                at(field, message)
            }
        };
        let mut deployment = deployment.clone();
        if let Some(key) = deployment
            .keys()
            .find(|k| !DEPLOYMENT_KEYS.contains(&k.as_str()))
        {
            return Err(at_here(
                key,
                format!(
                    "not a deployment's key: a deployment sets one of {} (the rest comes from its entry)",
                    DEPLOYMENT_KEYS.join(", ")
                ),
            ));
        }
        let id = match deployment.remove("id") {
            None => (i + 1).to_string(),
            Some(Value::String(id)) if !id.trim().is_empty() => id,
            Some(other) => {
                return Err(at_here(
                    "id",
                    format!("expected a name for the deployment, found {other}"),
                ));
            }
        };
        if specs
            .iter()
            .any(|s| s.deployment.as_deref() == Some(id.as_str()))
        {
            return Err(at_here(
                "id",
                format!("a second deployment named `{id}`: give each a distinct `id`"),
            ));
        }
        let mut merged = base.clone();
        if let Value::Object(map) = &mut merged {
            // A deployment of another provider takes none of the entry's address or key; one
            // at another address does not take the entry's key (never sent to a host it was
            // not written for).
            if deployment.contains_key("type") || deployment.contains_key("provider") {
                for key in ["type", "provider", "base_url", "api_key", "api"] {
                    map.remove(key);
                }
            }
            if deployment.contains_key("base_url") {
                map.remove("api_key");
            }
            map.extend(deployment);
        }
        let entry: ModelEntry = serde_json::from_value(merged)
            .map_err(|e| at(&here, format!("not a valid deployment: {e}")))?;
        let mut spec = model(&entry, config, o, known, &at_here)?;
        spec.deployment = Some(id);
        spec.label = entry.label.clone().unwrap_or_else(|| entry.name.clone());
        specs.push(spec);
    }
    Ok(specs)
}
