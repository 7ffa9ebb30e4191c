//! Tools (functions) a model may call, and the calls it makes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A function the model may call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    /// Its name.
    pub name: String,
    /// What it does, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON Schema of its arguments (an object schema).
    #[serde(default = "empty_object")]
    pub parameters: Value,
}

fn empty_object() -> Value {
    serde_json::json!({"type": "object", "properties": {}})
}

/// Whether and which tool the model must call. (Serialized in its own form, for a job on
/// a queue; the providers write each API's.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToolChoice {
    /// The model decides (the providers' default).
    Auto,
    /// No tool call.
    None,
    /// Some tool call (OpenAI's `required`, Anthropic's `any`, Gemini's `ANY`).
    Required,
    /// This tool.
    Tool(String),
}

/// A tool call in a reply, or in an assistant turn of a conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's id of the call, which a tool result names (made up where the provider
    /// gives none, as Gemini).
    pub id: String,
    /// The tool called.
    pub name: String,
    /// The arguments, as JSON (a string where the model wrote something that is not JSON).
    pub arguments: Value,
}

impl ToolCall {
    /// The arguments as the OpenAI-style APIs carry them: JSON text.
    pub fn arguments_text(&self) -> String {
        match &self.arguments {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        }
    }

    /// A call whose arguments arrived as JSON text (OpenAI): parsed where they are JSON.
    pub fn from_text(id: impl Into<String>, name: impl Into<String>, arguments: &str) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            arguments: serde_json::from_str(arguments)
                .unwrap_or_else(|_| Value::String(arguments.to_owned())),
        }
    }
}
