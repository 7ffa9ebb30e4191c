//! A streamed Messages reply read event by event into [`Delta`]s, as `send` reads a whole
//! reply: the model and the prompt's usage from `message_start`, text blocks' text, each
//! `tool_use` block a call (numbered among the calls: 0, 1, ...) whose arguments come as JSON
//! pieces, and the stop reason and output usage from `message_delta`. Thinking is left out.

use pacer_core::{Delta, ProviderError};
use serde_json::Value;

use super::stream_wire::{BlockDelta, StartedBlock, StreamEvent, StreamUsage};
use super::wire::WireUsage;
use super::{classify, convert};
use crate::sse::{Events, Flow, ended_early, unreadable};

/// A `tool_use` block being read.
#[derive(Debug)]
struct ToolBlock {
    /// Its position among the reply's blocks.
    block: u32,
    /// The input its start gave, told at its end if no piece came.
    input: Option<Value>,
    /// Whether a piece of its arguments was told.
    told: bool,
}

/// Reads one Messages stream.
#[derive(Debug, Default)]
pub(crate) struct MessageEvents {
    /// The key, redacted from the messages of errors the stream carries.
    api_key: Option<String>,
    /// The usage so far: `message_start`'s, updated by `message_delta`'s.
    usage: WireUsage,
    /// The `tool_use` blocks, in order: a call's index is its position here.
    tools: Vec<ToolBlock>,
    /// Whether `message_delta` came: then only `message_stop` is missing.
    ended: bool,
}

impl MessageEvents {
    /// A reader redacting `api_key` from the errors it reports.
    pub(crate) fn new(api_key: Option<String>) -> Self {
        Self {
            api_key,
            ..Self::default()
        }
    }

    /// Takes in the counts `usage` gives, and tells the usage so far.
    fn count(&mut self, usage: StreamUsage, out: &mut Vec<Delta>) {
        let now = &mut self.usage;
        now.input_tokens = usage.input_tokens.unwrap_or(now.input_tokens);
        now.output_tokens = usage.output_tokens.unwrap_or(now.output_tokens);
        now.cache_creation_input_tokens = usage
            .cache_creation_input_tokens
            .or(now.cache_creation_input_tokens);
        now.cache_read_input_tokens = usage
            .cache_read_input_tokens
            .or(now.cache_read_input_tokens);
        out.push(Delta::Usage(convert::usage(*now)));
    }

    fn start(&mut self, index: u32, block: StartedBlock, out: &mut Vec<Delta>) {
        match block.kind.as_str() {
            "text" => {
                if let Some(text) = block.text.filter(|t| !t.is_empty()) {
                    out.push(Delta::Text(text));
                }
            }
            "tool_use" => {
                out.push(Delta::ToolCall {
                    index: position(self.tools.len()),
                    id: block.id.unwrap_or_default(),
                    name: block.name.unwrap_or_default(),
                });
                self.tools.push(ToolBlock {
                    block: index,
                    input: block.input,
                    told: false,
                });
            }
            // Thinking and server tools are not part of the reply `send` reads.
            _ => {}
        }
    }

    /// The call index and state of block `index`, if it is a `tool_use` block.
    fn tool(&mut self, index: u32) -> Option<(u32, &mut ToolBlock)> {
        let at = self.tools.iter().position(|t| t.block == index)?;
        Some((position(at), &mut self.tools[at]))
    }
}

/// A call's position as a delta's index.
fn position(at: usize) -> u32 {
    u32::try_from(at).unwrap_or(u32::MAX)
}

impl Events for MessageEvents {
    fn event(&mut self, data: &str, out: &mut Vec<Delta>) -> Result<Flow, ProviderError> {
        let event: StreamEvent = serde_json::from_str(data).map_err(unreadable)?;
        match event {
            StreamEvent::MessageStart { message } => {
                if let Some(model) = message.model.filter(|m| !m.is_empty()) {
                    out.push(Delta::Model(model));
                }
                if let Some(usage) = message.usage {
                    self.count(usage, out);
                }
            }
            StreamEvent::ContentBlockStart {
                index,
                content_block,
            } => self.start(index, content_block, out),
            StreamEvent::ContentBlockDelta { index, delta } => match delta {
                BlockDelta::TextDelta { text } if !text.is_empty() => out.push(Delta::Text(text)),
                BlockDelta::InputJsonDelta { partial_json } if !partial_json.is_empty() => {
                    if let Some((call, tool)) = self.tool(index) {
                        tool.told = true;
                        out.push(Delta::ToolArguments {
                            index: call,
                            json: partial_json,
                        });
                    }
                }
                BlockDelta::TextDelta { .. }
                | BlockDelta::InputJsonDelta { .. }
                | BlockDelta::Other => {}
            },
            StreamEvent::ContentBlockStop { index } => {
                // A call with no arguments sends no piece: its start's input (`{}`) is them.
                if let Some((call, tool)) = self.tool(index)
                    && !tool.told
                {
                    tool.told = true;
                    let input = tool.input.take().unwrap_or_else(|| serde_json::json!({}));
                    out.push(Delta::ToolArguments {
                        index: call,
                        json: input.to_string(),
                    });
                }
            }
            StreamEvent::MessageDelta { delta, usage } => {
                self.ended = true;
                out.push(Delta::Finish(convert::finish_reason(
                    delta.stop_reason.as_deref(),
                )));
                if let Some(usage) = usage {
                    self.count(usage, out);
                }
            }
            StreamEvent::MessageStop => return Ok(Flow::Done),
            StreamEvent::Error => {
                return Err(classify::event(data.as_bytes(), self.api_key.as_deref()));
            }
            StreamEvent::Ping | StreamEvent::Other => {}
        }
        Ok(Flow::More)
    }

    fn end(&mut self) -> Result<(), ProviderError> {
        if self.ended {
            Ok(())
        } else {
            Err(ended_early("message_stop"))
        }
    }
}

#[cfg(test)]
mod tests {
    use pacer_core::{Delta, ErrorKind, Usage};
    use serde_json::json;

    use super::MessageEvents;
    use crate::sse::{Events, Flow};

    #[test]
    fn a_call_without_arguments_gets_its_starts_input_and_thinking_is_skipped() {
        let mut reader = MessageEvents::default();
        let mut out = Vec::new();
        for event in [
            json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "thinking", "thinking": ""}}),
            json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "thinking_delta", "thinking": "Hmm"}}),
            json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "signature_delta", "signature": "x"}}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "content_block_start", "index": 1,
                "content_block": {"type": "tool_use", "id": "t1", "name": "now", "input": {}}}),
            json!({"type": "content_block_delta", "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": ""}}),
            json!({"type": "content_block_stop", "index": 1}),
            json!({"type": "some_new_event"}),
        ] {
            let flow = reader.event(&event.to_string(), &mut out).unwrap();
            assert_eq!(flow, Flow::More);
        }
        assert_eq!(
            out,
            [
                Delta::ToolCall {
                    index: 0,
                    id: "t1".into(),
                    name: "now".into()
                },
                Delta::ToolArguments {
                    index: 0,
                    json: "{}".into()
                }
            ]
        );
        assert_eq!(reader.end().unwrap_err().kind, ErrorKind::Connection);
    }

    #[test]
    fn cache_usage_counts_as_send_counts_it() {
        let mut reader = MessageEvents::default();
        let mut out = Vec::new();
        let start = json!({"type": "message_start", "message": {"model": "claude-x",
            "usage": {"input_tokens": 10, "output_tokens": 1,
                "cache_creation_input_tokens": 100, "cache_read_input_tokens": 1000}}});
        let end = json!({"type": "message_delta", "delta": {"stop_reason": "max_tokens"},
            "usage": {"output_tokens": 7}});
        for event in [start, end] {
            reader.event(&event.to_string(), &mut out).unwrap();
        }
        let usage = |output_tokens| Usage {
            input_tokens: 1110,
            output_tokens,
            reasoning_tokens: 0,
            cached_input_tokens: 1000,
        };
        assert_eq!(
            out,
            [
                Delta::Model("claude-x".into()),
                Delta::Usage(usage(1)),
                Delta::Finish(pacer_core::FinishReason::Length),
                Delta::Usage(usage(7)),
            ]
        );
        assert!(reader.end().is_ok(), "only message_stop is missing");
    }
}
