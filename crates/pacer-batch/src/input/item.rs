//! Turning one input item, a JSON object (a CSV row arrives as one), into a [`Prompt`]: the
//! id, the conversation and the metadata.

use pacer_core::{Message, Role};
use serde_json::{Map, Value};

use super::batch;
use super::error::Problem;
use super::prompt::{Origin, Prompt};

/// The fields that may hold an item's id, first present wins.
const ID_FIELDS: [&str; 3] = ["prompt_id", "id", "custom_id"];

/// What makes one item unusable, before the reader places it in the file.
#[derive(Debug)]
pub(crate) struct ItemError {
    pub(crate) field: Option<String>,
    pub(crate) problem: Problem,
}

impl ItemError {
    /// A problem with the item as a whole.
    pub(crate) fn whole(problem: Problem) -> Self {
        Self {
            field: None,
            problem,
        }
    }

    /// `field` holds `found` where it must hold `expected`.
    pub(crate) fn expected(
        field: impl Into<String>,
        expected: &'static str,
        found: Option<&Value>,
    ) -> Self {
        Self {
            field: Some(field.into()),
            problem: Problem::Expected {
                expected,
                found: describe(found),
            },
        }
    }
}

/// The prompt `value` describes, found at `origin`.
pub(crate) fn to_prompt(value: Value, origin: Origin) -> Result<Prompt, ItemError> {
    let Value::Object(fields) = value else {
        return Err(ItemError::whole(Problem::NotAnObject {
            found: kind(&value),
        }));
    };
    if batch::is_batch_line(&fields) {
        batch::to_prompt(fields, origin)
    } else {
        plain(fields, origin)
    }
}

/// An item of Pacer's own shape: an id, `prompt` or `messages`, maybe `system`, metadata.
fn plain(mut fields: Map<String, Value>, origin: Origin) -> Result<Prompt, ItemError> {
    let id = take_id(&mut fields, origin)?;
    let system = take(&mut fields, "system");
    let prompt = take(&mut fields, "prompt");
    let messages = take(&mut fields, "messages");
    let mut chat = Vec::new();
    if let Some(system) = system {
        let text = string("system", system)?;
        if !text.is_empty() {
            chat.push(Message::new(Role::System, text));
        }
    }
    chat.extend(conversation(prompt, messages, None)?);
    Ok(Prompt {
        id,
        messages: chat,
        params: None,
        metadata: metadata(fields),
        origin,
    })
}

/// Removes the field `key`, treating `null` as absent.
pub(crate) fn take(fields: &mut Map<String, Value>, key: &str) -> Option<Value> {
    fields.shift_remove(key).filter(|value| !value.is_null())
}

/// Removes and returns the item's id, or makes one from its position when it has none.
pub(crate) fn take_id(
    fields: &mut Map<String, Value>,
    origin: Origin,
) -> Result<String, ItemError> {
    let Some(key) = ID_FIELDS
        .into_iter()
        .find(|key| fields.get(*key).is_some_and(|value| !value.is_null()))
    else {
        return Ok(format!("prompt_{:04}", origin.index));
    };
    match fields.shift_remove(key) {
        Some(Value::String(id)) if !id.is_empty() => Ok(id),
        Some(Value::Number(id)) => Ok(id.to_string()),
        other => Err(ItemError::expected(
            key,
            "a non-empty string or a number",
            other.as_ref(),
        )),
    }
}

/// The metadata left once the known fields are taken: `category` becomes `prompt_category`
/// (unless the item has both), the rest is kept as is, in order.
pub(crate) fn metadata(fields: Map<String, Value>) -> Map<String, Value> {
    let rename = !fields.contains_key("prompt_category");
    fields
        .into_iter()
        .map(|(key, value)| match key.as_str() {
            "category" if rename => ("prompt_category".to_owned(), value),
            _ => (key, value),
        })
        .collect()
}

/// The conversation of an item holding exactly one of `prompt` and `messages`, both fields
/// of `parent` (the item itself when `None`).
pub(crate) fn conversation(
    prompt: Option<Value>,
    messages: Option<Value>,
    parent: Option<&str>,
) -> Result<Vec<Message>, ItemError> {
    let child = |name: &str| match parent {
        Some(parent) => format!("{parent}.{name}"),
        None => name.to_owned(),
    };
    let whole = |problem| ItemError {
        field: parent.map(str::to_owned),
        problem,
    };
    match (prompt, messages) {
        (Some(_), Some(_)) => Err(whole(Problem::PromptAndMessages)),
        (None, None) => Err(whole(Problem::NoPrompt)),
        (Some(prompt), None) => match prompt {
            Value::String(text) if !text.is_empty() => Ok(vec![Message::new(Role::User, text)]),
            other => Err(ItemError::expected(
                child("prompt"),
                "a non-empty string",
                Some(&other),
            )),
        },
        (None, Some(messages)) => chat(&child("messages"), messages),
    }
}

/// A non-empty list of `{role, content}` messages.
fn chat(field: &str, value: Value) -> Result<Vec<Message>, ItemError> {
    const EXPECTED: &str = "a non-empty list of {role, content} messages";
    match value {
        Value::Array(list) if !list.is_empty() => list
            .into_iter()
            .enumerate()
            .map(|(at, message)| chat_message(&format!("{field}[{at}]"), message))
            .collect(),
        other => Err(ItemError::expected(field, EXPECTED, Some(&other))),
    }
}

/// One `{role, content}` message; other keys (`name`, ...) are ignored.
fn chat_message(field: &str, value: Value) -> Result<Message, ItemError> {
    const ROLES: &str = "one of system, user, assistant";
    let Value::Object(mut message) = value else {
        return Err(ItemError::expected(
            field,
            "a {role, content} object",
            Some(&value),
        ));
    };
    let role_field = format!("{field}.role");
    let role = match message.shift_remove("role") {
        Some(Value::String(role)) => match role.as_str() {
            "system" => Role::System,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            _ => {
                return Err(ItemError {
                    field: Some(role_field),
                    problem: Problem::Expected {
                        expected: ROLES,
                        found: format!("`{role}`"),
                    },
                });
            }
        },
        other => return Err(ItemError::expected(role_field, ROLES, other.as_ref())),
    };
    let content = match message.shift_remove("content") {
        Some(Value::String(content)) => content,
        other => {
            return Err(ItemError::expected(
                format!("{field}.content"),
                "a string",
                other.as_ref(),
            ));
        }
    };
    Ok(Message::new(role, content))
}

/// The string `field` holds.
pub(crate) fn string(field: &str, value: Value) -> Result<String, ItemError> {
    match value {
        Value::String(text) => Ok(text),
        other => Err(ItemError::expected(field, "a string", Some(&other))),
    }
}

/// How an error names what it found.
fn describe(value: Option<&Value>) -> String {
    value.map_or("nothing", kind).to_owned()
}

/// The kind of a JSON value, as an error names it.
pub(crate) fn kind(value: &Value) -> &'static str {
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
