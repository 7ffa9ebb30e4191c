//! A provider-neutral token estimate, used where no exact tokenizer is at hand.

use crate::{ImageBilling, Message, Request};

/// The tokens a chat format adds around the messages' own: role markers and separators per
/// message, and the priming of the reply once per request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overheads {
    /// Tokens per message.
    pub per_message: u64,
    /// Tokens once per request.
    pub per_request: u64,
}

impl Overheads {
    /// Where the format is unknown: 4 a message (OpenAI counts 3 to 4), 3 a request.
    pub const NEUTRAL: Self = Self {
        per_message: 4,
        per_request: 3,
    };
    /// OpenAI's chat format, as its cookbook counts it: 3 a message, 3 to prime the reply.
    pub const OPENAI: Self = Self {
        per_message: 3,
        per_request: 3,
    };
}

/// Estimates the prompt tokens of `messages` at about four characters a token, which is
/// close to what BPE tokenizers give for English text and errs on the high side for code;
/// images count by OpenAI's tile rule.
pub fn estimate_tokens(messages: &[Message]) -> u64 {
    estimate_with(
        messages,
        |text| (text.chars().count() as u64).div_ceil(4),
        ImageBilling::OpenAi,
        Overheads::NEUTRAL,
    )
}

/// Estimates the prompt tokens of `messages` with `count` for each text and `billing` for
/// each image, plus the format's `overheads` (tool calls counted as their JSON text).
pub fn estimate_with(
    messages: &[Message],
    count: impl Fn(&str) -> u64,
    billing: ImageBilling,
    overheads: Overheads,
) -> u64 {
    overheads.per_request
        + messages
            .iter()
            .map(|m| {
                let images: u64 = m.content.images().map(|image| image.tokens(billing)).sum();
                let calls: u64 = m
                    .tool_calls
                    .iter()
                    .map(|call| count(&call.name) + count(&call.arguments_text()))
                    .sum();
                overheads.per_message + count(&m.text()) + images + calls
            })
            .sum::<u64>()
}

/// Estimates the input tokens of a whole request: its messages (or, for an embedding
/// request, its inputs) with `count`, `billing` and `overheads`, plus its tools' definitions
/// as JSON.
pub fn estimate_request(
    request: &Request,
    count: impl Fn(&str) -> u64,
    billing: ImageBilling,
    overheads: Overheads,
) -> u64 {
    if request.is_embedding() {
        return request.inputs.iter().map(|input| count(input)).sum();
    }
    let tools: u64 = request
        .params
        .tools
        .iter()
        .map(|tool| {
            count(&tool.name)
                + tool.description.as_deref().map_or(0, &count)
                + count(&tool.parameters.to_string())
        })
        .sum();
    estimate_with(&request.messages, &count, billing, overheads) + tools
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Role;

    #[test]
    fn counts_overheads_and_rounds_up() {
        let messages = [Message::new(Role::User, "hello")];
        assert_eq!(estimate_tokens(&messages), 3 + 4 + 2);
        assert_eq!(estimate_tokens(&[]), 3);
    }

    #[test]
    fn an_embedding_request_counts_its_inputs_only() {
        let request = Request::embedding("e", vec!["hello".into(), "hi".into()]);
        let count = |text: &str| (text.len() as u64).div_ceil(4);
        assert_eq!(
            estimate_request(&request, count, ImageBilling::OpenAi, Overheads::NEUTRAL),
            2 + 1
        );
    }
}
