//! Between Pacer's [`Request`]/[`Response`] and OpenAI's wire types.

use super::tools;
use super::wire::{
    ChatMessage, ChatRequest, ChatResponse, ChatTokenLogprob, CompletionLogprobs,
    CompletionRequest, CompletionResponse, WireUsage,
};
use pacer_core::{
    Choice, ErrorKind, FinishReason, Message, ProviderError, Request, Response, Role, TokenLogprob,
    Usage,
};
use serde_json::{Value, json};

/// Alternatives per token when logprobs are asked for without a count.
const DEFAULT_TOP_LOGPROBS: u8 = 5;

/// The chat body for `request`: messages with their content parts (images as `image_url`),
/// tool calls and tool results, and the tools the model may call. Reasoning models get
/// `max_completion_tokens` and lose the parameters they refuse: `temperature`, `top_p`,
/// `stop` and logprobs. `n` goes only where `send_n` says the model takes it (by default,
/// not reasoning models).
///
/// An output schema is sent as OpenAI's structured output, `response_format: {"type":
/// "json_schema", "json_schema": {"name": "output", "schema": ..., "strict": false}}`,
/// replacing any `response_format` among the `extra` parameters. Not strict: strict mode
/// refuses schemas that leave `additionalProperties` open or some properties optional, and
/// every reply is validated by the lane anyway.
pub(crate) fn chat_request(request: &Request, reasoning: bool, send_n: bool) -> ChatRequest {
    let p = &request.params;
    let messages = request.messages.iter().map(chat_message).collect();
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
        tools: tools::chat_tools(&p.tools),
        tool_choice: p.tool_choice.as_ref().map(tools::chat_tool_choice),
        extra: p.extra.clone(),
        ..ChatRequest::default()
    };
    // The typed fields replace what the extra parameters say, rather than sending both.
    if !body.tools.is_empty() {
        body.extra.remove("tools");
    }
    if body.tool_choice.is_some() {
        body.extra.remove("tool_choice");
    }
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

/// One message in the chat form. An assistant turn that only called tools has a null
/// content, as OpenAI writes it.
fn chat_message(message: &Message) -> ChatMessage {
    let tool_calls: Vec<_> = message.tool_calls.iter().map(tools::chat_call).collect();
    let content =
        (tool_calls.is_empty() || !message.content.is_empty()).then(|| message.content.clone());
    ChatMessage {
        role: message.role.as_str().to_owned(),
        content,
        tool_calls,
        tool_call_id: message.tool_call_id.clone(),
    }
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
/// output schema is not sent (the lane still validates every reply against it). It takes
/// one prompt of text, so a request with images, tools, tool calls or tool results is
/// refused as a bad request: sending its text alone would answer another question.
pub(crate) fn completion_request(request: &Request) -> Result<CompletionRequest, ProviderError> {
    if let Some(what) = beyond_text(request) {
        return Err(ProviderError::new(
            ErrorKind::BadRequest,
            format!(
                "the legacy completions API takes text only, and this request holds {what}; \
                 use the chat or responses API for it"
            ),
        ));
    }
    let p = &request.params;
    Ok(CompletionRequest {
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
    })
}

/// What a request holds that a text prompt cannot carry, if anything.
fn beyond_text(request: &Request) -> Option<&'static str> {
    let messages = &request.messages;
    if request.has_images() {
        Some("images")
    } else if !request.params.tools.is_empty() || request.params.tool_choice.is_some() {
        Some("tools")
    } else if messages.iter().any(|m| !m.tool_calls.is_empty()) {
        Some("tool calls")
    } else if messages.iter().any(|m| m.role == Role::Tool) {
        Some("tool results")
    } else {
        None
    }
}

/// A reply that cannot be read.
pub(crate) fn invalid(what: impl std::fmt::Display) -> ProviderError {
    ProviderError::new(
        ErrorKind::InvalidResponse,
        format!("unreadable reply: {what}"),
    )
}

/// Why a choice stopped, in Pacer's words.
pub(crate) fn finish_reason(reason: Option<&str>) -> FinishReason {
    match reason {
        None | Some("stop") | Some("end_turn") | Some("eos") => FinishReason::Stop,
        Some("length") | Some("max_tokens") => FinishReason::Length,
        Some("content_filter") => FinishReason::ContentFilter,
        Some("tool_calls") | Some("function_call") => FinishReason::ToolCalls,
        Some(other) => FinishReason::Other(other.to_owned()),
    }
}

/// OpenAI's usage in Pacer's terms (none: nothing counted).
pub(crate) fn usage(wire: Option<WireUsage>) -> Usage {
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
        first_token: None,
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
            let logprobs = c.logprobs.and_then(|l| l.content).map(token_logprobs);
            // A refusal comes with no content: its text is the answer, and the reason says so.
            let refused = c.message.content.is_none() && c.message.refusal.is_some();
            Choice {
                finish_reason: if refused {
                    FinishReason::Refusal
                } else {
                    finish_reason(c.finish_reason.as_deref())
                },
                text: c.message.content.or(c.message.refusal).unwrap_or_default(),
                logprobs,
                parsed: None,
                tool_calls: c
                    .message
                    .tool_calls
                    .into_iter()
                    .map(tools::read_chat_call)
                    .collect(),
            }
        },
    )
}

/// Output tokens with their alternatives, as the chat and Responses APIs list them, in
/// records' form.
pub(crate) fn token_logprobs(tokens: Vec<ChatTokenLogprob>) -> Vec<TokenLogprob> {
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
