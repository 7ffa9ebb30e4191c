//! Reading the request shapes people send, from JSON: conversations in OpenAI's chat format
//! (text or content parts, assistant tool calls, `tool` results), the Responses API's input
//! items, Anthropic's image blocks, and tool definitions and choices in each API's form.
//! Input files and the gateway read them alike; a [`ShapeError`] names the field, what was
//! expected and what was found.

mod messages;
mod tools;

pub use messages::{content, is_text_list, messages};
pub use tools::{tool_choice, tools};

use serde_json::Value;

/// A JSON value that is not the shape expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShapeError {
    /// The faulty field, as a path (`messages[1].content[0].image_url`); `None` for the
    /// value as a whole.
    pub field: Option<String>,
    /// What it must hold.
    pub expected: &'static str,
    /// What it holds, in words (`a number`, `nothing`).
    pub found: String,
}

impl ShapeError {
    /// `field` (empty for the value itself) holds `found` where it must hold `expected`.
    pub fn expected(
        field: impl Into<String>,
        expected: &'static str,
        found: Option<&Value>,
    ) -> Self {
        let field = field.into();
        Self {
            field: (!field.is_empty()).then_some(field),
            expected,
            found: found.map_or_else(|| "nothing".to_owned(), self::found),
        }
    }

    /// The same error with its field placed under `parent` (`tools` + `[0].name`).
    pub fn under(mut self, parent: &str) -> Self {
        self.field = Some(match self.field {
            Some(field) if field.starts_with('[') => format!("{parent}{field}"),
            Some(field) => format!("{parent}.{field}"),
            None => parent.to_owned(),
        });
        self
    }
}

impl std::fmt::Display for ShapeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        write!(f, "expected {}, found {}", self.expected, self.found)
    }
}

impl std::error::Error for ShapeError {}

/// What an error says it found: a short one-line string as it is (`` `ftp://x/a.png` ``), any
/// other value by its kind (`a number`, `a list`).
pub fn found(value: &Value) -> String {
    match value {
        Value::String(text)
            if !text.is_empty() && text.chars().count() <= 40 && !text.contains(['\n', '`']) =>
        {
            format!("`{text}`")
        }
        other => kind(other).to_owned(),
    }
}

/// The kind of a JSON value, as an error names it.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(text) if text.is_empty() => "an empty string",
        Value::String(_) => "a string",
        Value::Array(list) if list.is_empty() => "an empty list",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
