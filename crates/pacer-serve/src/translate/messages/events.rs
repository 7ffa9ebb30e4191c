//! Anthropic's stream of a reply, written as the reply's [`Delta`]s come: `message_start`,
//! then per content block a `content_block_start`, its `content_block_delta`s and a
//! `content_block_stop`, then `message_delta` (the stop reason and the usage) and
//! `message_stop`. Text opens a text block; each tool call opens a `tool_use` block of its
//! own, whose arguments follow as `input_json_delta`s; text after a call opens a new text
//! block. Blocks are numbered in the order they open, as the final message's `content`.

use std::collections::HashMap;
use std::fmt::Write;

use pacer_core::{Delta, FinishReason, Usage};
use serde_json::{Value, json};

use super::reply::{stop_reason, usage};

/// Where the stream is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Nothing sent yet.
    Fresh,
    /// `message_start` sent.
    Started,
    /// `message_stop` sent: nothing more may follow.
    Ended,
}

/// The block open now.
#[derive(Clone, Copy, Debug)]
enum Open {
    /// A text block, at this index.
    Text(u32),
    /// The `tool_use` block at this index.
    Tool(u32),
}

/// Writes one reply's Anthropic stream from its deltas: each call returns the server-sent
/// events to send now (possibly none).
///
/// [`start`](Self::start) may be sent before the upstream answers; [`push`](Self::push)
/// and [`finish`](Self::finish) send it first where it was not.
#[derive(Debug)]
pub(crate) struct MessageEvents {
    id: String,
    model: String,
    input_tokens_estimate: u64,
    phase: Phase,
    open: Option<Open>,
    /// The blocks opened so far.
    blocks: u32,
    /// The block of each tool call, by the call's index.
    calls: HashMap<u32, u32>,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
}

impl MessageEvents {
    /// The stream of message `msg_` + `id` named `model`, whose prompt is thought to be
    /// `input_tokens_estimate` tokens (what `message_start` says, before the usage is known).
    pub(crate) fn new(id: &str, model: &str, input_tokens_estimate: u64) -> Self {
        Self {
            id: format!("msg_{id}"),
            model: model.to_owned(),
            input_tokens_estimate,
            phase: Phase::Fresh,
            open: None,
            blocks: 0,
            calls: HashMap::new(),
            finish: None,
            usage: None,
        }
    }

    /// `message_start`: the message, its content empty (nothing once sent).
    pub(crate) fn start(&mut self) -> String {
        let mut out = String::new();
        if self.phase == Phase::Fresh {
            self.phase = Phase::Started;
            let input = self.usage.map_or(
                json!({"input_tokens": self.input_tokens_estimate, "output_tokens": 0}),
                |u| usage(&u),
            );
            event(
                &mut out,
                "message_start",
                json!({"type": "message_start", "message": {
                    "id": self.id, "type": "message", "role": "assistant", "content": [],
                    "model": self.model, "stop_reason": null, "stop_sequence": null,
                    "usage": input,
                }}),
            );
        }
        out
    }

    /// The events `delta` makes. Arguments of a call whose `tool_use` block was closed (the
    /// upstream went back to an earlier call) go to that block, by its index, as the SDKs
    /// gather them; arguments of a call never begun are dropped (no block can hold them).
    pub(crate) fn push(&mut self, delta: &Delta) -> String {
        if self.phase == Phase::Ended {
            return String::new();
        }
        if let Delta::Usage(usage) = delta {
            self.usage = Some(*usage);
        }
        let mut out = self.start();
        match delta {
            Delta::Model(_) | Delta::Usage(_) => {}
            Delta::Text(text) if text.is_empty() => {}
            Delta::Text(text) => {
                let index = match self.open {
                    Some(Open::Text(index)) => index,
                    Some(Open::Tool(_)) | None => {
                        self.close(&mut out);
                        let index = self.next_block();
                        self.open = Some(Open::Text(index));
                        event(
                            &mut out,
                            "content_block_start",
                            json!({"type": "content_block_start", "index": index,
                                "content_block": {"type": "text", "text": ""}}),
                        );
                        index
                    }
                };
                delta_event(&mut out, index, json!({"type": "text_delta", "text": text}));
            }
            Delta::ToolCall { index, id, name } => {
                if self.calls.contains_key(index) {
                    return out;
                }
                self.close(&mut out);
                let block = self.next_block();
                self.calls.insert(*index, block);
                self.open = Some(Open::Tool(block));
                event(
                    &mut out,
                    "content_block_start",
                    json!({"type": "content_block_start", "index": block,
                        "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}),
                );
            }
            Delta::ToolArguments { index, json } => {
                if let Some(block) = self.calls.get(index).copied()
                    && !json.is_empty()
                {
                    delta_event(
                        &mut out,
                        block,
                        json!({"type": "input_json_delta", "partial_json": json}),
                    );
                }
            }
            Delta::Finish(reason) => self.finish = Some(reason.clone()),
        }
        out
    }

    /// The end: the open block closed, `message_delta` with the stop reason (`end_turn`
    /// where none came, `tool_use` where it called tools) and the usage (the estimate where
    /// none came), and `message_stop`. Nothing once sent.
    pub(crate) fn finish(&mut self) -> String {
        if self.phase == Phase::Ended {
            return String::new();
        }
        let mut out = self.start();
        self.close(&mut out);
        self.phase = Phase::Ended;
        let finish = self.finish.take().unwrap_or(FinishReason::Stop);
        let stop = stop_reason(&finish, !self.calls.is_empty());
        let usage = self.usage.map_or(
            json!({"input_tokens": self.input_tokens_estimate, "output_tokens": 0}),
            |u| usage(&u),
        );
        event(
            &mut out,
            "message_delta",
            json!({"type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": usage}),
        );
        event(&mut out, "message_stop", json!({"type": "message_stop"}));
        out
    }

    /// The next block's index, counted.
    fn next_block(&mut self) -> u32 {
        self.blocks += 1;
        self.blocks - 1
    }

    /// Closes the open block, if any.
    fn close(&mut self, out: &mut String) {
        if let Some(Open::Text(index) | Open::Tool(index)) = self.open.take() {
            event(
                out,
                "content_block_stop",
                json!({"type": "content_block_stop", "index": index}),
            );
        }
    }
}

/// A `content_block_delta` of block `index`.
fn delta_event(out: &mut String, index: u32, delta: Value) {
    event(
        out,
        "content_block_delta",
        json!({"type": "content_block_delta", "index": index, "delta": delta}),
    );
}

/// One server-sent event, named.
fn event(out: &mut String, name: &str, data: Value) {
    // Writing to a String cannot fail.
    let _ = write!(out, "event: {name}\ndata: {data}\n\n");
}

#[cfg(test)]
mod tests {
    use super::MessageEvents;
    use pacer_core::{Choice, Delta, FinishReason, Response, ToolCall, Usage, deltas_of};
    use serde_json::{Value, json};

    /// The events of `stream` as (name, data), each name checked against its data's type.
    fn events(stream: &str) -> Vec<(String, Value)> {
        stream
            .split_terminator("\n\n")
            .map(|event| {
                let (name, data) = event
                    .strip_prefix("event: ")
                    .and_then(|e| e.split_once("\ndata: "))
                    .unwrap_or_else(|| panic!("not an event: {event:?}"));
                let data: Value = serde_json::from_str(data).unwrap();
                assert_eq!(data["type"], name, "{event}");
                (name.to_owned(), data)
            })
            .collect()
    }

    fn names(stream: &str) -> Vec<String> {
        events(stream).into_iter().map(|(name, _)| name).collect()
    }

    /// Gathers a stream as the SDKs do: blocks by index, text and JSON text appended. Each
    /// block must start before its deltas and stop once.
    fn gather(stream: &str) -> (Vec<Value>, Value, Value) {
        let (mut blocks, mut json, mut stopped) = (Vec::<Value>::new(), Vec::new(), Vec::new());
        let (mut stop_reason, mut usage) = (Value::Null, Value::Null);
        for (name, data) in events(stream) {
            let index = data["index"].as_u64().unwrap_or(0) as usize;
            match name.as_str() {
                "message_start" => usage = data["message"]["usage"].clone(),
                "content_block_start" => {
                    assert_eq!(index, blocks.len());
                    blocks.push(data["content_block"].clone());
                    json.push(String::new());
                    stopped.push(false);
                }
                "content_block_delta" => match data["delta"]["type"].as_str() {
                    Some("text_delta") => {
                        assert!(!stopped[index]);
                        let text = format!(
                            "{}{}",
                            blocks[index]["text"].as_str().unwrap(),
                            data["delta"]["text"].as_str().unwrap()
                        );
                        blocks[index]["text"] = json!(text);
                    }
                    _ => json[index].push_str(data["delta"]["partial_json"].as_str().unwrap()),
                },
                "content_block_stop" => {
                    assert!(!stopped[index]);
                    stopped[index] = true;
                }
                "message_delta" => {
                    assert!(stopped.iter().all(|s| *s));
                    stop_reason = data["delta"]["stop_reason"].clone();
                    usage = data["usage"].clone();
                }
                _ => assert_eq!(name, "message_stop"),
            }
        }
        for (block, json) in blocks.iter_mut().zip(json) {
            if block["type"] == "tool_use" && !json.is_empty() {
                block["input"] = serde_json::from_str(&json).unwrap();
            }
        }
        (blocks, stop_reason, usage)
    }

    fn run(deltas: &[Delta]) -> String {
        let mut events = MessageEvents::new("gw-1", "claude-x", 9);
        let mut out = events.start();
        for delta in deltas {
            out.push_str(&events.push(delta));
        }
        out + &events.finish()
    }

    fn usage(input: u64, output: u64) -> Usage {
        Usage {
            input_tokens: input,
            output_tokens: output,
            ..Usage::default()
        }
    }

    #[test]
    fn a_text_reply_is_one_text_block() {
        let stream = run(&[
            Delta::Model("gpt-x".into()),
            Delta::Text("Hel".into()),
            Delta::Text(String::new()),
            Delta::Text("lo".into()),
            Delta::Finish(FinishReason::Stop),
            Delta::Usage(usage(5, 2)),
        ]);
        assert_eq!(
            names(&stream),
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        let events = events(&stream);
        assert_eq!(
            events[0].1["message"],
            json!({"id": "msg_gw-1", "type": "message", "role": "assistant", "content": [],
                "model": "claude-x", "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 9, "output_tokens": 0}})
        );
        assert_eq!(
            events[2].1,
            json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": "Hel"}})
        );
        assert_eq!(
            events[5].1,
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn",
                "stop_sequence": null}, "usage": {"input_tokens": 5, "output_tokens": 2}})
        );
    }

    #[test]
    fn each_call_is_a_tool_use_block_of_its_own() {
        let stream = run(&[
            Delta::ToolCall {
                index: 0,
                id: "call_a".into(),
                name: "f".into(),
            },
            Delta::ToolArguments {
                index: 0,
                json: "{\"x\":".into(),
            },
            Delta::ToolArguments {
                index: 0,
                json: "1}".into(),
            },
            Delta::ToolCall {
                index: 1,
                id: "call_b".into(),
                name: "g".into(),
            },
            Delta::ToolArguments {
                index: 1,
                json: "{}".into(),
            },
            Delta::Finish(FinishReason::ToolCalls),
        ]);
        assert_eq!(
            names(&stream),
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(
            events(&stream)[1].1,
            json!({"type": "content_block_start", "index": 0, "content_block":
                {"type": "tool_use", "id": "call_a", "name": "f", "input": {}}})
        );
        let (blocks, stop, usage) = gather(&stream);
        assert_eq!(blocks[0]["input"], json!({"x": 1}));
        assert_eq!(
            (&blocks[1]["name"], &blocks[1]["input"]),
            (&json!("g"), &json!({}))
        );
        assert_eq!(stop, "tool_use");
        // No usage came: the estimate stands.
        assert_eq!(usage, json!({"input_tokens": 9, "output_tokens": 0}));
    }

    #[test]
    fn text_then_calls_then_text_number_their_blocks_in_order() {
        let stream = run(&[
            Delta::Text("Let me look.".into()),
            Delta::ToolCall {
                index: 0,
                id: "c1".into(),
                name: "f".into(),
            },
            Delta::ToolArguments {
                index: 0,
                json: "{}".into(),
            },
            Delta::Text("Done.".into()),
            // Stopped, by its word, though it called a tool.
            Delta::Finish(FinishReason::Stop),
        ]);
        let (blocks, stop, _) = gather(&stream);
        let kinds: Vec<&Value> = blocks.iter().map(|b| &b["type"]).collect();
        assert_eq!(kinds, [&json!("text"), &json!("tool_use"), &json!("text")]);
        assert_eq!(blocks[2]["text"], "Done.");
        assert_eq!(stop, "tool_use");
    }

    #[test]
    fn a_reply_played_back_gathers_to_the_same_message() {
        let mut choice = Choice::text("Paris, I think.", FinishReason::ToolCalls);
        choice.tool_calls = vec![
            ToolCall::from_text("toolu_1", "lookup", r#"{"q":"capital of France"}"#),
            ToolCall::from_text("toolu_2", "clock", "{}"),
        ];
        let mut usage = usage(40, 12);
        usage.cached_input_tokens = 30;
        let response = Response {
            model_version: None,
            choices: vec![choice],
            embeddings: Vec::new(),
            usage,
            rate_limits: None,
            first_token: None,
        };
        let stream = run(&deltas_of(&response));
        let (blocks, stop, usage) = gather(&stream);
        let whole = super::super::message("gw-1", "claude-x", &response);
        assert_eq!(Value::Array(blocks), whole["content"]);
        assert_eq!(stop, whole["stop_reason"]);
        assert_eq!(usage, whole["usage"]);
        assert_eq!(
            usage,
            json!({"input_tokens": 10, "output_tokens": 12, "cache_read_input_tokens": 30})
        );
    }

    #[test]
    fn starts_once_and_says_nothing_after_the_end() {
        let mut events = MessageEvents::new("x", "m", 1);
        let first = events.push(&Delta::Text("a".into()));
        assert!(first.starts_with("event: message_start\n"), "{first}");
        assert_eq!(events.start(), "");
        assert!(
            events
                .finish()
                .ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
        );
        assert_eq!(events.finish(), "");
        assert_eq!(events.push(&Delta::Text("b".into())), "");
        // An empty reply is a message with no blocks.
        let mut empty = MessageEvents::new("y", "m", 1);
        assert_eq!(
            names(&empty.finish()),
            ["message_start", "message_delta", "message_stop"]
        );
    }
}
