//! A provider-neutral token estimate, used where no exact tokenizer is at hand.

use crate::Message;

/// Tokens added per message for role markers and separators (OpenAI counts 3 to 4).
const PER_MESSAGE_OVERHEAD: u64 = 4;
/// Tokens added once per request to prime the reply.
const PER_REQUEST_OVERHEAD: u64 = 3;

/// Estimates the prompt tokens of `messages` at about four characters a token, which is
/// close to what BPE tokenizers give for English text and errs on the high side for code.
pub fn estimate_tokens(messages: &[Message]) -> u64 {
    PER_REQUEST_OVERHEAD
        + messages
            .iter()
            .map(|m| PER_MESSAGE_OVERHEAD + (m.content.chars().count() as u64).div_ceil(4))
            .sum::<u64>()
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
}
