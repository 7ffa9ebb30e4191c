//! OpenAI's endpoints: the two completion endpoints' parsing, the model check and the
//! parameters the model refuses, then on to [`Shared::complete`], with OpenAI's errors and
//! headers, which the embeddings and Responses endpoints share.

use hyper::StatusCode;
use hyper::header::{HeaderName, HeaderValue};
use pacer_core::{ImageBilling, Response};

use crate::complete::{Job, Prepared, Protocol, Rendered};
use crate::handler::{Shared, unix_seconds};
use crate::limiter::{Cost, Limited, Readings};
use crate::replies::{Usage, chat_response, completion_response, is_reasoning};
use crate::requests::{ChatRequest, CompletionRequest, chat_request, completion_request};
use crate::respond::{self, Dropped, Reply, bad_request, error, serialize};
use crate::timefmt::{ceil_millis, go_duration};
use crate::tokens::Encoding;

/// Which reply an OpenAI request gets.
#[derive(Clone, Debug)]
pub(crate) enum Kind {
    /// A chat completion with `k` alternatives per token.
    Chat {
        /// Alternatives per token.
        k: usize,
        /// Whether the model reasons (and reports reasoning tokens).
        reasoning: bool,
    },
    /// A legacy completion with `k` alternatives per token.
    Completion {
        /// Alternatives per token.
        k: usize,
    },
    /// Embeddings (`/v1/embeddings`).
    Embeddings(crate::embeddings::Shape),
    /// A response of the Responses API (`/v1/responses`).
    Responses(crate::responses::Shape),
}

/// OpenAI's way of saying things, for one completion.
#[derive(Debug)]
pub(crate) struct OpenAi {
    kind: Kind,
    prompt_tokens: u64,
}

impl Protocol for OpenAi {
    const SETTLES: bool = false;

    fn quota(&self, _model: &str) -> Reply {
        error(
            StatusCode::TOO_MANY_REQUESTS,
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            Some("insufficient_quota"),
            None,
        )
    }

    fn limited(&self, limited: &Limited, model: &str) -> Reply {
        let ms = ceil_millis(limited.retry_after).max(1);
        let dimension = limited.dimension.as_str();
        let mut reply = error(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Rate limit reached for {dimension} on model {model}: Limit {}, Used {}, \
                 Requested {}. Please try again in {}.",
                limited.limit,
                limited.used,
                limited.requested,
                go_duration(std::time::Duration::from_millis(ms)),
            ),
            dimension,
            Some("rate_limit_exceeded"),
            None,
        );
        let headers = reply.headers_mut();
        headers.insert(
            HeaderName::from_static("retry-after-ms"),
            HeaderValue::from(ms),
        );
        headers.insert(
            HeaderName::from_static("retry-after"),
            HeaderValue::from(ms.div_ceil(1000).max(1)),
        );
        reply
    }

    fn server_error(&self) -> Reply {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The server had an error while processing your request.",
            "server_error",
            None,
            None,
        )
    }

    fn overloaded(&self) -> Reply {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "The engine is currently overloaded, please try again later.",
            "server_error",
            None,
            None,
        )
    }

    fn busy(&self, _model: &str) -> Reply {
        let mut reply = error(
            StatusCode::TOO_MANY_REQUESTS,
            "The server is currently overloaded with other requests. Please retry after a brief wait.",
            "requests",
            Some("rate_limit_exceeded"),
            None,
        );
        reply.headers_mut().insert(
            HeaderName::from_static("retry-after"),
            HeaderValue::from_static("1"),
        );
        reply
    }

    fn rate_headers(&self, reply: &mut Reply, readings: &Readings) {
        respond::rate_headers(reply, readings);
    }

    fn render(&self, id: u64, response: Response) -> Rendered {
        let created = unix_seconds();
        let output_tokens = response.usage.output_tokens;
        let embedded = response.embeddings.len() as u64;
        let (body, usage) = match &self.kind {
            Kind::Chat { k, reasoning } => {
                let usage = Usage::new(self.prompt_tokens, output_tokens, *reasoning);
                (chat_response(id, created, response, usage, *k), usage)
            }
            Kind::Completion { k } => {
                // The legacy endpoint serves no reasoning models.
                let usage = Usage::new(self.prompt_tokens, output_tokens, false);
                (completion_response(id, created, response, usage, *k), usage)
            }
            Kind::Embeddings(shape) => {
                let usage = Usage::new(self.prompt_tokens, 0, false);
                (shape.render(response, self.prompt_tokens), usage)
            }
            Kind::Responses(shape) => {
                let usage = Usage::new(self.prompt_tokens, output_tokens, shape.reasoning);
                (shape.render(id, created, response, usage), usage)
            }
        };
        Rendered {
            body: serialize(&body),
            prompt_tokens: usage.prompt_tokens,
            output_tokens: usage.completion_tokens,
            embedded,
        }
    }
}

/// An OpenAI request checked and priced: its cost is its prompt plus `cap` per completion.
pub(crate) fn prepared(
    request: pacer_core::Request,
    prompt_tokens: u64,
    cap: u32,
    kind: Kind,
) -> Prepared<OpenAi> {
    let output_cap = u64::from(cap) * u64::from(request.n());
    let job = Job {
        request,
        cost: Cost {
            tokens: prompt_tokens + output_cap,
            input: None,
            output: None,
        },
        output_cap,
    };
    Prepared {
        job,
        protocol: OpenAi {
            kind,
            prompt_tokens,
        },
    }
}

/// The most completions one request may ask for, as OpenAI allows.
const MAX_N: u32 = 128;
/// The most alternatives per token.
const MAX_TOP_LOGPROBS: u8 = 20;

/// The body as `T`, or the 400 that says why not.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Box<Reply>> {
    serde_json::from_slice(body).map_err(|e| {
        Box::new(bad_request(
            format!("We could not parse the JSON body of your request: {e}"),
            None,
            None,
        ))
    })
}

/// The parameters every model checks: the 400 refusing them, if any.
pub(crate) fn common_checks(n: Option<u32>, top: Option<u8>, top_param: &str) -> Option<Reply> {
    if let Some(n) = n
        && !(1..=MAX_N).contains(&n)
    {
        return Some(bad_request(
            format!("Invalid 'n': expected a value between 1 and {MAX_N}, got {n}."),
            Some("n"),
            Some("invalid_value"),
        ));
    }
    if let Some(top) = top
        && top > MAX_TOP_LOGPROBS
    {
        return Some(bad_request(
            format!(
                "Invalid '{top_param}': expected a value at most {MAX_TOP_LOGPROBS}, got {top}."
            ),
            Some(top_param),
            Some("invalid_value"),
        ));
    }
    None
}

/// The 400 of a reasoning model for `param`.
fn unsupported(param: &str, message: String) -> Option<Reply> {
    Some(bad_request(
        message,
        Some(param),
        Some("unsupported_parameter"),
    ))
}

/// What reasoning models refuse of the sampling, as the real API words it: a `temperature`
/// or `top_p` other than 1. The 400, if any.
pub(crate) fn sampling_checks(temperature: Option<f64>, top_p: Option<f64>) -> Option<Reply> {
    for (param, value) in [("temperature", temperature), ("top_p", top_p)] {
        if let Some(value) = value
            && value != 1.0
        {
            return unsupported(
                param,
                format!(
                    "Unsupported value: '{param}' does not support {value} with this model. \
                     Only the default (1) value is supported."
                ),
            );
        }
    }
    None
}

/// What reasoning models refuse of a chat request, as the real API words it: the 400, if
/// any.
fn reasoning_checks(wire: &ChatRequest) -> Option<Reply> {
    let refuse = unsupported;
    if wire.max_tokens.is_some() {
        return refuse(
            "max_tokens",
            "Unsupported parameter: 'max_tokens' is not supported with this model. \
             Use 'max_completion_tokens' instead."
                .into(),
        );
    }
    if let Some(reply) = sampling_checks(wire.temperature, wire.top_p) {
        return Some(reply);
    }
    if wire.stop.is_some() {
        return refuse(
            "stop",
            "Unsupported parameter: 'stop' is not supported with this model.".into(),
        );
    }
    if wire.n.is_some_and(|n| n > 1) {
        return refuse(
            "n",
            "Unsupported value: 'n' must be 1 with this model.".into(),
        );
    }
    None
}

/// A chat request checked against the model and its parameters, and priced; the refusal
/// (a 404 or a 400, uncounted) otherwise.
pub(crate) fn prepare_chat(
    shared: &Shared,
    wire: ChatRequest,
) -> Result<Prepared<OpenAi>, Box<Reply>> {
    if let Some(reply) = shared.unknown_model(&wire.model) {
        return Err(Box::new(reply));
    }
    let reasoning = is_reasoning(&wire.model);
    let refused = common_checks(wire.n, wire.top_logprobs, "top_logprobs")
        .or_else(|| reasoning.then(|| reasoning_checks(&wire)).flatten());
    if let Some(reply) = refused {
        return Err(Box::new(reply));
    }
    let k = if wire.logprobs == Some(true) {
        usize::from(wire.top_logprobs.unwrap_or(0))
    } else {
        0
    };
    let cap = wire
        .max_completion_tokens
        .or(wire.max_tokens)
        .unwrap_or(shared.config.default_max_tokens);
    let request = chat_request(wire, reasoning)?;
    let prompt_tokens = Encoding::for_model(&request.model).prompt(
        &request.messages,
        &request.params.tools,
        ImageBilling::OpenAi,
    );
    Ok(prepared(
        request,
        prompt_tokens,
        cap,
        Kind::Chat { k, reasoning },
    ))
}

/// `POST /v1/chat/completions`.
pub(crate) async fn chat(shared: &Shared, body: &[u8]) -> Result<Reply, Dropped> {
    let wire: ChatRequest = match parse(body) {
        Ok(wire) => wire,
        Err(reply) => return Ok(shared.refused(*reply)),
    };
    let stream = wire.extra.get("stream") == Some(&serde_json::Value::Bool(true));
    let include_usage = wire
        .extra
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        == Some(&serde_json::Value::Bool(true));
    let prepared = match prepare_chat(shared, wire) {
        Ok(prepared) => prepared,
        Err(reply) => return Ok(shared.refused(*reply)),
    };
    let reply = shared.complete(prepared).await?;
    Ok(if stream {
        respond::as_event_stream(reply, include_usage)
    } else {
        reply
    })
}

/// A legacy completion request checked against the model and its parameters, and priced;
/// the refusal (a 404 or a 400, uncounted) otherwise.
pub(crate) fn prepare_completion(
    shared: &Shared,
    wire: CompletionRequest,
) -> Result<Prepared<OpenAi>, Box<Reply>> {
    if let Some(reply) = shared.unknown_model(&wire.model) {
        return Err(Box::new(reply));
    }
    if let Some(reply) = common_checks(wire.n, wire.logprobs, "logprobs") {
        return Err(Box::new(reply));
    }
    let k = usize::from(wire.logprobs.unwrap_or(0));
    let cap = wire.max_tokens.unwrap_or(shared.config.default_max_tokens);
    let prompt_tokens = Encoding::for_model(&wire.model).count(&wire.prompt);
    let request = completion_request(wire);
    Ok(prepared(
        request,
        prompt_tokens,
        cap,
        Kind::Completion { k },
    ))
}

/// `POST /v1/completions`.
pub(crate) async fn completions(shared: &Shared, body: &[u8]) -> Result<Reply, Dropped> {
    let prepared = parse(body).and_then(|wire| prepare_completion(shared, wire));
    match prepared {
        Ok(prepared) => shared.complete(prepared).await,
        Err(reply) => Ok(shared.refused(*reply)),
    }
}
