//! A `streamGenerateContent?alt=sse` reply read chunk by chunk into [`Delta`]s, as `send`
//! reads a whole reply: each event is a `GenerateContentResponse` holding the reply's next
//! parts. The model version once, the first candidate's text (thoughts left out), its
//! function calls (each whole in one part), its finish, and the usage whenever it changes.

use std::time::SystemTime;

use pacer_core::{Delta, ProviderError, Usage};
use serde::Deserialize;

use super::wire::{Candidate, ErrorStatus, GenerateContentResponse};
use super::{classify, convert};
use crate::sse::{Events, Flow, ended_early, unreadable};

/// One event's data: a reply's next part, or an error met after the head was sent.
#[derive(Debug, Default, Deserialize)]
struct Chunk {
    /// The reply's next part.
    #[serde(flatten)]
    reply: GenerateContentResponse,
    /// The error.
    #[serde(default)]
    error: Option<ErrorStatus>,
}

/// Reads one `streamGenerateContent` stream.
#[derive(Debug, Default)]
pub(crate) struct ContentEvents {
    /// The key, redacted from the messages of errors the stream carries.
    api_key: Option<String>,
    model_told: bool,
    /// The calls told so far.
    calls: usize,
    finished: bool,
    /// The usage last told.
    usage: Option<Usage>,
}

impl ContentEvents {
    /// A reader redacting `api_key` from the errors it reports.
    pub(crate) fn new(api_key: Option<String>) -> Self {
        Self {
            api_key,
            ..Self::default()
        }
    }

    fn candidate(&mut self, candidate: Candidate, out: &mut Vec<Delta>) {
        for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
            if let Some(call) = part.function_call {
                let index = u32::try_from(self.calls).unwrap_or(u32::MAX);
                out.push(Delta::ToolCall {
                    index,
                    id: convert::call_id(call.id, 0, self.calls),
                    name: call.name,
                });
                let arguments = call.args.unwrap_or_else(|| serde_json::json!({}));
                out.push(Delta::ToolArguments {
                    index,
                    json: arguments.to_string(),
                });
                self.calls += 1;
            } else if part.thought != Some(true)
                && let Some(text) = part.text.filter(|t| !t.is_empty())
            {
                out.push(Delta::Text(text));
            }
        }
        if let Some(reason) = candidate.finish_reason {
            self.finished = true;
            out.push(Delta::Finish(convert::candidate_finish(
                Some(&reason),
                self.calls > 0,
            )));
        }
    }
}

impl Events for ContentEvents {
    fn event(&mut self, data: &str, out: &mut Vec<Delta>) -> Result<Flow, ProviderError> {
        let Chunk { reply, error } = serde_json::from_str(data).map_err(unreadable)?;
        if let Some(error) = error {
            let status = if error.code >= 400 { error.code } else { 500 };
            let key = self.api_key.as_deref();
            return Err(classify::status(
                status,
                data.as_bytes(),
                key,
                SystemTime::now(),
            ));
        }
        let usage = reply.usage_metadata.map(convert::usage);
        if reply.candidates.is_empty()
            && let Some(reason) = reply.prompt_feedback.and_then(|f| f.block_reason)
        {
            return Err(convert::blocked_prompt(&reason, usage.unwrap_or_default()));
        }
        if let Some(model) = reply.model_version.filter(|m| !m.is_empty())
            && !self.model_told
        {
            self.model_told = true;
            out.push(Delta::Model(model));
        }
        // A stream tells one completion: the first candidate.
        if let Some(candidate) = reply
            .candidates
            .into_iter()
            .find(|c| c.index.unwrap_or(0) == 0)
        {
            self.candidate(candidate, out);
        }
        if let Some(usage) = usage
            && self.usage != Some(usage)
        {
            self.usage = Some(usage);
            out.push(Delta::Usage(usage));
        }
        Ok(Flow::More)
    }

    fn end(&mut self) -> Result<(), ProviderError> {
        // Gemini sends no end event: a reply is whole once its candidate says why it ended.
        if self.finished {
            Ok(())
        } else {
            Err(ended_early("a finish reason"))
        }
    }
}

#[cfg(test)]
mod tests {
    use pacer_core::{Delta, ErrorKind, FinishReason};
    use serde_json::json;

    use super::ContentEvents;
    use crate::sse::Events;

    #[test]
    fn a_blocked_prompt_and_an_error_chunk_are_errors() {
        let mut reader = ContentEvents::new(Some("AIzaSECRETsecret123".into()));
        let blocked = json!({"promptFeedback": {"blockReason": "SAFETY"},
            "usageMetadata": {"promptTokenCount": 9}});
        let error = reader
            .event(&blocked.to_string(), &mut Vec::new())
            .unwrap_err();
        assert_eq!(error.kind, ErrorKind::ContentFiltered);
        assert_eq!(error.usage.map(|u| u.input_tokens), Some(9));
        let failed = json!({"error": {"code": 503, "status": "UNAVAILABLE",
            "message": "overloaded AIzaSECRETsecret123"}});
        let error = reader
            .event(&failed.to_string(), &mut Vec::new())
            .unwrap_err();
        assert_eq!(error.kind, ErrorKind::Overloaded);
        assert!(!error.message.contains("SECRET"), "{}", error.message);
    }

    #[test]
    fn thoughts_are_skipped_and_a_stop_after_calls_is_a_tool_call_finish() {
        let mut reader = ContentEvents::default();
        let mut out = Vec::new();
        let chunk = json!({"candidates": [{"content": {"role": "model", "parts": [
            {"text": "thinking", "thought": true},
            {"functionCall": {"name": "now"}}
        ]}, "finishReason": "STOP"}]});
        reader.event(&chunk.to_string(), &mut out).unwrap();
        assert_eq!(
            out,
            [
                Delta::ToolCall {
                    index: 0,
                    id: "call_0_0".into(),
                    name: "now".into()
                },
                Delta::ToolArguments {
                    index: 0,
                    json: "{}".into()
                },
                Delta::Finish(FinishReason::ToolCalls)
            ]
        );
        assert!(reader.end().is_ok());
        assert_eq!(
            ContentEvents::default().end().unwrap_err().kind,
            ErrorKind::Connection
        );
    }
}
