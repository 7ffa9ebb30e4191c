//! Known limits per model and usage tier, as in seed 001's `rate_config.json`:
//!
//! ```json
//! {
//!   "default_tier": "1",
//!   "models": {
//!     "gpt-4o-mini": { "1": { "rpm": 500, "tpm": 200000 }, "2": { "rpm": 5000, "tpm": 2000000 } },
//!     "gpt-4o":      { "1": { "rpm": 500, "tpm": 30000 } }
//!   }
//! }
//! ```
//!
//! A model takes the row of the longest name in `models` that its own name starts with, so
//! `gpt-4o` covers `gpt-4o-2024-08-06` while `gpt-4o-mini` keeps its own row. The tier is
//! `--tier`, else the config's `tier`, else the file's `default_tier`. Tiers may be written
//! `1`, `tier-1` or `tier1`. TOML works too, with the same shape.

use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};

use pacer_limit::Limits;
use serde::Deserialize;

use super::ConfigError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Shape {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    default_tier: Option<Tier>,
    models: BTreeMap<String, BTreeMap<String, Row>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Tier {
    Number(u64),
    Text(String),
}

/// One tier's limits for one model.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    rpm: Option<NonZeroU64>,
    tpm: Option<NonZeroU64>,
    itpm: Option<NonZeroU64>,
    otpm: Option<NonZeroU64>,
}

/// A loaded limits file.
#[derive(Debug)]
pub struct LimitsFile {
    path: PathBuf,
    default_tier: Option<String>,
    models: BTreeMap<String, BTreeMap<String, Row>>,
}

/// `tier-1`, `Tier1` and `1` are one tier.
fn normalize(tier: &str) -> String {
    let t = tier.trim().to_ascii_lowercase();
    let t = t.strip_prefix("tier").unwrap_or(&t);
    t.trim_start_matches(['-', '_', ' ']).to_owned()
}

impl LimitsFile {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let at = |key: &str, message: String| ConfigError::new(Some(path), key, message);
        let text =
            std::fs::read_to_string(path).map_err(|e| at("", format!("cannot read: {e}")))?;
        let is_toml = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
        let value: serde_json::Value = if is_toml {
            let table: toml::Table = toml::from_str(&text)
                .map_err(|e| at("", format!("not valid TOML: {}", e.message())))?;
            serde_json::to_value(table).map_err(|e| at("", e.to_string()))?
        } else {
            serde_json::from_str(&text).map_err(|e| {
                at(
                    "",
                    format!(
                        "not valid JSON at line {} column {}: {e}",
                        e.line(),
                        e.column()
                    ),
                )
            })?
        };
        let shape: Shape = serde_path_to_error::deserialize(value)
            .map_err(|e| at(&e.path().to_string(), e.into_inner().to_string()))?;
        let _ = shape.description;
        let models = shape
            .models
            .into_iter()
            .map(|(model, tiers)| {
                let tiers = tiers
                    .into_iter()
                    .map(|(t, row)| (normalize(&t), row))
                    .collect();
                (model, tiers)
            })
            .collect();
        Ok(Self {
            path: path.to_path_buf(),
            default_tier: shape.default_tier.map(|t| match t {
                Tier::Number(n) => n.to_string(),
                Tier::Text(s) => normalize(&s),
            }),
            models,
        })
    }

    /// The limits for `model` at `tier` (or the file's default tier); `None` when no entry
    /// covers the model. Naming a tier the model's entry lacks is an error.
    pub fn lookup(&self, model: &str, tier: Option<&str>) -> Result<Option<Limits>, ConfigError> {
        let Some((prefix, tiers)) = self
            .models
            .iter()
            .filter(|(prefix, _)| model.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
        else {
            return Ok(None);
        };
        let tier = tier.map(normalize).or_else(|| self.default_tier.clone());
        let row = match &tier {
            Some(t) => tiers.get(t),
            // One row needs no tier.
            None if tiers.len() == 1 => tiers.values().next(),
            None => None,
        };
        let Some(row) = row else {
            let known: Vec<_> = tiers.keys().map(String::as_str).collect();
            let message = match tier {
                Some(t) => format!(
                    "model `{prefix}` has no tier {t}; its tiers are {}",
                    known.join(", ")
                ),
                None => format!(
                    "model `{prefix}` has tiers {}: pick one with --tier, `tier` in the config or `default_tier` here",
                    known.join(", ")
                ),
            };
            return Err(ConfigError::new(
                Some(&self.path),
                format!("models.{prefix}"),
                message,
            ));
        };
        Ok(Some(Limits {
            rpm: row.rpm,
            tpm: row.tpm,
            itpm: row.itpm,
            otpm: row.otpm,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str, ext: &str) -> (tempfile::TempDir, LimitsFile) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("rate_config.{ext}"));
        std::fs::write(&path, text).unwrap();
        let loaded = LimitsFile::load(&path).unwrap();
        (dir, loaded)
    }

    const JSON: &str = r#"{
        "default_tier": 1,
        "models": {
            "gpt-4o": {"tier-1": {"rpm": 500, "tpm": 30000}, "tier-2": {"rpm": 5000, "tpm": 450000}},
            "gpt-4o-mini": {"1": {"rpm": 500, "tpm": 200000}}
        }
    }"#;

    #[test]
    fn longest_prefix_and_tier_pick_the_row() {
        let (_dir, limits) = file(JSON, "json");
        let row = limits
            .lookup("gpt-4o-2024-08-06", Some("2"))
            .unwrap()
            .unwrap();
        assert_eq!(row.rpm.map(NonZeroU64::get), Some(5000));
        let row = limits.lookup("gpt-4o-mini", None).unwrap().unwrap();
        assert_eq!(row.tpm.map(NonZeroU64::get), Some(200000));
        assert!(limits.lookup("claude-3-haiku", None).unwrap().is_none());
        let err = limits
            .lookup("gpt-4o", Some("tier-5"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("rate_config.json") && err.contains("no tier 5") && err.contains("1, 2"),
            "{err}"
        );
    }

    #[test]
    fn bad_rows_are_blamed_on_their_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("limits.json");
        std::fs::write(&path, r#"{"models": {"gpt-4o": {"1": {"rpm": 0}}}}"#).unwrap();
        let err = LimitsFile::load(&path).unwrap_err().to_string();
        assert!(err.contains("models.gpt-4o.1.rpm"), "{err}");
        std::fs::write(&path, r#"{"models": {"gpt-4o": {"1": {"rpn": 5}}}}"#).unwrap();
        let err = LimitsFile::load(&path).unwrap_err().to_string();
        assert!(err.contains("rpn"), "{err}");
    }

    #[test]
    fn toml_has_the_same_shape() {
        let (_dir, limits) = file("[models.\"o3\".\"1\"]\nrpm = 500\ntpm = 30000\n", "toml");
        let row = limits.lookup("o3-mini", None).unwrap().unwrap();
        assert_eq!(row.rpm.map(NonZeroU64::get), Some(500));
    }
}
