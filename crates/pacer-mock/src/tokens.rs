//! Prompt tokens as OpenAI counts them, on tiktoken's own encoders: each chat message's
//! content plus 3 tokens for its role and separators, plus 3 that prime the reply; a legacy
//! prompt's text as it is. o200k for the models that use it, cl100k for the rest (and for
//! Anthropic's and Gemini's endpoints, whose tokenizers are not public).
//!
//! The mock counts for itself rather than borrowing the provider's estimate, so that a
//! mistake in one shows up as a mismatch against the other.

use pacer_core::Message;
use tiktoken_rs::CoreBPE;

/// Tokens OpenAI adds around each chat message.
const PER_MESSAGE: u64 = 3;
/// Tokens that prime the assistant's reply.
const PER_REPLY: u64 = 3;

/// A tiktoken encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// `o200k_base`.
    O200k,
    /// `cl100k_base`.
    Cl100k,
}

/// The names (after any `ft:` and any `owner/` prefix) of the models that use o200k.
const O200K_MODELS: [&str; 9] = [
    "gpt-4o",
    "gpt-4.1",
    "gpt-4.5",
    "gpt-5",
    "o1",
    "o3",
    "o4",
    "chatgpt-4o",
    "gpt-oss",
];

impl Encoding {
    /// The encoding `model` uses; a model we do not know gets cl100k.
    pub(crate) fn for_model(model: &str) -> Encoding {
        // Fine-tunes are named `ft:gpt-4o-mini:org::id`; open-weight ones `openai/gpt-oss-20b`.
        let name = model.strip_prefix("ft:").unwrap_or(model);
        let name = name.rsplit('/').next().unwrap_or(name);
        if O200K_MODELS.iter().any(|p| name.starts_with(p)) {
            Encoding::O200k
        } else {
            Encoding::Cl100k
        }
    }

    /// The tokens of `text`, special-token markers counted as plain text (a prompt that
    /// quotes `<|endoftext|>` is not cut short).
    pub(crate) fn count(self, text: &str) -> u64 {
        // The singletons are built on first use and shared by every connection.
        let bpe: &CoreBPE = match self {
            Encoding::O200k => tiktoken_rs::o200k_base_singleton(),
            Encoding::Cl100k => tiktoken_rs::cl100k_base_singleton(),
        };
        bpe.encode_ordinary(text).len() as u64
    }

    /// The prompt tokens of a chat: each message's content and overhead, plus the priming.
    pub(crate) fn chat(self, messages: &[Message]) -> u64 {
        PER_REPLY
            + messages
                .iter()
                .map(|m| PER_MESSAGE + self.count(&m.text()))
                .sum::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use pacer_core::{Message, Role};

    use super::Encoding;

    #[test]
    fn models_get_their_encoding() {
        for model in [
            "gpt-4o-mini",
            "gpt-4.1",
            "gpt-5-nano",
            "o3-mini",
            "chatgpt-4o-latest",
            "ft:gpt-4o-mini:acme::x1",
            "openai/gpt-oss-20b",
        ] {
            assert_eq!(Encoding::for_model(model), Encoding::O200k, "{model}");
        }
        for model in ["gpt-4-turbo", "gpt-3.5-turbo", "llama-3.1-8b", "claude-x"] {
            assert_eq!(Encoding::for_model(model), Encoding::Cl100k, "{model}");
        }
    }

    #[test]
    fn counts_are_tiktoken_counts_plus_the_chat_overhead() {
        let text = "The quick brown fox jumps over the lazy dog.";
        assert_eq!(Encoding::Cl100k.count(text), 10);
        assert_eq!(Encoding::O200k.count(text), 10);
        // Ordinary encoding: the marker is seven plain tokens, not one special one.
        assert_eq!(Encoding::O200k.count("<|endoftext|>"), 7);
        let messages = [Message::new(Role::System, ""), Message::new(Role::User, "")];
        assert_eq!(Encoding::O200k.chat(&messages), 9);
        let hello = [Message::new(Role::User, "Hello world")];
        assert_eq!(Encoding::Cl100k.chat(&hello), 3 + 2 + 3);
    }
}
