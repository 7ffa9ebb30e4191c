//! The usage of a stream passed through, read as its server-sent events go by: the last
//! `usage` a chat chunk carried (`stream_options.include_usage`), or that of the Responses
//! API's final `response.completed` (or `.incomplete`, `.failed`) event.

use pacer_core::Usage;
use serde_json::Value;

use super::usage;

/// The Responses API events that end a stream.
const RESPONSE_ENDS: [&str; 3] = [
    "response.completed",
    "response.incomplete",
    "response.failed",
];

/// Reads server-sent events as they stream by and keeps the last `usage` seen.
#[derive(Default)]
pub(crate) struct UsageScanner {
    partial: Vec<u8>,
    /// The last usage a chunk carried.
    pub(crate) usage: Option<Usage>,
    /// Whether the stream's end came: chat's `[DONE]`, or a Responses API final event.
    pub(crate) done: bool,
}

impl UsageScanner {
    /// Reads `bytes`, the next piece of the stream.
    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        self.partial.extend_from_slice(bytes);
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let Some(data) = line.trim_end().strip_prefix("data:") else {
                continue;
            };
            let data = data.trim();
            if data == "[DONE]" {
                self.done = true;
            } else if data.contains("\"usage\"")
                && let Ok(value) = serde_json::from_str::<Value>(data)
            {
                if value
                    .get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|kind| RESPONSE_ENDS.contains(&kind))
                {
                    self.done = true;
                }
                if let Some(usage) = usage(&value) {
                    self.usage = Some(usage);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::UsageScanner;

    #[test]
    fn reads_a_chat_stream_in_pieces() {
        let completion = serde_json::json!({"id": "c", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"},
                "logprobs": null, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}});
        let events = pacer_core::chat_completion_events(&completion, true);
        let mut scanner = UsageScanner::default();
        for piece in events.as_bytes().chunks(7) {
            scanner.feed(piece);
        }
        assert!(scanner.done);
        assert_eq!(scanner.usage.unwrap().output_tokens, 2);
    }

    #[test]
    fn reads_a_responses_stream() {
        let stream = concat!(
            "event: response.created\n",
            "data: {\"type\":\"response.created\",\"response\":{\"usage\":null}}\n\n",
            "event: response.output_text.delta\n",
            "data: {\"type\":\"response.output_text.delta\",\"delta\":\"hi\"}\n\n",
            "event: response.completed\n",
            "data: {\"type\":\"response.completed\",\"response\":{\"usage\":",
            "{\"input_tokens\":4,\"output_tokens\":1,\"total_tokens\":5}}}\n\n",
        );
        let mut scanner = UsageScanner::default();
        scanner.feed(&stream.as_bytes()[..40]);
        assert!(!scanner.done && scanner.usage.is_none());
        scanner.feed(&stream.as_bytes()[40..]);
        assert!(scanner.done);
        let usage = scanner.usage.unwrap();
        assert_eq!((usage.input_tokens, usage.output_tokens), (4, 1));
    }
}
