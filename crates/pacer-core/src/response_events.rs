//! The Responses API's stream (server-sent events) made from a whole `response`, for a
//! server that has the whole reply before it streams (`pacer mock`, and the entries the
//! gateway translates): each text and each call's arguments go as one delta. The one
//! builder of these events.
//!
//! The events are those OpenAI sends, in its order: `response.created` and
//! `response.in_progress`; per output item `response.output_item.added`, then for a message
//! per part `response.content_part.added`, `response.output_text.delta` and `.done` (or
//! `response.refusal.*`) and `response.content_part.done`, for a function call
//! `response.function_call_arguments.delta` and `.done`; `response.output_item.done`; and
//! last `response.completed` (`response.incomplete` for a cut output). Each is `event: TYPE`
//! and `data:` its JSON, numbered by `sequence_number`.

use serde_json::{Value, json};

/// Writes numbered events.
struct Events {
    out: String,
    sequence: u64,
}

impl Events {
    fn push(&mut self, kind: &str, mut fields: Value) {
        let mut event = json!({"type": kind, "sequence_number": self.sequence});
        if let (Value::Object(event), Value::Object(fields)) = (&mut event, &mut fields) {
            event.append(fields);
        }
        self.sequence += 1;
        self.out.push_str("event: ");
        self.out.push_str(kind);
        self.out.push_str("\ndata: ");
        self.out.push_str(&event.to_string());
        self.out.push_str("\n\n");
    }
}

/// `response` (a Responses API `response` object) as the events of its stream.
pub fn response_events(response: &Value) -> String {
    let mut events = Events {
        out: String::new(),
        sequence: 0,
    };
    let mut head = response.clone();
    head["status"] = json!("in_progress");
    head["output"] = json!([]);
    head["usage"] = Value::Null;
    head["incomplete_details"] = Value::Null;
    events.push("response.created", json!({"response": head}));
    events.push("response.in_progress", json!({"response": head}));
    let items = response["output"].as_array().map_or(&[][..], Vec::as_slice);
    for (output_index, item) in items.iter().enumerate() {
        let mut added = item.clone();
        added["status"] = json!("in_progress");
        match item["type"].as_str() {
            Some("message") => {
                added["content"] = json!([]);
                events.push(
                    "response.output_item.added",
                    json!({"output_index": output_index, "item": added}),
                );
                let parts = item["content"].as_array().map_or(&[][..], Vec::as_slice);
                for (content_index, part) in parts.iter().enumerate() {
                    message_part(&mut events, &item["id"], output_index, content_index, part);
                }
            }
            Some("function_call") => {
                added["arguments"] = json!("");
                let at = json!({"item_id": item["id"], "output_index": output_index});
                events.push(
                    "response.output_item.added",
                    json!({"output_index": output_index, "item": added}),
                );
                let mut delta = at.clone();
                delta["delta"] = item["arguments"].clone();
                events.push("response.function_call_arguments.delta", delta);
                let mut done = at;
                done["arguments"] = item["arguments"].clone();
                events.push("response.function_call_arguments.done", done);
            }
            _ => events.push(
                "response.output_item.added",
                json!({"output_index": output_index, "item": added}),
            ),
        }
        events.push(
            "response.output_item.done",
            json!({"output_index": output_index, "item": item}),
        );
    }
    let last = match response["status"].as_str() {
        Some("incomplete") => "response.incomplete",
        Some("failed") => "response.failed",
        _ => "response.completed",
    };
    events.push(last, json!({"response": response}));
    events.out
}

/// The events of one part of a message: its text (or refusal) as one delta.
fn message_part(
    events: &mut Events,
    item_id: &Value,
    output_index: usize,
    content_index: usize,
    part: &Value,
) {
    let (kind, key) = match part["type"].as_str() {
        Some("refusal") => ("refusal", "refusal"),
        _ => ("output_text", "text"),
    };
    let at =
        json!({"item_id": item_id, "output_index": output_index, "content_index": content_index});
    let with = |key: &str, value: Value| {
        let mut fields = at.clone();
        fields[key] = value;
        fields
    };
    let mut empty = part.clone();
    empty[key] = json!("");
    events.push("response.content_part.added", with("part", empty));
    let text = part[key].clone();
    events.push(
        &format!("response.{kind}.delta"),
        with("delta", text.clone()),
    );
    events.push(&format!("response.{kind}.done"), with(key, text));
    events.push("response.content_part.done", with("part", part.clone()));
}

#[cfg(test)]
mod tests {
    use super::response_events as events;
    use serde_json::{Value, json};

    fn parsed(stream: &str) -> Vec<(String, Value)> {
        stream
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| {
                let (head, data) = e.split_once("\ndata: ").unwrap();
                let kind = head.strip_prefix("event: ").unwrap().to_owned();
                (kind, serde_json::from_str(data).unwrap())
            })
            .collect()
    }

    #[test]
    fn a_message_and_a_call_stream_in_openais_order() {
        let response = json!({"id": "resp_1", "object": "response", "status": "completed",
            "output": [
                {"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                 "content": [{"type": "output_text", "text": "Hi there", "annotations": []}]},
                {"type": "function_call", "id": "fc_1", "call_id": "c", "name": "f",
                 "arguments": "{}", "status": "completed"}],
            "usage": {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5}});
        let events = parsed(&events(&response));
        let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        for (n, (kind, data)) in events.iter().enumerate() {
            assert_eq!(
                (&data["type"], &data["sequence_number"]),
                (&json!(kind), &json!(n))
            );
        }
        assert_eq!(events[0].1["response"]["status"], "in_progress");
        assert_eq!(events[0].1["response"]["output"], json!([]));
        assert_eq!(events[4].1["delta"], "Hi there");
        assert_eq!(events[4].1["item_id"], "msg_1");
        assert_eq!(events[9].1["delta"], "{}");
        assert_eq!(events[12].1["response"], response);
    }

    #[test]
    fn a_cut_output_ends_incomplete() {
        let response = json!({"status": "incomplete", "output": []});
        let events = parsed(&events(&response));
        assert_eq!(events.last().unwrap().0, "response.incomplete");
    }
}
