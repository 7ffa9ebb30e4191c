//! OpenAI's chat-completion stream (server-sent events) made from a whole `chat.completion`,
//! for a server that has the whole reply before it streams: `pacer mock`, and the gateway's
//! entries whose API is not streamed through. The one builder of these events.

use serde_json::{Value, json};

/// `completion` (a `chat.completion` object) as the server-sent events a streaming client
/// expects: per choice a role chunk, one content chunk (with its log-probabilities) and a
/// finish chunk; the usage chunk when `include_usage` (`stream_options.include_usage`); then
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
        push(chunk(
            json!([{"index": index, "delta": {"content": choice["message"]["content"]}, "logprobs": choice["logprobs"], "finish_reason": null}]),
        ));
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
