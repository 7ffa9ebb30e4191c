//! `pacer batches OUT`: a run's batches (batch mode) and their state at the provider; with
//! `--cancel`, cancels those still running.

use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use pacer_batch::{LedgerBatch, Manifest};
use pacer_core::{BatchStatus, Provider};
use serde_json::Value;

use crate::cli::BatchesArgs;
use crate::config::{self, FileConfig, Overrides};
use crate::providers;

/// Lists (or cancels) the batches of the run in `args.dir`.
pub async fn main(args: BatchesArgs) -> anyhow::Result<ExitCode> {
    let batches = pacer_batch::read_ledger(&args.dir)?;
    if batches.is_empty() {
        eprintln!(
            "pacer: {} holds no batches (no model of this run is in batch mode)",
            args.dir.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let providers = providers_of(&args)?;
    println!(
        "{:<16} {:<24} {:<28} {:<20} {:>8} {:>8} {:>8}",
        "MODEL", "BATCH", "ID", "STATE", "DONE", "FAILED", "TOTAL"
    );
    let mut failures = 0;
    for batch in &batches {
        let status = match (&batch.id, providers.get(&batch.label)) {
            (Some(id), Some(provider)) => match query(provider.as_ref(), id, args.cancel).await {
                Ok(status) => Some(status),
                Err(error) => {
                    failures += 1;
                    let hint = if error.kind == pacer_core::ErrorKind::Auth && args.config.is_none()
                    {
                        " (run.json keeps no key: set the provider's key variable, or give the run's config with --config)"
                    } else {
                        ""
                    };
                    eprintln!("pacer: batch {id}: {error}{hint}");
                    None
                }
            },
            _ => None,
        };
        println!("{}", row(batch, status.as_ref()));
    }
    Ok(if failures > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The batch's status now; with `cancel`, after asking to cancel it if it still runs.
async fn query(
    provider: &dyn Provider,
    id: &str,
    cancel: bool,
) -> Result<BatchStatus, pacer_core::ProviderError> {
    let api = provider.batch_api().ok_or_else(|| {
        pacer_core::ProviderError::new(pacer_core::ErrorKind::Config, "no batch API")
    })?;
    let status = api.status(id).await?;
    if cancel && !status.is_ended() {
        return api.cancel(id).await;
    }
    Ok(status)
}

/// One line of the table.
fn row(batch: &LedgerBatch, status: Option<&BatchStatus>) -> String {
    let id = batch.id.as_deref().unwrap_or("-");
    let (state, done, failed, total) = match status {
        Some(s) => (
            s.state.clone(),
            s.succeeded.to_string(),
            s.failed.to_string(),
            // Some providers count no requests while they validate the file.
            s.total.max(batch.jobs.len() as u64).to_string(),
        ),
        None => {
            let state = match (&batch.state, &batch.id) {
                (Some(state), _) => state.clone(),
                (None, Some(_)) => "submitted".into(),
                (None, None) => "not submitted".into(),
            };
            (state, "-".into(), "-".into(), batch.jobs.len().to_string())
        }
    };
    format!(
        "{:<16} {:<24} {:<28} {:<20} {:>8} {:>8} {:>8}",
        batch.label, batch.tag, id, state, done, failed, total
    )
}

/// The run's providers by label: from `--config`, else from the config kept in the run's
/// `run.json` (keys from the providers' usual environment variables).
fn providers_of(args: &BatchesArgs) -> anyhow::Result<HashMap<String, Arc<dyn Provider>>> {
    let kept = args.dir.join(pacer_batch::MANIFEST_FILE);
    let (path, file) = match &args.config {
        Some(path) => (path.as_path(), config::load(path)?),
        None => (kept.as_path(), kept_config(&args.dir)?),
    };
    let overrides = Overrides {
        // Only the models are needed: any prompts path does.
        prompts: Some(args.dir.join("prompts")),
        output: Some(args.dir.clone()),
        ..Overrides::default()
    };
    let run = config::resolve(Some((path, file)), &overrides)
        .context("cannot rebuild the run's models (give the run's config with --config)")?;
    let mut providers = HashMap::new();
    for model in &run.models {
        let provider = providers::build(model)
            .map_err(|e| anyhow::anyhow!("model {}: {}", model.label, e.message))?;
        providers.insert(model.label.clone(), provider);
    }
    Ok(providers)
}

/// The config kept in `dir/run.json`, its redacted keys taken out (the environment gives
/// them).
fn kept_config(dir: &Path) -> anyhow::Result<FileConfig> {
    let manifest = Manifest::read(dir)?
        .with_context(|| format!("{} has no run.json: is it a run's folder?", dir.display()))?;
    let mut config = manifest.config;
    if let Some(Value::Array(models)) = config.get_mut("models") {
        for model in models.iter_mut().filter_map(Value::as_object_mut) {
            if model.get("api_key").and_then(Value::as_str) == Some("<redacted>") {
                model.remove("api_key");
            }
        }
    }
    serde_json::from_value(config)
        .context("the config kept in run.json cannot be read back: give it with --config")
}
