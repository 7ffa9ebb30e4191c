//! A reply as it streams: the pieces ([`Delta`]) a provider reads from its API's server-sent
//! events, in one vocabulary every API's stream is read into and every client's stream is
//! written from (the gateway turns Anthropic's events into OpenAI's chunks and back).

use std::pin::Pin;

use futures_util::Stream;

use crate::{Choice, FinishReason, ProviderError, RateLimitInfo, Response, ToolCall, Usage};

/// One piece of a streamed reply (one completion), in the order the upstream sent it.
#[derive(Clone, Debug, PartialEq)]
pub enum Delta {
    /// The model version that answers, when the upstream names it (first, if at all).
    Model(String),
    /// More of the reply's text.
    Text(String),
    /// A tool call begins: its position among the reply's calls (0, 1, ...), the
    /// provider's id of the call, and the tool's name.
    ToolCall {
        /// Its position among the reply's calls.
        index: u32,
        /// The provider's id (made up where the provider gives none).
        id: String,
        /// The tool called.
        name: String,
    },
    /// More of call `index`'s arguments, as JSON text.
    ToolArguments {
        /// The call.
        index: u32,
        /// The next piece of its arguments' JSON text.
        json: String,
    },
    /// How the reply ended.
    Finish(FinishReason),
    /// The usage so far, whole (not an increment): the last one is the reply's.
    Usage(Usage),
}

/// The deltas of one streamed reply; an error ends it (the stream broke off).
pub type Deltas = Pin<Box<dyn Stream<Item = Result<Delta, ProviderError>> + Send>>;

/// A reply that has begun: its head was a success, its body is still coming.
pub struct Streaming {
    /// What the reply's headers said about the rate limits.
    pub rate_limits: Option<RateLimitInfo>,
    /// Its pieces.
    pub deltas: Deltas,
}

impl std::fmt::Debug for Streaming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streaming")
            .field("rate_limits", &self.rate_limits)
            .finish_non_exhaustive()
    }
}

impl Streaming {
    /// A whole reply played back as a stream (for a provider that does not stream): its
    /// model, text, tool calls, finish and usage, the text in one piece.
    pub fn of_response(response: Response) -> Self {
        let deltas = deltas_of(&response);
        Self {
            rate_limits: response.rate_limits,
            deltas: Box::pin(futures_util::stream::iter(deltas.into_iter().map(Ok))),
        }
    }
}

/// The deltas that tell `response`'s first completion.
pub fn deltas_of(response: &Response) -> Vec<Delta> {
    let mut deltas = Vec::new();
    if let Some(model) = &response.model_version {
        deltas.push(Delta::Model(model.clone()));
    }
    if let Some(choice) = response.choices.first() {
        if !choice.text.is_empty() {
            deltas.push(Delta::Text(choice.text.clone()));
        }
        for (index, call) in choice.tool_calls.iter().enumerate() {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            deltas.push(Delta::ToolCall {
                index,
                id: call.id.clone(),
                name: call.name.clone(),
            });
            deltas.push(Delta::ToolArguments {
                index,
                json: call.arguments_text(),
            });
        }
        deltas.push(Delta::Finish(choice.finish_reason.clone()));
    }
    deltas.push(Delta::Usage(response.usage));
    deltas
}

/// Gathers deltas into the whole reply they tell.
#[derive(Clone, Debug, Default)]
pub struct Gather {
    model: Option<String>,
    text: String,
    calls: Vec<(String, String, String)>,
    finish: Option<FinishReason>,
    usage: Usage,
}

impl Gather {
    /// Takes in one delta.
    pub fn add(&mut self, delta: &Delta) {
        match delta {
            Delta::Model(model) => self.model = Some(model.clone()),
            Delta::Text(text) => self.text.push_str(text),
            Delta::ToolCall { index, id, name } => {
                let index = *index as usize;
                if self.calls.len() <= index {
                    self.calls.resize(index + 1, Default::default());
                }
                self.calls[index].0.clone_from(id);
                self.calls[index].1.clone_from(name);
            }
            Delta::ToolArguments { index, json } => {
                let index = *index as usize;
                if self.calls.len() <= index {
                    self.calls.resize(index + 1, Default::default());
                }
                self.calls[index].2.push_str(json);
            }
            Delta::Finish(reason) => self.finish = Some(reason.clone()),
            Delta::Usage(usage) => self.usage = *usage,
        }
    }

    /// The usage so far.
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// The whole reply (a stream that ended without saying why stopped: `stop`, or
    /// `tool_calls` where it called a tool).
    pub fn response(self, rate_limits: Option<RateLimitInfo>) -> Response {
        let tool_calls: Vec<ToolCall> = self
            .calls
            .into_iter()
            .map(|(id, name, args)| ToolCall::from_text(id, name, &args))
            .collect();
        let finish = self.finish.unwrap_or(if tool_calls.is_empty() {
            FinishReason::Stop
        } else {
            FinishReason::ToolCalls
        });
        let mut choice = Choice::text(self.text, finish);
        choice.tool_calls = tool_calls;
        Response {
            model_version: self.model,
            choices: vec![choice],
            embeddings: Vec::new(),
            usage: self.usage,
            rate_limits,
            first_token: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_played_back_and_gathered_is_itself() {
        let mut choice = Choice::text("Paris", FinishReason::ToolCalls);
        choice.tool_calls = vec![ToolCall::from_text("c1", "lookup", r#"{"q":"x"}"#)];
        let response = Response {
            model_version: Some("m-1".into()),
            choices: vec![choice],
            embeddings: Vec::new(),
            usage: Usage {
                input_tokens: 3,
                output_tokens: 2,
                ..Usage::default()
            },
            rate_limits: None,
            first_token: None,
        };
        let mut gather = Gather::default();
        for delta in deltas_of(&response) {
            gather.add(&delta);
        }
        assert_eq!(gather.response(None), response);
    }

    #[test]
    fn arguments_in_pieces_join() {
        let mut gather = Gather::default();
        for delta in [
            Delta::ToolCall {
                index: 0,
                id: "a".into(),
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
        ] {
            gather.add(&delta);
        }
        let response = gather.response(None);
        assert_eq!(response.choices[0].finish_reason, FinishReason::ToolCalls);
        assert_eq!(
            response.choices[0].tool_calls[0].arguments,
            serde_json::json!({"x": 1})
        );
    }
}
