//! The usage of a stream passed through, read as its server-sent events go by: the last
//! `usage` a chat chunk carried (`stream_options.include_usage`), that of the Responses
//! API's final `response.completed` (or `.incomplete`, `.failed`) event, or Anthropic's,
//! told by `message_start` (the input) and `message_delta` (the output so far; of late the
//! input too), its end `message_stop`.

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
    /// Whether the stream's end came: chat's `[DONE]`, a Responses API final event, or
    /// Anthropic's `message_stop`.
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
            } else if (data.contains("\"usage\"") || data.contains("\"message_stop\""))
                && let Ok(value) = serde_json::from_str::<Value>(data)
            {
                match value.get("type").and_then(Value::as_str) {
                    Some("message_start") => self.anthropic(&value["message"]["usage"]),
                    Some("message_delta") => self.anthropic(&value["usage"]),
                    Some("message_stop") => self.done = true,
                    kind => {
                        if kind.is_some_and(|kind| RESPONSE_ENDS.contains(&kind)) {
                            self.done = true;
                        }
                        if let Some(usage) = usage(&value) {
                            self.usage = Some(usage);
                        }
                    }
                }
            }
        }
    }

    /// Reads Anthropic's `usage` into the usage so far. Its `input_tokens` count only the
    /// prompt tokens the cache neither wrote nor read, so the whole prompt is the sum of the
    /// three (as the Anthropic provider counts it); a `message_delta` that names no input
    /// leaves it as `message_start` said.
    fn anthropic(&mut self, usage: &Value) {
        if !usage.is_object() {
            return;
        }
        let get = |key: &str| usage.get(key).and_then(Value::as_u64);
        let mut read = self.usage.unwrap_or_default();
        if let Some(output) = get("output_tokens") {
            read.output_tokens = output;
        }
        let (input, written, cached) = (
            get("input_tokens"),
            get("cache_creation_input_tokens"),
            get("cache_read_input_tokens"),
        );
        if input.or(written).or(cached).is_some() {
            read.input_tokens = input.unwrap_or(0) + written.unwrap_or(0) + cached.unwrap_or(0);
            read.cached_input_tokens = cached.unwrap_or(0);
        }
        self.usage = Some(read);
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

    #[test]
    fn reads_an_anthropic_stream() {
        let stream = concat!(
            "event: message_start\n",
            "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",",
            "\"role\":\"assistant\",\"content\":[],\"model\":\"claude-x\",\"stop_reason\":null,",
            "\"usage\":{\"input_tokens\":12,\"cache_creation_input_tokens\":100,",
            "\"cache_read_input_tokens\":1000,\"output_tokens\":1}}}\n\n",
            "event: content_block_start\n",
            "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
            "event: ping\n",
            "data: {\"type\": \"ping\"}\n\n",
            "event: content_block_delta\n",
            "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
            "event: content_block_stop\n",
            "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
            "event: message_delta\n",
            "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",",
            "\"stop_sequence\":null},\"usage\":{\"output_tokens\":15}}\n\n",
            "event: message_stop\n",
            "data: {\"type\":\"message_stop\"}\n\n",
        );
        let mut scanner = UsageScanner::default();
        let stop = stream.find("event: message_stop").unwrap();
        for piece in stream.as_bytes()[..stop].chunks(11) {
            scanner.feed(piece);
        }
        assert!(!scanner.done);
        let usage = scanner.usage.unwrap();
        assert_eq!((usage.input_tokens, usage.output_tokens), (1112, 15));
        assert_eq!(usage.cached_input_tokens, 1000);
        scanner.feed(&stream.as_bytes()[stop..]);
        assert!(scanner.done);
        // Of late `message_delta` says the input too, and it stands.
        let mut scanner = UsageScanner::default();
        scanner.feed(b"data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n");
        scanner.feed(b"data: {\"type\":\"message_delta\",\"usage\":{\"input_tokens\":8,\"cache_read_input_tokens\":2,\"output_tokens\":4}}\n");
        let usage = scanner.usage.unwrap();
        assert_eq!(
            (
                usage.input_tokens,
                usage.cached_input_tokens,
                usage.output_tokens
            ),
            (10, 2, 4)
        );
    }

    #[test]
    fn reads_the_anthropic_stream_the_gateway_writes() {
        let usage = pacer_core::Usage {
            input_tokens: 30,
            output_tokens: 5,
            cached_input_tokens: 20,
            reasoning_tokens: 0,
        };
        let mut events = crate::translate::messages::MessageEvents::new("1", "m", 99);
        let mut stream = events.push(&pacer_core::Delta::Text("hi".into()));
        stream.push_str(&events.push(&pacer_core::Delta::Usage(usage)));
        stream.push_str(&events.finish());
        let mut scanner = UsageScanner::default();
        scanner.feed(stream.as_bytes());
        assert!(scanner.done);
        assert_eq!(scanner.usage, Some(usage));
    }
}
