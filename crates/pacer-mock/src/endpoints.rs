//! The two completion endpoints: parsing, the model check and the parameters the model
//! refuses (steps 2 to 4), then on to [`Shared::complete`].

use pacer_providers::openai::wire::{ChatRequest, CompletionRequest};
use pacer_providers::openai::{Encoding, chat_prompt_tokens, completion_prompt_tokens};

use crate::handler::{Kind, Shared};
use crate::replies::{chat_request, completion_request, is_reasoning};
use crate::respond::{Dropped, Reply};

/// The most completions one request may ask for, as OpenAI allows.
const MAX_N: u32 = 128;
/// The most alternatives per token.
const MAX_TOP_LOGPROBS: u8 = 20;

/// The body as `T`, or the 400 that says why not.
fn parse<T: serde::de::DeserializeOwned>(shared: &Shared, body: &[u8]) -> Result<T, Box<Reply>> {
    serde_json::from_slice(body).map_err(|e| {
        Box::new(shared.bad_request(
            format!("We could not parse the JSON body of your request: {e}"),
            None,
            None,
        ))
    })
}

/// The parameters every model checks: the 400 refusing them, if any.
fn common_checks(
    shared: &Shared,
    n: Option<u32>,
    top: Option<u8>,
    top_param: &str,
) -> Option<Reply> {
    if let Some(n) = n
        && !(1..=MAX_N).contains(&n)
    {
        return Some(shared.bad_request(
            format!("Invalid 'n': expected a value between 1 and {MAX_N}, got {n}."),
            Some("n"),
            Some("invalid_value"),
        ));
    }
    if let Some(top) = top
        && top > MAX_TOP_LOGPROBS
    {
        return Some(shared.bad_request(
            format!(
                "Invalid '{top_param}': expected a value at most {MAX_TOP_LOGPROBS}, got {top}."
            ),
            Some(top_param),
            Some("invalid_value"),
        ));
    }
    None
}

/// What reasoning models refuse, as the real API words it: the 400, if any.
fn reasoning_checks(shared: &Shared, wire: &ChatRequest) -> Option<Reply> {
    let refuse = |param: &str, message: String| {
        Some(shared.bad_request(message, Some(param), Some("unsupported_parameter")))
    };
    if wire.max_tokens.is_some() {
        return refuse(
            "max_tokens",
            "Unsupported parameter: 'max_tokens' is not supported with this model. \
             Use 'max_completion_tokens' instead."
                .into(),
        );
    }
    for (param, value) in [("temperature", wire.temperature), ("top_p", wire.top_p)] {
        if let Some(value) = value
            && value != 1.0
        {
            return refuse(
                param,
                format!(
                    "Unsupported value: '{param}' does not support {value} with this model. \
                     Only the default (1) value is supported."
                ),
            );
        }
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

/// `POST /v1/chat/completions`.
pub(crate) async fn chat(shared: &Shared, body: &[u8]) -> Result<Reply, Dropped> {
    let wire: ChatRequest = match parse(shared, body) {
        Ok(wire) => wire,
        Err(reply) => return Ok(*reply),
    };
    if let Some(reply) = shared.unknown_model(&wire.model) {
        return Ok(reply);
    }
    let reasoning = is_reasoning(&wire.model);
    let refused = common_checks(shared, wire.n, wire.top_logprobs, "top_logprobs")
        .or_else(|| reasoning.then(|| reasoning_checks(shared, &wire)).flatten());
    if let Some(reply) = refused {
        return Ok(reply);
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
    let request = chat_request(wire, reasoning);
    let prompt_tokens = chat_prompt_tokens(Encoding::for_model(&request.model), &request.messages);
    let cost = prompt_tokens + u64::from(cap) * u64::from(request.n());
    shared
        .complete(request, prompt_tokens, cost, Kind::Chat { k, reasoning })
        .await
}

/// `POST /v1/completions`.
pub(crate) async fn completions(shared: &Shared, body: &[u8]) -> Result<Reply, Dropped> {
    let wire: CompletionRequest = match parse(shared, body) {
        Ok(wire) => wire,
        Err(reply) => return Ok(*reply),
    };
    if let Some(reply) = shared.unknown_model(&wire.model) {
        return Ok(reply);
    }
    if let Some(reply) = common_checks(shared, wire.n, wire.logprobs, "logprobs") {
        return Ok(reply);
    }
    let k = usize::from(wire.logprobs.unwrap_or(0));
    let cap = wire.max_tokens.unwrap_or(shared.config.default_max_tokens);
    let prompt_tokens = completion_prompt_tokens(Encoding::for_model(&wire.model), &wire.prompt);
    let request = completion_request(wire);
    let cost = prompt_tokens + u64::from(cap) * u64::from(request.n());
    shared
        .complete(request, prompt_tokens, cost, Kind::Completion { k })
        .await
}
