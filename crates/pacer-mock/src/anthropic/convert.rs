//! Pacer's request for a Messages request: the system prompt first, then the turns, so
//! that the same conversation gets the same reply as on OpenAI's chat endpoint.
//!
//! A turn's text and image blocks make its content (a `base64` image as a `data:` URL, a
//! `url` one by its URL, a `file` one as one of unknown size); an assistant turn's
//! `tool_use` blocks its tool calls; each `tool_result` block of a user turn a tool message
//! before the rest of the turn, which must answer a `tool_use` of the turn before, as
//! Anthropic requires. Client tools are the tools; `tool_choice` `auto`, `any`, `tool` and
//! `none` are Pacer's choices of those names.

use std::collections::HashSet;

use pacer_core::ToolChoice;
use pacer_core::{Content, Image, Message, Params, Part, Request, Role, Tool, ToolCall};

use super::request::{Block, ImageSource, MessagesRequest, ToolDefinition, WireToolChoice};

/// The text and images of `blocks`, as Pacer's content.
fn content(blocks: &[Block]) -> Content {
    let parts = blocks.iter().filter_map(|block| match block {
        Block::Text { text } => Some(Part::Text { text: text.clone() }),
        Block::Image { source } => {
            let url = match source {
                ImageSource::Base64 { media_type, data } => {
                    format!("data:{media_type};base64,{data}")
                }
                ImageSource::Url { url } => url.clone(),
                ImageSource::File { file_id } => format!("anthropic-file:{file_id}"),
            };
            Some(Part::Image {
                image_url: Image { url, detail: None },
            })
        }
        Block::ToolUse { .. }
        | Block::ToolResult { .. }
        | Block::Document(_)
        | Block::Thinking(_)
        | Block::RedactedThinking(_) => None,
    });
    Content::Parts(parts.collect())
}

/// The client tools of `tools`.
fn tools(tools: Option<Vec<ToolDefinition>>) -> Vec<Tool> {
    tools
        .into_iter()
        .flatten()
        .filter(|t| t.kind.as_deref().is_none_or(|k| k == "custom"))
        .map(|t| Tool {
            name: t.name,
            description: t.description,
            parameters: t
                .input_schema
                .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}})),
        })
        .collect()
}

/// The choice `choice` makes, or what is wrong with it.
fn tool_choice(
    choice: Option<WireToolChoice>,
    tools: &[Tool],
) -> Result<Option<ToolChoice>, String> {
    let Some(choice) = choice else {
        return Ok(None);
    };
    if tools.is_empty() && choice.kind != "none" {
        return Err("tool_choice may only be specified while providing tools.".into());
    }
    Ok(Some(match (choice.kind.as_str(), choice.name) {
        ("auto", _) => ToolChoice::Auto,
        ("any", _) => ToolChoice::Required,
        ("none", _) => ToolChoice::None,
        ("tool", Some(name)) => ToolChoice::Tool(name),
        ("tool", None) => return Err("tool_choice.tool.name: Field required".into()),
        (other, _) => {
            return Err(format!(
                "tool_choice: Input tag '{other}' found using 'type' does not match any of the \
                 expected tags: 'auto', 'any', 'tool', 'none'"
            ));
        }
    }))
}

/// Pacer's request for `wire`, or what is wrong with it, in Anthropic's words.
pub(super) fn request(wire: MessagesRequest) -> Result<Request, String> {
    let tools = tools(wire.tools);
    let tool_choice = tool_choice(wire.tool_choice, &tools)?;
    let mut messages = Vec::with_capacity(wire.messages.len() + 1);
    if let Some(system) = wire.system.filter(|s| !s.is_empty()) {
        messages.push(Message::new(Role::System, system));
    }
    // The calls of the turn before, which this turn's results must answer.
    let mut calls: HashSet<String> = HashSet::new();
    for (i, m) in wire.messages.into_iter().enumerate() {
        if m.role == "assistant" {
            let mut message = Message::new(Role::Assistant, content(&m.content));
            for block in m.content {
                if let Block::ToolUse { id, name, input } = block {
                    message.tool_calls.push(ToolCall {
                        id,
                        name,
                        arguments: input,
                    });
                }
            }
            calls = message.tool_calls.iter().map(|c| c.id.clone()).collect();
            messages.push(message);
            continue;
        }
        let mut rest = Vec::new();
        for (j, block) in m.content.into_iter().enumerate() {
            match block {
                Block::ToolResult {
                    tool_use_id,
                    content: result,
                } => {
                    if !calls.contains(&tool_use_id) {
                        return Err(format!(
                            "messages.{i}.content.{j}: unexpected `tool_use_id` found in \
                             `tool_result` blocks: {tool_use_id}. Each `tool_result` block must \
                             have a corresponding `tool_use` block in the previous message."
                        ));
                    }
                    let mut message = Message::new(Role::Tool, content(&result));
                    message.tool_call_id = Some(tool_use_id);
                    messages.push(message);
                }
                other => rest.push(other),
            }
        }
        calls.clear();
        if !rest.is_empty() {
            messages.push(Message::new(Role::User, content(&rest)));
        }
    }
    Ok(Request {
        model: wire.model,
        messages,
        params: Params {
            temperature: wire.temperature,
            top_p: wire.top_p,
            top_k: wire.top_k,
            max_tokens: Some(wire.max_tokens),
            stop: wire.stop_sequences.unwrap_or_default(),
            tools,
            tool_choice,
            ..Params::default()
        },
        inputs: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use pacer_core::{Role, ToolChoice};
    use serde_json::json;

    use super::request;

    fn read(body: serde_json::Value) -> Result<pacer_core::Request, String> {
        request(serde_json::from_value(body).unwrap())
    }

    #[test]
    fn a_tool_conversation_reads_as_pacers() {
        let request = read(json!({
            "model": "c", "max_tokens": 5,
            "tools": [{"name": "f", "input_schema": {"type": "object"}},
                      {"type": "web_search_20250305", "name": "web_search"}],
            "tool_choice": {"type": "tool", "name": "f"},
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "Look"},
                    {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
                ]},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "done"}]},
                    {"type": "text", "text": "Thanks"},
                ]},
            ],
        }))
        .unwrap();
        let m = &request.messages;
        assert_eq!(m.len(), 4);
        assert_eq!(m[0].content.images().count(), 1);
        assert_eq!(m[1].tool_calls[0].arguments, json!({"a": 1}));
        assert_eq!((m[2].role, m[2].text().as_ref()), (Role::Tool, "done"));
        assert_eq!(m[2].tool_call_id.as_deref(), Some("toolu_1"));
        assert_eq!((m[3].role, m[3].text().as_ref()), (Role::User, "Thanks"));
        assert_eq!(request.params.tools.len(), 1);
        assert_eq!(
            request.params.tool_choice,
            Some(ToolChoice::Tool("f".into()))
        );
    }

    #[test]
    fn results_must_answer_the_turn_before_and_choices_need_tools() {
        let err = read(json!({"model": "c", "max_tokens": 5, "messages": [
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_9"}]},
        ]}))
        .unwrap_err();
        assert!(
            err.starts_with("messages.0.content.0: unexpected `tool_use_id`"),
            "{err}"
        );
        let err = read(
            json!({"model": "c", "max_tokens": 5, "tool_choice": {"type": "any"},
            "messages": [{"role": "user", "content": "x"}]}),
        )
        .unwrap_err();
        assert!(err.contains("while providing tools"), "{err}");
    }
}
