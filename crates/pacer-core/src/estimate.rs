//! A provider-neutral token estimate, used where no exact tokenizer is at hand.

use crate::{ImageBilling, Message, Request};

/// Tokens added per message for role markers and separators (OpenAI counts 3 to 4).
const PER_MESSAGE_OVERHEAD: u64 = 4;
/// Tokens added once per request to prime the reply.
const PER_REQUEST_OVERHEAD: u64 = 3;

/// Estimates the prompt tokens of `messages` at about four characters a token, which is
/// close to what BPE tokenizers give for English text and errs on the high side for code;
/// images count by OpenAI's tile rule.
pub fn estimate_tokens(messages: &[Message]) -> u64 {
    estimate_with(
        messages,
        |text| (text.chars().count() as u64).div_ceil(4),
        ImageBilling::OpenAi,
    )
}

/// Estimates the prompt tokens of `messages` with `count` for each text and `billing` for
/// each image, plus the per-message overheads (tool calls counted as their JSON text).
pub fn estimate_with(
    messages: &[Message],
    count: impl Fn(&str) -> u64,
    billing: ImageBilling,
) -> u64 {
    PER_REQUEST_OVERHEAD
        + messages
            .iter()
            .map(|m| {
                let images: u64 = m.content.images().map(|image| image.tokens(billing)).sum();
                let calls: u64 = m
                    .tool_calls
                    .iter()
                    .map(|call| count(&call.name) + count(&call.arguments_text()))
                    .sum();
                PER_MESSAGE_OVERHEAD + count(&m.text()) + images + calls
            })
            .sum::<u64>()
}

/// Estimates the input tokens of a whole request: its messages (or, for an embedding
/// request, its inputs) with `count` and `billing`, plus its tools' definitions as JSON.
pub fn estimate_request(
    request: &Request,
    count: impl Fn(&str) -> u64,
    billing: ImageBilling,
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
    estimate_with(&request.messages, &count, billing) + tools
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
            estimate_request(&request, count, ImageBilling::OpenAi),
            2 + 1
        );
    }
}
