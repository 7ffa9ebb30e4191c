//! Anthropic's Messages API: one completion per call, prompt-cache usage, the
//! `anthropic-ratelimit-*` headers the limiter learns from, and Message Batches.
//!
//! - `wire` and `convert` (with `turns` and `tools`): requests and whole replies.
//! - `stream_wire` and `stream`: streamed replies, read into deltas.
//! - `classify`: every failure, once; `batch`: Message Batches; `forward`: the gateway's
//!   pass-through.

mod batch;
mod classify;
mod convert;
mod forward;
mod stream;
mod stream_wire;
mod tools;
mod turns;
mod wire;

pub use forward::Endpoint;

use std::fmt;
use std::time::SystemTime;

use async_trait::async_trait;
use hyper::http::header::{HeaderMap, HeaderName, HeaderValue};
use pacer_core::{
    Accounting, ErrorKind, ImageBilling, LimitReading, Provider, ProviderError, RateLimitInfo,
    Request, Response, Streaming,
};

use crate::http;

/// Where Anthropic's API lives (the host root: requests go to `{base_url}/v1/messages`).
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";

/// The `anthropic-version` sent unless configured otherwise.
pub const DEFAULT_VERSION: &str = "2023-06-01";

/// The output cap sent when a request sets none: the API requires one.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// How to reach Anthropic's API.
#[derive(Clone)]
pub struct AnthropicConfig {
    /// The host root, without `/v1`, as the official SDK takes it.
    pub base_url: String,
    /// The key, sent as `x-api-key`.
    pub api_key: Option<String>,
    /// The `anthropic-version` header.
    pub version: String,
    /// `max_tokens` for requests that set none.
    pub default_max_tokens: u32,
    /// Extra headers sent with every request (`anthropic-beta`, a proxy's auth, ...).
    pub headers: Vec<(String, String)>,
}

impl AnthropicConfig {
    /// Anthropic itself, with `api_key`.
    pub fn new(api_key: Option<String>) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.into(),
            api_key,
            version: DEFAULT_VERSION.into(),
            default_max_tokens: DEFAULT_MAX_TOKENS,
            headers: Vec::new(),
        }
    }
}

impl fmt::Debug for AnthropicConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key never reaches a log, so Debug only says whether there is one; header
        // values may be keys too.
        f.debug_struct("AnthropicConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("version", &self.version)
            .field("default_max_tokens", &self.default_max_tokens)
            .finish_non_exhaustive()
    }
}

/// The Anthropic provider.
pub struct AnthropicProvider {
    client: http::HttpClient,
    config: AnthropicConfig,
    /// Parsed once: parsing a URL per request shows in profiles.
    url: hyper::http::Uri,
    /// `{base_url}/v1/messages/count_tokens`, for the gateway's pass-through.
    count_tokens_url: hyper::http::Uri,
    headers: HeaderMap,
}

impl fmt::Debug for AnthropicProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnthropicProvider")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AnthropicProvider {
    /// A provider for `config`, on the shared HTTP client.
    pub fn new(config: AnthropicConfig) -> Result<Self, ProviderError> {
        let url = http::endpoint(&config.base_url, "/v1/messages")?;
        let count_tokens_url = http::endpoint(&config.base_url, "/v1/messages/count_tokens")?;
        let auth = config
            .api_key
            .as_ref()
            .map(|key| (HeaderName::from_static("x-api-key"), key.clone()));
        let mut headers = http::header_map(auth, &[])?;
        let version = HeaderValue::from_str(&config.version).map_err(|_| {
            ProviderError::new(
                ErrorKind::Config,
                format!("bad anthropic-version {:?}", config.version),
            )
        })?;
        headers.insert(HeaderName::from_static("anthropic-version"), version);
        // Configured headers last, so they may replace the version.
        headers.extend(http::header_map(None, &config.headers)?);
        Ok(Self {
            client: http::http_client(),
            config,
            url,
            count_tokens_url,
            headers,
        })
    }

    /// The settings.
    pub fn config(&self) -> &AnthropicConfig {
        &self.config
    }

    /// The URL requests are posted to.
    pub fn url(&self) -> String {
        self.url.to_string()
    }

    /// The JSON body `request` is sent as; an embedding request is a
    /// [`ErrorKind::BadRequest`], as Anthropic has no embeddings API.
    pub fn body(&self, request: &Request) -> Result<Vec<u8>, ProviderError> {
        encode(&convert::request(request, self.config.default_max_tokens)?)
    }
}

/// `body` as JSON; a body that cannot be is the request's fault.
fn encode(body: &wire::MessagesRequest) -> Result<Vec<u8>, ProviderError> {
    serde_json::to_vec(body).map_err(|e| {
        ProviderError::new(
            ErrorKind::BadRequest,
            format!("cannot encode the request: {e}"),
        )
    })
}

/// The `anthropic-ratelimit-*` headers of a reply, resets measured from now.
///
/// `anthropic-ratelimit-tokens-*` report whichever of the input and output limits is closest
/// to running out, not a limit on their sum; learnt as a tokens-per-minute limit it would hold
/// input and output together to the smaller one, so it is dropped when the input and output
/// headers are there.
pub fn rate_limits(headers: &HeaderMap) -> Option<RateLimitInfo> {
    let mut info = RateLimitInfo::from_anthropic_headers(http::pairs(headers), SystemTime::now())?;
    if !(info.input_tokens.is_empty() && info.output_tokens.is_empty()) {
        info.tokens = LimitReading::default();
    }
    Some(info)
}

#[async_trait]
impl Provider for AnthropicProvider {
    fn kind(&self) -> &'static str {
        "anthropic"
    }

    fn accounting(&self) -> Accounting {
        // Anthropic charges output tokens from max_tokens at admission, then settles them to
        // what the reply used.
        Accounting::Actual
    }

    fn estimate_input_tokens(&self, request: &Request) -> u64 {
        // Claude's tokenizer is not public, and it cuts English finer than four characters a
        // token (about 3.5): each text counts 15% more than the neutral four characters a
        // token, so admission errs high, not into 429s. Images count by Anthropic's rule
        // (their pixels, never their base64's length). Actual accounting settles the
        // difference once the reply is in.
        pacer_core::estimate_request(
            request,
            |text| (text.chars().count() as u64 * 115).div_ceil(400),
            ImageBilling::Anthropic,
            pacer_core::Overheads::NEUTRAL,
        )
    }

    fn max_samples_per_call(&self, _model: &str) -> u32 {
        1
    }

    fn default_max_tokens(&self) -> u32 {
        // Sent with every request that sets none: Anthropic requires a cap.
        self.config.default_max_tokens
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
        http::exchange(
            &self.client,
            &self.url,
            &self.headers,
            body,
            rate_limits,
            |status, body| classify::status(status, body, key),
            convert::response,
        )
        .await
    }

    /// Streams the reply: the body `send` posts with `"stream": true`, its events read into
    /// deltas.
    async fn stream(&self, request: &Request) -> Result<Streaming, ProviderError> {
        let mut body = convert::request(request, self.config.default_max_tokens)?;
        body.extra.insert("stream".into(), true.into());
        let key = self.config.api_key.as_deref();
        let opened = http::open_stream(
            &self.client,
            &self.url,
            &self.headers,
            encode(&body)?,
            rate_limits,
            |status, body| classify::status(status, body, key),
        )
        .await?;
        let reader = stream::MessageEvents::new(self.config.api_key.clone());
        Ok(Streaming {
            rate_limits: opened.rate_limits,
            deltas: crate::sse::deltas(opened.reply.into_body(), reader),
        })
    }
}
