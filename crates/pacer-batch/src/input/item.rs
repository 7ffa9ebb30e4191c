//! Turning one input item, a JSON object (a CSV row arrives as one), into a [`Prompt`]: the
//! id, the conversation (or the texts to embed), the prompt's tools and the metadata.

use pacer_core::{Message, Params, Role};
use serde_json::{Map, Value};

use pacer_core::parse::{self, ShapeError};

use super::batch;
use super::error::Problem;
use super::prompt::{Endpoint, Origin, Prompt};

/// The fields that may hold an item's id, first present wins.
const ID_FIELDS: [&str; 3] = ["prompt_id", "id", "custom_id"];

/// What makes one item unusable, before the reader places it in the file.
#[derive(Debug)]
pub(crate) struct ItemError {
    pub(crate) field: Option<String>,
    pub(crate) problem: Problem,
}

impl From<ShapeError> for ItemError {
    fn from(error: ShapeError) -> Self {
        Self {
            field: error.field,
            problem: Problem::Expected {
                expected: error.expected,
                found: error.found,
            },
        }
    }
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

/// An item of Pacer's own shape: an id, `prompt`, `messages` or `input`, maybe `system`,
/// `tools` and `tool_choice`, metadata. An item that is a request body as it is (a `model`
/// beside `messages` or `input`: the OpenAI cookbook's request files) is read as one.
fn plain(mut fields: Map<String, Value>, origin: Origin) -> Result<Prompt, ItemError> {
    if batch::is_request_body(&fields) {
        return batch::request_body(fields, origin);
    }
    let id = take_id(&mut fields, origin)?;
    let system = take(&mut fields, "system");
    let mut asked = asked(&mut fields, None)?;
    if let Some(system) = system {
        let text = string("system", system)?;
        if !text.is_empty() {
            asked.messages.insert(0, Message::new(Role::System, text));
        }
    }
    let params = tool_params(&mut fields, None)?;
    Ok(Prompt {
        id,
        messages: asked.messages,
        inputs: asked.inputs,
        endpoint: asked.endpoint,
        params: (params != Params::default()).then_some(params),
        metadata: metadata(fields),
        origin,
    })
}

/// What an item asks for: a conversation, or texts to embed.
pub(crate) struct Asked {
    /// The conversation; empty for a list of texts to embed.
    pub(crate) messages: Vec<Message>,
    /// The texts of an `input` list.
    pub(crate) inputs: Vec<String>,
    /// Which models the item is for, as far as its shape says.
    pub(crate) endpoint: Endpoint,
}

/// Takes the one of `prompt`, `messages` and `input` that `fields` (the item, or its
/// `parent` field) holds. `input` is a text (a prompt, or one text to embed), a list of texts
/// (to embed) or a list of messages (the Responses API's input items).
pub(crate) fn asked(
    fields: &mut Map<String, Value>,
    parent: Option<&str>,
) -> Result<Asked, ItemError> {
    let child = |name: &str| match parent {
        Some(parent) => format!("{parent}.{name}"),
        None => name.to_owned(),
    };
    let whole = |problem| ItemError {
        field: parent.map(str::to_owned),
        problem,
    };
    let present: Vec<(&str, Value)> = ["prompt", "messages", "input"]
        .into_iter()
        .filter_map(|key| take(fields, key).map(|value| (key, value)))
        .collect();
    let (key, value) = match <[_; 1]>::try_from(present) {
        Ok([one]) => one,
        Err(present) if present.is_empty() => return Err(whole(Problem::NoPrompt)),
        Err(_) => return Err(whole(Problem::PromptAndMessages)),
    };
    let text = |text: String| Asked {
        messages: vec![Message::new(Role::User, text)],
        inputs: Vec::new(),
        endpoint: Endpoint::Any,
    };
    match (key, value) {
        ("prompt" | "input", Value::String(prompt)) if !prompt.is_empty() => Ok(text(prompt)),
        ("prompt", other) => Err(ItemError::expected(
            child("prompt"),
            "a non-empty string",
            Some(&other),
        )),
        ("input", list) if parse::is_text_list(&list) => Ok(Asked {
            messages: Vec::new(),
            inputs: serde_json::from_value(list).unwrap_or_default(),
            endpoint: Endpoint::Embeddings,
        }),
        ("input", Value::Array(list)) if list.iter().all(Value::is_object) => Ok(Asked {
            messages: parse::messages(&child("input"), Value::Array(list))?,
            inputs: Vec::new(),
            endpoint: Endpoint::Chat,
        }),
        ("input", other) => Err(ItemError::expected(
            child("input"),
            "a non-empty string, a list of strings to embed, or a list of messages",
            Some(&other),
        )),
        (_, messages) => Ok(Asked {
            messages: parse::messages(&child("messages"), messages)?,
            inputs: Vec::new(),
            endpoint: Endpoint::Any,
        }),
    }
}

/// The prompt's own `tools` and `tool_choice`, taken from `fields` (in `parent`).
pub(crate) fn tool_params(
    fields: &mut Map<String, Value>,
    parent: Option<&str>,
) -> Result<Params, ItemError> {
    let child = |name: &str| match parent {
        Some(parent) => format!("{parent}.{name}"),
        None => name.to_owned(),
    };
    let mut params = Params::default();
    if let Some(tools) = take(fields, "tools") {
        params.tools = parse::tools(&tools).map_err(|e| e.under(&child("tools")))?;
    }
    if let Some(choice) = take(fields, "tool_choice") {
        params.tool_choice =
            Some(parse::tool_choice(&choice).map_err(|e| e.under(&child("tool_choice")))?);
    }
    Ok(params)
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

/// The string `field` holds.
pub(crate) fn string(field: &str, value: Value) -> Result<String, ItemError> {
    match value {
        Value::String(text) => Ok(text),
        other => Err(ItemError::expected(field, "a string", Some(&other))),
    }
}

/// How an error names what it found.
fn describe(value: Option<&Value>) -> String {
    value.map_or_else(|| "nothing".to_owned(), parse::found)
}

/// The kind of a JSON value, as an error names it.
pub(crate) fn kind(value: &Value) -> &'static str {
    parse::kind(value)
}
