//! From a config file and the command line to a checked [`RunConfig`].

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::deployments::deployments;
use super::file::ModelEntry;
use super::model::{KnownLimits, ModelSpec, model};
use super::{BudgetCaps, ConfigError, FileConfig, LimitsFile};

/// Settings given on the command line; they win over the file.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// The prompts file.
    pub prompts: Option<PathBuf>,
    /// The output folder.
    pub output: Option<PathBuf>,
    /// Only the first N prompts.
    pub num_prompts: Option<u64>,
    /// `TYPE:NAME` models; when given they replace the file's models.
    pub models: Vec<String>,
    /// Completions per prompt.
    pub samples: Option<u32>,
    /// Requests in flight per model.
    pub concurrency: Option<usize>,
    /// Requests per minute per model.
    pub rpm: Option<u64>,
    /// Tokens per minute per model.
    pub tpm: Option<u64>,
    /// Input tokens per minute per model.
    pub itpm: Option<u64>,
    /// Output tokens per minute per model.
    pub otpm: Option<u64>,
    /// Output cap.
    pub max_tokens: Option<u32>,
    /// Temperature.
    pub temperature: Option<f64>,
    /// Seed.
    pub seed: Option<u64>,
    /// Log-probabilities for every model.
    pub logprobs: bool,
    /// Error retries.
    pub max_retries: Option<u32>,
    /// The usage tier to read from the limits file.
    pub tier: Option<String>,
    /// The limits file.
    pub limits_file: Option<PathBuf>,
    /// The run's cap in US dollars.
    pub budget_usd: Option<f64>,
    /// The run's cap in tokens.
    pub budget_tokens: Option<u64>,
    /// The output schema for every model; replaces the models' `schema`.
    pub schema: Option<PathBuf>,
    /// Batch mode for every model without a `mode` of its own.
    pub batch: bool,
}

/// Everything a run needs, checked.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// The prompts file.
    pub prompts: PathBuf,
    /// The output folder.
    pub output: PathBuf,
    /// Only the first N prompts.
    pub num_prompts: Option<u64>,
    /// Error retries per item.
    pub max_retries: u32,
    /// The models, in order.
    pub models: Vec<ModelSpec>,
    /// The run's spending caps.
    pub budget: BudgetCaps,
    /// The whole config without secrets, for the summary.
    pub redacted: Value,
    /// The config's Redis server, if any.
    pub redis: Option<String>,
}

/// Merges `file` (with its path) and `overrides` into a checked run config.
pub fn resolve(
    file: Option<(&Path, FileConfig)>,
    overrides: &Overrides,
) -> Result<RunConfig, ConfigError> {
    let (path, config) = match file {
        Some((path, config)) => (Some(path), config),
        None => (None, FileConfig::default()),
    };
    let err = |key: &str, message: String| ConfigError::new(path, key, message);
    let cli = |key: &str, message: String| ConfigError::new(None, key, message);
    check_overrides(overrides)?;

    let prompts = match (&overrides.prompts, &config.prompts_file) {
        (Some(p), _) => p.clone(),
        (None, Some(p)) => relative_to(path, p),
        (None, None) => {
            return Err(cli(
                "PROMPTS",
                "no prompts file: give one as an argument, with --prompts, or as `prompts_file` in the config".into(),
            ));
        }
    };
    let output = overrides
        .output
        .clone()
        .or(config.output_dir.clone())
        .unwrap_or_else(|| PathBuf::from("pacer-results"));
    let max_retries = overrides.max_retries.or(config.max_retries).unwrap_or(3);

    let (models, keys) = resolve_models(path, &config, overrides)?;
    let budget = super::budget::caps(&config, overrides, &keys, &models, &err, &cli)?;

    let mut redacted = serde_json::to_value(&config).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut redacted {
        // Gateway keys are secrets, and no business of a run's summary; nor is a Redis
        // password.
        map.remove("gateway_keys");
        map.remove("redis");
        map.insert(
            "models".into(),
            Value::Array(models.iter().map(|m| m.entry.clone()).collect()),
        );
        map.insert(
            "prompts_file".into(),
            Value::String(prompts.display().to_string()),
        );
        map.insert(
            "output_dir".into(),
            Value::String(output.display().to_string()),
        );
        strip_nulls(map);
    }
    Ok(RunConfig {
        prompts,
        output,
        num_prompts: overrides.num_prompts.or(config.num_prompts),
        max_retries,
        models,
        budget,
        redacted,
        redis: config.redis.clone(),
    })
}

/// Each model's key in the config (`models[1]`, `-m mock:x`) and whether it came from the
/// command line.
type ModelKeys = Vec<(String, bool)>;

/// The models of a config (or of `-m` overrides), checked, with the key each came from and
/// whether it came from the command line. Needs no prompts file, so `pacer serve` uses it
/// too.
fn resolve_models(
    path: Option<&Path>,
    config: &FileConfig,
    overrides: &Overrides,
) -> Result<(Vec<ModelSpec>, ModelKeys), ConfigError> {
    let err = |key: &str, message: String| ConfigError::new(path, key, message);
    let cli = |key: &str, message: String| ConfigError::new(None, key, message);
    let entries: Vec<(String, ModelEntry, bool)> = if overrides.models.is_empty() {
        config
            .models
            .iter()
            .enumerate()
            .map(|(i, m)| (format!("models[{i}]"), m.clone(), false))
            .collect()
    } else {
        overrides
            .models
            .iter()
            .map(|m| {
                let (kind, name) = m.split_once(':').ok_or_else(|| {
                    cli("-m", format!("`{m}`: expected TYPE:NAME, e.g. mock:small"))
                })?;
                let entry = ModelEntry {
                    name: name.to_string(),
                    kind: Some(kind.to_string()),
                    ..ModelEntry::default()
                };
                Ok((format!("-m {m}"), entry, true))
            })
            .collect::<Result<_, ConfigError>>()?
    };
    if entries.is_empty() {
        return Err(err(
            "models",
            "no models: add [[models]] entries to the config or pass -m TYPE:NAME".into(),
        ));
    }

    let limits_file = match (&overrides.limits_file, &config.limits_file) {
        (Some(p), _) => Some(LimitsFile::load(p)?),
        (None, Some(p)) => Some(LimitsFile::load(&relative_to(path, p))?),
        (None, None) => None,
    };
    let tier = match (&overrides.tier, &config.tier) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(Value::Number(n))) => Some(n.to_string()),
        (None, Some(Value::String(s))) => Some(s.clone()),
        (None, Some(other)) => {
            return Err(err(
                "tier",
                format!("expected a tier number or name, found {other}"),
            ));
        }
        (None, None) => None,
    };
    if tier.is_some() && limits_file.is_none() {
        let message =
            "a tier needs a limits file: pass --limits FILE or set `limits_file` in the config";
        return Err(if overrides.tier.is_some() {
            cli("--tier", message.into())
        } else {
            err("tier", message.into())
        });
    }
    let known = KnownLimits {
        file: limits_file.as_ref(),
        tier: tier.as_deref(),
    };

    let flag_schema = match &overrides.schema {
        Some(p) => Some((
            p.clone(),
            super::schema::load(p).map_err(|m| cli("--schema", m))?,
        )),
        None => None,
    };

    let mut models: Vec<ModelSpec> = Vec::with_capacity(entries.len());
    let keys: Vec<(String, bool)> = entries.iter().map(|(k, _, c)| (k.clone(), *c)).collect();
    for (key, entry, from_cli) in entries {
        let at = |field: &str, message: String| {
            let key = format!("{key}.{field}");
            if from_cli {
                cli(&key, message)
            } else {
                err(&key, message)
            }
        };
        let deployments = deployments(&entry, config, overrides, &known, &at)?;
        // An entry with deployments is its first deployment, with all of them beside it.
        let mut spec = match deployments.first() {
            Some(first) => ModelSpec {
                deployment: None,
                entry: super::model::shown(&entry),
                ..first.clone()
            },
            None => model(&entry, config, overrides, &known, &at)?,
        };
        spec.deployments = deployments;
        let schema = match (&flag_schema, &entry.schema) {
            (Some(given), _) => Some(given.clone()),
            (None, Some(p)) => {
                let p = relative_to(path, p);
                let schema = super::schema::load(&p).map_err(|m| at("schema", m))?;
                Some((p, schema))
            }
            (None, None) => None,
        };
        super::schema::attach(&mut spec, schema);
        // A config's `model_path` is read from the config's folder, as its prompts file is;
        // `-m local:PATH` from the current one.
        #[cfg(feature = "local")]
        if let super::provider::Connection::Local(local) = &mut spec.connection
            && !from_cli
        {
            local.model_path = relative_to(path, &local.model_path);
        }
        if let Some(first) = models.iter().position(|m| m.label == spec.label) {
            return Err(at(
                "label",
                if from_cli {
                    format!(
                        "`{}` is given twice: give each -m a distinct model",
                        spec.label
                    )
                } else {
                    format!(
                        "a second model labelled `{}` (the first is models[{first}]): give each entry a distinct `label`",
                        spec.label
                    )
                },
            ));
        }
        models.push(spec);
    }
    Ok((models, keys))
}

/// What `pacer serve` needs from a config file.
#[derive(Debug)]
pub struct ServeModels {
    /// The models, checked.
    pub models: Vec<ModelSpec>,
    /// Error retries per request.
    pub max_retries: u32,
    /// The gateway's spending caps (`budget_usd`, `budget_tokens`).
    pub budget: BudgetCaps,
}

/// What `pacer serve` needs from a config file (or none) and the model flags: its models,
/// checked, the error retries per request and the budget. Unlike [`resolve`], no prompts
/// file or output folder is asked for. `-m` models replace the file's.
pub fn resolve_serve(
    path: Option<&Path>,
    config: &FileConfig,
    overrides: &Overrides,
) -> Result<ServeModels, ConfigError> {
    check_overrides(overrides)?;
    let (models, keys) = resolve_models(path, config, overrides)?;
    let err = |key: &str, message: String| ConfigError::new(path, key, message);
    let cli = |key: &str, message: String| ConfigError::new(None, key, message);
    let budget = super::budget::caps(config, overrides, &keys, &models, &err, &cli)?;
    Ok(ServeModels {
        models,
        max_retries: overrides.max_retries.or(config.max_retries).unwrap_or(3),
        budget,
    })
}

/// A relative `prompts_file` is read from the config file's folder; seed 003's configs named
/// it from the folder the script ran in, so that is the fallback when the config's folder has
/// no such file.
fn relative_to(config: Option<&Path>, p: &Path) -> PathBuf {
    match config.and_then(Path::parent) {
        Some(dir) if p.is_relative() => {
            let beside = dir.join(p);
            if beside.exists() || !p.exists() {
                beside
            } else {
                p.to_path_buf()
            }
        }
        _ => p.to_path_buf(),
    }
}

/// Checks the values given as flags, so that a mistake there is blamed on the flag.
fn check_overrides(o: &Overrides) -> Result<(), ConfigError> {
    let cli = |key: &str, message: String| Err(ConfigError::new(None, key, message));
    if let Some(t) = o.temperature.filter(|t| !(0.0..=2.0).contains(t)) {
        return cli(
            "--temperature",
            format!("expected a number from 0 to 2, found {t}"),
        );
    }
    if o.samples == Some(0) {
        return cli("--samples", "expected at least 1".into());
    }
    if o.concurrency == Some(0) {
        return cli("--concurrency", "expected at least 1".into());
    }
    for (flag, value) in [
        ("--rpm", o.rpm),
        ("--tpm", o.tpm),
        ("--itpm", o.itpm),
        ("--otpm", o.otpm),
    ] {
        if value == Some(0) {
            return cli(
                flag,
                "expected a positive limit per minute (leave it out for none)".into(),
            );
        }
    }
    Ok(())
}

pub(super) fn strip_nulls(map: &mut Map<String, Value>) {
    map.retain(|_, v| !v.is_null());
}

#[cfg(all(test, feature = "local"))]
mod tests {
    use super::*;

    #[test]
    fn a_local_model_runs_a_batch_unbilled_with_a_long_timeout() {
        let mut overrides = Overrides {
            prompts: Some("p.jsonl".into()),
            models: vec!["local:/models/smol.gguf".into()],
            ..Overrides::default()
        };
        let config = resolve(None, &overrides).unwrap();
        let model = &config.models[0];
        assert_eq!(
            model.concurrency.map(std::num::NonZeroUsize::get),
            Some(pacer_providers::local::DEFAULT_BATCH)
        );
        assert_eq!(model.timeout, std::time::Duration::from_secs(3600));
        assert_eq!(model.price, Some(pacer_core::Price::new(0.0, 0.0)));
        overrides.concurrency = Some(4);
        let config = resolve(None, &overrides).unwrap();
        assert_eq!(
            config.models[0]
                .concurrency
                .map(std::num::NonZeroUsize::get),
            Some(4)
        );
        // The concurrency is the batch the model decodes together.
        match &config.models[0].connection {
            crate::config::provider::Connection::Local(local) => assert_eq!(local.batch, 4),
            _ => panic!("a local connection"),
        }
    }
}
