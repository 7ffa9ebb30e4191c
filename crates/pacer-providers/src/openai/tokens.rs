//! Token estimates for OpenAI models with tiktoken: o200k for gpt-4o, gpt-4.1, the o-series
//! and gpt-5, cl100k for older models and for servers whose tokenizer we do not know. The
//! encoders are built once per process and shared.

use pacer_core::Message;
use tiktoken_rs::CoreBPE;

/// A tiktoken encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// `o200k_base`: gpt-4o, gpt-4.1, gpt-4.5, o1, o3, o4, gpt-5, gpt-oss.
    O200k,
    /// `cl100k_base`: gpt-4, gpt-3.5 and anything unknown.
    Cl100k,
}

impl Encoding {
    /// The encoding `model` uses; unknown models get cl100k.
    ///
    /// ```
    /// use pacer_providers::openai::Encoding;
    /// assert_eq!(Encoding::for_model("gpt-4o-mini"), Encoding::O200k);
    /// assert_eq!(Encoding::for_model("o3-mini"), Encoding::O200k);
    /// assert_eq!(Encoding::for_model("gpt-4-turbo"), Encoding::Cl100k);
    /// assert_eq!(Encoding::for_model("llama-3.1-8b"), Encoding::Cl100k);
    /// ```
    pub fn for_model(model: &str) -> Encoding {
        // Fine-tunes are named `ft:gpt-4o-mini:org::id`.
        let name = model.strip_prefix("ft:").unwrap_or(model);
        let name = name.rsplit('/').next().unwrap_or(name);
        const O200K: [&str; 9] = [
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
        if O200K.iter().any(|p| name.starts_with(p)) {
            Encoding::O200k
        } else {
            Encoding::Cl100k
        }
    }

    fn bpe(self) -> &'static CoreBPE {
        match self {
            Encoding::O200k => tiktoken_rs::o200k_base_singleton(),
            Encoding::Cl100k => tiktoken_rs::cl100k_base_singleton(),
        }
    }

    /// Builds the encoder now rather than on the first request (it takes a fraction of a
    /// second).
    pub fn warm(self) {
        let _ = self.bpe();
    }

    /// The tokens of `text`, special-token markers counted as plain text.
    pub fn count(self, text: &str) -> u64 {
        self.bpe().encode_ordinary(text).len() as u64
    }
}

/// The prompt tokens OpenAI counts for a chat request: each message's content (images by
/// OpenAI's tile rule) plus its overhead, plus the reply's priming
/// ([`Overheads::OPENAI`](pacer_core::Overheads::OPENAI)).
///
/// ```
/// use pacer_core::{Message, Role};
/// use pacer_providers::openai::{chat_prompt_tokens, Encoding};
///
/// let messages = [Message::new(Role::User, "Hello world")];
/// assert_eq!(chat_prompt_tokens(Encoding::O200k, &messages), 3 + 2 + 3);
/// ```
pub fn chat_prompt_tokens(encoding: Encoding, messages: &[Message]) -> u64 {
    pacer_core::estimate_with(
        messages,
        |text| encoding.count(text),
        pacer_core::ImageBilling::OpenAi,
        pacer_core::Overheads::OPENAI,
    )
}

/// The prompt tokens of a legacy completions request: the prompt's text as it is sent.
pub fn completion_prompt_tokens(encoding: Encoding, prompt: &str) -> u64 {
    encoding.count(prompt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pacer_core::Role;

    #[test]
    fn counts_with_the_model_encoding() {
        // cl100k and o200k split this differently; both are exact tiktoken counts.
        let text = "The quick brown fox jumps over the lazy dog.";
        assert_eq!(Encoding::Cl100k.count(text), 10);
        assert_eq!(Encoding::O200k.count(text), 10);
        assert_eq!(Encoding::O200k.count("<|endoftext|>"), 7);
        assert!(Encoding::for_model("ft:gpt-4o-mini:acme::x1") == Encoding::O200k);
    }

    #[test]
    fn chat_overhead_is_three_per_message_plus_three() {
        let messages = [Message::new(Role::System, ""), Message::new(Role::User, "")];
        assert_eq!(chat_prompt_tokens(Encoding::O200k, &messages), 9);
    }
}
