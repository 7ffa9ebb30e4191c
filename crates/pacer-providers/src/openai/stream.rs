//! A streamed chat completion read chunk by chunk into [`Delta`]s: the model once, choice 0's
//! text and tool calls, its finish and the usage, as `send` reads them from a whole reply.
//! Other choices are skipped: a stream tells one completion.

use pacer_core::{Delta, FinishReason, ProviderError};

use super::stream_wire::{ChatChunk, ChunkChoice, ChunkToolCall};
use super::{classify, convert};
use crate::sse::{Events, Flow, ended_early, unreadable};

/// The body of a streamed chat request: `chat`'s, asking for a stream that ends with the
/// usage (`stream_options.include_usage`, beside any other stream option the request sets).
pub(crate) fn body(mut chat: super::wire::ChatRequest) -> super::wire::ChatRequest {
    chat.extra.insert("stream".into(), true.into());
    let options = chat
        .extra
        .entry("stream_options")
        .or_insert_with(|| serde_json::json!({}));
    if let Some(options) = options.as_object_mut() {
        options.insert("include_usage".into(), true.into());
    } else {
        *options = serde_json::json!({"include_usage": true});
    }
    chat
}

/// Reads one chat stream.
#[derive(Debug, Default)]
pub(crate) struct ChatEvents {
    /// The key, redacted from the messages of errors the stream carries.
    api_key: Option<String>,
    model_told: bool,
    /// The id and name told so far of each call, by position.
    calls: Vec<(String, String)>,
    /// Whether the choice wrote text, and whether it refused (a refusal with no text
    /// finishes as [`FinishReason::Refusal`], as `send` reads it).
    wrote: bool,
    refused: bool,
    finished: bool,
    counted: bool,
}

impl ChatEvents {
    /// A reader redacting `api_key` from the errors it reports.
    pub(crate) fn new(api_key: Option<String>) -> Self {
        Self {
            api_key,
            ..Self::default()
        }
    }

    fn choice(&mut self, choice: ChunkChoice, out: &mut Vec<Delta>) {
        let delta = choice.delta.unwrap_or_default();
        if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
            self.wrote = true;
            out.push(Delta::Text(text));
        }
        if let Some(text) = delta.refusal.filter(|t| !t.is_empty()) {
            self.refused = true;
            out.push(Delta::Text(text));
        }
        for call in delta.tool_calls.unwrap_or_default() {
            self.call(call, out);
        }
        if let Some(reason) = choice.finish_reason {
            self.finished = true;
            out.push(Delta::Finish(if self.refused && !self.wrote {
                FinishReason::Refusal
            } else {
                convert::finish_reason(Some(&reason))
            }));
        }
    }

    /// A piece of a call: its id and name where they are new, then its arguments.
    fn call(&mut self, call: ChunkToolCall, out: &mut Vec<Delta>) {
        // A server that numbers no call starts a new one with each id; a number past the
        // next call's is taken as the next call's, so no gap of empty calls opens.
        let position = match call.index {
            Some(index) => (index as usize).min(self.calls.len()),
            None if call.id.is_some() => self.calls.len(),
            None => self.calls.len().saturating_sub(1),
        };
        if self.calls.len() <= position {
            self.calls.resize(position + 1, Default::default());
        }
        let index = u32::try_from(position).unwrap_or(u32::MAX);
        let (function_name, arguments) = match call.function {
            Some(f) => (f.name, f.arguments),
            None => (None, None),
        };
        let told = &mut self.calls[position];
        let mut news = false;
        for (now, new) in [(&mut told.0, call.id), (&mut told.1, function_name)] {
            if let Some(new) = new.filter(|n| !n.is_empty() && n != now) {
                *now = new;
                news = true;
            }
        }
        if news {
            out.push(Delta::ToolCall {
                index,
                id: told.0.clone(),
                name: told.1.clone(),
            });
        }
        if let Some(json) = arguments.filter(|a| !a.is_empty()) {
            out.push(Delta::ToolArguments { index, json });
        }
    }
}

impl Events for ChatEvents {
    fn event(&mut self, data: &str, out: &mut Vec<Delta>) -> Result<Flow, ProviderError> {
        if data.trim() == "[DONE]" {
            return Ok(Flow::Done);
        }
        let chunk: ChatChunk = serde_json::from_str(data).map_err(unreadable)?;
        if let Some(error) = chunk.error {
            return Err(classify::stream_error(&error, self.api_key.as_deref()));
        }
        if let Some(model) = chunk.model.filter(|m| !m.is_empty())
            && !self.model_told
        {
            self.model_told = true;
            out.push(Delta::Model(model));
        }
        for choice in chunk.choices {
            if choice.index == 0 {
                self.choice(choice, out);
            }
        }
        if let Some(usage) = chunk.usage {
            self.counted = true;
            out.push(Delta::Usage(convert::usage(Some(usage))));
        }
        Ok(Flow::More)
    }

    fn end(&mut self) -> Result<(), ProviderError> {
        // Without `[DONE]` the reply is whole only if nothing else is missing.
        if self.finished && self.counted {
            Ok(())
        } else {
            Err(ended_early("[DONE]"))
        }
    }
}

#[cfg(test)]
mod tests {
    use pacer_core::{Delta, ErrorKind, FinishReason, ProviderError, Usage};
    use serde_json::json;

    use super::ChatEvents;
    use crate::sse::{Events, Flow};

    fn read(events: &[&str]) -> (Vec<Delta>, Result<Flow, ProviderError>) {
        let mut reader = ChatEvents::new(Some("sk-secret-123456".into()));
        let mut out = Vec::new();
        let mut flow = Ok(Flow::More);
        for data in events {
            flow = reader.event(data, &mut out);
            if !matches!(flow, Ok(Flow::More)) {
                break;
            }
        }
        (out, flow)
    }

    #[test]
    fn a_refusal_without_text_finishes_as_one() {
        let (out, flow) = read(&[
            r#"{"model":"m","choices":[{"index":0,"delta":{"refusal":"No."}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
            "[DONE]",
        ]);
        assert!(matches!(flow, Ok(Flow::Done)));
        assert_eq!(
            out,
            [
                Delta::Model("m".into()),
                Delta::Text("No.".into()),
                Delta::Finish(FinishReason::Refusal)
            ]
        );
    }

    #[test]
    fn only_choice_zero_is_told_and_unnumbered_calls_follow_their_ids() {
        let (out, _) = read(&[
            r#"{"choices":[{"index":1,"delta":{"content":"other"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"id":"a","function":{"name":"f","arguments":"{"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"function":{"arguments":"}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"id":"b","function":{"name":"g"}}]}}]}"#,
        ]);
        let call = |index, id: &str, name: &str| Delta::ToolCall {
            index,
            id: id.into(),
            name: name.into(),
        };
        let args = |index, json: &str| Delta::ToolArguments {
            index,
            json: json.into(),
        };
        assert_eq!(
            out,
            [
                call(0, "a", "f"),
                args(0, "{"),
                args(0, "}"),
                call(1, "b", "g")
            ]
        );
    }

    #[test]
    fn an_error_chunk_bad_json_and_an_early_end_are_errors() {
        let (_, flow) =
            read(&[r#"{"error":{"message":"boom sk-secret-123456","type":"server_error"}}"#]);
        let error = flow.unwrap_err();
        assert_eq!(error.kind, ErrorKind::Server);
        assert!(!error.message.contains("sk-secret"), "{}", error.message);
        let (_, flow) = read(&[r#"{"choices": ["#]);
        assert_eq!(flow.unwrap_err().kind, ErrorKind::InvalidResponse);
        let mut reader = ChatEvents::default();
        assert_eq!(reader.end().unwrap_err().kind, ErrorKind::Connection);
        let mut out = Vec::new();
        let usage = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4}});
        reader.event(&usage.to_string(), &mut out).unwrap();
        assert_eq!(
            out,
            [
                Delta::Finish(FinishReason::Length),
                Delta::Usage(Usage {
                    input_tokens: 3,
                    output_tokens: 4,
                    ..Usage::default()
                })
            ]
        );
        assert!(reader.end().is_ok(), "nothing is missing but [DONE]");
    }
}
