//! OpenAI's Responses API, `POST /v1/responses`: `input` as a string or items ([`input`]),
//! `instructions`, `max_output_tokens` (16 at least, as OpenAI requires; a reasoning
//! model's covers its reasoning, so the visible output gets a third), `temperature` and
//! `top_p` (refused by reasoning models unless 1, as chat refuses them), `reasoning.effort`
//! (reasoning models only), function `tools` and `tool_choice`, `include:
//! ["message.output_text.logprobs"]` with `top_logprobs`, `text.format` `json_schema` (the
//! reply is JSON that fits it) and `store`. Then on to [`Shared::complete`] with chat's
//! limits (the output reserved is `max_output_tokens`), headers and faults; the reply is
//! written by [`reply`]. The mock does not stream it: `stream: true` is a 400.

mod input;
mod reply;

use pacer_core::{ImageBilling, Params, Request};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::complete::Prepared;
use crate::endpoints::{Kind, OpenAi, common_checks, parse, prepared, sampling_checks};
use crate::handler::Shared;
use crate::replies::{REASONING_PER_TOKEN, is_reasoning};
use crate::respond::{Dropped, Reply, bad_request};
use crate::tokens::Encoding;
use crate::tools::{self, Api};
pub(crate) use reply::Shape;

/// The include that asks for the output's log-probabilities.
const LOGPROBS: &str = "message.output_text.logprobs";

/// The least `max_output_tokens` OpenAI takes.
const MIN_OUTPUT_TOKENS: u32 = 16;

/// `POST /v1/responses`.
#[derive(Debug, Deserialize)]
pub(crate) struct ResponsesRequest {
    model: String,
    /// A string or a list of items; read by [`input::messages`].
    #[serde(default)]
    input: Option<Value>,
    #[serde(default)]
    instructions: Option<String>,
    #[serde(default)]
    max_output_tokens: Option<u32>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
    /// `{"effort", "summary"}`.
    #[serde(default)]
    reasoning: Option<Map<String, Value>>,
    #[serde(default)]
    tools: Option<Value>,
    #[serde(default)]
    tool_choice: Option<Value>,
    #[serde(default)]
    include: Option<Vec<String>>,
    #[serde(default)]
    top_logprobs: Option<u8>,
    /// `{"format": {"type": "text" | "json_object" | "json_schema", ...}}`.
    #[serde(default)]
    text: Option<Value>,
    #[serde(default)]
    store: Option<bool>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    metadata: Option<Value>,
    /// Everything else, unread; flattened so that the body must be an object.
    #[serde(flatten)]
    _rest: Map<String, Value>,
}

/// A 400 naming `param`.
fn invalid(message: impl Into<String>, param: &str, code: Option<&str>) -> Box<Reply> {
    Box::new(bad_request(message, Some(param), code))
}

/// What the request's parameters are refused for: the 400, if any.
fn checks(wire: &ResponsesRequest, reasoning: bool) -> Result<(), Box<Reply>> {
    if let Some(max) = wire.max_output_tokens
        && max < MIN_OUTPUT_TOKENS
    {
        return Err(invalid(
            format!(
                "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= \
                 {MIN_OUTPUT_TOKENS}, but got {max} instead."
            ),
            "max_output_tokens",
            Some("integer_below_min_value"),
        ));
    }
    if let Some(reply) = common_checks(None, wire.top_logprobs, "top_logprobs") {
        return Err(Box::new(reply));
    }
    let effort = wire.reasoning.as_ref().and_then(|r| r.get("effort"));
    if reasoning {
        if let Some(reply) = sampling_checks(wire.temperature, wire.top_p) {
            return Err(Box::new(reply));
        }
    } else if effort.is_some_and(|e| !e.is_null()) {
        return Err(invalid(
            "Unsupported parameter: 'reasoning.effort' is not supported with this model.",
            "reasoning.effort",
            Some("unsupported_parameter"),
        ));
    }
    Ok(())
}

/// The output schema of `text.format`, when it is `json_schema`.
fn schema(text: Option<&Value>) -> Option<std::sync::Arc<Value>> {
    let format = text?.get("format")?;
    (format.get("type")? == "json_schema")
        .then(|| format.get("schema").cloned())
        .flatten()
        .map(std::sync::Arc::new)
}

/// A Responses request checked and priced; the refusal (a 404 or a 400, uncounted)
/// otherwise.
pub(crate) fn prepare(
    shared: &Shared,
    wire: ResponsesRequest,
) -> Result<Prepared<OpenAi>, Box<Reply>> {
    if let Some(reply) = shared.unknown_model(&wire.model) {
        return Err(Box::new(reply));
    }
    let reasoning = is_reasoning(&wire.model);
    checks(&wire, reasoning)?;
    let Some(input) = wire.input.as_ref() else {
        return Err(invalid(
            "Missing required parameter: 'input'.",
            "input",
            Some("missing_required_parameter"),
        ));
    };
    let messages = input::messages(wire.instructions.as_deref(), input)?;
    let tools = tools::tools(wire.tools.as_ref(), Api::Responses)?;
    let tool_choice = tools::choice(wire.tool_choice.as_ref(), &tools, Api::Responses)?;
    let logprobs = wire.include.iter().flatten().any(|i| i == LOGPROBS);
    let k = usize::from(wire.top_logprobs.unwrap_or(0));
    let cap = wire.max_output_tokens;
    let visible = if reasoning {
        cap.map(|c| c / (1 + REASONING_PER_TOKEN as u32))
    } else {
        cap
    };
    let request = Request {
        model: wire.model.clone(),
        messages,
        inputs: Vec::new(),
        params: Params {
            temperature: wire.temperature,
            top_p: wire.top_p,
            max_tokens: visible,
            logprobs,
            top_logprobs: Some(wire.top_logprobs.unwrap_or(0).max(1)),
            schema: schema(wire.text.as_ref()),
            tools,
            tool_choice,
            ..Params::default()
        },
    };
    let prompt_tokens = Encoding::for_model(&request.model).prompt(
        &request.messages,
        &request.params.tools,
        ImageBilling::OpenAi,
    );
    let shape = Shape {
        reasoning,
        logprobs: logprobs.then_some(k),
        echo: echo(&wire),
    };
    let cap = cap.unwrap_or(shared.config.default_max_tokens);
    Ok(prepared(
        request,
        prompt_tokens,
        cap,
        Kind::Responses(shape),
    ))
}

/// The request's fields a response repeats, with the API's defaults where it set none.
fn echo(wire: &ResponsesRequest) -> Map<String, Value> {
    let effort = wire
        .reasoning
        .as_ref()
        .and_then(|r| r.get("effort"))
        .cloned();
    let fields = [
        ("instructions", json!(wire.instructions)),
        ("max_output_tokens", json!(wire.max_output_tokens)),
        ("temperature", json!(wire.temperature.unwrap_or(1.0))),
        ("top_p", json!(wire.top_p.unwrap_or(1.0))),
        ("reasoning", json!({"effort": effort, "summary": null})),
        ("store", json!(wire.store.unwrap_or(true))),
        (
            "text",
            wire.text
                .clone()
                .unwrap_or(json!({"format": {"type": "text"}})),
        ),
        (
            "tool_choice",
            wire.tool_choice.clone().unwrap_or(json!("auto")),
        ),
        ("tools", wire.tools.clone().unwrap_or(json!([]))),
        ("top_logprobs", json!(wire.top_logprobs.unwrap_or(0))),
        ("metadata", wire.metadata.clone().unwrap_or(json!({}))),
    ];
    fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// `POST /v1/responses`.
/// With `stream: true` the reply is the Responses API's events, made from the whole reply.
pub(crate) async fn responses(shared: &Shared, body: &[u8]) -> Result<Reply, Dropped> {
    let wire: ResponsesRequest = match parse(body) {
        Ok(wire) => wire,
        Err(reply) => return Ok(shared.refused(*reply)),
    };
    let stream = wire.stream == Some(true);
    let reply = match prepare(shared, wire) {
        Ok(prepared) => shared.complete(prepared).await?,
        Err(reply) => return Ok(shared.refused(*reply)),
    };
    Ok(if stream {
        crate::respond::as_events(reply, pacer_core::response_events)
    } else {
        reply
    })
}
