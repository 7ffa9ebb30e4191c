//! One model entry, checked: its provider and how it is reached, parameters, limits (from
//! the flags, the entry, the limits file or the config's defaults), price and mock
//! behaviour.

use std::num::{NonZeroU64, NonZeroUsize};
use std::time::Duration;

use pacer_core::{ErrorKind, Params, Price};
use pacer_limit::Limits;
use pacer_providers::MockConfig;
use serde_json::Value;

use super::file::{ModelEntry, Stop};
use super::provider::{Connection, ProviderType};
use super::resolve::strip_nulls;
use super::{ConfigError, FileConfig, LimitsFile, Overrides};

/// One model of the run, checked.
#[derive(Clone, Debug)]
pub struct ModelSpec {
    /// Unique within the run; the journal's key.
    pub label: String,
    /// The model's name at the provider.
    pub name: String,
    /// Base request parameters.
    pub params: Params,
    /// Completions per prompt.
    pub samples: u32,
    /// Rate limits.
    pub limits: Limits,
    /// An explicit cap on requests in flight; `None`: in flight follows the limit.
    pub concurrency: Option<NonZeroUsize>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Temperature per error retry.
    pub temperature_schedule: Vec<f64>,
    /// Prices, when known.
    pub price: Option<Price>,
    /// Mock behaviour.
    pub mock: MockConfig,
    /// How to reach the provider's API.
    pub connection: Connection,
    /// The output schema every reply must match (also in `params.schema`, for the provider).
    pub schema: Option<std::sync::Arc<pacer_engine::SchemaValidator>>,
    /// Batch mode's settings, when the model's jobs go through its provider's batch API.
    pub batch: Option<pacer_batch::BatchSettings>,
    /// An embedding model's settings.
    pub embed: Option<pacer_batch::EmbedSettings>,
    /// The entry as given, without secrets, for summaries and exports.
    pub entry: Value,
    /// This spec's id, when it is one deployment of its entry.
    pub deployment: Option<String>,
    /// The entry's deployments, each a whole spec (the entry's keys under its own), when it
    /// lists them; the entry's own connection and limits are then not used.
    pub deployments: Vec<ModelSpec>,
}

/// `entry` as summaries and exports show it: without nulls, its keys redacted, labelled.
pub(super) fn shown(entry: &ModelEntry) -> Value {
    let mut shown = serde_json::to_value(entry).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut shown {
        strip_nulls(map);
        if map.contains_key("api_key") {
            map.insert("api_key".into(), Value::String("<redacted>".into()));
        }
        map.entry("label")
            .or_insert_with(|| Value::String(entry.name.clone()));
        if let Some(Value::Array(deployments)) = map.get_mut("deployments") {
            for deployment in deployments.iter_mut().filter_map(Value::as_object_mut) {
                if deployment.contains_key("api_key") {
                    deployment.insert("api_key".into(), Value::String("<redacted>".into()));
                }
            }
        }
    }
    shown
}

/// The limits file and tier, if any.
pub(super) struct KnownLimits<'a> {
    pub(super) file: Option<&'a LimitsFile>,
    pub(super) tier: Option<&'a str>,
}

pub(super) fn model(
    entry: &ModelEntry,
    config: &FileConfig,
    o: &Overrides,
    known: &KnownLimits<'_>,
    at: &dyn Fn(&str, String) -> ConfigError,
) -> Result<ModelSpec, ConfigError> {
    if entry.name.trim().is_empty() {
        return Err(at(
            "name",
            "expected the model's name, found an empty string".into(),
        ));
    }
    let kind = entry.kind.as_deref().ok_or_else(|| {
        at(
            "type",
            "missing: say which provider serves this model, e.g. type = \"mock\"".into(),
        )
    })?;
    let provider = ProviderType::parse(kind).map_err(|m| at("type", m))?;

    let temperature = o.temperature.or(entry.temperature);
    check_range(at, "temperature", temperature, 0.0, 2.0)?;
    check_range(at, "top_p", entry.top_p, 0.0, 1.0)?;
    check_range(at, "fail_rate", entry.fail_rate, 0.0, 1.0)?;
    check_range(at, "invalid_json_rate", entry.invalid_json_rate, 0.0, 1.0)?;
    let schedule = entry
        .temperature_schedule
        .clone()
        .or(config.temperature_schedule.clone())
        .unwrap_or_default();
    for (i, t) in schedule.iter().enumerate() {
        check_range(
            at,
            &format!("temperature_schedule[{i}]"),
            Some(*t),
            0.0,
            2.0,
        )?;
    }
    let samples = o.samples.or(entry.samples).unwrap_or(1);
    if samples == 0 {
        return Err(at("samples", "expected at least 1".into()));
    }
    // A local model decodes its lane's requests together: the concurrency is the batch, by
    // default the size that gives the most tokens per second (pacer_local::DEFAULT_BATCH).
    #[cfg(feature = "local")]
    let local = provider == ProviderType::Local;
    #[cfg(feature = "local")]
    const LOCAL_BATCH: usize = pacer_providers::local::DEFAULT_BATCH;
    #[cfg(not(feature = "local"))]
    const LOCAL_BATCH: usize = 1;
    #[cfg(not(feature = "local"))]
    let local = false;
    let concurrency = o
        .concurrency
        .or(entry.concurrency)
        .or(local.then_some(LOCAL_BATCH))
        .or(config.concurrency)
        .map(|n| {
            NonZeroUsize::new(n).ok_or_else(|| at("concurrency", "expected at least 1".into()))
        })
        .transpose()?;
    let timeout = entry
        .timeout_secs
        .or(local.then_some(3600.0))
        .or(config.timeout_secs)
        .unwrap_or(120.0);
    if !(timeout.is_finite() && timeout > 0.0) {
        return Err(at(
            "timeout_secs",
            format!("expected a positive number of seconds, found {timeout}"),
        ));
    }
    let limit = |key: &str, value: Option<u64>| -> Result<Option<NonZeroU64>, ConfigError> {
        match value {
            None => Ok(None),
            Some(v) => NonZeroU64::new(v).map(Some).ok_or_else(|| {
                at(
                    key,
                    "expected a positive limit per minute (leave it out for none)".into(),
                )
            }),
        }
    };
    // Flags, then the model's entry, then the limits file's row, then the config's
    // defaults; what is still unset is learned from the server's headers.
    let row = match known.file {
        Some(file) => file.lookup(&entry.name, known.tier)?.unwrap_or_default(),
        None => Limits::default(),
    };
    let limits = Limits {
        rpm: limit("rpm", o.rpm.or(entry.rpm))?
            .or(row.rpm)
            .or(limit("requests_per_minute", config.requests_per_minute)?),
        tpm: limit("tpm", o.tpm.or(entry.tpm))?
            .or(row.tpm)
            .or(limit("tokens_per_minute", config.tokens_per_minute)?),
        itpm: limit("itpm", o.itpm.or(entry.itpm))?.or(row.itpm),
        otpm: limit("otpm", o.otpm.or(entry.otpm))?.or(row.otpm),
    };
    let connection = match provider {
        ProviderType::Mock => Connection::Mock,
        ProviderType::OpenAi => Connection::OpenAi(super::openai::settings(entry, at)?),
        ProviderType::Anthropic => Connection::Anthropic(super::hosted::anthropic(entry, at)?),
        ProviderType::Gemini => Connection::Gemini(super::hosted::gemini(entry, at)?),
        #[cfg(feature = "local")]
        ProviderType::Local => {
            use pacer_providers::local::{LocalConfig, Precision};
            let precision = match entry.precision.as_deref() {
                None => None,
                Some(p) => Some(Precision::parse(p).ok_or_else(|| {
                    at(
                        "precision",
                        format!("expected \"exact\" or \"fast\", found {p:?}"),
                    )
                })?),
            };
            // `-m local:PATH` names the weights by the model's name.
            let mut local = LocalConfig::new(entry.model_path.as_deref().unwrap_or(&entry.name));
            local.device = entry.device.clone().unwrap_or_else(|| "cpu".into());
            local.precision = precision;
            if let Some(mb) = entry.exact_limit_mb {
                local.exact_limit_bytes = mb.saturating_mul(1 << 20);
            }
            local.batch = concurrency.map_or(LOCAL_BATCH, NonZeroUsize::get);
            Connection::Local(local)
        }
    };
    let fail_kind = match &entry.fail_kind {
        None => ErrorKind::Server,
        Some(name) => ErrorKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                let names: Vec<_> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
                at(
                    "fail_kind",
                    format!(
                        "unknown error kind `{name}`; expected one of {}",
                        names.join(", ")
                    ),
                )
            })?,
    };
    let (tools, tool_choice) = super::shapes::tools(entry, at)?;
    // `--samples` is for the models that sample; an entry's own `samples` is checked.
    let embed = super::shapes::embed_settings(entry, provider, entry.samples.unwrap_or(1), at)?;
    let samples = if embed.is_some() { 1 } else { samples };
    let params = Params {
        temperature,
        top_p: entry.top_p,
        top_k: entry.top_k,
        max_tokens: o.max_tokens.or(entry.max_tokens).or(config.max_tokens),
        seed: o.seed.or(entry.seed).or(config.seed),
        stop: match &entry.stop {
            None => Vec::new(),
            Some(Stop::One(s)) => vec![s.clone()],
            Some(Stop::Many(v)) => v.clone(),
        },
        n: 1,
        logprobs: o.logprobs || entry.logprobs.unwrap_or(false) || entry.top_logprobs.is_some(),
        top_logprobs: entry.top_logprobs,
        extra: entry.extra.clone(),
        schema: None,
        tools,
        tool_choice,
    };
    Ok(ModelSpec {
        label: entry.label.clone().unwrap_or_else(|| entry.name.clone()),
        name: entry.name.clone(),
        params,
        samples,
        limits,
        concurrency,
        timeout: Duration::from_secs_f64(timeout),
        temperature_schedule: schedule,
        price: match (&connection, entry.price) {
            // In-process: nothing is billed, unless the entry puts a price on it.
            #[cfg(feature = "local")]
            (Connection::Local(_), None) => Some(pacer_core::Price::new(0.0, 0.0)),
            _ => super::budget::price(entry, at)?,
        },
        mock: MockConfig {
            latency: Duration::from_millis(entry.latency_ms.unwrap_or(0)),
            fail_rate: entry.fail_rate.unwrap_or(0.0),
            fail_kind,
            rate_limit_every: entry.rate_limit_every,
            retry_after: Duration::from_millis(entry.retry_after_ms.unwrap_or(1000)),
            invalid_json_rate: entry.invalid_json_rate.unwrap_or(0.0),
        },
        batch: match embed {
            // `--batch` leaves embedding models live.
            Some(_) => None,
            None => batch_settings(entry, o.batch, at)?,
        },
        embed,
        connection,
        schema: None,
        entry: shown(entry),
        deployment: None,
        deployments: Vec::new(),
    })
}

/// Batch mode's settings, when the entry (or `--batch`) asks for it.
fn batch_settings(
    entry: &ModelEntry,
    all: bool,
    at: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Option<pacer_batch::BatchSettings>, ConfigError> {
    let batch = match entry.mode.as_deref() {
        None => all,
        Some("live") => false,
        Some("batch") => true,
        Some(other) => {
            return Err(at(
                "mode",
                format!("expected \"live\" or \"batch\", found {other:?}"),
            ));
        }
    };
    if !batch {
        return Ok(None);
    }
    let defaults = pacer_batch::BatchSettings::default();
    let size = match entry.batch_size {
        Some(0) => return Err(at("batch_size", "expected at least 1".into())),
        Some(size) => size,
        None => defaults.size,
    };
    let fallback_live = match entry.batch_fallback.as_deref() {
        None | Some("batch") => false,
        Some("live") => true,
        Some(other) => {
            return Err(at(
                "batch_fallback",
                format!("expected \"batch\" or \"live\", found {other:?}"),
            ));
        }
    };
    if let Some(price) = entry.batch_price
        && !price.is_valid()
    {
        return Err(at(
            "batch_price",
            "expected prices of 0 or more US dollars per million tokens, e.g. { input = 1.25, output = 5.0 }".into(),
        ));
    }
    let poll = match entry.batch_poll_secs {
        Some(secs) if !(secs.is_finite() && secs > 0.0) => {
            return Err(at(
                "batch_poll_secs",
                format!("expected a positive number of seconds, found {secs}"),
            ));
        }
        Some(secs) => Duration::from_secs_f64(secs),
        None => defaults.poll,
    };
    if entry.batch_queue_tokens == Some(0) {
        return Err(at("batch_queue_tokens", "expected at least 1 token".into()));
    }
    Ok(Some(pacer_batch::BatchSettings {
        size,
        fallback_live,
        price: entry.batch_price,
        queue_tokens: entry.batch_queue_tokens,
        poll,
    }))
}

fn check_range(
    at: &dyn Fn(&str, String) -> ConfigError,
    key: &str,
    value: Option<f64>,
    low: f64,
    high: f64,
) -> Result<(), ConfigError> {
    match value {
        Some(v) if !(low..=high).contains(&v) => Err(at(
            key,
            format!("expected a number from {low} to {high}, found {v}"),
        )),
        _ => Ok(()),
    }
}
