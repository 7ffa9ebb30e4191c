//! Wire replies built from the deterministic [`pacer_providers::mock::reply`], and the
//! conversions from OpenAI's wire requests to Pacer's.

use pacer_core::{Message, Params, Request, Response, Role, TokenLogprob};
use pacer_providers::openai::wire::{
    ChatChoice, ChatLogprobs, ChatRequest, ChatResponse, ChatTokenLogprob, CompletionChoice,
    CompletionLogprobs, CompletionRequest, CompletionResponse, CompletionTokensDetails,
    ReplyMessage, TopLogprob, WireUsage,
};
use serde_json::{Map, Value};

/// Whether `model` is a reasoning model (o1, o3, o4, gpt-5, fine-tunes of them).
pub(crate) fn is_reasoning(model: &str) -> bool {
    let name = model.strip_prefix("ft:").unwrap_or(model);
    ["o1", "o3", "o4", "gpt-5"]
        .iter()
        .any(|p| name.starts_with(p))
}

/// Where `text` first meets one of `stops`: the length of the text before it and the
/// sequence met (the first listed, of those met at the same place). Anthropic's and Gemini's
/// endpoints end their replies there, as the real models stop; empty sequences never match.
pub(crate) fn first_stop<'a>(text: &str, stops: &'a [String]) -> Option<(usize, &'a str)> {
    stops
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s.as_str()).map(|at| (at, s.as_str())))
        .min_by_key(|(at, _)| *at)
}

/// Words in `text`: the mock's replies are one token a word.
pub(crate) fn word_count(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// Reasoning tokens a reasoning model reports per visible output token.
const REASONING_PER_TOKEN: u64 = 2;

fn role(name: &str) -> Role {
    match name {
        "system" | "developer" => Role::System,
        "assistant" => Role::Assistant,
        _ => Role::User,
    }
}

/// Pacer's request for a chat request. A reasoning model's `max_completion_tokens` covers
/// its reasoning too, so the visible output gets a third of it. A `response_format` of type
/// `json_schema` becomes the output schema, so the reply is JSON that fits it.
pub(crate) fn chat_request(wire: ChatRequest, reasoning: bool) -> Request {
    let schema = wire
        .extra
        .get("response_format")
        .filter(|f| f.get("type").and_then(Value::as_str) == Some("json_schema"))
        .and_then(|f| f.pointer("/json_schema/schema"))
        .map(|schema| std::sync::Arc::new(schema.clone()));
    let cap = wire.max_completion_tokens.or(wire.max_tokens);
    let max_tokens = if reasoning {
        cap.map(|c| c / (1 + REASONING_PER_TOKEN as u32))
    } else {
        cap
    };
    Request {
        messages: wire
            .messages
            .into_iter()
            .map(|m| Message::new(role(&m.role), m.content))
            .collect(),
        model: wire.model,
        params: Params {
            temperature: wire.temperature,
            top_p: wire.top_p,
            max_tokens,
            seed: wire.seed,
            stop: wire.stop.unwrap_or_default(),
            n: wire.n.unwrap_or(1),
            logprobs: wire.logprobs.unwrap_or(false),
            // The reply always computes at least one alternative; the wire reply keeps `k`.
            top_logprobs: Some(wire.top_logprobs.unwrap_or(0).max(1)),
            schema,
            ..Params::default()
        },
    }
}

/// Pacer's request for a legacy completion: the prompt as one user message.
pub(crate) fn completion_request(wire: CompletionRequest) -> Request {
    Request {
        messages: vec![Message::new(Role::User, wire.prompt)],
        model: wire.model,
        params: Params {
            temperature: wire.temperature,
            top_p: wire.top_p,
            max_tokens: wire.max_tokens,
            seed: wire.seed,
            stop: wire.stop.unwrap_or_default(),
            n: wire.n.unwrap_or(1),
            logprobs: wire.logprobs.is_some(),
            top_logprobs: Some(wire.logprobs.unwrap_or(0).max(1)),
            ..Params::default()
        },
    }
}

fn usage(prompt_tokens: u64, output_tokens: u64, reasoning: bool) -> WireUsage {
    let reasoning_tokens = if reasoning {
        output_tokens * REASONING_PER_TOKEN
    } else {
        0
    };
    let completion_tokens = output_tokens + reasoning_tokens;
    WireUsage {
        prompt_tokens,
        completion_tokens,
        total_tokens: prompt_tokens + completion_tokens,
        prompt_tokens_details: None,
        completion_tokens_details: reasoning.then_some(CompletionTokensDetails {
            reasoning_tokens: Some(reasoning_tokens),
        }),
    }
}

/// The `k` best alternatives of one token.
fn alternatives(lp: &TokenLogprob, k: usize) -> impl Iterator<Item = (&String, f64)> {
    lp.top_tokens
        .iter()
        .zip(lp.top_logprobs.iter().copied())
        .take(k)
}

/// A chat completion for `reply`, with `k` alternatives per token when log-probabilities
/// were asked for.
pub(crate) fn chat_response(
    id: u64,
    created: u64,
    reply: Response,
    prompt_tokens: u64,
    k: usize,
    reasoning: bool,
) -> ChatResponse {
    let choices = reply
        .choices
        .into_iter()
        .enumerate()
        .map(|(index, choice)| ChatChoice {
            index: index as u32,
            finish_reason: Some(choice.finish_reason.as_str().to_owned()),
            logprobs: choice.logprobs.map(|lps| ChatLogprobs {
                content: Some(
                    lps.iter()
                        .map(|lp| ChatTokenLogprob {
                            token: lp.token.clone(),
                            logprob: lp.logprob,
                            top_logprobs: alternatives(lp, k)
                                .map(|(token, logprob)| TopLogprob {
                                    token: token.clone(),
                                    logprob,
                                })
                                .collect(),
                        })
                        .collect(),
                ),
            }),
            message: ReplyMessage {
                role: "assistant".into(),
                content: Some(choice.text),
                refusal: None,
            },
        })
        .collect();
    ChatResponse {
        id: format!("chatcmpl-mock-{id}"),
        object: "chat.completion".into(),
        created,
        model: reply.model_version,
        choices,
        usage: Some(usage(prompt_tokens, reply.usage.output_tokens, reasoning)),
    }
}

/// A legacy completion for `reply`, with `k` alternatives per token when log-probabilities
/// were asked for.
pub(crate) fn completion_response(
    id: u64,
    created: u64,
    reply: Response,
    prompt_tokens: u64,
    k: usize,
) -> CompletionResponse {
    let choices = reply
        .choices
        .into_iter()
        .enumerate()
        .map(|(index, choice)| CompletionChoice {
            index: index as u32,
            finish_reason: Some(choice.finish_reason.as_str().to_owned()),
            logprobs: choice.logprobs.map(|lps| CompletionLogprobs {
                tokens: lps.iter().map(|lp| lp.token.clone()).collect(),
                token_logprobs: lps.iter().map(|lp| Some(lp.logprob)).collect(),
                top_logprobs: Some(
                    lps.iter()
                        .map(|lp| {
                            let map: Map<String, Value> = alternatives(lp, k)
                                .map(|(token, logprob)| (token.clone(), Value::from(logprob)))
                                .collect();
                            Some(map)
                        })
                        .collect(),
                ),
            }),
            text: choice.text,
        })
        .collect();
    CompletionResponse {
        id: format!("cmpl-mock-{id}"),
        object: "text_completion".into(),
        created,
        model: reply.model_version,
        choices,
        usage: Some(usage(prompt_tokens, reply.usage.output_tokens, false)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasoning_names() {
        for model in [
            "o1",
            "o3-mini",
            "o4-mini",
            "gpt-5",
            "gpt-5-nano",
            "ft:o4-mini:acme::x",
        ] {
            assert!(is_reasoning(model), "{model}");
        }
        for model in ["gpt-4o", "gpt-4.1-mini", "llama", "ft:gpt-4o:acme::x"] {
            assert!(!is_reasoning(model), "{model}");
        }
    }

    #[test]
    fn the_first_stop_met_wins() {
        let stops = ["rate".to_owned(), "the".to_owned(), String::new()];
        assert_eq!(first_stop("the model rate", &stops), Some((0, "the")));
        assert_eq!(first_stop("a rate the", &stops), Some((2, "rate")));
        assert_eq!(first_stop("a model", &stops), None);
        assert_eq!(word_count("a  model "), 2);
    }

    #[test]
    fn reasoning_usage_includes_its_tokens() {
        let u = usage(10, 5, true);
        assert_eq!(u.completion_tokens, 15);
        assert_eq!(u.total_tokens, 25);
        assert_eq!(
            u.completion_tokens_details.unwrap().reasoning_tokens,
            Some(10)
        );
        assert!(usage(10, 5, false).completion_tokens_details.is_none());
    }
}
