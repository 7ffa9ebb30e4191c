//! A Messages reply streamed (`"stream": true`), made from the whole reply as Anthropic
//! streams one: `message_start` with the message, its content empty and its usage so far,
//! then for each content block `content_block_start`, its deltas and `content_block_stop`,
//! then `message_delta` with the stop reason and the final usage, and `message_stop`. A
//! `ping` follows the first block's start, as the API sends one.
//!
//! A text block starts empty and comes as `text_delta`s of a few words; a `tool_use` block
//! starts with its id, name and an empty `input`, then comes as `input_json_delta`s: an
//! empty one first, as the API sends, then the input's JSON in pieces. Each event is
//! `event: NAME\ndata: JSON\n\n` and is sent as a frame of its own.

use bytes::Bytes;
use serde_json::{Value, json};

use crate::pieces;
use crate::respond::{self, Reply};

/// The content type Anthropic streams with.
const CONTENT_TYPE: &str = "text/event-stream; charset=utf-8";

/// A successful Messages reply re-sent as Anthropic's event stream; a refusal, an error or
/// a truncated body is left as it is.
pub(crate) fn as_stream(reply: Reply) -> Reply {
    respond::as_frames(reply, CONTENT_TYPE, events)
}

/// One event, as it goes on the wire.
fn event(name: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// The events that stream `message`, the body of a whole Messages reply.
pub(crate) fn events(message: &Value) -> Vec<Bytes> {
    let mut events = Vec::new();
    let mut start = message.clone();
    start["content"] = json!([]);
    start["stop_reason"] = Value::Null;
    start["stop_sequence"] = Value::Null;
    // As the API reports it at the start: the input, and at most the first output token.
    let output = message["usage"]["output_tokens"].as_u64().unwrap_or(0);
    start["usage"]["output_tokens"] = json!(output.min(1));
    events.push(event(
        "message_start",
        &json!({"type": "message_start", "message": start}),
    ));
    let blocks = message["content"].as_array().map_or(&[][..], Vec::as_slice);
    for (index, block) in blocks.iter().enumerate() {
        let (content_block, deltas) = block_parts(block);
        events.push(event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": content_block}),
        ));
        if index == 0 {
            events.push(event("ping", &json!({"type": "ping"})));
        }
        for delta in deltas {
            events.push(event(
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": index, "delta": delta}),
            ));
        }
        events.push(event(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": index}),
        ));
    }
    let delta = json!({
        "type": "message_delta",
        "delta": {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]},
        "usage": message["usage"],
    });
    events.push(event("message_delta", &delta));
    events.push(event("message_stop", &json!({"type": "message_stop"})));
    events
}

/// A block as its `content_block_start` shows it, and the deltas that fill it in.
fn block_parts(block: &Value) -> (Value, Vec<Value>) {
    match block["type"].as_str() {
        Some("text") => {
            let text = block["text"].as_str().unwrap_or_default();
            let deltas = pieces::words(text, pieces::WORDS)
                .into_iter()
                .map(|piece| json!({"type": "text_delta", "text": piece}))
                .collect();
            (json!({"type": "text", "text": ""}), deltas)
        }
        Some("tool_use") => {
            let input = block["input"].to_string();
            let deltas = std::iter::once("")
                .chain(pieces::json(&input))
                .map(|piece| json!({"type": "input_json_delta", "partial_json": piece}))
                .collect();
            let start =
                json!({"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}});
            (start, deltas)
        }
        // The mock writes no other block; one would come whole in its start.
        _ => (block.clone(), Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::events;

    /// The events as `(name, data)`.
    fn parsed(message: &Value) -> Vec<(String, Value)> {
        events(message)
            .iter()
            .map(|bytes| {
                let text = std::str::from_utf8(bytes).unwrap();
                let (name, data) = text
                    .strip_suffix("\n\n")
                    .and_then(|t| t.strip_prefix("event: "))
                    .and_then(|t| t.split_once("\ndata: "))
                    .unwrap();
                (name.to_owned(), serde_json::from_str(data).unwrap())
            })
            .collect()
    }

    #[test]
    fn a_text_and_a_tool_call_stream_in_order() {
        let message = json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "m",
            "content": [
                {"type": "text", "text": "Let me look that up."},
                {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"city": "Paris"}},
            ],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 9, "output_tokens": 12},
        });
        let events = parsed(&message);
        let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names[..3], ["message_start", "content_block_start", "ping"]);
        assert_eq!(names[names.len() - 2..], ["message_delta", "message_stop"]);
        assert!(events.iter().all(|(name, data)| data["type"] == *name));
        let start = &events[0].1["message"];
        assert_eq!(start["content"], json!([]));
        assert!(start["stop_reason"].is_null());
        assert_eq!(
            start["usage"],
            json!({"input_tokens": 9, "output_tokens": 1})
        );
        let deltas = |index: usize, field: &str| -> Vec<String> {
            events
                .iter()
                .filter(|(n, d)| n == "content_block_delta" && d["index"] == index)
                .map(|(_, d)| d["delta"][field].as_str().unwrap().to_owned())
                .collect()
        };
        let text = deltas(0, "text");
        assert!(text.len() >= 2, "{text:?}");
        assert_eq!(text.concat(), "Let me look that up.");
        let input = deltas(1, "partial_json");
        assert_eq!(input[0], "");
        assert!(input.len() >= 3, "{input:?}");
        assert_eq!(input.concat(), r#"{"city":"Paris"}"#);
        let tool = events
            .iter()
            .find(|(n, d)| n == "content_block_start" && d["index"] == 1);
        assert_eq!(
            tool.unwrap().1["content_block"],
            json!({"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}})
        );
        let end = &events[events.len() - 2].1;
        assert_eq!(
            end["delta"],
            json!({"stop_reason": "tool_use", "stop_sequence": null})
        );
        assert_eq!(end["usage"]["output_tokens"], 12);
    }
}
