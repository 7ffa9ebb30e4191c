//! OpenAI's chat-completion stream (server-sent events) made from a whole `chat.completion`,
//! for a server that has the whole reply before it streams: `pacer mock`, and the gateway's
//! entries whose API is not streamed through. The one builder of these events.

use serde_json::{Value, json};

/// `completion` (a `chat.completion` object) as the server-sent events a streaming client
/// expects: per choice a role chunk, one content chunk (with its log-probabilities; a
/// `refusal` delta for a refusal), one chunk of its tool calls (each with its `index`, whole)
/// when it made any, and a finish chunk; the usage chunk when `include_usage` (`stream_options.include_usage`); then
/// `[DONE]`.
///
/// ```
/// use serde_json::json;
///
/// let completion = json!({"id": "c1", "created": 1, "model": "m",
///     "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"},
///                  "logprobs": null, "finish_reason": "stop"}],
///     "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}});
/// let events = pacer_core::chat_completion_events(&completion, true);
/// assert_eq!(events.matches("data: ").count(), 5);
/// assert!(events.contains(r#""delta":{"content":"Hi"}"#));
/// assert!(events.ends_with("data: [DONE]\n\n"));
/// ```
pub fn chat_completion_events(completion: &Value, include_usage: bool) -> String {
    let chunk = |choices: Value| {
        json!({
            "id": completion["id"],
            "object": "chat.completion.chunk",
            "created": completion["created"],
            "model": completion["model"],
            "choices": choices,
        })
    };
    let mut out = String::new();
    let mut push = |value: Value| {
        out.push_str("data: ");
        out.push_str(&value.to_string());
        out.push_str("\n\n");
    };
    for choice in completion["choices"].as_array().into_iter().flatten() {
        let index = &choice["index"];
        push(chunk(
            json!([{"index": index, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]),
        ));
        let message = &choice["message"];
        if message["content"].is_string() {
            push(chunk(
                json!([{"index": index, "delta": {"content": message["content"]}, "logprobs": choice["logprobs"], "finish_reason": null}]),
            ));
        }
        if message["refusal"].is_string() {
            push(chunk(
                json!([{"index": index, "delta": {"refusal": message["refusal"]}, "finish_reason": null}]),
            ));
        }
        if let Some(calls) = message["tool_calls"].as_array().filter(|c| !c.is_empty()) {
            let calls: Vec<Value> = calls
                .iter()
                .enumerate()
                .map(|(i, call)| {
                    let mut call = call.clone();
                    call["index"] = json!(i);
                    call
                })
                .collect();
            push(chunk(
                json!([{"index": index, "delta": {"tool_calls": calls}, "finish_reason": null}]),
            ));
        }
        push(chunk(
            json!([{"index": index, "delta": {}, "finish_reason": choice["finish_reason"]}]),
        ));
    }
    if include_usage {
        let mut last = chunk(json!([]));
        last["usage"] = completion["usage"].clone();
        push(last);
    }
    out.push_str("data: [DONE]\n\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_calls_and_refusals_are_streamed_too() {
        let completion = json!({"id": "c1", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": null,
                "tool_calls": [{"id": "call_1", "type": "function",
                                "function": {"name": "f", "arguments": "{}"}}]},
                "logprobs": null, "finish_reason": "tool_calls"},
                {"index": 1, "message": {"role": "assistant", "content": null,
                 "refusal": "No."}, "logprobs": null, "finish_reason": "stop"}]});
        let events = chat_completion_events(&completion, false);
        assert!(
            events.contains(r#""delta":{"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"},"index":0}]}"#),
            "{events}"
        );
        assert!(events.contains(r#""delta":{"refusal":"No."}"#), "{events}");
        assert!(!events.contains(r#""content":null"#), "{events}");
    }
}
