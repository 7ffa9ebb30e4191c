//! Pacer on several machines through Redis: what a run publishes for its workers (its
//! models without secrets), each model's key for the shared limiter, and `pacer worker`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use pacer_batch::queue::{RUN_STALE, RUNS, Redis, Worker, WorkerLane};
use pacer_engine::{AttemptSchedule, Lane, LaneConfig, RetryPolicy, SchemaValidator};
use pacer_limit::remote::{SharedKey, limits_key};
use pacer_limit::{Limiter, LimiterConfig, Limits};
use redis::AsyncCommands;
use serde_json::{Value, json};

use crate::cli::WorkerArgs;
use crate::config::{self, Connection, FileConfig, ModelSpec, Overrides, RunConfig};
use crate::providers;

/// The prefix of every key Pacer keeps in Redis.
const PREFIX: &str = "pacer";

/// The key of `model`'s limits in Redis: its provider, base URL and model name.
pub fn shared_key(redis: &Redis, model: &ModelSpec) -> SharedKey {
    let (kind, base) = match &model.connection {
        Connection::Mock => ("mock", "in-process"),
        Connection::OpenAi(c) => ("openai", c.base_url.as_str()),
        Connection::Anthropic(c) => ("anthropic", c.base_url.as_str()),
        Connection::Gemini(c) => ("gemini", c.base_url.as_str()),
        #[cfg(feature = "local")]
        Connection::Local(_) => ("local", "in-process"),
    };
    SharedKey {
        redis: redis.clone(),
        key: limits_key(PREFIX, kind, base, &model.name),
    }
}

/// Opens `url`, saying which flag or key gave it when it is malformed.
pub fn open(url: &str, from: &str) -> anyhow::Result<Redis> {
    Redis::open(url)
        .map_err(|e| anyhow::anyhow!("{from}: {e}; expected redis://[:password@]host[:port][/db]"))
}

/// What workers need of `config`'s models, without secrets: each entry as shown (its
/// `api_key` left out: a worker takes its own), the output schema itself rather than its
/// file, and the lane settings the command line may have changed.
pub fn spec(config: &RunConfig) -> Value {
    let models: Vec<Value> = config
        .models
        .iter()
        .enumerate()
        .map(|(lane, model)| {
            let mut entry = model.entry.clone();
            if let Value::Object(map) = &mut entry {
                map.remove("api_key");
                map.remove("schema");
            }
            let limit = |l: Option<std::num::NonZeroU64>| l.map(|l| l.get());
            json!({
                "lane": lane,
                "label": model.label,
                "entry": entry,
                "schema": model.schema.as_ref().map(|s| s.schema().as_ref().clone()),
                "limits": {
                    "rpm": limit(model.limits.rpm),
                    "tpm": limit(model.limits.tpm),
                    "itpm": limit(model.limits.itpm),
                    "otpm": limit(model.limits.otpm),
                },
                "concurrency": model.concurrency.map(|c| c.get()),
                "timeout_s": model.timeout.as_secs_f64(),
                "max_retries": config.max_retries,
                "temperature_schedule": model.temperature_schedule,
                "price": model.price,
            })
        })
        .collect();
    json!({ "models": models })
}

/// Rebuilds model `published` of a run's spec on this host: keys from `own` (the worker's
/// config, by label) or the environment. The error says why this worker cannot run it.
fn model(published: &Value, own: Option<&FileConfig>) -> Result<ModelSpec, String> {
    let label = published["label"].as_str().unwrap_or_default();
    let mut entry = published["entry"].clone();
    let mine = own.and_then(|own| {
        own.models
            .iter()
            .find(|m| m.label.as_deref().unwrap_or(&m.name) == label)
    });
    if let (Value::Object(map), Some(mine)) = (&mut entry, mine) {
        if let Some(key) = &mine.api_key {
            map.insert("api_key".into(), Value::String(key.clone()));
        }
        // The worker's own URL wins: its key goes nowhere a run's spec alone names.
        if let Some(url) = &mine.base_url {
            map.insert("base_url".into(), Value::String(url.clone()));
        }
    }
    let file: FileConfig = serde_json::from_value(json!({ "models": [entry] }))
        .map_err(|e| format!("its entry cannot be read here: {e}"))?;
    let overrides = Overrides {
        // Only the model is needed: any prompts path does.
        prompts: Some("-".into()),
        ..Overrides::default()
    };
    let mut run = config::resolve(Some((Path::new("the run's spec"), file)), &overrides)
        .map_err(|e| e.message)?;
    let mut spec = run.models.remove(0);
    let limits = &published["limits"];
    let get = |k: &str| limits[k].as_u64().and_then(std::num::NonZeroU64::new);
    spec.limits = Limits {
        rpm: get("rpm"),
        tpm: get("tpm"),
        itpm: get("itpm"),
        otpm: get("otpm"),
    };
    spec.concurrency = published["concurrency"]
        .as_u64()
        .and_then(|c| std::num::NonZeroUsize::new(c as usize));
    if let Some(timeout) = published["timeout_s"].as_f64() {
        spec.timeout = Duration::from_secs_f64(timeout.max(0.001));
    }
    spec.temperature_schedule =
        serde_json::from_value(published["temperature_schedule"].clone()).unwrap_or_default();
    spec.price = serde_json::from_value(published["price"].clone()).unwrap_or(spec.price);
    if !published["schema"].is_null() {
        let schema = SchemaValidator::new(Arc::new(published["schema"].clone()))
            .map_err(|e| format!("its output schema is {e}"))?;
        spec.schema = Some(Arc::new(schema));
    }
    Ok(spec)
}

/// `pacer worker`.
pub async fn main(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let redis = open(&args.redis, "--redis")?;
    let own = match &args.config {
        Some(path) => Some(config::load(path)?),
        None => None,
    };
    let name = args.name.clone().unwrap_or_else(default_name);
    let idle = Duration::from_secs_f64(args.idle_timeout.max(0.1));
    let mut finished: Vec<String> = Vec::new();
    loop {
        let run_id = match &args.run {
            Some(id) => id.clone(),
            None => next_run(&redis, &finished).await,
        };
        let spec: Option<String> = redis
            .connection()
            .get(format!("pacer:run:{run_id}:spec"))
            .await
            .map_err(|e| anyhow::anyhow!("{}", redis.error(&e)))?;
        let Some(spec) = spec else {
            if args.run.is_some() {
                anyhow::bail!("run {run_id} is not in progress on {}", redis.shown());
            }
            finished.push(run_id);
            continue;
        };
        let spec: Value = serde_json::from_str(&spec).context("the run's spec is not JSON")?;
        let lanes = lanes(&redis, &spec, own.as_ref(), &run_id);
        let mut ended = true;
        if lanes.is_empty() {
            eprintln!("pacer worker {name}: run {run_id}: no model this worker can run");
        } else {
            eprintln!(
                "pacer worker {name}: working on run {run_id} ({} models)",
                lanes.len()
            );
            let served = Worker::new(redis.clone(), name.clone(), idle)
                .serve(&run_id, lanes)
                .await;
            let how = if served.ended {
                "ended"
            } else {
                "was interrupted (this worker comes back to it on its --resume)"
            };
            eprintln!(
                "pacer worker {name}: run {run_id} {how}: {} jobs returned ({} taken over from other workers)",
                served.jobs, served.reclaimed
            );
            ended = served.ended;
        }
        if args.once || args.run.is_some() {
            return Ok(ExitCode::SUCCESS);
        }
        // An interrupted run leaves the runs in progress until its --resume.
        if ended {
            finished.push(run_id);
        }
    }
}

/// The lanes of the run's models this worker can run; says which it cannot, and why.
fn lanes(redis: &Redis, spec: &Value, own: Option<&FileConfig>, run_id: &str) -> Vec<WorkerLane> {
    let mut lanes = Vec::new();
    for published in spec["models"].as_array().into_iter().flatten() {
        let label = published["label"].as_str().unwrap_or_default();
        let built = model(published, own).and_then(|model| {
            providers::build(&model)
                .map(|provider| (model, provider))
                .map_err(|e| e.message)
        });
        let (model, provider) = match built {
            Ok(built) => built,
            Err(why) => {
                eprintln!(
                    "pacer worker: run {run_id}: model {label}: {why}; this worker takes none of its jobs"
                );
                continue;
            }
        };
        let limiter = Limiter::shared(
            LimiterConfig {
                probe: provider.reports_rate_limits(),
                ..LimiterConfig::new(model.limits)
            },
            shared_key(redis, &model),
        );
        let config = LaneConfig {
            limits: model.limits,
            concurrency: model.concurrency,
            timeout: model.timeout,
            price: model.price,
            retry: RetryPolicy {
                max_retries: published["max_retries"].as_u64().unwrap_or(3) as u32,
                ..RetryPolicy::default()
            },
            schedule: AttemptSchedule {
                temperature: model.temperature_schedule.clone(),
            },
            validator: model
                .schema
                .clone()
                .map(|s| s as Arc<dyn pacer_engine::Validator>),
            ..LaneConfig::new(model.label.clone())
        };
        let engine = Lane::builder(config, provider)
            .limiter(Arc::new(limiter))
            .build();
        lanes.push(WorkerLane {
            lane: published["lane"].as_u64().unwrap_or_default() as usize,
            engine: Arc::new(engine),
        });
    }
    lanes
}

/// The newest run in progress not in `finished`, waiting for one.
async fn next_run(redis: &Redis, finished: &[String]) -> String {
    let mut said = false;
    loop {
        let since = pacer_batch::queue::unix_ms().saturating_sub(RUN_STALE.as_millis() as u64);
        let runs: Result<Vec<String>, _> = redis
            .connection()
            .zrevrangebyscore(RUNS, "+inf", since)
            .await;
        match runs {
            Ok(runs) => {
                if let Some(run) = runs.into_iter().find(|r| !finished.contains(r)) {
                    return run;
                }
                if !said {
                    said = true;
                    eprintln!(
                        "pacer worker: waiting for a run on {} (`pacer run --redis {}`)",
                        redis.shown(),
                        redis.shown()
                    );
                }
            }
            Err(e) => {
                if !said {
                    said = true;
                    eprintln!("pacer worker: {}: waiting for it", redis.error(&e));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The host's name and this process's id.
fn default_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".into());
    format!("{host}-{}", std::process::id())
}
