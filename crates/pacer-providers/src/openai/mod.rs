//! OpenAI and every server that speaks its API (vLLM, llama.cpp, Ollama, hosted compatible
//! APIs): chat completions and legacy completions, reasoning models, logprobs, and the
//! rate-limit headers the limiter learns from.

mod batch;
mod batch_wire;
mod classify;
mod convert;
mod tokens;
mod wire;

use std::fmt;
use std::sync::OnceLock;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::http::header::{AUTHORIZATION, HeaderMap};
use pacer_core::{
    Accounting, ErrorKind, Provider, ProviderError, RateLimitInfo, Request, Response,
};
use regex::Regex;

use crate::http;
use crate::http::http_client;
pub use tokens::{Encoding, chat_prompt_tokens, completion_prompt_tokens};

/// Where OpenAI's API lives.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// The models that take `max_completion_tokens` and refuse `temperature`, `top_p`, `n` and
/// `stop`: the o-series and gpt-5, fine-tunes of them included.
pub const DEFAULT_REASONING_PATTERN: &str = r"^(ft:)?(o1|o3|o4|gpt-5)";

/// Which endpoint a model is called through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    /// `POST {base_url}/chat/completions`.
    Chat,
    /// `POST {base_url}/completions`, the legacy text API (base models on vLLM and
    /// llama.cpp, `gpt-3.5-turbo-instruct`). Messages are joined into one prompt.
    Completions,
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
    /// Parsed once: parsing a URL per request shows in profiles.
    url: hyper::http::Uri,
    /// The other API's URL, for bodies forwarded to it.
    other_url: hyper::http::Uri,
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
        let path = |api| match api {
            Api::Chat => "/chat/completions",
            Api::Completions => "/completions",
        };
        let other = match config.api {
            Api::Chat => Api::Completions,
            Api::Completions => Api::Chat,
        };
        let url = http::endpoint(&config.base_url, path(config.api))?;
        let other_url = http::endpoint(&config.base_url, path(other))?;
        let auth = config
            .api_key
            .as_ref()
            .map(|key| (AUTHORIZATION, format!("Bearer {key}")));
        let headers = http::header_map(auth, &config.headers)?;
        Ok(Self {
            client: http_client(),
            config,
            url,
            other_url,
            headers,
            encoding_cache: OnceLock::new(),
        })
    }

    /// Posts a client's JSON `body` as it is to `api`'s endpoint (a gateway's pass-through):
    /// a 2xx reply comes back whole, or, with `stream`, as soon as its head is in, its
    /// server-sent events still coming. Any other reply is classified as [`send`]'s are, its
    /// message redacted of the key.
    ///
    /// [`send`]: Provider::send
    pub async fn forward(
        &self,
        api: Api,
        body: Vec<u8>,
        stream: bool,
    ) -> Result<Forwarded, ProviderError> {
        let url = if api == self.config.api {
            &self.url
        } else {
            &self.other_url
        };
        let key = self.config.api_key.as_deref();
        if stream {
            let reply = self.client.post_streaming(url, &self.headers, body).await?;
            let limits = rate_limits(reply.headers());
            if reply.status().is_success() {
                return Ok(Forwarded::Stream {
                    reply,
                    rate_limits: limits,
                });
            }
            let status = reply.status().as_u16();
            let retry_after = http::retry_after(reply.headers());
            let body = reply
                .into_body()
                .collect()
                .await
                .map(http_body_util::Collected::to_bytes)
                .unwrap_or_default();
            let mut error = classify::status(status, &body, key);
            error.retry_after = retry_after;
            return Err(error.with_rate_limits(limits));
        }
        let whole = http::post(&self.client, url, &self.headers, body, rate_limits).await?;
        let limits = rate_limits(&whole.headers);
        if !(200..300).contains(&whole.status) {
            let mut error = classify::status(whole.status, &whole.body, key);
            error.retry_after = http::retry_after(&whole.headers);
            return Err(error.with_rate_limits(limits));
        }
        Ok(Forwarded::Whole {
            status: whole.status,
            body: whole.body,
            rate_limits: limits,
        })
    }

    /// The settings.
    pub fn config(&self) -> &OpenAiConfig {
        &self.config
    }

    /// The URL requests are posted to.
    pub fn url(&self) -> String {
        self.url.to_string()
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

    /// The JSON body `request` is sent as.
    pub fn body(&self, request: &Request) -> Result<Vec<u8>, ProviderError> {
        let reasoning = self.config.is_reasoning(&request.model);
        // The same rule as `max_samples_per_call`, so grouped samples always get their `n`.
        let send_n = self.config.supports_n.unwrap_or(!reasoning);
        let body = match self.config.api {
            Api::Chat => serde_json::to_vec(&convert::chat_request(request, reasoning, send_n)),
            Api::Completions => serde_json::to_vec(&convert::completion_request(request)),
        };
        body.map_err(|e| {
            ProviderError::new(
                ErrorKind::BadRequest,
                format!("cannot encode the request: {e}"),
            )
        })
    }
}

/// What came back for a body [forwarded](OpenAiProvider::forward) as it is.
#[derive(Debug)]
pub enum Forwarded {
    /// A 2xx reply, read whole.
    Whole {
        /// Its status.
        status: u16,
        /// Its body, as the server sent it.
        body: Bytes,
        /// What its headers said about the rate limits.
        rate_limits: Option<RateLimitInfo>,
    },
    /// A 2xx reply whose body (server-sent events) is still coming.
    Stream {
        /// The reply, its body unread.
        reply: hyper::Response<hyper::body::Incoming>,
        /// What its headers said about the rate limits.
        rate_limits: Option<RateLimitInfo>,
    },
}

/// The rate-limit headers of a reply.
fn rate_limits(headers: &HeaderMap) -> Option<RateLimitInfo> {
    RateLimitInfo::from_headers(http::pairs(headers))
}

#[async_trait]
impl Provider for OpenAiProvider {
    fn kind(&self) -> &'static str {
        "openai"
    }

    fn accounting(&self) -> Accounting {
        // OpenAI charges the prompt plus max_tokens × n at admission, whatever is used.
        Accounting::Estimate
    }

    fn estimate_input_tokens(&self, request: &Request) -> u64 {
        let encoding = self.encoding(&request.model);
        match self.config.api {
            Api::Chat => chat_prompt_tokens(encoding, &request.messages),
            Api::Completions => {
                completion_prompt_tokens(encoding, &convert::completion_prompt(request))
            }
        }
    }

    fn max_samples_per_call(&self, model: &str) -> u32 {
        let allowed = self
            .config
            .supports_n
            .unwrap_or(!self.config.is_reasoning(model));
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
        let api = self.config.api;
        http::exchange(
            &self.client,
            &self.url,
            &self.headers,
            body,
            rate_limits,
            |status, body| classify::status(status, body, key),
            |body| match api {
                Api::Chat => convert::chat_response(body),
                Api::Completions => convert::completion_response(body),
            },
        )
        .await
    }
}
