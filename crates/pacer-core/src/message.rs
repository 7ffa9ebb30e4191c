//! Chat messages and the request that carries them to a provider.

use serde::{Deserialize, Serialize};

use crate::{Content, Params, ToolCall};

/// Who speaks a [`Message`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions that frame the conversation.
    System,
    /// The person (or program) asking.
    User,
    /// The model.
    Assistant,
    /// A tool's result, answering the call named by the message's `tool_call_id`.
    Tool,
}

impl Role {
    /// The role's name as the OpenAI-style APIs spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// One turn of a conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// What is said: text, or text and images.
    pub content: Content,
    /// The tools an assistant turn called.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// The call a [`Role::Tool`] message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    /// A message from `role` saying `content`.
    pub fn new(role: Role, content: impl Into<Content>) -> Self {
        Self {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    /// The text of the message (its text parts joined, where it has parts).
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        self.content.text()
    }
}

/// One request to one model: the conversation and the sampling parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// The model's name as the provider knows it.
    pub model: String,
    /// The conversation, system message first if there is one (empty for an embedding
    /// request).
    pub messages: Vec<Message>,
    /// The texts to embed: set, and `messages` empty, for an embedding request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<String>,
    /// Sampling and output parameters.
    pub params: Params,
}

impl Request {
    /// A request holding a single user message, after an optional system message.
    pub fn text(model: impl Into<String>, system: Option<&str>, prompt: &str) -> Self {
        let mut messages = Vec::with_capacity(2);
        if let Some(system) = system {
            messages.push(Message::new(Role::System, system));
        }
        messages.push(Message::new(Role::User, prompt));
        Self {
            model: model.into(),
            messages,
            inputs: Vec::new(),
            params: Params::default(),
        }
    }

    /// A request for the embeddings of `inputs`, one vector each.
    pub fn embedding(model: impl Into<String>, inputs: Vec<String>) -> Self {
        Self {
            model: model.into(),
            messages: Vec::new(),
            inputs,
            params: Params::default(),
        }
    }

    /// Whether this asks for embeddings rather than a completion.
    pub fn is_embedding(&self) -> bool {
        !self.inputs.is_empty()
    }

    /// Whether any message holds an image.
    pub fn has_images(&self) -> bool {
        self.messages.iter().any(|m| m.content.has_images())
    }

    /// The number of completions this one request asks for.
    pub fn n(&self) -> u32 {
        self.params.n.max(1)
    }
}
