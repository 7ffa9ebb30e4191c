//! `pacer serve`: one rate-limiting, OpenAI-compatible gateway shared by many client
//! processes.
//!
//! Clients speak OpenAI's API (`POST /v1/chat/completions`, `POST /v1/responses`,
//! `POST /v1/embeddings`, `POST /v1/completions`, `GET /v1/models`) with a gateway key; each
//! request is routed by its `model` to a configured entry, waits under that entry's
//! [`Limiter`](pacer_limit::Limiter) for capacity (up to a maximum queue wait, then 429 with
//! `retry-after`), is sent upstream, and is retried under the engine's [`RetryPolicy`] while
//! nothing has reached the client yet. OpenAI-compatible upstreams get the client's chat,
//! Responses API and legacy completion bodies as they are (streams pass through as
//! server-sent events), paced by what they estimate to (images and tools counted);
//! Anthropic, Gemini and mock entries are translated from and to the endpoint's shape
//! (content parts, tools and tool calls included). Embedding requests go through each
//! entry's provider and come back in OpenAI's embeddings list. Every request is one
//! [`Lane::call`](pacer_engine::Lane::call) on its model's lane, so a key the upstream
//! refuses or a quota used up stops that model (its later requests are answered at once),
//! and a budget caps what all models spend. `GET /metrics` serves Prometheus text,
//! `GET /health` says it is up, and every request writes one JSON line to the usage log.

mod gateway;
mod metrics;
mod translate;
mod usage_log;

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pacer_core::{Price, Provider, ProviderError};
use pacer_engine::{Budget, RetryPolicy};
use pacer_limit::Limits;
use pacer_providers::anthropic::AnthropicConfig;
use pacer_providers::openai::OpenAiConfig;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use metrics::Metrics;

/// A key clients present as `Authorization: Bearer KEY`; `id` names it in logs and metrics.
#[derive(Clone, Default)]
pub struct GatewayKey {
    /// The name logs and metrics use (the key itself never appears).
    pub id: String,
    /// The secret.
    pub key: String,
    /// This key's own limits over every model it uses (`rpm`, `tpm`), beside the models';
    /// an `rpm` left out falls back to the gateway's `client_rpm`.
    pub limits: pacer_limit::Limits,
    /// The models (client-facing names) this key may use; `None`: every one.
    pub models: Option<Vec<String>>,
    /// The most this key may spend in US dollars (every model it uses needs a price).
    pub budget_usd: Option<f64>,
    /// The most tokens this key may spend.
    pub budget_tokens: Option<u64>,
}

impl GatewayKey {
    /// A key `key` named `id`, with no limits of its own and every model.
    pub fn new(id: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            key: key.into(),
            ..Self::default()
        }
    }
}

impl std::fmt::Debug for GatewayKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// How one entry's requests reach its API.
#[derive(Clone)]
pub enum Upstream {
    /// An OpenAI-compatible server: the client's chat, Responses API and legacy completion
    /// bodies are forwarded as they are (`model` replaced by the entry's name), streams pass
    /// through; embedding requests go through the provider to `/embeddings`.
    OpenAi(OpenAiConfig),
    /// Anthropic's Messages API: a client's `/v1/messages` (and `count_tokens`) body is
    /// forwarded as it is (`model` replaced), streams passing through as the upstream sends
    /// them; OpenAI-shaped requests are translated, and streamed for real.
    Anthropic(AnthropicConfig),
    /// Any other provider (Anthropic, Gemini, the mock): requests and replies are translated
    /// from and to OpenAI's chat, Responses API and embeddings shapes; a stream is emulated
    /// from the whole reply.
    Provider(Arc<dyn Provider>),
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Upstream::OpenAi(config) => f.debug_tuple("OpenAi").field(config).finish(),
            Upstream::Anthropic(config) => f.debug_tuple("Anthropic").field(config).finish(),
            Upstream::Provider(p) => write!(f, "Provider({})", p.kind()),
        }
    }
}

/// One model the gateway serves.
#[derive(Clone, Debug)]
pub struct ModelRoute {
    /// What clients send as `model`.
    pub name: String,
    /// The model's name upstream.
    pub upstream_model: String,
    /// How it is reached.
    pub upstream: Upstream,
    /// Its per-minute limits (unknown ones are learned from OpenAI's headers).
    pub limits: Limits,
    /// Requests in flight upstream at once.
    pub concurrency: usize,
    /// How long one upstream attempt may take to its reply's head.
    pub timeout: Duration,
    /// When to retry.
    pub retry: RetryPolicy,
    /// The entry's `max_tokens`: the cap assumed for a request that sets none (and sent as
    /// its cap to translated entries). `None`: the provider's default.
    pub max_tokens: Option<u32>,
    /// Its prices, for the gateway's budget.
    pub price: Option<Price>,
    /// Several deployments behind the one name (other keys, regions, base URLs, even
    /// providers), each with its own limits: each request goes to the one that would admit
    /// it soonest, and to another when one fails with a server error or a timeout, or has
    /// stopped (its key refused, its quota used up), before anything reached the client.
    /// Empty: the route's own `upstream`, `upstream_model`, `limits`, `concurrency` and
    /// `price` are its one deployment; otherwise they are not used.
    pub deployments: Vec<Deployment>,
}

/// One deployment of a model: where it is, and its own limits.
#[derive(Clone, Debug)]
pub struct Deployment {
    /// Its name in the metrics and the usage log (unique within its model).
    pub id: String,
    /// The model's name at this deployment.
    pub upstream_model: String,
    /// How it is reached.
    pub upstream: Upstream,
    /// Its per-minute limits.
    pub limits: Limits,
    /// Requests in flight to it at once.
    pub concurrency: usize,
    /// Its prices.
    pub price: Option<Price>,
    /// How long one attempt may take to its reply's head; `None`: the model's.
    pub timeout: Option<Duration>,
}

/// Where the usage log goes.
#[derive(Clone, Debug, PartialEq)]
pub enum UsageLog {
    /// No log.
    Off,
    /// Standard output.
    Stdout,
    /// Appended to a file.
    File(PathBuf),
}

/// The whole gateway.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// The models, by client-facing name.
    pub models: Vec<ModelRoute>,
    /// The keys clients may use; none means no key is asked for.
    pub keys: Vec<GatewayKey>,
    /// The longest a request waits for capacity before a 429.
    pub max_queue_wait: Duration,
    /// The largest request body accepted (413 past it).
    pub max_body_bytes: usize,
    /// Requests per minute allowed to each client key without an `rpm` of its own, beside
    /// the models' limits.
    pub client_rpm: Option<u64>,
    /// The usage log.
    pub usage_log: UsageLog,
    /// Whether the usage log holds the request and reply bodies.
    pub log_bodies: bool,
    /// A spending cap shared by every model: once it would be passed, each model's requests
    /// are refused (429, `insufficient_quota`).
    pub budget: Option<Arc<Budget>>,
    /// The models whose limits live in Redis, shared with every other gateway, run and
    /// worker booking through the same key, by client-facing name.
    pub shared_limits: HashMap<String, pacer_limit::remote::SharedKey>,
}

impl GatewayConfig {
    /// A gateway for `models` with the defaults: no keys, 60 s queue wait, 4 MiB bodies, no
    /// per-client limit, no log.
    pub fn new(models: Vec<ModelRoute>) -> Self {
        Self {
            models,
            keys: Vec::new(),
            max_queue_wait: Duration::from_secs(60),
            max_body_bytes: 4 << 20,
            client_rpm: None,
            usage_log: UsageLog::Off,
            log_bodies: false,
            budget: None,
            shared_limits: HashMap::new(),
        }
    }
}

/// Why a gateway could not be built or started.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Two entries share a client-facing name.
    #[error("model `{0}` is configured twice")]
    DuplicateModel(String),
    /// Two deployments of a model share an id.
    #[error("model `{model}`: deployment `{id}` is configured twice")]
    DuplicateDeployment {
        /// The model.
        model: String,
        /// The id.
        id: String,
    },
    /// An entry's provider cannot be built (its base URL, key or headers).
    #[error("model `{model}`: {error}")]
    Model {
        /// The entry.
        model: String,
        /// Why.
        error: Box<ProviderError>,
    },
    /// A budget in dollars, and an entry without a price.
    #[error("model `{0}` has no price, and a budget in dollars needs one")]
    NoPrice(String),
    /// The usage log, which holds what each key has spent, cannot be read.
    #[error("cannot read the usage log {}: {source}", path.display())]
    ReadUsageLog {
        /// The log.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The usage log cannot be opened.
    #[error("cannot open the usage log: {0}")]
    UsageLog(#[source] io::Error),
    /// The address cannot be listened on.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
}

/// The gateway's routes as an [`axum::Router`], to serve on a listener of one's own or to
/// drive in process (tests send it requests without a socket).
pub fn router(config: GatewayConfig) -> Result<axum::Router, ServeError> {
    Ok(gateway::router(Arc::new(gateway::Gateway::new(config)?)))
}

/// A running gateway.
pub struct GatewayServer {
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<io::Result<()>>,
}

impl GatewayServer {
    /// Builds the gateway and serves it on `addr` (port 0 picks a free one).
    pub async fn start(config: GatewayConfig, addr: SocketAddr) -> Result<Self, ServeError> {
        let state = gateway::Gateway::new(config)?;
        let metrics = state.metrics.clone();
        let router = gateway::router(Arc::new(state));
        let listen = |source| ServeError::Listen { addr, source };
        let listener = TcpListener::bind(addr).await.map_err(listen)?;
        let addr = listener.local_addr().map_err(listen)?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(Self {
            addr,
            metrics,
            stop: Some(stop),
            task,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL clients use, ending in `/v1`.
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Its metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Stops taking connections and waits for those open to finish.
    pub async fn shutdown(mut self) -> io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.map_err(io::Error::other)?
    }
}
