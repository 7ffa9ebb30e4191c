//! Prompt tokens as OpenAI counts them, on tiktoken's own encoders: each chat message's
//! content plus 3 tokens for its role and separators, plus 3 that prime the reply; a legacy
//! prompt's text as it is. o200k for the models that use it, cl100k for the rest (and for
//! Anthropic's and Gemini's endpoints, whose tokenizers are not public).
//!
//! A message's images count as the provider bills them ([`ImageBilling`]), its tool calls as
//! their name and arguments' JSON; the tools offered count as their name, description and
//! parameters' JSON schema.
//!
//! The mock counts for itself rather than borrowing the provider's estimate, so that a
//! mistake in one shows up as a mismatch against the other.

use pacer_core::{ImageBilling, Message, Tool};
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

    /// The prompt tokens of a chat of text: each message's content and overhead, plus the
    /// priming.
    #[cfg(test)]
    pub(crate) fn chat(self, messages: &[Message]) -> u64 {
        self.prompt(messages, &[], ImageBilling::OpenAi)
    }

    /// The prompt tokens of a chat: each message's text, images (billed by `billing`) and
    /// tool calls, plus their overhead and the priming, plus the `tools` offered.
    pub(crate) fn prompt(self, messages: &[Message], tools: &[Tool], billing: ImageBilling) -> u64 {
        PER_REPLY
            + messages
                .iter()
                .map(|m| PER_MESSAGE + self.message(m, billing))
                .sum::<u64>()
            + tools.iter().map(|t| self.tool(t)).sum::<u64>()
    }

    /// One message's text, images and tool calls, without overhead: what Gemini counts.
    pub(crate) fn message(self, message: &Message, billing: ImageBilling) -> u64 {
        let images: u64 = message.content.images().map(|i| i.tokens(billing)).sum();
        let calls: u64 = message
            .tool_calls
            .iter()
            .map(|c| self.count(&c.name) + self.count(&c.arguments_text()))
            .sum();
        self.count(&message.text()) + images + calls
    }

    /// A tool's definition: its name, description and parameters' schema as JSON.
    pub(crate) fn tool(self, tool: &Tool) -> u64 {
        self.count(&tool.name)
            + tool.description.as_deref().map_or(0, |d| self.count(d))
            + self.count(&tool.parameters.to_string())
    }
}

#[cfg(test)]
mod tests {
    use pacer_core::{Content, Image, ImageBilling, Message, Part, Role, Tool, ToolCall};

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

    #[test]
    fn images_bill_by_the_provider_and_tools_count_as_json() {
        let mut message = Message::new(
            Role::User,
            Content::Parts(vec![
                Part::Text {
                    text: "Hello world".into(),
                },
                Part::Image {
                    image_url: Image {
                        url: "https://example.com/a.png".into(),
                        detail: Some("low".into()),
                    },
                },
            ]),
        );
        let e = Encoding::Cl100k;
        assert_eq!(
            e.prompt(&[message.clone()], &[], ImageBilling::OpenAi),
            8 + 85
        );
        // An image of unknown size counts as a large one: 1568 × 1568, scaled to fit.
        let anthropic = e.prompt(&[message.clone()], &[], ImageBilling::Anthropic);
        assert_eq!(anthropic, 8 + 1590);
        message.tool_calls = vec![ToolCall::from_text("c", "f", "{}")];
        assert_eq!(e.message(&message, ImageBilling::Gemini), 2 + 1032 + 1 + 1);
        let tool = Tool {
            name: "f".into(),
            description: Some("Hello world".into()),
            parameters: serde_json::json!({}),
        };
        assert_eq!(e.prompt(&[], &[tool], ImageBilling::OpenAi), 3 + 1 + 2 + 1);
    }
}
