//! Chat messages and the request that carries them to a provider.

use serde::{Deserialize, Serialize};

use crate::Params;

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
}

impl Role {
    /// The role's name as the OpenAI-style APIs spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One turn of a conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// What is said.
    pub content: String,
}

impl Message {
    /// A message from `role` saying `content`.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }
}

/// One request to one model: the conversation and the sampling parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// The model's name as the provider knows it.
    pub model: String,
    /// The conversation, system message first if there is one.
    pub messages: Vec<Message>,
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
            params: Params::default(),
        }
    }

    /// The number of completions this one request asks for.
    pub fn n(&self) -> u32 {
        self.params.n.max(1)
    }
}
