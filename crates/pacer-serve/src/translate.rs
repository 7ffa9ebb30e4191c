//! OpenAI's chat format to Pacer's request and back, for entries that speak another API
//! (Anthropic, Gemini, the in-process mock), and the small parsing the gateway needs for
//! every request (messages for the token estimate, the output cap, usage in a reply).

use pacer_core::{Message, Params, Request, Response, Role, TokenLogprob, Usage};
use serde_json::{Map, Value, json};

/// The chat messages of an OpenAI request body, as Pacer's messages: `content` a string, a
/// list of parts (read as their text) or null. `None` when `messages` is missing or
/// malformed.
pub(crate) fn messages(body: &Map<String, Value>) -> Option<Vec<Message>> {
    body.get("messages")?
        .as_array()?
        .iter()
        .map(|m| {
            let role = m.get("role")?.as_str()?;
            let content = match m.get("content") {
                Some(Value::String(text)) => text.clone(),
                Some(Value::Array(parts)) => parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect(),
                // Anything else reads as no text, as OpenAI's own SDKs do not send.
                Some(_) | None => String::new(),
            };
            Some(Message::new(self::role(role), content))
        })
        .collect()
}

fn role(role: &str) -> Role {
    match role {
        "system" | "developer" => Role::System,
        "assistant" => Role::Assistant,
        _ => Role::User,
    }
}

/// `max_completion_tokens`, else `max_tokens`.
pub(crate) fn max_tokens(body: &Map<String, Value>) -> Option<u32> {
    ["max_completion_tokens", "max_tokens"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_u64))
        .map(|v| u32::try_from(v).unwrap_or(u32::MAX))
}

/// `n`, at least 1.
pub(crate) fn n(body: &Map<String, Value>) -> u32 {
    body.get("n")
        .and_then(Value::as_u64)
        .map_or(1, |v| u32::try_from(v).unwrap_or(u32::MAX).max(1))
}

/// An OpenAI `usage` object as Pacer's usage.
pub(crate) fn usage(value: &Value) -> Option<Usage> {
    let usage = value.get("usage").filter(|u| u.is_object())?;
    let get = |k: &str| usage.get(k).and_then(Value::as_u64).unwrap_or(0);
    Some(Usage {
        input_tokens: get("prompt_tokens"),
        output_tokens: get("completion_tokens"),
        ..Usage::default()
    })
}

/// The OpenAI chat request `body` as Pacer's request for `model`.
pub(crate) fn request(model: &str, body: &Map<String, Value>) -> Result<Request, String> {
    let messages = messages(body).ok_or("`messages` must be a list of chat messages")?;
    let f = |k: &str| body.get(k).and_then(Value::as_f64);
    let stop = match body.get("stop") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    Ok(Request {
        model: model.to_owned(),
        messages,
        params: Params {
            temperature: f("temperature"),
            top_p: f("top_p"),
            max_tokens: max_tokens(body),
            seed: body.get("seed").and_then(Value::as_u64),
            stop,
            n: n(body),
            logprobs: body.get("logprobs").and_then(Value::as_bool) == Some(true),
            top_logprobs: body
                .get("top_logprobs")
                .and_then(Value::as_u64)
                .map(|k| u8::try_from(k).unwrap_or(u8::MAX)),
            ..Params::default()
        },
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
                "message": {"role": "assistant", "content": choice.text},
                "logprobs": choice.logprobs.as_deref().map(logprobs),
                "finish_reason": choice.finish_reason.as_str(),
            })
        })
        .collect();
    let u = &response.usage;
    json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": choices,
        "usage": {
            "prompt_tokens": u.input_tokens,
            "completion_tokens": u.output_tokens,
            "total_tokens": u.input_tokens + u.output_tokens,
        },
    })
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

/// Reads server-sent events as they stream by and keeps the last `usage` seen.
#[derive(Default)]
pub(crate) struct UsageScanner {
    partial: Vec<u8>,
    /// The last usage a chunk carried.
    pub(crate) usage: Option<Usage>,
    /// Whether `[DONE]` came.
    pub(crate) done: bool,
}

impl UsageScanner {
    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        self.partial.extend_from_slice(bytes);
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let Some(data) = line.trim_end().strip_prefix("data:") else {
                continue;
            };
            let data = data.trim();
            if data == "[DONE]" {
                self.done = true;
            } else if data.contains("\"usage\"")
                && let Ok(value) = serde_json::from_str::<Value>(data)
                && let Some(usage) = usage(&value)
            {
                self.usage = Some(usage);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pacer_core::{Choice, FinishReason};

    #[test]
    fn a_chat_request_becomes_pacers_request() {
        let body = json!({"model": "x", "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hi"}]}],
            "temperature": 0.5, "max_tokens": 7, "stop": "\n", "n": 2, "seed": 3,
            "logprobs": true, "top_logprobs": 3});
        let request = request("claude-x", body.as_object().unwrap()).unwrap();
        assert_eq!(request.model, "claude-x");
        assert_eq!(request.messages[0].role, Role::System);
        assert_eq!(request.messages[1].text(), "hi");
        assert_eq!(request.params.max_tokens, Some(7));
        assert_eq!(request.params.stop, vec!["\n".to_string()]);
        assert_eq!((request.params.n, request.params.seed), (2, Some(3)));
        assert!(request.params.logprobs);
        assert_eq!(request.params.top_logprobs, Some(3));
    }

    #[test]
    fn a_response_becomes_a_chat_completion_and_its_events() {
        let response = Response {
            model_version: None,
            choices: vec![Choice {
                text: "hello".into(),
                finish_reason: FinishReason::Length,
                logprobs: Some(vec![TokenLogprob {
                    token_position: 0,
                    token: "hel".into(),
                    logprob: -0.25,
                    top_tokens: vec!["hel".into(), "he".into()],
                    top_logprobs: vec![-0.25, -1.5],
                }]),
                parsed: None,
                tool_calls: Vec::new(),
            }],
            usage: Usage {
                input_tokens: 3,
                output_tokens: 2,
                ..Usage::default()
            },
            rate_limits: None,
            embeddings: Vec::new(),
        };
        let c = completion("id1", 1, "claude", &response);
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
        let events = pacer_core::chat_completion_events(&c, true);
        let mut scanner = UsageScanner::default();
        for piece in events.as_bytes().chunks(7) {
            scanner.feed(piece);
        }
        assert!(scanner.done);
        assert_eq!(scanner.usage.unwrap().output_tokens, 2);
    }
}
