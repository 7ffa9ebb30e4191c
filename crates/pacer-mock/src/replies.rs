//! OpenAI's replies, built from the deterministic [`pacer_providers::mock::reply`] as the
//! JSON OpenAI documents: a chat completion, a legacy completion and their usage. Also the
//! rules the other endpoints share: reasoning models, stop sequences. A tool call is
//! `message.tool_calls` (content null) with `finish_reason: "tool_calls"`; a refusal is
//! `message.refusal` (content null) with `finish_reason: "stop"`, as OpenAI writes them.

use pacer_core::{Choice, FinishReason, Response, TokenLogprob, ToolCall};
use serde_json::{Map, Value, json};

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

/// Reasoning tokens a reasoning model reports per visible output token.
pub(crate) const REASONING_PER_TOKEN: u64 = 2;

/// Tokens billed for one reply, as OpenAI reports them in `usage`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Usage {
    pub(crate) prompt_tokens: u64,
    /// The visible output and, for a reasoning model, its reasoning.
    pub(crate) completion_tokens: u64,
    /// Of the completion tokens, the reasoning; `None` for a model that does not reason.
    pub(crate) reasoning_tokens: Option<u64>,
}

impl Usage {
    /// The usage of a reply of `output_tokens` visible tokens to a prompt of
    /// `prompt_tokens`; a reasoning model adds its reasoning to the output.
    pub(crate) fn new(prompt_tokens: u64, output_tokens: u64, reasoning: bool) -> Usage {
        let reasoning_tokens = reasoning.then_some(output_tokens * REASONING_PER_TOKEN);
        Usage {
            prompt_tokens,
            completion_tokens: output_tokens + reasoning_tokens.unwrap_or(0),
            reasoning_tokens,
        }
    }

    /// The `usage` object; `completion_tokens_details` only for a reasoning model.
    fn to_json(self) -> Value {
        let mut usage = json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        });
        if let Some(reasoning_tokens) = self.reasoning_tokens {
            usage["completion_tokens_details"] = json!({"reasoning_tokens": reasoning_tokens});
        }
        usage
    }
}

/// The `k` best alternatives of one token.
fn alternatives(lp: &TokenLogprob, k: usize) -> impl Iterator<Item = (&String, f64)> {
    lp.top_tokens
        .iter()
        .zip(lp.top_logprobs.iter().copied())
        .take(k)
}

/// A chat completion's `logprobs`: each token with its `k` alternatives.
fn chat_logprobs(lps: &[TokenLogprob], k: usize) -> Value {
    let content: Vec<Value> = lps
        .iter()
        .map(|lp| {
            let top: Vec<Value> = alternatives(lp, k)
                .map(|(token, logprob)| json!({"token": token, "logprob": logprob}))
                .collect();
            json!({"token": lp.token, "logprob": lp.logprob, "top_logprobs": top})
        })
        .collect();
    json!({ "content": content })
}

/// A call as OpenAI's chat API writes it: `{"id", "type": "function", "function": {"name",
/// "arguments"}}`, the arguments JSON text.
pub(crate) fn chat_tool_call(call: &ToolCall) -> Value {
    json!({
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments_text()},
    })
}

/// The finish reason OpenAI's chat and legacy APIs give: a refusal ends as `stop`, the
/// refusal itself in the message's `refusal`.
fn finish_reason(choice: &Choice) -> &str {
    match &choice.finish_reason {
        FinishReason::Refusal => "stop",
        other => other.as_str(),
    }
}

/// A chat completion's message: its text as `content` (null when it only calls tools or
/// refuses), its calls as `tool_calls`, a refusal as `refusal`.
fn chat_message(choice: &Choice) -> Value {
    if choice.finish_reason == FinishReason::Refusal {
        return json!({"role": "assistant", "content": null, "refusal": choice.text});
    }
    if choice.tool_calls.is_empty() {
        return json!({"role": "assistant", "content": choice.text});
    }
    let content = (!choice.text.is_empty()).then_some(choice.text.as_str());
    let calls: Vec<Value> = choice.tool_calls.iter().map(chat_tool_call).collect();
    json!({"role": "assistant", "content": content, "tool_calls": calls})
}

/// A chat completion (`object: "chat.completion"`) for `reply`, with `k` alternatives per
/// token when log-probabilities were asked for.
pub(crate) fn chat_response(
    id: u64,
    created: u64,
    reply: Response,
    usage: Usage,
    k: usize,
) -> Value {
    let choices: Vec<Value> = reply
        .choices
        .into_iter()
        .enumerate()
        .map(|(index, choice)| {
            json!({
                "index": index,
                "message": chat_message(&choice),
                "finish_reason": finish_reason(&choice),
                "logprobs": choice.logprobs.map(|lps| chat_logprobs(&lps, k)),
            })
        })
        .collect();
    json!({
        "id": format!("chatcmpl-mock-{id}"),
        "object": "chat.completion",
        "created": created,
        "model": reply.model_version,
        "choices": choices,
        "usage": usage.to_json(),
    })
}

/// A legacy completion's `logprobs`: parallel arrays of the tokens, their log-probabilities
/// and their `k` alternatives, each a map from token to log-probability.
fn completion_logprobs(lps: &[TokenLogprob], k: usize) -> Value {
    let tokens: Vec<&str> = lps.iter().map(|lp| lp.token.as_str()).collect();
    let token_logprobs: Vec<f64> = lps.iter().map(|lp| lp.logprob).collect();
    let top_logprobs: Vec<Map<String, Value>> = lps
        .iter()
        .map(|lp| {
            alternatives(lp, k)
                .map(|(token, logprob)| (token.clone(), Value::from(logprob)))
                .collect()
        })
        .collect();
    json!({
        "tokens": tokens,
        "token_logprobs": token_logprobs,
        "top_logprobs": top_logprobs,
    })
}

/// A legacy completion (`object: "text_completion"`) for `reply`, with `k` alternatives per
/// token when log-probabilities were asked for.
pub(crate) fn completion_response(
    id: u64,
    created: u64,
    reply: Response,
    usage: Usage,
    k: usize,
) -> Value {
    let choices: Vec<Value> = reply
        .choices
        .into_iter()
        .enumerate()
        .map(|(index, choice)| {
            json!({
                "index": index,
                "finish_reason": finish_reason(&choice),
                "text": choice.text,
                "logprobs": choice.logprobs.map(|lps| completion_logprobs(&lps, k)),
            })
        })
        .collect();
    json!({
        "id": format!("cmpl-mock-{id}"),
        "object": "text_completion",
        "created": created,
        "model": reply.model_version,
        "choices": choices,
        "usage": usage.to_json(),
    })
}

#[cfg(test)]
mod tests {
    use pacer_core::{Choice, FinishReason, Response, TokenLogprob, Usage as Billed};
    use serde_json::json;

    use super::{Usage, chat_response, completion_response, first_stop, is_reasoning};

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
    }

    #[test]
    fn reasoning_usage_includes_its_tokens() {
        let u = Usage::new(10, 5, true);
        assert_eq!(
            u.to_json(),
            json!({
                "prompt_tokens": 10,
                "completion_tokens": 15,
                "total_tokens": 25,
                "completion_tokens_details": {"reasoning_tokens": 10},
            })
        );
        let u = Usage::new(10, 5, false);
        assert_eq!(
            u.to_json(),
            json!({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15})
        );
    }

    fn reply(logprobs: bool) -> Response {
        let lp = TokenLogprob {
            token_position: 0,
            token: "Hi".into(),
            logprob: -0.5,
            top_tokens: vec!["Hi".into(), "Yo".into()],
            top_logprobs: vec![-0.5, -1.25],
        };
        Response {
            model_version: Some("m-1".into()),
            choices: vec![Choice {
                text: "Hi".into(),
                finish_reason: FinishReason::Length,
                logprobs: logprobs.then(|| vec![lp]),
                parsed: None,
                tool_calls: Vec::new(),
            }],
            usage: Billed::default(),
            rate_limits: None,
            first_token: None,
            embeddings: Vec::new(),
        }
    }

    #[test]
    fn chat_replies_have_openais_shape() {
        let body = chat_response(7, 100, reply(true), Usage::new(3, 1, false), 1);
        assert_eq!(
            body,
            json!({
                "id": "chatcmpl-mock-7",
                "object": "chat.completion",
                "created": 100,
                "model": "m-1",
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": "Hi"},
                    "finish_reason": "length",
                    "logprobs": {"content": [{
                        "token": "Hi",
                        "logprob": -0.5,
                        "top_logprobs": [{"token": "Hi", "logprob": -0.5}],
                    }]},
                }],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
            })
        );
        let body = chat_response(7, 100, reply(false), Usage::new(3, 1, false), 0);
        assert!(body["choices"][0]["logprobs"].is_null());
    }

    #[test]
    fn tool_calls_and_refusals_have_openais_shape() {
        let mut response = reply(false);
        let mut call = Choice::text("", FinishReason::ToolCalls);
        call.tool_calls = vec![pacer_core::ToolCall::from_text("call_1", "f", r#"{"a":1}"#)];
        response.choices = vec![call, Choice::text("No.", FinishReason::Refusal)];
        let body = chat_response(1, 100, response, Usage::new(3, 1, false), 0);
        assert_eq!(
            body["choices"][0]["message"],
            json!({"role": "assistant", "content": null, "tool_calls": [{
                "id": "call_1", "type": "function",
                "function": {"name": "f", "arguments": "{\"a\":1}"},
            }]})
        );
        assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(
            body["choices"][1]["message"],
            json!({"role": "assistant", "content": null, "refusal": "No."})
        );
        assert_eq!(body["choices"][1]["finish_reason"], "stop");
    }

    #[test]
    fn completion_replies_have_parallel_logprob_arrays() {
        let body = completion_response(2, 100, reply(true), Usage::new(3, 1, false), 2);
        assert_eq!(body["id"], "cmpl-mock-2");
        assert_eq!(body["object"], "text_completion");
        assert_eq!(body["choices"][0]["text"], "Hi");
        assert_eq!(
            body["choices"][0]["logprobs"],
            json!({
                "tokens": ["Hi"],
                "token_logprobs": [-0.5],
                "top_logprobs": [{"Hi": -0.5, "Yo": -1.25}],
            })
        );
    }
}
