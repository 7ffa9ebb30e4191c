//! Chat's stream (`chat.completion.chunk` server-sent events), written as a reply's
//! [`Delta`]s come, for a client of chat completions whose request streams for real: the
//! chunks [`pacer_core::chat_completion_events`] makes of a whole reply, but in as many
//! pieces as the upstream sent. A refusal cannot be told from text until the reply ends, so
//! it streams as `content` (its finish reason `stop`, as chat gives it).

use pacer_core::{Delta, FinishReason, Usage};
use serde_json::{Value, json};

use super::chat::{finish_reason, usage};

/// Writes one reply's chat stream from its deltas: each call returns the server-sent events
/// to send now (possibly none). The first chunk carries the role; each tool call's first
/// chunk its `id`, `type` and name, the next its arguments, by the call's `index`.
#[derive(Debug)]
pub(crate) struct ChatChunks {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
    /// Whether the role chunk went out.
    started: bool,
    /// Whether `[DONE]` went out: nothing more may follow.
    ended: bool,
    /// Whether the reply called a tool.
    called: bool,
    finish: Option<FinishReason>,
    usage: Usage,
}

impl ChatChunks {
    /// The stream of completion `id`, made at `created` (Unix seconds), named `model`; with a
    /// usage chunk at the end when `include_usage` (`stream_options.include_usage`).
    pub(crate) fn new(id: &str, created: u64, model: &str, include_usage: bool) -> Self {
        Self {
            id: id.to_owned(),
            created,
            model: model.to_owned(),
            include_usage,
            started: false,
            ended: false,
            called: false,
            finish: None,
            usage: Usage::default(),
        }
    }

    /// The chunks `delta` makes (the role chunk first, where it has not gone out).
    pub(crate) fn push(&mut self, delta: &Delta) -> String {
        let mut out = String::new();
        if self.ended {
            return out;
        }
        self.start(&mut out);
        match delta {
            Delta::Model(_) => {}
            Delta::Text(text) if text.is_empty() => {}
            Delta::Text(text) => self.choice(
                &mut out,
                json!({"index": 0, "delta": {"content": text}, "logprobs": null, "finish_reason": null}),
            ),
            Delta::ToolCall { index, id, name } => {
                self.called = true;
                let call = json!({"index": index, "id": id, "type": "function",
                    "function": {"name": name, "arguments": ""}});
                self.choice(
                    &mut out,
                    json!({"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": null}),
                );
            }
            Delta::ToolArguments { json, .. } if json.is_empty() => {}
            Delta::ToolArguments { index, json } => {
                let call = json!({"index": index, "function": {"arguments": json}});
                self.choice(
                    &mut out,
                    json!({"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": null}),
                );
            }
            Delta::Finish(reason) => self.finish = Some(reason.clone()),
            Delta::Usage(usage) => self.usage = *usage,
        }
        out
    }

    /// The end: the finish chunk (`stop` where no reason came, `tool_calls` where it called
    /// tools), the usage chunk when asked for, and `[DONE]`. Nothing once sent.
    pub(crate) fn finish(&mut self) -> String {
        let mut out = String::new();
        if self.ended {
            return out;
        }
        self.start(&mut out);
        self.ended = true;
        let finish = self.finish.take().unwrap_or(if self.called {
            FinishReason::ToolCalls
        } else {
            FinishReason::Stop
        });
        self.choice(
            &mut out,
            json!({"index": 0, "delta": {}, "finish_reason": finish_reason(&finish)}),
        );
        if self.include_usage {
            let mut last = self.chunk(json!([]));
            last["usage"] = usage(&self.usage);
            data(&mut out, &last);
        }
        out.push_str("data: [DONE]\n\n");
        out
    }

    /// The role chunk, where it has not gone out.
    fn start(&mut self, out: &mut String) {
        if !self.started {
            self.started = true;
            self.choice(
                out,
                json!({"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}),
            );
        }
    }

    /// A chunk of the one choice, `choice`.
    fn choice(&self, out: &mut String, choice: Value) {
        data(out, &self.chunk(json!([choice])));
    }

    /// A chunk of `choices`.
    fn chunk(&self, choices: Value) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        })
    }
}

/// One `data:` event.
fn data(out: &mut String, value: &Value) {
    out.push_str("data: ");
    out.push_str(&value.to_string());
    out.push_str("\n\n");
}

#[cfg(test)]
mod tests {
    use super::ChatChunks;
    use crate::translate::chat::{completion, events};
    use pacer_core::{Choice, Delta, FinishReason, Response, ToolCall, Usage, deltas_of};
    use serde_json::{Value, json};

    fn reply(choice: Choice) -> Response {
        Response {
            model_version: Some("upstream-v2".into()),
            choices: vec![choice],
            embeddings: Vec::new(),
            usage: Usage {
                input_tokens: 7,
                output_tokens: 3,
                cached_input_tokens: 2,
                reasoning_tokens: 1,
            },
            rate_limits: None,
            first_token: None,
        }
    }

    /// `response` streamed through `ChatChunks` from its deltas.
    fn streamed(response: &Response, include_usage: bool) -> String {
        let mut chunks = ChatChunks::new("chatcmpl-1", 9, "gpt-x", include_usage);
        let mut out = String::new();
        for delta in deltas_of(response) {
            out.push_str(&chunks.push(&delta));
        }
        out + &chunks.finish()
    }

    /// `response` as the emulated stream of its whole completion.
    fn emulated(response: &Response, include_usage: bool) -> String {
        events(
            &completion("chatcmpl-1", 9, "gpt-x", response),
            include_usage,
        )
    }

    /// What a client gathers from a chat stream: the role, text, calls by index (their
    /// arguments joined), finish reason and usage; every chunk's envelope checked.
    fn gather(stream: &str) -> Value {
        let mut got =
            json!({"role": null, "content": "", "calls": [], "finish": null, "usage": null});
        assert!(stream.ends_with("data: [DONE]\n\n"), "{stream}");
        for data in stream.lines().filter_map(|l| l.strip_prefix("data: ")) {
            if data == "[DONE]" {
                continue;
            }
            let chunk: Value = serde_json::from_str(data).unwrap();
            assert_eq!(
                (
                    &chunk["id"],
                    &chunk["object"],
                    &chunk["created"],
                    &chunk["model"]
                ),
                (
                    &json!("chatcmpl-1"),
                    &json!("chat.completion.chunk"),
                    &json!(9),
                    &json!("gpt-x")
                )
            );
            if !chunk["usage"].is_null() {
                got["usage"] = chunk["usage"].clone();
            }
            let Some(choice) = chunk["choices"].get(0) else {
                continue;
            };
            let delta = &choice["delta"];
            if let Some(role) = delta.get("role") {
                got["role"] = role.clone();
            }
            if let Some(text) = delta["content"].as_str() {
                got["content"] = json!(format!("{}{text}", got["content"].as_str().unwrap()));
            }
            for call in delta["tool_calls"].as_array().into_iter().flatten() {
                let index = call["index"].as_u64().unwrap() as usize;
                let calls = got["calls"].as_array_mut().unwrap();
                if calls.len() <= index {
                    calls.resize(index + 1, json!({"arguments": ""}));
                }
                for key in ["id", "type"] {
                    if let Some(value) = call.get(key) {
                        calls[index][key] = value.clone();
                    }
                }
                if let Some(name) = call["function"].get("name") {
                    calls[index]["name"] = name.clone();
                }
                let arguments = call["function"]["arguments"].as_str().unwrap_or("");
                let joined = format!("{}{arguments}", calls[index]["arguments"].as_str().unwrap());
                calls[index]["arguments"] = json!(joined);
            }
            if !choice["finish_reason"].is_null() {
                got["finish"] = choice["finish_reason"].clone();
            }
        }
        got
    }

    #[test]
    fn a_text_reply_streams_as_the_emulated_events_do() {
        let response = reply(Choice::text("Hello there", FinishReason::Length));
        for include_usage in [true, false] {
            assert_eq!(
                streamed(&response, include_usage),
                emulated(&response, include_usage)
            );
        }
    }

    #[test]
    fn tool_calls_stream_to_what_the_emulated_events_tell() {
        let mut choice = Choice::text("Checking.", FinishReason::ToolCalls);
        choice.tool_calls = vec![
            ToolCall::from_text("call_1", "weather", r#"{"city":"Paris"}"#),
            ToolCall::from_text("call_2", "clock", "{}"),
        ];
        let response = reply(choice);
        let (streamed, emulated) = (streamed(&response, true), emulated(&response, true));
        let got = gather(&streamed);
        assert_eq!(got, gather(&emulated));
        assert_eq!(
            got["calls"][1],
            json!({"id": "call_2", "type": "function", "name": "clock", "arguments": "{}"})
        );
        assert_eq!(
            (&got["role"], &got["finish"]),
            (&json!("assistant"), &json!("tool_calls"))
        );
        assert_eq!(got["usage"]["total_tokens"], 10);
    }

    #[test]
    fn pieces_stream_as_they_come_and_nothing_follows_the_end() {
        let mut chunks = ChatChunks::new("chatcmpl-1", 9, "gpt-x", false);
        let first = chunks.push(&Delta::Text("Hel".into()));
        assert_eq!(
            first.matches("data: ").count(),
            2,
            "the role chunk, then the text"
        );
        assert!(
            first.contains(r#""delta":{"role":"assistant","content":""}"#),
            "{first}"
        );
        let mut stream = first;
        for delta in [
            Delta::Text("lo".into()),
            Delta::ToolCall {
                index: 0,
                id: "c".into(),
                name: "f".into(),
            },
            Delta::ToolArguments {
                index: 0,
                json: "{\"a\"".into(),
            },
            Delta::ToolArguments {
                index: 0,
                json: ":1}".into(),
            },
        ] {
            let out = chunks.push(&delta);
            assert_eq!(out.matches("data: ").count(), 1, "{out}");
            stream.push_str(&out);
        }
        stream.push_str(&chunks.finish());
        let got = gather(&stream);
        assert_eq!(got["content"], "Hello");
        assert_eq!(got["calls"][0]["arguments"], "{\"a\":1}");
        // No finish reason came: a reply that called tools ended in `tool_calls`.
        assert_eq!(got["finish"], "tool_calls");
        assert_eq!(chunks.finish(), "");
        assert_eq!(chunks.push(&Delta::Text("late".into())), "");
    }
}
