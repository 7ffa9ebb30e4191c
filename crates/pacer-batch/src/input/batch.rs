//! Request bodies as they are: OpenAI Batch API input lines (`{"custom_id", "method", "url",
//! "body": {...}}`) for chat completions, the Responses API and embeddings, and the OpenAI
//! cookbook's request files (one body per line, with an optional `metadata` object). The id
//! from `custom_id`, the conversation or texts from the body, the body's parameters as the
//! prompt's overrides, and `body.model` kept as `batch_model`.

use pacer_core::{Message, Params, Role};
use serde_json::{Map, Value};

use super::item::{self, ItemError};
use super::prompt::{Endpoint, Origin, Prompt};

/// Whether an item is a batch line: a `body` object next to `custom_id`, `url` or `method`.
pub(crate) fn is_batch_line(fields: &Map<String, Value>) -> bool {
    matches!(fields.get("body"), Some(Value::Object(_)))
        && ["custom_id", "url", "method"]
            .into_iter()
            .any(|key| fields.contains_key(key))
}

/// The prompt a batch line describes. `url` says which models the line is for (an
/// `/v1/embeddings` line only goes to embedding models, a chat or responses line only to the
/// others); `method` is dropped; other top-level fields are metadata.
pub(crate) fn to_prompt(
    mut fields: Map<String, Value>,
    origin: Origin,
) -> Result<Prompt, ItemError> {
    let id = item::take_id(&mut fields, origin)?;
    let mut body = Map::new();
    let mut endpoint = Endpoint::Any;
    let mut rest = Map::new();
    for (key, value) in fields {
        match (key.as_str(), value) {
            ("method", _) => {}
            ("url", url) => endpoint = endpoint_of(&url)?,
            ("body", Value::Object(fields)) => body = fields,
            (_, value) => {
                rest.insert(key, value);
            }
        }
    }
    from_body(id, body, Some("body"), rest, endpoint, origin)
}

/// The fields of the request bodies Pacer reads as they are (chat completions, the Responses
/// API, embeddings), and the cookbook's `metadata`.
const BODY_FIELDS: [&str; 39] = [
    "model",
    "messages",
    "input",
    "metadata",
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
    "n",
    "stop",
    "seed",
    "logprobs",
    "top_logprobs",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "frequency_penalty",
    "presence_penalty",
    "logit_bias",
    "user",
    "stream",
    "stream_options",
    "reasoning_effort",
    "reasoning",
    "service_tier",
    "store",
    "instructions",
    "text",
    "include",
    "truncation",
    "prediction",
    "modalities",
    "audio",
    "dimensions",
    "encoding_format",
    "web_search_options",
    "verbosity",
];

/// Whether an item is a request body as it is (the OpenAI cookbook's request files): a
/// `model` string beside `messages` or `input`, with no `body`, and no field a request body
/// does not have. A prompt of Pacer's own shape that names its `model` among other fields
/// (`category`, …) stays one: those fields are its metadata, never parameters.
pub(crate) fn is_request_body(fields: &Map<String, Value>) -> bool {
    matches!(fields.get("model"), Some(Value::String(_)))
        && ["messages", "input"]
            .iter()
            .any(|key| fields.contains_key(*key))
        && fields.keys().all(|key| BODY_FIELDS.contains(&key.as_str()))
}

/// The prompt a request body line describes: its `metadata` object's fields are the
/// prompt's metadata, the rest is read as a batch line's body.
pub(crate) fn request_body(
    mut fields: Map<String, Value>,
    origin: Origin,
) -> Result<Prompt, ItemError> {
    let id = item::take_id(&mut fields, origin)?;
    let metadata = match item::take(&mut fields, "metadata") {
        None => Map::new(),
        Some(Value::Object(metadata)) => metadata,
        Some(other) => {
            return Err(ItemError::expected(
                "metadata",
                "an object of the request's metadata",
                Some(&other),
            ));
        }
    };
    from_body(id, fields, None, metadata, Endpoint::Any, origin)
}

/// The prompt a request body makes, in `parent` (`body` for a batch line): the
/// conversation (`instructions` as a system message) or the texts to embed, the body's
/// parameters as the prompt's overrides, `model` kept as `batch_model` in the metadata.
fn from_body(
    id: String,
    mut body: Map<String, Value>,
    parent: Option<&str>,
    mut metadata: Map<String, Value>,
    endpoint: Endpoint,
    origin: Origin,
) -> Result<Prompt, ItemError> {
    if let Some(model) = item::take(&mut body, "model") {
        metadata.insert("batch_model".to_owned(), model);
    }
    let field = |name: &str| match parent {
        Some(parent) => format!("{parent}.{name}"),
        None => name.to_owned(),
    };
    let instructions = item::take(&mut body, "instructions")
        .map(|text| item::string(&field("instructions"), text))
        .transpose()?;
    let mut asked = item::asked(&mut body, parent)?;
    if let Some(instructions) = instructions.filter(|text| !text.is_empty()) {
        asked
            .messages
            .insert(0, Message::new(Role::System, instructions));
    }
    let tools = item::tool_params(&mut body, parent)?;
    let mut params = overrides(body, parent)?.unwrap_or_default();
    params.tools = tools.tools;
    params.tool_choice = tools.tool_choice;
    let endpoint = match (endpoint, asked.endpoint) {
        (Endpoint::Any, shape) => shape,
        (url, _) => url,
    };
    Ok(Prompt {
        id,
        messages: asked.messages,
        inputs: asked.inputs,
        endpoint,
        params: (params != Params::default()).then_some(params),
        metadata: item::metadata(metadata),
        origin,
    })
}

/// Which models a batch line's `url` is for.
fn endpoint_of(url: &Value) -> Result<Endpoint, ItemError> {
    const URLS: &str = "/v1/chat/completions, /v1/responses, /v1/completions or /v1/embeddings";
    match url.as_str() {
        Some("/v1/embeddings") => Ok(Endpoint::Embeddings),
        Some("/v1/chat/completions" | "/v1/responses" | "/v1/completions") => Ok(Endpoint::Chat),
        _ => Err(ItemError::expected("url", URLS, Some(url))),
    }
}

/// The parameters the rest of a body sets: `temperature`, `top_p`, `max_tokens` (or
/// `max_completion_tokens`, which wins), `seed`, `stop`, `logprobs` and `top_logprobs` map
/// onto [`Params`]; `n` and `stream` are ignored (samples are Pacer's to count, and it never
/// streams a batch); anything else passes through in [`Params::extra`]. `None` when the body
/// sets nothing.
fn overrides(body: Map<String, Value>, parent: Option<&str>) -> Result<Option<Params>, ItemError> {
    let mut params = Params::default();
    let mut max_completion_tokens = None;
    for (key, value) in body {
        if value.is_null() {
            continue;
        }
        let field = match parent {
            Some(parent) => format!("{parent}.{key}"),
            None => key.clone(),
        };
        match key.as_str() {
            "temperature" => params.temperature = Some(number(&field, &value)?),
            "top_p" => params.top_p = Some(number(&field, &value)?),
            "max_tokens" => params.max_tokens = Some(whole(&field, &value)?),
            "max_completion_tokens" | "max_output_tokens" => {
                max_completion_tokens = Some(whole(&field, &value)?);
            }
            "seed" => params.seed = Some(whole(&field, &value)?),
            "stop" => params.stop = stop(&field, value)?,
            "logprobs" => params.logprobs = boolean(&field, &value)?,
            "top_logprobs" => params.top_logprobs = Some(whole(&field, &value)?),
            "n" | "stream" | "stream_options" => {}
            _ => {
                params.extra.insert(key, value);
            }
        }
    }
    if max_completion_tokens.is_some() {
        params.max_tokens = max_completion_tokens;
    }
    Ok((params != Params::default()).then_some(params))
}

fn number(field: &str, value: &Value) -> Result<f64, ItemError> {
    value
        .as_f64()
        .ok_or_else(|| ItemError::expected(field, "a number", Some(value)))
}

/// A whole number that fits `T` (u8, u32 or u64).
fn whole<T: TryFrom<u64>>(field: &str, value: &Value) -> Result<T, ItemError> {
    value
        .as_u64()
        .and_then(|number| T::try_from(number).ok())
        .ok_or_else(|| {
            ItemError::expected(
                field,
                "a whole number, not negative and not too large",
                Some(value),
            )
        })
}

fn boolean(field: &str, value: &Value) -> Result<bool, ItemError> {
    value
        .as_bool()
        .ok_or_else(|| ItemError::expected(field, "true or false", Some(value)))
}

/// `stop`: one string or a list of them.
fn stop(field: &str, value: Value) -> Result<Vec<String>, ItemError> {
    const EXPECTED: &str = "a string or a list of strings";
    match value {
        Value::String(stop) => Ok(vec![stop]),
        Value::Array(list) => list
            .into_iter()
            .map(|stop| match stop {
                Value::String(stop) => Ok(stop),
                other => Err(ItemError::expected(field, EXPECTED, Some(&other))),
            })
            .collect(),
        other => Err(ItemError::expected(field, EXPECTED, Some(&other))),
    }
}
