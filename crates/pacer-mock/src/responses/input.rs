//! The Responses API's `input` read into Pacer's messages: a string (one user message), or
//! items: messages (`{"role", "content"}`, `type: "message"` optional) whose content is a
//! string or parts (`input_text`, `output_text`, `refusal`, `input_image`; `input_file` and
//! `input_audio` read as nothing), `function_call` items (added to the assistant turn before
//! them, or making one), `function_call_output` items (a `tool` message, which must answer
//! an earlier call) and `reasoning` items (skipped). `instructions` come first, as a system
//! message.

use std::collections::HashSet;

use pacer_core::{Content, Image, Message, Part, Role, ToolCall};
use serde_json::Value;

use crate::respond::{Reply, bad_request};

/// A 400 naming `param`.
fn invalid(message: impl Into<String>, param: &str) -> Box<Reply> {
    Box::new(bad_request(message, Some(param), None))
}

/// The messages of `instructions` and `input`, or the 400 for the first item at fault.
pub(crate) fn messages(
    instructions: Option<&str>,
    input: &Value,
) -> Result<Vec<Message>, Box<Reply>> {
    let mut messages = Vec::new();
    if let Some(instructions) = instructions.filter(|i| !i.is_empty()) {
        messages.push(Message::new(Role::System, instructions));
    }
    let items = match input {
        Value::String(text) => {
            messages.push(Message::new(Role::User, text.as_str()));
            return Ok(messages);
        }
        Value::Array(items) => items,
        _ => {
            return Err(invalid(
                "Invalid type for 'input': expected a string or an array of input items.",
                "input",
            ));
        }
    };
    let mut calls: HashSet<String> = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let at = |field: &str| format!("input[{i}].{field}");
        let kind = item
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("message");
        let field = |name: &str| {
            item.get(name).and_then(Value::as_str).ok_or_else(|| {
                invalid(
                    format!("Missing required parameter: '{}'.", at(name)),
                    &at(name),
                )
            })
        };
        match kind {
            "message" => {
                let role = match field("role")? {
                    "user" => Role::User,
                    "system" | "developer" => Role::System,
                    "assistant" => Role::Assistant,
                    other => {
                        return Err(invalid(
                            format!(
                                "Invalid value: '{other}'. Supported values are: 'assistant', \
                                 'system', 'developer', and 'user'."
                            ),
                            &at("role"),
                        ));
                    }
                };
                let content = content(item.get("content"), &at("content"))?;
                messages.push(Message::new(role, content));
            }
            "function_call" => {
                let call_id = field("call_id")?;
                let name = field("name")?;
                let arguments = item
                    .get("arguments")
                    .and_then(Value::as_str)
                    .unwrap_or("{}");
                calls.insert(call_id.to_owned());
                let call = ToolCall::from_text(call_id, name, arguments);
                match messages.last_mut().filter(|m| m.role == Role::Assistant) {
                    Some(turn) => turn.tool_calls.push(call),
                    None => {
                        let mut turn = Message::new(Role::Assistant, "");
                        turn.tool_calls.push(call);
                        messages.push(turn);
                    }
                }
            }
            "function_call_output" => {
                let call_id = field("call_id")?;
                if !calls.contains(call_id) {
                    return Err(invalid(
                        format!(
                            "No tool call found for function call output with call_id {call_id}."
                        ),
                        "input",
                    ));
                }
                let output = match item.get("output") {
                    Some(Value::String(text)) => Content::Text(text.clone()),
                    Some(parts @ Value::Array(_)) => content(Some(parts), &at("output"))?,
                    Some(other) => Content::Text(other.to_string()),
                    None => {
                        return Err(invalid(
                            format!("Missing required parameter: '{}'.", at("output")),
                            &at("output"),
                        ));
                    }
                };
                let mut result = Message::new(Role::Tool, output);
                result.tool_call_id = Some(call_id.to_owned());
                messages.push(result);
            }
            "reasoning" | "item_reference" => {}
            other => {
                return Err(invalid(
                    format!(
                        "Invalid value: '{other}'. Supported values are: 'message', \
                         'function_call', 'function_call_output', 'reasoning' and \
                         'item_reference'."
                    ),
                    &at("type"),
                ));
            }
        }
    }
    Ok(messages)
}

/// A message's content: a string, or a list of parts; `param` names it in a 400.
fn content(value: Option<&Value>, param: &str) -> Result<Content, Box<Reply>> {
    let parts = match value {
        Some(Value::String(text)) => return Ok(Content::Text(text.clone())),
        Some(Value::Array(parts)) => parts,
        _ => {
            return Err(invalid(
                format!("Invalid type for '{param}': expected a string or an array of parts."),
                param,
            ));
        }
    };
    let mut read = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        let kind = part.get("type").and_then(Value::as_str).unwrap_or_default();
        let text = |field: &str| part.get(field).and_then(Value::as_str).map(str::to_owned);
        match kind {
            "input_text" | "output_text" => {
                let text = text("text").ok_or_else(|| {
                    invalid(
                        format!("Missing required parameter: '{param}[{j}].text'."),
                        param,
                    )
                })?;
                read.push(Part::Text { text });
            }
            "refusal" => read.push(Part::Text {
                text: text("refusal").unwrap_or_default(),
            }),
            "input_image" => {
                // An uploaded file's image is counted as one of unknown size.
                let url = text("image_url")
                    .or_else(|| text("file_id").map(|id| format!("openai-file:{id}")))
                    .ok_or_else(|| {
                        invalid(
                            format!("Missing required parameter: '{param}[{j}].image_url'."),
                            param,
                        )
                    })?;
                read.push(Part::Image {
                    image_url: Image {
                        url,
                        detail: text("detail"),
                    },
                });
            }
            "input_file" | "input_audio" => {}
            other => {
                return Err(invalid(
                    format!(
                        "Invalid value: '{other}'. Supported values are: 'input_text', \
                         'input_image', 'output_text', 'refusal', 'input_file', and \
                         'input_audio'."
                    ),
                    &format!("{param}[{j}].type"),
                ));
            }
        }
    }
    Ok(Content::Parts(read))
}

#[cfg(test)]
mod tests {
    use pacer_core::{Message, Role};
    use serde_json::{Value, json};

    use super::messages;
    use crate::respond::into_parts;

    fn read(instructions: Option<&str>, input: Value) -> Result<Vec<Message>, String> {
        messages(instructions, &input).map_err(|reply| {
            let (_, body) = into_parts(*reply);
            let body: Value = serde_json::from_slice(&body).unwrap();
            body["error"]["message"].as_str().unwrap().to_owned()
        })
    }

    #[test]
    fn a_string_is_one_user_message_after_the_instructions() {
        let read = read(Some("Be brief."), json!("Hi")).unwrap();
        assert_eq!(
            read,
            [
                Message::new(Role::System, "Be brief."),
                Message::new(Role::User, "Hi")
            ]
        );
    }

    #[test]
    fn items_read_as_a_conversation_with_calls_and_results() {
        let read = read(
            None,
            json!([
                {"role": "user", "content": [
                    {"type": "input_text", "text": "Weather?"},
                    {"type": "input_image", "image_url": "https://x/y.png", "detail": "low"},
                ]},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Let me look."}]},
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "18 degrees"},
            ]),
        )
        .unwrap();
        assert_eq!(read.len(), 3);
        assert_eq!(read[0].text(), "Weather?");
        assert_eq!(read[0].content.images().count(), 1);
        assert_eq!(read[1].text(), "Let me look.");
        assert_eq!(read[1].tool_calls[0].arguments["city"], "Paris");
        assert_eq!(read[2].role, Role::Tool);
        assert_eq!(read[2].tool_call_id.as_deref(), Some("call_1"));
        assert_eq!(read[2].text(), "18 degrees");
    }

    #[test]
    fn bad_items_are_refused() {
        let err = read(
            None,
            json!([{"type": "function_call_output", "call_id": "c", "output": "x"}]),
        );
        assert!(err.unwrap_err().contains("No tool call found"));
        let err = read(None, json!([{"role": "robot", "content": "x"}]));
        assert!(err.unwrap_err().starts_with("Invalid value: 'robot'"));
        let err = read(
            None,
            json!([{"role": "user", "content": [{"type": "video"}]}]),
        );
        assert!(err.unwrap_err().starts_with("Invalid value: 'video'"));
        let err = read(None, json!([{"type": "web_search_call"}]));
        assert!(
            err.unwrap_err()
                .starts_with("Invalid value: 'web_search_call'")
        );
        assert!(read(None, json!(7)).is_err());
    }
}
