//! Chat completions: an OpenAI chat body as Pacer's request (content parts and images,
//! assistant tool calls, `tool` results, tools and the tool choice), and Pacer's response
//! as a `chat.completion` (tool calls, refusals, log-probabilities) and its stream.

use pacer_core::parse::{self, ShapeError};
use pacer_core::{Choice, FinishReason, Request, Response, TokenLogprob, Usage};
use serde_json::{Map, Value, json};

use super::{n, shared_params};

/// The OpenAI chat request `body` as Pacer's request for `model`.
pub(crate) fn request(model: &str, body: &Map<String, Value>) -> Result<Request, ShapeError> {
    let Some(messages) = body.get("messages") else {
        return Err(ShapeError::expected(
            "messages",
            "a non-empty list of {role, content} messages",
            None,
        ));
    };
    let messages = parse::messages("messages", messages.clone())?;
    let stop = match body.get("stop") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(ShapeError::expected(
                    "stop",
                    "a string or a list of strings",
                    Some(other),
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(ShapeError::expected(
                "stop",
                "a string or a list of strings",
                Some(other),
            ));
        }
    };
    let mut params = shared_params(body)?;
    params.seed = body.get("seed").and_then(Value::as_u64);
    params.stop = stop;
    params.n = n(body);
    params.logprobs = body.get("logprobs").and_then(Value::as_bool) == Some(true);
    params.top_logprobs = body
        .get("top_logprobs")
        .and_then(Value::as_u64)
        .map(|k| u8::try_from(k).unwrap_or(u8::MAX));
    Ok(Request {
        model: model.to_owned(),
        messages,
        params,
        inputs: Vec::new(),
    })
}

/// Pacer's response as an OpenAI `chat.completion`, named `model`.
pub(crate) fn completion(id: &str, created: u64, model: &str, response: &Response) -> Value {
    let choices: Vec<Value> = response
        .choices
        .iter()
        .enumerate()
        .map(|(index, choice)| {
            json!({
                "index": index,
                "message": message(choice),
                "logprobs": choice.logprobs.as_deref().map(logprobs),
                "finish_reason": finish_reason(&choice.finish_reason),
            })
        })
        .collect();
    json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": choices,
        "usage": usage(&response.usage),
    })
}

/// Pacer's usage as chat's `usage` (a completion's, and a stream's last chunk's).
pub(super) fn usage(u: &Usage) -> Value {
    json!({
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.input_tokens + u.output_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_input_tokens},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
    })
}

/// A choice's message: its text as `content` (null when it only calls tools or refuses),
/// its calls as `tool_calls`, a refusal as `refusal`.
fn message(choice: &Choice) -> Value {
    if choice.finish_reason == FinishReason::Refusal {
        return json!({"role": "assistant", "content": null, "refusal": choice.text});
    }
    if choice.tool_calls.is_empty() {
        return json!({"role": "assistant", "content": choice.text});
    }
    let content = (!choice.text.is_empty()).then_some(choice.text.as_str());
    let calls: Vec<Value> = choice
        .tool_calls
        .iter()
        .map(|call| {
            json!({
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments_text()},
            })
        })
        .collect();
    json!({"role": "assistant", "content": content, "tool_calls": calls})
}

/// The finish reason chat gives: a refusal ends as `stop`, the refusal itself in the
/// message's `refusal`.
pub(super) fn finish_reason(finish: &FinishReason) -> &str {
    match finish {
        FinishReason::Refusal => "stop",
        other => other.as_str(),
    }
}

/// Pacer's token log-probabilities in OpenAI's `choices[].logprobs` shape.
fn logprobs(tokens: &[TokenLogprob]) -> Value {
    let content: Vec<Value> = tokens
        .iter()
        .map(|t| {
            let top: Vec<Value> = t
                .top_tokens
                .iter()
                .zip(&t.top_logprobs)
                .map(|(token, logprob)| json!({"token": token, "logprob": logprob, "bytes": token.as_bytes()}))
                .collect();
            json!({"token": t.token, "logprob": t.logprob, "bytes": t.token.as_bytes(), "top_logprobs": top})
        })
        .collect();
    json!({ "content": content })
}

/// `completion` as the server-sent events of a stream (tool calls and refusals included):
/// [`pacer_core::chat_completion_events`], the one builder of them.
pub(crate) fn events(completion: &Value, include_usage: bool) -> String {
    pacer_core::chat_completion_events(completion, include_usage)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pacer_core::{Role, ToolCall, ToolChoice};

    fn response(choice: Choice) -> Response {
        Response {
            model_version: None,
            choices: vec![choice],
            usage: Usage {
                input_tokens: 3,
                output_tokens: 2,
                ..Usage::default()
            },
            rate_limits: None,
            first_token: None,
            embeddings: Vec::new(),
        }
    }

    #[test]
    fn a_chat_request_becomes_pacers_request() {
        let body = json!({"model": "x", "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hi"},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
                "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "42"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "tool_choice": "required",
            "temperature": 0.5, "max_tokens": 7, "stop": "\n", "n": 2, "seed": 3,
            "logprobs": true, "top_logprobs": 3});
        let request = request("claude-x", body.as_object().unwrap()).unwrap();
        assert_eq!(request.model, "claude-x");
        assert_eq!(request.messages[0].role, Role::System);
        assert_eq!(request.messages[1].text(), "hi");
        assert!(request.has_images());
        assert_eq!(request.messages[2].tool_calls[0].arguments, json!({"a": 1}));
        assert_eq!(request.messages[3].tool_call_id.as_deref(), Some("c1"));
        assert_eq!(request.params.tools[0].name, "f");
        assert_eq!(request.params.tool_choice, Some(ToolChoice::Required));
        assert_eq!(request.params.max_tokens, Some(7));
        assert_eq!(request.params.stop, vec!["\n".to_string()]);
        assert_eq!((request.params.n, request.params.seed), (2, Some(3)));
        assert!(request.params.logprobs);
        assert_eq!(request.params.top_logprobs, Some(3));
    }

    #[test]
    fn a_malformed_body_names_its_field() {
        let body = json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": 3}]}]});
        let error = request("m", body.as_object().unwrap()).unwrap_err();
        assert_eq!(
            error.field.as_deref(),
            Some("messages[0].content[0].image_url")
        );
        let body = json!({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]});
        let error = request("m", body.as_object().unwrap()).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("tools[0].name"));
        let body = json!({"messages": [{"role": "user", "content": "x"}], "tool_choice": 3});
        let error = request("m", body.as_object().unwrap()).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("tool_choice"));
        let error = request("m", &Map::new()).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("messages"));
    }

    #[test]
    fn a_response_becomes_a_chat_completion_and_its_events() {
        let mut choice = Choice::text("hello", FinishReason::Length);
        choice.logprobs = Some(vec![TokenLogprob {
            token_position: 0,
            token: "hel".into(),
            logprob: -0.25,
            top_tokens: vec!["hel".into(), "he".into()],
            top_logprobs: vec![-0.25, -1.5],
        }]);
        let c = completion("id1", 1, "claude", &response(choice));
        assert_eq!(c["choices"][0]["message"]["content"], "hello");
        assert_eq!(c["choices"][0]["finish_reason"], "length");
        assert_eq!(c["usage"]["total_tokens"], 5);
        let first = &c["choices"][0]["logprobs"]["content"][0];
        assert_eq!(
            (&first["token"], &first["logprob"]),
            (&json!("hel"), &json!(-0.25))
        );
        assert_eq!(
            first["top_logprobs"][1],
            json!({"token": "he", "logprob": -1.5, "bytes": [104, 101]})
        );
        // Without tool calls, the events are the core builder's alone.
        assert_eq!(
            events(&c, true),
            pacer_core::chat_completion_events(&c, true)
        );
    }

    #[test]
    fn tool_calls_and_refusals_reach_the_message_and_the_stream() {
        let mut choice = Choice::text("", FinishReason::ToolCalls);
        choice.tool_calls = vec![ToolCall::from_text("call_1", "f", r#"{"a":1}"#)];
        let c = completion("id1", 1, "m", &response(choice));
        assert_eq!(
            c["choices"][0]["message"],
            json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_1",
                "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]})
        );
        assert_eq!(c["choices"][0]["finish_reason"], "tool_calls");
        let stream = events(&c, false);
        let chunks: Vec<Value> = stream
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        let calls: Vec<&Value> = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"].get("tool_calls"))
            .collect();
        assert_eq!(calls.len(), 1, "{stream}");
        assert_eq!(calls[0][0]["index"], 0);
        assert_eq!(calls[0][0]["function"]["arguments"], "{\"a\":1}");
        assert_eq!(
            chunks.last().unwrap()["choices"][0]["finish_reason"],
            "tool_calls"
        );
        let refusal = completion(
            "id2",
            1,
            "m",
            &response(Choice::text("No.", FinishReason::Refusal)),
        );
        assert_eq!(refusal["choices"][0]["message"]["refusal"], "No.");
        assert_eq!(refusal["choices"][0]["finish_reason"], "stop");
        assert!(events(&refusal, false).contains(r#""delta":{"refusal":"No."}"#));
    }
}
