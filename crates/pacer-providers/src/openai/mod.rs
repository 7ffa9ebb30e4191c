//! OpenAI and every server that speaks its API (vLLM, llama.cpp, Ollama, hosted compatible
//! APIs): chat completions and legacy completions, reasoning models, logprobs, and the
//! rate-limit headers the limiter learns from.

mod classify;
mod convert;
mod tokens;
pub mod wire;

use std::fmt;
use std::sync::OnceLock;

use async_trait::async_trait;
use hyper::http::header::{AUTHORIZATION, HeaderMap};
use pacer_core::{
    Accounting, ErrorKind, Provider, ProviderError, RateLimitInfo, Request, Response,
};
use regex::Regex;

use crate::http;
pub use crate::http::http_client;
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

    /// The environment's settings: `OPENAI_BASE_URL` and `OPENAI_API_KEY`.
    pub fn from_env() -> Self {
        let mut config = Self::new(
            std::env::var("OPENAI_API_KEY")
                .ok()
                .filter(|k| !k.is_empty()),
        );
        if let Ok(url) = std::env::var("OPENAI_BASE_URL")
            && !url.is_empty()
        {
            config.base_url = url;
        }
        config
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
        let path = match config.api {
            Api::Chat => "/chat/completions",
            Api::Completions => "/completions",
        };
        let url = http::endpoint(&config.base_url, path)?;
        let auth = config
            .api_key
            .as_ref()
            .map(|key| (AUTHORIZATION, format!("Bearer {key}")));
        let headers = http::header_map(auth, &config.headers)?;
        Ok(Self {
            client: http_client(),
            config,
            url,
            headers,
            encoding_cache: OnceLock::new(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &OpenAiConfig {
        &self.config
    }

    /// The parsed URL requests are posted to.
    pub fn uri(&self) -> &hyper::http::Uri {
        &self.url
    }

    /// The headers sent with every request, the key among them (marked sensitive).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
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

/// Classifies a non-2xx reply from an OpenAI-compatible server (status, `{"error": ...}`
/// body) into an error whose message names neither `api_key` nor anything shaped like a key.
pub fn classify_status(status: u16, body: &[u8], api_key: Option<&str>) -> ProviderError {
    classify::status(status, body, api_key)
}

/// The rate-limit headers of a reply.
pub fn rate_limits(headers: &HeaderMap) -> Option<RateLimitInfo> {
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
