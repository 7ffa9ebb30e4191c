//! OpenAI and every server that speaks its API (vLLM, llama.cpp, Ollama, hosted compatible
//! APIs): chat completions, the Responses API and legacy completions, with images, tools,
//! reasoning models and logprobs; embeddings; and the rate-limit headers the limiter learns
//! from.
//!
//! - `route`: which endpoint a request goes to and which reader its reply takes.
//! - `wire` and `convert`: chat and legacy completions; `tools`: tools on both chat-style
//!   APIs.
//! - `responses_wire` and `responses`: the Responses API.
//! - `embeddings`: the embeddings endpoint.
//! - `classify`: every failure, once; `tokens`: tiktoken counts.
//! - `stream_wire` and `stream`: chat completions streamed, read into deltas.
//! - `batch`, `batch_wire`: the Batch API; `forward`: the gateway's pass-through.

mod batch;
mod batch_wire;
mod classify;
mod convert;
mod embeddings;
mod forward;
mod responses;
mod responses_wire;
mod route;
mod stream;
mod stream_wire;
mod tokens;
mod tools;
mod wire;

use std::fmt;
use std::sync::OnceLock;

use async_trait::async_trait;
use hyper::http::header::{AUTHORIZATION, HeaderMap};
use pacer_core::{
    Accounting, ErrorKind, ImageBilling, Provider, ProviderError, RateLimitInfo, Request, Response,
    Streaming,
};
use regex::Regex;

pub use crate::forward::Forwarded;
use crate::http;
use crate::http::http_client;
use route::{Endpoints, Route};
pub use tokens::{Encoding, chat_prompt_tokens, completion_prompt_tokens};

/// Where OpenAI's API lives.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// The models that take `max_completion_tokens` and refuse `temperature`, `top_p`, `n` and
/// `stop`: the o-series and gpt-5, fine-tunes of them included.
pub const DEFAULT_REASONING_PATTERN: &str = r"^(ft:)?(o1|o3|o4|gpt-5)";

/// Which endpoint a model is called through for completions. Embedding requests go to
/// `POST {base_url}/embeddings` whatever the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    /// `POST {base_url}/chat/completions`.
    Chat,
    /// `POST {base_url}/completions`, the legacy text API (base models on vLLM and
    /// llama.cpp, `gpt-3.5-turbo-instruct`). Messages are joined into one prompt; a request
    /// with images or tools is refused as a bad request.
    Completions,
    /// `POST {base_url}/responses`, OpenAI's Responses API (config `api = "responses"`):
    /// system messages become `instructions`, the rest `input` items. It has no `n`, no
    /// `stop` and no `seed`: one sample per call, the others left out. Responses are sent
    /// with `store: false` unless the extra parameters say otherwise.
    Responses,
}

/// How to reach one OpenAI-compatible server.
#[derive(Clone)]
pub struct OpenAiConfig {
    /// The API's root, ending in `/v1` as the official SDK takes it.
    pub base_url: String,
    /// The bearer key; servers without auth (vLLM, Ollama) need none.
    pub api_key: Option<String>,
    /// The endpoint.
    pub api: Api,
    /// Names matching this are reasoning models.
    pub reasoning: Regex,
    /// Whether one call may ask for several completions (`n`). `None`: yes, except for
    /// reasoning models.
    pub supports_n: Option<bool>,
    /// Extra headers sent with every request (`OpenAI-Organization`, a proxy's auth, ...).
    pub headers: Vec<(String, String)>,
}

impl OpenAiConfig {
    /// OpenAI itself, with `api_key`.
    pub fn new(api_key: Option<String>) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.into(),
            api_key,
            api: Api::Chat,
            reasoning: Regex::new(DEFAULT_REASONING_PATTERN).expect("the default pattern is valid"),
            supports_n: None,
            headers: Vec::new(),
        }
    }

    /// Whether `model` is a reasoning model.
    pub fn is_reasoning(&self, model: &str) -> bool {
        self.reasoning.is_match(model)
    }
}

impl fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key never reaches a log, so Debug only says whether there is one.
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("api", &self.api)
            .field("reasoning", &self.reasoning.as_str())
            .field("supports_n", &self.supports_n)
            .finish_non_exhaustive()
    }
}

/// The OpenAI provider.
pub struct OpenAiProvider {
    client: http::HttpClient,
    config: OpenAiConfig,
    endpoints: Endpoints,
    headers: HeaderMap,
    encoding_cache: OnceLock<(String, Encoding)>,
}

impl fmt::Debug for OpenAiProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiProvider")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl OpenAiProvider {
    /// A provider for `config`, on the shared HTTP client.
    pub fn new(config: OpenAiConfig) -> Result<Self, ProviderError> {
        let endpoints = Endpoints::new(&config.base_url)?;
        let auth = config
            .api_key
            .as_ref()
            .map(|key| (AUTHORIZATION, format!("Bearer {key}")));
        let headers = http::header_map(auth, &config.headers)?;
        Ok(Self {
            client: http_client(),
            config,
            endpoints,
            headers,
            encoding_cache: OnceLock::new(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &OpenAiConfig {
        &self.config
    }

    /// The URL completion requests are posted to (the configured API's).
    pub fn url(&self) -> String {
        self.endpoints
            .url(Route::of_api(self.config.api))
            .to_string()
    }

    fn encoding(&self, model: &str) -> Encoding {
        // Lanes serve one model, so one cached answer covers nearly every call.
        let (cached_model, encoding) = self
            .encoding_cache
            .get_or_init(|| (model.to_owned(), Encoding::for_model(model)));
        if cached_model == model {
            *encoding
        } else {
            Encoding::for_model(model)
        }
    }

    /// The JSON body `request` is sent as: an embeddings body for an embedding request,
    /// else the configured API's. A request the legacy completions API cannot carry (images,
    /// tools) is a [`BadRequest`](ErrorKind::BadRequest).
    pub fn body(&self, request: &Request) -> Result<Vec<u8>, ProviderError> {
        match self.route(request) {
            Route::Embeddings => encode(&embeddings::request(request)),
            Route::Chat => encode(&self.chat_request(request)),
            Route::Completions => encode(&convert::completion_request(request)?),
            Route::Responses => {
                let reasoning = self.config.is_reasoning(&request.model);
                encode(&responses::request(request, reasoning))
            }
        }
    }

    /// The chat body for `request`.
    fn chat_request(&self, request: &Request) -> wire::ChatRequest {
        let reasoning = self.config.is_reasoning(&request.model);
        // The same rule as `max_samples_per_call`, so grouped samples always get their `n`.
        let send_n = self.config.supports_n.unwrap_or(!reasoning);
        convert::chat_request(request, reasoning, send_n)
    }

    /// The endpoint `request` goes to.
    fn route(&self, request: &Request) -> Route {
        Route::of(self.config.api, request)
    }
}

/// `body` as JSON; a body that cannot be is the request's fault.
fn encode(body: &impl serde::Serialize) -> Result<Vec<u8>, ProviderError> {
    serde_json::to_vec(body).map_err(|e| {
        ProviderError::new(
            ErrorKind::BadRequest,
            format!("cannot encode the request: {e}"),
        )
    })
}

/// The rate-limit headers of a reply.
fn rate_limits(headers: &HeaderMap) -> Option<RateLimitInfo> {
    RateLimitInfo::from_headers(http::pairs(headers))
}

#[async_trait]
impl Provider for OpenAiProvider {
    fn embedding_limits(&self) -> Option<pacer_core::EmbeddingLimits> {
        Some(pacer_core::EmbeddingLimits::OPENAI)
    }

    fn kind(&self) -> &'static str {
        "openai"
    }

    fn accounting(&self) -> Accounting {
        // OpenAI charges the prompt plus max_tokens × n at admission, whatever is used.
        Accounting::Estimate
    }

    fn estimate_input_tokens(&self, request: &Request) -> u64 {
        let encoding = self.encoding(&request.model);
        match self.route(request) {
            // The legacy prompt is the messages' texts joined, with no per-message overhead.
            Route::Completions => {
                completion_prompt_tokens(encoding, &convert::completion_prompt(request))
            }
            Route::Chat | Route::Responses | Route::Embeddings => pacer_core::estimate_request(
                request,
                |text| encoding.count(text),
                ImageBilling::OpenAi,
                pacer_core::Overheads::OPENAI,
            ),
        }
    }

    fn max_samples_per_call(&self, model: &str) -> u32 {
        let allowed = match self.config.api {
            Api::Chat | Api::Completions => self
                .config
                .supports_n
                .unwrap_or(!self.config.is_reasoning(model)),
            // The Responses API has no `n`.
            Api::Responses => false,
        };
        if allowed { 128 } else { 1 }
    }

    fn reports_rate_limits(&self) -> bool {
        true
    }

    fn batch_api(&self) -> Option<&dyn pacer_core::BatchApi> {
        Some(self)
    }

    async fn send(&self, request: &Request) -> Result<Response, ProviderError> {
        let body = self.body(request)?;
        let key = self.config.api_key.as_deref();
        let route = self.route(request);
        let inputs = request.inputs.len();
        http::exchange(
            &self.client,
            self.endpoints.url(route),
            &self.headers,
            body,
            rate_limits,
            |status, body| classify::status(status, body, key),
            |body| route.read(body, Some(inputs)),
        )
        .await
    }

    /// Streams a chat completion (`Api::Chat`): the body `send` posts, asking for a stream
    /// that ends with the usage, read into the first choice's deltas. The other APIs, and
    /// embedding requests, play back `send`'s whole reply.
    async fn stream(&self, request: &Request) -> Result<Streaming, ProviderError> {
        let route = self.route(request);
        if route != Route::Chat {
            return self.send(request).await.map(Streaming::of_response);
        }
        let body = encode(&stream::body(self.chat_request(request)))?;
        let key = self.config.api_key.as_deref();
        let opened = http::open_stream(
            &self.client,
            self.endpoints.url(route),
            &self.headers,
            body,
            rate_limits,
            |status, body| classify::status(status, body, key),
        )
        .await?;
        let reader = stream::ChatEvents::new(self.config.api_key.clone());
        Ok(Streaming {
            rate_limits: opened.rate_limits,
            deltas: crate::sse::deltas(opened.reply.into_body(), reader),
        })
    }
}
