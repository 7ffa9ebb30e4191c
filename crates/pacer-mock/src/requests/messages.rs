//! A chat request's `messages` read into Pacer's messages, checked as OpenAI checks them:
//! a known role; an assistant turn's `tool_calls` as calls (their arguments JSON text); a
//! `tool` message naming, by `tool_call_id`, a call of an earlier assistant turn.

use std::collections::HashSet;

use pacer_core::{Content, Message, Role, ToolCall};
use serde::Deserialize;

use crate::content;
use crate::respond::{Reply, bad_request};

/// One chat message as OpenAI takes it.
#[derive(Debug, Deserialize)]
pub(crate) struct ChatMessage {
    pub(crate) role: String,
    /// A string, parts, or null (an assistant turn that only calls tools).
    #[serde(default, deserialize_with = "content::openai")]
    pub(crate) content: Content,
    /// The calls of an assistant turn.
    #[serde(default)]
    pub(crate) tool_calls: Option<Vec<WireCall>>,
    /// The call a `tool` message answers.
    #[serde(default)]
    pub(crate) tool_call_id: Option<String>,
}

/// One call in an assistant turn: `{"id", "type": "function", "function": {"name",
/// "arguments"}}`, the arguments JSON text.
#[derive(Debug, Deserialize)]
pub(crate) struct WireCall {
    pub(crate) id: String,
    pub(crate) function: WireFunction,
}

/// The function a call names.
#[derive(Debug, Deserialize)]
pub(crate) struct WireFunction {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) arguments: String,
}

/// The role a chat message names; `None` for one OpenAI does not know.
fn role(name: &str) -> Option<Role> {
    Some(match name {
        "system" | "developer" => Role::System,
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "tool" | "function" => Role::Tool,
        _ => return None,
    })
}

/// Pacer's messages for `wire`, or the 400 for the first message at fault.
pub(crate) fn messages(wire: Vec<ChatMessage>) -> Result<Vec<Message>, Box<Reply>> {
    let mut calls_seen: HashSet<String> = HashSet::new();
    let mut messages = Vec::with_capacity(wire.len());
    for (i, m) in wire.into_iter().enumerate() {
        let Some(role) = role(&m.role) else {
            return Err(Box::new(bad_request(
                format!(
                    "Invalid value: '{}'. Supported values are: 'system', 'assistant', 'user', \
                     'function', 'tool', and 'developer'.",
                    m.role
                ),
                Some(&format!("messages[{i}].role")),
                Some("invalid_value"),
            )));
        };
        let mut message = Message::new(role, m.content);
        if role == Role::Tool {
            let Some(id) = m.tool_call_id else {
                return Err(Box::new(bad_request(
                    "Missing parameter 'tool_call_id': messages with role 'tool' must have a \
                     'tool_call_id'.",
                    Some(&format!("messages.[{i}].tool_call_id")),
                    None,
                )));
            };
            if !calls_seen.contains(&id) {
                return Err(Box::new(bad_request(
                    "Invalid parameter: messages with role 'tool' must be a response to a \
                     preceeding message with 'tool_calls'.",
                    Some(&format!("messages.[{i}].role")),
                    None,
                )));
            }
            message.tool_call_id = Some(id);
        }
        if role == Role::Assistant {
            for call in m.tool_calls.into_iter().flatten() {
                calls_seen.insert(call.id.clone());
                let WireFunction { name, arguments } = call.function;
                message
                    .tool_calls
                    .push(ToolCall::from_text(call.id, name, &arguments));
            }
        }
        messages.push(message);
    }
    Ok(messages)
}

#[cfg(test)]
mod tests {
    use pacer_core::{Role, ToolCall};
    use serde_json::{Value, json};

    use super::{ChatMessage, messages};
    use crate::respond::into_parts;

    fn read(value: Value) -> Result<Vec<pacer_core::Message>, Value> {
        let wire: Vec<ChatMessage> = serde_json::from_value(value).unwrap();
        messages(wire).map_err(|reply| {
            let (_, body) = into_parts(*reply);
            serde_json::from_slice(&body).unwrap()
        })
    }

    #[test]
    fn a_tool_conversation_reads_its_calls_and_results() {
        let read = read(json!([
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18 degrees"},
        ]))
        .unwrap();
        assert_eq!(read[1].role, Role::Assistant);
        assert_eq!(
            read[1].tool_calls,
            [ToolCall::from_text(
                "call_1",
                "get_weather",
                r#"{"city":"Paris"}"#
            )]
        );
        assert_eq!(read[1].tool_calls[0].arguments["city"], "Paris");
        assert_eq!(
            (read[2].role, read[2].tool_call_id.as_deref()),
            (Role::Tool, Some("call_1"))
        );
        assert_eq!(read[2].text(), "18 degrees");
    }

    #[test]
    fn tool_messages_must_answer_an_earlier_call() {
        let err = read(json!([{"role": "tool", "content": "x"}])).unwrap_err();
        assert_eq!(err["error"]["param"], "messages.[0].tool_call_id");
        let err = read(json!([{"role": "tool", "tool_call_id": "c", "content": "x"}])).unwrap_err();
        assert_eq!(err["error"]["param"], "messages.[0].role");
        let err = read(json!([{"role": "robot", "content": "x"}])).unwrap_err();
        assert_eq!(err["error"]["code"], "invalid_value");
    }
}
