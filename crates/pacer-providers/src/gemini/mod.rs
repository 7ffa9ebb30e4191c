//! Google's Gemini API (`generateContent`): several candidates per call, thinking-token
//! usage, logprobs, the 429s that tell a per-minute limit from a used-up daily quota, and
//! batch mode.
//! Gemini sends no rate-limit headers; a 429 says how long to wait in its body.
//! Embedding requests go to `batchEmbedContents` (`embed`), at most [`EMBED_BATCH_LIMIT`]
//! inputs a call; streamed replies come from `streamGenerateContent` (`stream`).

mod batch;
mod classify;
mod convert;
mod embed;
mod stream;
mod tools;
mod turns;
mod wire;

pub use embed::EMBED_BATCH_LIMIT;

use std::fmt;
use std::sync::OnceLock;
use std::time::SystemTime;

use async_trait::async_trait;
use hyper::http::header::{HeaderMap, HeaderName};
use pacer_core::{
    Accounting, ErrorKind, ImageBilling, Provider, ProviderError, Request, Response, Streaming,
};

use crate::http;

/// Where Gemini's API lives, up to the API version: requests go to
/// `{base_url}/models/{model}:generateContent`.
pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com/v1beta";

/// How to reach Gemini's API.
#[derive(Clone)]
pub struct GeminiConfig {
    /// The API's root, up to the version (`.../v1beta`).
    pub base_url: String,
    /// The key, sent as `x-goog-api-key` (never in the URL, where an error message could
    /// show it).
    pub api_key: Option<String>,
    /// Extra headers sent with every request (a proxy's auth, ...).
    pub headers: Vec<(String, String)>,
}

impl GeminiConfig {
    /// Google's API, with `api_key`.
    pub fn new(api_key: Option<String>) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.into(),
            api_key,
            headers: Vec::new(),
        }
    }
}

impl fmt::Debug for GeminiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key never reaches a log, so Debug only says whether there is one; header
        // values may be keys too.
        f.debug_struct("GeminiConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

/// The Gemini provider.
pub struct GeminiProvider {
    client: http::HttpClient,
    config: GeminiConfig,
    /// The base URL, parsed once.
    base: hyper::http::Uri,
    headers: HeaderMap,
    /// The last model's URL: lanes serve one model, so one cached answer covers nearly
    /// every call.
    url_cache: OnceLock<(String, hyper::http::Uri)>,
}

impl fmt::Debug for GeminiProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeminiProvider")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl GeminiProvider {
    /// A provider for `config`, on the shared HTTP client.
    pub fn new(config: GeminiConfig) -> Result<Self, ProviderError> {
        let base = http::endpoint(&config.base_url, "")?;
        if base.query().is_some() {
            return Err(ProviderError::new(
                ErrorKind::Config,
                format!("base_url {:?} cannot take a path", config.base_url),
            ));
        }
        let auth = config
            .api_key
            .as_ref()
            .map(|key| (HeaderName::from_static("x-goog-api-key"), key.clone()));
        let headers = http::header_map(auth, &config.headers)?;
        Ok(Self {
            client: http::http_client(),
            config,
            base,
            headers,
            url_cache: OnceLock::new(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &GeminiConfig {
        &self.config
    }

    /// The URL requests for `model` are posted to; a leading `models/` in the name is
    /// dropped, and the name is escaped as one path segment.
    pub fn url(&self, model: &str) -> hyper::http::Uri {
        let (cached_model, url) = self
            .url_cache
            .get_or_init(|| (model.to_owned(), self.model_url(model, "generateContent")));
        if cached_model == model {
            url.clone()
        } else {
            self.model_url(model, "generateContent")
        }
    }

    /// The URL of `model`'s `method` (`generateContent`, `batchGenerateContent`,
    /// `streamGenerateContent?alt=sse`: a method may carry its query).
    fn model_url(&self, model: &str, method: &str) -> hyper::http::Uri {
        let model = model.strip_prefix("models/").unwrap_or(model);
        let base = self.base.to_string();
        let mut url = base.trim_end_matches('/').to_owned();
        url.push_str("/models/");
        // One path segment: everything but unreserved characters is percent-escaped.
        for byte in model.bytes() {
            if byte.is_ascii_alphanumeric() || b"-._~=".contains(&byte) {
                url.push(char::from(byte));
            } else {
                url.push_str(&format!("%{byte:02X}"));
            }
        }
        url.push(':');
        url.push_str(method);
        url.parse()
            .expect("a checked base and an escaped segment make a URL")
    }

    /// The JSON body `request` is sent as: a `generateContent` body, or for an embedding
    /// request a `batchEmbedContents` one.
    pub fn body(&self, request: &Request) -> Result<Vec<u8>, ProviderError> {
        let encoded = if request.is_embedding() {
            serde_json::to_vec(&embed::request(request)?)
        } else {
            serde_json::to_vec(&convert::request(request)?)
        };
        encoded.map_err(|e| {
            ProviderError::new(
                ErrorKind::BadRequest,
                format!("cannot encode the request: {e}"),
            )
        })
    }

    /// Posts `body` to `url`: a non-2xx reply is classified (with its `retry-after` where
    /// the body gives no wait), a 2xx one read by `parse`.
    async fn call(
        &self,
        url: &hyper::http::Uri,
        body: Vec<u8>,
        parse: impl FnOnce(&[u8]) -> Result<Response, ProviderError>,
    ) -> Result<Response, ProviderError> {
        let reply = http::post(&self.client, url, &self.headers, body, |_| None).await?;
        if !(200..300).contains(&reply.status) {
            return Err(http::refusal(
                reply.status,
                &reply.headers,
                &reply.body,
                |_| None,
                self.classify(),
            ));
        }
        parse(&reply.body).map_err(|e| e.with_status(reply.status))
    }

    /// How a non-2xx reply is classified (its wait read from the body where it gives one).
    fn classify(&self) -> impl Fn(u16, &[u8]) -> ProviderError + Send + Sync + '_ {
        move |status, body| {
            classify::status(
                status,
                body,
                self.config.api_key.as_deref(),
                SystemTime::now(),
            )
        }
    }
}

#[async_trait]
impl Provider for GeminiProvider {
    fn kind(&self) -> &'static str {
        "gemini"
    }

    fn accounting(&self) -> Accounting {
        // Gemini counts the tokens a call used, not the output it could have used.
        Accounting::Actual
    }

    fn estimate_input_tokens(&self, request: &Request) -> u64 {
        // Gemini's tokenizer is not public: four characters a token, images by Gemini's tile
        // rule.
        pacer_core::estimate_request(
            request,
            |text| (text.chars().count() as u64).div_ceil(4),
            ImageBilling::Gemini,
            pacer_core::Overheads::NEUTRAL,
        )
    }

    fn max_samples_per_call(&self, _model: &str) -> u32 {
        // `candidateCount` goes up to 8.
        8
    }

    fn reports_rate_limits(&self) -> bool {
        false
    }

    fn embedding_limits(&self) -> Option<pacer_core::EmbeddingLimits> {
        // batchEmbedContents takes 100 requests a call; gemini-embedding-001 reads 2,048
        // tokens of a text.
        Some(pacer_core::EmbeddingLimits {
            inputs: EMBED_BATCH_LIMIT,
            tokens: u64::MAX,
            input_tokens: 2048,
        })
    }

    fn batch_api(&self) -> Option<&dyn pacer_core::BatchApi> {
        Some(self)
    }

    /// Sends a completion to `generateContent`, an embedding request to
    /// `batchEmbedContents`. The latter's reply counts no tokens: its usage's input tokens
    /// are this provider's own estimate of the inputs.
    async fn send(&self, request: &Request) -> Result<Response, ProviderError> {
        let body = self.body(request)?;
        if request.is_embedding() {
            let url = self.model_url(&request.model, "batchEmbedContents");
            let estimate = self.estimate_input_tokens(request);
            let inputs = request.inputs.len();
            return self
                .call(&url, body, |reply| embed::response(reply, inputs, estimate))
                .await;
        }
        self.call(&self.url(&request.model), body, convert::response)
            .await
    }

    /// Streams the reply from `streamGenerateContent?alt=sse`, with the body `send` posts;
    /// an embedding request plays back `send`'s whole reply.
    async fn stream(&self, request: &Request) -> Result<Streaming, ProviderError> {
        if request.is_embedding() {
            return self.send(request).await.map(Streaming::of_response);
        }
        let body = self.body(request)?;
        let url = self.model_url(&request.model, "streamGenerateContent?alt=sse");
        // Gemini sends no rate-limit headers.
        let opened = http::open_stream(
            &self.client,
            &url,
            &self.headers,
            body,
            |_| None,
            self.classify(),
        )
        .await?;
        let reader = stream::ContentEvents::new(self.config.api_key.clone());
        Ok(Streaming {
            rate_limits: opened.rate_limits,
            deltas: crate::sse::deltas(opened.reply.into_body(), reader),
        })
    }
}
