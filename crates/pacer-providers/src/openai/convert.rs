//! Between Pacer's [`Request`]/[`Response`] and OpenAI's wire types.

use super::wire::{
    ChatMessage, ChatRequest, ChatResponse, CompletionLogprobs, CompletionRequest,
    CompletionResponse, WireUsage,
};
use pacer_core::{
    Choice, ErrorKind, FinishReason, ProviderError, Request, Response, TokenLogprob, Usage,
};
use serde_json::{Value, json};

/// Alternatives per token when logprobs are asked for without a count.
const DEFAULT_TOP_LOGPROBS: u8 = 5;

/// The chat body for `request`. Reasoning models get `max_completion_tokens` and lose the
/// parameters they refuse: `temperature`, `top_p`, `stop` and logprobs. `n` goes only where
/// `send_n` says the model takes it (by default, not reasoning models).
///
/// An output schema is sent as OpenAI's structured output, `response_format: {"type":
/// "json_schema", "json_schema": {"name": "output", "schema": ..., "strict": false}}`,
/// replacing any `response_format` among the `extra` parameters. Not strict: strict mode
/// refuses schemas that leave `additionalProperties` open or some properties optional, and
/// every reply is validated by the lane anyway.
pub(crate) fn chat_request(request: &Request, reasoning: bool, send_n: bool) -> ChatRequest {
    let p = &request.params;
    let messages = request
        .messages
        .iter()
        .map(|m| ChatMessage {
            role: m.role.as_str().to_owned(),
            content: m.text().into_owned(),
        })
        .collect();
    let stop = (!p.stop.is_empty()).then(|| p.stop.clone());
    let n = (p.n > 1).then_some(p.n);
    let top_logprobs = p
        .logprobs
        .then(|| p.top_logprobs.unwrap_or(DEFAULT_TOP_LOGPROBS));
    let mut body = ChatRequest {
        model: request.model.clone(),
        messages,
        seed: p.seed,
        n: if send_n { n } else { None },
        extra: p.extra.clone(),
        ..ChatRequest::default()
    };
    if let Some(schema) = &p.schema {
        body.extra
            .insert("response_format".into(), response_format(schema));
    }
    if reasoning {
        body.max_completion_tokens = p.max_tokens;
    } else {
        body.temperature = p.temperature;
        body.top_p = p.top_p;
        body.max_tokens = p.max_tokens;
        body.stop = stop;
        body.logprobs = p.logprobs.then_some(true);
        body.top_logprobs = top_logprobs;
    }
    body
}

/// OpenAI's `response_format` for an output schema.
fn response_format(schema: &Value) -> Value {
    json!({
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema, "strict": false}
    })
}

/// The prompt of a legacy completion: the messages' texts, blank-line separated.
pub(crate) fn completion_prompt(request: &Request) -> String {
    match request.messages.as_slice() {
        [only] => only.text().into_owned(),
        messages => messages
            .iter()
            .map(|m| m.text())
            .collect::<Vec<_>>()
            .join("\n\n"),
    }
}

/// The legacy completions body for `request`. The legacy API has no structured output: an
/// output schema is not sent (the lane still validates every reply against it).
pub(crate) fn completion_request(request: &Request) -> CompletionRequest {
    let p = &request.params;
    CompletionRequest {
        model: request.model.clone(),
        prompt: completion_prompt(request),
        temperature: p.temperature,
        top_p: p.top_p,
        max_tokens: p.max_tokens,
        n: (p.n > 1).then_some(p.n),
        stop: (!p.stop.is_empty()).then(|| p.stop.clone()),
        seed: p.seed,
        // The legacy API caps alternatives at 5.
        logprobs: p
            .logprobs
            .then(|| p.top_logprobs.unwrap_or(DEFAULT_TOP_LOGPROBS).min(5)),
        extra: p.extra.clone(),
    }
}

fn invalid(what: impl std::fmt::Display) -> ProviderError {
    ProviderError::new(
        ErrorKind::InvalidResponse,
        format!("unreadable reply: {what}"),
    )
}

fn finish_reason(reason: Option<&str>) -> FinishReason {
    match reason {
        None | Some("stop") | Some("end_turn") | Some("eos") => FinishReason::Stop,
        Some("length") | Some("max_tokens") => FinishReason::Length,
        Some("content_filter") => FinishReason::ContentFilter,
        Some("tool_calls") | Some("function_call") => FinishReason::ToolCalls,
        Some(other) => FinishReason::Other(other.to_owned()),
    }
}

fn usage(wire: Option<WireUsage>) -> Usage {
    let wire = wire.unwrap_or_default();
    Usage {
        input_tokens: wire.prompt_tokens,
        output_tokens: wire.completion_tokens,
        reasoning_tokens: wire
            .completion_tokens_details
            .and_then(|d| d.reasoning_tokens)
            .unwrap_or(0),
        cached_input_tokens: wire
            .prompt_tokens_details
            .and_then(|d| d.cached_tokens)
            .unwrap_or(0),
    }
}

/// A reply with its choices in index order, turned into a [`Response`] by `choice`.
fn response<C>(
    model: Option<String>,
    mut choices: Vec<C>,
    wire_usage: Option<WireUsage>,
    index: impl Fn(&C) -> u32,
    choice: impl Fn(C) -> Choice,
) -> Result<Response, ProviderError> {
    if choices.is_empty() {
        return Err(invalid("no choices"));
    }
    choices.sort_by_key(|c| index(c));
    Ok(Response {
        model_version: model,
        choices: choices.into_iter().map(choice).collect(),
        usage: usage(wire_usage),
        rate_limits: None,
        embeddings: Vec::new(),
    })
}

/// Reads a chat completion.
pub(crate) fn chat_response(body: &[u8]) -> Result<Response, ProviderError> {
    let reply: ChatResponse = serde_json::from_slice(body).map_err(invalid)?;
    response(
        reply.model,
        reply.choices,
        reply.usage,
        |c| c.index,
        |c| {
            let logprobs = c.logprobs.and_then(|l| l.content).map(|tokens| {
                tokens
                    .into_iter()
                    .enumerate()
                    .map(|(i, t)| TokenLogprob {
                        token_position: i,
                        token: t.token,
                        logprob: t.logprob,
                        top_tokens: t.top_logprobs.iter().map(|a| a.token.clone()).collect(),
                        top_logprobs: t.top_logprobs.iter().map(|a| a.logprob).collect(),
                    })
                    .collect()
            });
            Choice {
                finish_reason: finish_reason(c.finish_reason.as_deref()),
                text: c.message.content.or(c.message.refusal).unwrap_or_default(),
                logprobs,
                parsed: None,
                tool_calls: Vec::new(),
            }
        },
    )
}

/// Reads a legacy completion.
pub(crate) fn completion_response(body: &[u8]) -> Result<Response, ProviderError> {
    let reply: CompletionResponse = serde_json::from_slice(body).map_err(invalid)?;
    response(
        reply.model,
        reply.choices,
        reply.usage,
        |c| c.index,
        |c| Choice {
            finish_reason: finish_reason(c.finish_reason.as_deref()),
            text: c.text,
            logprobs: c.logprobs.map(legacy_logprobs),
            parsed: None,
            tool_calls: Vec::new(),
        },
    )
}

fn legacy_logprobs(lp: CompletionLogprobs) -> Vec<TokenLogprob> {
    let tops = lp.top_logprobs.unwrap_or_default();
    lp.tokens
        .into_iter()
        .enumerate()
        .map(|(i, token)| {
            let mut alternatives: Vec<(String, f64)> = tops
                .get(i)
                .and_then(|t| t.as_ref())
                .map(|map| {
                    map.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
                        .collect()
                })
                .unwrap_or_default();
            alternatives.sort_by(|a, b| b.1.total_cmp(&a.1));
            TokenLogprob {
                token_position: i,
                token,
                // Only an echoed prompt's first token has none; 0 keeps records valid JSON.
                logprob: lp.token_logprobs.get(i).copied().flatten().unwrap_or(0.0),
                top_tokens: alternatives.iter().map(|a| a.0.clone()).collect(),
                top_logprobs: alternatives.iter().map(|a| a.1).collect(),
            }
        })
        .collect()
}
