//! OpenAI Batch API input lines (`{"custom_id", "method", "url", "body": {...}}`): the id
//! from `custom_id`, the conversation from the body, the body's sampling parameters as the
//! prompt's overrides, and `body.model` kept as `batch_model`.

use pacer_core::Params;
use serde_json::{Map, Value};

use super::item::{self, ItemError};
use super::prompt::{Origin, Prompt};

/// Whether an item is a batch line: a `body` object next to `custom_id`, `url` or `method`.
pub(crate) fn is_batch_line(fields: &Map<String, Value>) -> bool {
    matches!(fields.get("body"), Some(Value::Object(_)))
        && ["custom_id", "url", "method"]
            .into_iter()
            .any(|key| fields.contains_key(key))
}

/// The prompt a batch line describes. `url` and `method` are dropped (Pacer picks the
/// endpoint per model); other top-level fields are metadata.
pub(crate) fn to_prompt(
    mut fields: Map<String, Value>,
    origin: Origin,
) -> Result<Prompt, ItemError> {
    let id = item::take_id(&mut fields, origin)?;
    let mut body = Map::new();
    let rest = fields
        .into_iter()
        .filter_map(|(key, value)| match (key.as_str(), value) {
            ("method" | "url", _) => None,
            ("body", Value::Object(fields)) => {
                body = fields;
                item::take(&mut body, "model").map(|model| ("batch_model".to_owned(), model))
            }
            (_, value) => Some((key, value)),
        })
        .collect();
    let prompt = item::take(&mut body, "prompt");
    let messages = item::take(&mut body, "messages");
    let messages = item::conversation(prompt, messages, Some("body"))?;
    Ok(Prompt {
        id,
        messages,
        params: overrides(body)?,
        metadata: item::metadata(rest),
        origin,
    })
}

/// The parameters the rest of a body sets: `temperature`, `top_p`, `max_tokens` (or
/// `max_completion_tokens`, which wins), `seed`, `stop`, `logprobs` and `top_logprobs` map
/// onto [`Params`]; `n` and `stream` are ignored (samples are Pacer's to count, and it never
/// streams a batch); anything else passes through in [`Params::extra`]. `None` when the body
/// sets nothing.
fn overrides(body: Map<String, Value>) -> Result<Option<Params>, ItemError> {
    let mut params = Params::default();
    let mut max_completion_tokens = None;
    for (key, value) in body {
        if value.is_null() {
            continue;
        }
        let field = format!("body.{key}");
        match key.as_str() {
            "temperature" => params.temperature = Some(number(&field, &value)?),
            "top_p" => params.top_p = Some(number(&field, &value)?),
            "max_tokens" => params.max_tokens = Some(whole(&field, &value)?),
            "max_completion_tokens" => max_completion_tokens = Some(whole(&field, &value)?),
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
