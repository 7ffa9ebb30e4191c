//! `pacer serve`: the config's models behind one OpenAI-compatible gateway.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use pacer_engine::{Budget, RetryPolicy, Spending};
use pacer_serve::{
    Deployment, GatewayConfig, GatewayKey, GatewayServer, ModelRoute, Upstream, UsageLog,
};

use crate::cli::ServeArgs;
use crate::config::{self, Connection, GatewayKeyEntry};
use crate::providers;

/// The default address: loopback only.
const DEFAULT_LISTEN: &str = "127.0.0.1:8787";

/// Concurrency per model when neither the entry nor the file sets one: a gateway's clients,
/// not a lane, decide how much is in flight, and the limiter paces it.
const DEFAULT_CONCURRENCY: usize = 256;

pub async fn main(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let file = match &args.config {
        Some(path) => config::load(path)?,
        None => config::FileConfig::default(),
    };
    // Where a setting came from, for its errors.
    let source = args
        .config
        .as_ref()
        .map_or_else(|| "pacer serve".to_owned(), |p| p.display().to_string());
    let overrides = args.model.overrides();
    let config::ServeModels {
        models,
        max_retries,
        budget,
    } = config::resolve_serve(args.config.as_deref(), &file, &overrides)?;
    let mut routes = Vec::with_capacity(models.len());
    for (i, spec) in models.iter().enumerate() {
        let upstream = match &spec.connection {
            Connection::OpenAi(openai) => Upstream::OpenAi(openai.clone()),
            Connection::Anthropic(anthropic) => Upstream::Anthropic(anthropic.clone()),
            _ => Upstream::Provider(
                providers::build(spec).with_context(|| format!("model `{}`", spec.label))?,
            ),
        };
        routes.push(ModelRoute {
            name: spec.label.clone(),
            upstream_model: spec.name.clone(),
            upstream,
            limits: spec.limits,
            // Only a concurrency the file sets: a local model's default of 1 is for a lane,
            // and the gateway's clients queue in its own line.
            concurrency: match spec.concurrency {
                Some(cap)
                    if overrides.concurrency.is_some()
                        || file.concurrency.is_some()
                        || (overrides.models.is_empty()
                            && file.models.get(i).is_some_and(|m| m.concurrency.is_some())) =>
                {
                    cap.get()
                }
                _ => DEFAULT_CONCURRENCY,
            },
            timeout: spec.timeout,
            retry: RetryPolicy {
                max_retries,
                ..RetryPolicy::default()
            },
            max_tokens: spec.params.max_tokens,
            price: spec.price,
            deployments: Vec::new(),
        });
        let concurrency = routes.last().map_or(DEFAULT_CONCURRENCY, |r| r.concurrency);
        for d in &spec.deployments {
            let id = d.deployment.clone().unwrap_or_default();
            let upstream = match &d.connection {
                Connection::OpenAi(openai) => Upstream::OpenAi(openai.clone()),
                Connection::Anthropic(anthropic) => Upstream::Anthropic(anthropic.clone()),
                _ => Upstream::Provider(
                    providers::build(d)
                        .with_context(|| format!("model `{}`, deployment `{id}`", spec.label))?,
                ),
            };
            let deployment = Deployment {
                id,
                upstream_model: d.name.clone(),
                upstream,
                limits: d.limits,
                concurrency: d.concurrency.map_or(concurrency, |c| c.get()),
                price: d.price,
                timeout: Some(d.timeout),
            };
            if let Some(route) = routes.last_mut() {
                route.deployments.push(deployment);
            }
        }
    }
    let mut keys: Vec<GatewayKey> = file
        .gateway_keys
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, entry)| match entry {
            GatewayKeyEntry::Plain(key) => Ok(GatewayKey::new(format!("key{}", i + 1), key)),
            GatewayKeyEntry::Named {
                id,
                key,
                rpm,
                tpm,
                models: allowed,
                budget_usd,
                budget_tokens,
            } => {
                if budget_usd.is_some_and(|usd| !(usd.is_finite() && usd > 0.0)) {
                    bail!("{source}: gateway_keys: `{id}`: budget_usd: expected a positive number of US dollars");
                }
                if *budget_tokens == Some(0) {
                    bail!("{source}: gateway_keys: `{id}`: budget_tokens: expected a positive number of tokens");
                }
                let per_minute = |name: &str, value: Option<u64>| match value {
                    Some(0) => bail!(
                        "{source}: gateway_keys: `{id}`: {name}: expected a positive limit per minute (leave it out for none)"
                    ),
                    value => Ok(value.and_then(std::num::NonZeroU64::new)),
                };
                if let Some(unknown) = allowed
                    .iter()
                    .flatten()
                    .find(|m| !routes.iter().any(|r| &r.name == *m))
                {
                    bail!(
                        "{source}: gateway_keys: `{id}`: models: `{unknown}` is not a model here; the models are {}",
                        routes.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", ")
                    );
                }
                Ok(GatewayKey {
                    limits: pacer_limit::Limits {
                        rpm: per_minute("rpm", *rpm)?,
                        tpm: per_minute("tpm", *tpm)?,
                        ..pacer_limit::Limits::default()
                    },
                    models: allowed.clone(),
                    budget_usd: *budget_usd,
                    budget_tokens: *budget_tokens,
                    ..GatewayKey::new(id, key)
                })
            }
        })
        .collect::<anyhow::Result<_>>()?;
    if let Ok(env) = std::env::var("PACER_GATEWAY_KEYS") {
        for key in env.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            let id = format!("key{}", keys.len() + 1);
            keys.push(GatewayKey::new(id, key));
        }
    }
    if keys.iter().any(|k| k.key.trim().is_empty()) {
        bail!("{source}: gateway_keys: a key is empty");
    }
    if keys.is_empty() && !args.no_auth {
        bail!(
            "{source}: no gateway keys: set `gateway_keys = [\"...\"]` in the config or PACER_GATEWAY_KEYS=key1,key2 (or pass --no-auth to serve without keys)"
        );
    }
    if args.no_auth {
        keys.clear();
    }
    let listen = args
        .listen
        .or(file.listen.clone())
        .unwrap_or_else(|| DEFAULT_LISTEN.into());
    let addr: SocketAddr = listen
        .parse()
        .with_context(|| format!("--listen {listen}: expected an address like 127.0.0.1:8787"))?;
    let wait = file.max_queue_wait_secs.unwrap_or(60.0);
    if !(wait.is_finite() && wait >= 0.0) {
        bail!("{source}: max_queue_wait_secs: expected a number of seconds, found {wait}");
    }
    let usage_log = match args.usage_log.or(file.usage_log.clone()) {
        None => UsageLog::Stdout,
        Some(path) if path.as_os_str() == "-" => UsageLog::Stdout,
        Some(path) => UsageLog::File(path),
    };
    // The banner names each model with the limits it is paced under.
    let shown: Vec<String> = routes
        .iter()
        .map(|r| {
            let limits = |limits: &pacer_limit::Limits| -> String {
                pacer_limit::Dimension::ALL
                    .iter()
                    .filter_map(|d| limits.get(*d).map(|v| format!("{} {v}", d.key())))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            if !r.deployments.is_empty() {
                let each: Vec<String> = r
                    .deployments
                    .iter()
                    .map(|d| format!("{}: {}", d.id, limits(&d.limits)))
                    .collect();
                return format!("{} (deployments {})", r.name, each.join(" | "));
            }
            match limits(&r.limits) {
                shown if shown.is_empty() => r.name.clone(),
                shown => format!("{} ({shown})", r.name),
            }
        })
        .collect();
    let mut shared_limits = std::collections::HashMap::new();
    if let Some(url) = args.redis.as_ref().or(file.redis.as_ref()) {
        let redis = crate::cluster::open(url, "--redis (or the config's `redis`)")?;
        for spec in &models {
            shared_limits.insert(spec.label.clone(), crate::cluster::shared_key(&redis, spec));
            for d in &spec.deployments {
                let name = format!("{}@{}", spec.label, d.deployment.as_deref().unwrap_or(""));
                // Two deployments may share a base URL with two keys: each its own bucket.
                let mut key = crate::cluster::shared_key(&redis, d);
                key.key = format!("{}#{}", key.key, d.deployment.as_deref().unwrap_or(""));
                shared_limits.insert(name, key);
            }
        }
        eprintln!(
            "pacer serve: each model's limits are shared through {}",
            redis.shown()
        );
    }
    let config = GatewayConfig {
        models: routes,
        keys,
        max_queue_wait: Duration::from_secs_f64(wait),
        max_body_bytes: file.max_body_bytes.unwrap_or(4 << 20),
        client_rpm: file.client_rpm,
        usage_log,
        log_bodies: args.log_bodies,
        budget: budget
            .any()
            .then(|| Budget::new(budget.usd, budget.tokens, Spending::default())),
        shared_limits,
    };
    let server = GatewayServer::start(config, addr).await?;
    eprintln!(
        "pacer serve: {} (models: {})",
        server.url(),
        shown.join("; ")
    );
    stopped().await;
    eprintln!("pacer serve: stopping");
    server.shutdown().await?;
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C, or SIGTERM where there is one.
async fn stopped() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    tokio::signal::ctrl_c().await.ok();
}
