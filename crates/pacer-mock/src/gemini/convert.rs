//! Pacer's request for a `generateContent` request: the system instruction first, then the
//! turns (`model` as the assistant), so that the same conversation gets the same reply as on
//! OpenAI's chat endpoint.
//!
//! A turn's text parts and images (`inlineData` of an `image/*` type, as a `data:` URL;
//! `fileData` by its URI) make its content, thoughts left out; a `model` turn's
//! `functionCall` parts its tool calls (their id the call's `id`, else its name); each
//! `functionResponse` part a tool message before the rest of its turn, its text the
//! response's one string field, else the response as JSON. `functionDeclarations` are the
//! tools; `toolConfig.functionCallingConfig.mode` `NONE` is no call, `ANY` a call (of the
//! first of `allowedFunctionNames` when it names some), `AUTO` and `VALIDATED` the mock's
//! choice.

use pacer_core::{Content, Image, Message, Params, Part as CorePart, Request, Role, Tool};
use pacer_core::{ToolCall, ToolChoice};
use serde_json::Value;

use super::request::{Content as Turn, FunctionResponse, GeminiTool, GenerateContentRequest};
use super::request::{Part, ToolConfig};

/// The text and images of `parts`, as Pacer's content.
fn content(parts: &[Part]) -> Content {
    let read = parts.iter().filter_map(|part| {
        if part.thought == Some(true) {
            return None;
        }
        if let Some(text) = &part.text {
            return Some(CorePart::Text { text: text.clone() });
        }
        let url = match (&part.inline_data, &part.file_data) {
            (Some(inline), _) if inline.mime_type.starts_with("image/") => {
                format!("data:{};base64,{}", inline.mime_type, inline.data)
            }
            (_, Some(file))
                if file
                    .mime_type
                    .as_deref()
                    .is_none_or(|m| m.starts_with("image/")) =>
            {
                file.file_uri.clone()
            }
            _ => return None,
        };
        Some(CorePart::Image {
            image_url: Image { url, detail: None },
        })
    });
    Content::Parts(read.collect())
}

/// The text of a function's response: its one string field, else the whole as JSON.
fn response_text(response: &FunctionResponse) -> String {
    match &response.response {
        Some(Value::Object(fields)) if fields.len() == 1 => match fields.values().next() {
            Some(Value::String(text)) => text.clone(),
            _ => Value::Object(fields.clone()).to_string(),
        },
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// The messages of one turn: a `model` turn is one assistant message with its calls; a
/// user turn its function responses as tool messages, then its other parts, if any.
fn turn(turn: Turn, messages: &mut Vec<Message>) {
    if turn.role.as_deref() == Some("model") {
        let mut message = Message::new(Role::Assistant, content(&turn.parts));
        message.tool_calls = turn
            .parts
            .iter()
            .filter_map(|p| p.function_call.as_ref())
            .map(|call| ToolCall {
                id: call.id.clone().unwrap_or_else(|| call.name.clone()),
                name: call.name.clone(),
                arguments: call
                    .args
                    .clone()
                    .unwrap_or(Value::Object(Default::default())),
            })
            .collect();
        messages.push(message);
        return;
    }
    let mut rest = Vec::new();
    for part in turn.parts {
        match &part.function_response {
            Some(response) => {
                let mut result = Message::new(Role::Tool, response_text(response));
                result.tool_call_id = Some(response.id.clone().unwrap_or(response.name.clone()));
                messages.push(result);
            }
            None => rest.push(part),
        }
    }
    if !rest.is_empty() {
        messages.push(Message::new(Role::User, content(&rest)));
    }
}

/// The functions `tools` declare.
fn tools(tools: Option<Vec<GeminiTool>>) -> Vec<Tool> {
    let declared = tools
        .into_iter()
        .flatten()
        .flat_map(|tool| tool.function_declarations.into_iter().flatten());
    declared
        .map(|f| Tool {
            name: f.name,
            description: f.description,
            parameters: f
                .parameters_json_schema
                .or(f.parameters)
                .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}})),
        })
        .collect()
}

/// The choice `config` makes.
fn tool_choice(config: Option<ToolConfig>) -> Option<ToolChoice> {
    let config = config?.function_calling_config?;
    let mode = config.mode.unwrap_or_default().to_ascii_uppercase();
    Some(match mode.as_str() {
        "NONE" => ToolChoice::None,
        "ANY" => match config
            .allowed_function_names
            .and_then(|n| n.into_iter().next())
        {
            Some(name) => ToolChoice::Tool(name),
            None => ToolChoice::Required,
        },
        _ => ToolChoice::Auto,
    })
}

/// Pacer's request for `wire`, sent to `model`.
pub(super) fn request(model: &str, wire: GenerateContentRequest) -> Request {
    let mut messages = Vec::with_capacity(wire.contents.len() + 1);
    if let Some(system) = wire.system_instruction {
        let system = content(&system.parts);
        if !system.text().is_empty() {
            messages.push(Message::new(Role::System, system.text().into_owned()));
        }
    }
    for c in wire.contents {
        turn(c, &mut messages);
    }
    let config = wire.generation_config.unwrap_or_default();
    let logprobs = config.response_logprobs == Some(true);
    Request {
        model: model.to_owned(),
        messages,
        params: Params {
            temperature: config.temperature,
            top_p: config.top_p,
            top_k: config.top_k,
            max_tokens: config.max_output_tokens,
            seed: config.seed,
            stop: config.stop_sequences.unwrap_or_default(),
            n: config.candidate_count.unwrap_or(1),
            logprobs,
            // The reply always computes at least one alternative; the wire reply keeps `k`.
            top_logprobs: Some(config.logprobs.unwrap_or(0).max(1)),
            tools: tools(wire.tools),
            tool_choice: tool_choice(wire.tool_config),
            ..Params::default()
        },
        inputs: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use pacer_core::{Role, ToolChoice};
    use serde_json::json;

    use super::request;

    #[test]
    fn images_calls_and_responses_read_as_pacers() {
        let wire = serde_json::from_value(json!({
            "contents": [
                {"role": "user", "parts": [
                    {"text": "What is this?"},
                    {"inlineData": {"mimeType": "image/png", "data": "AAAA"}},
                    {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://x/y.jpg"}},
                    {"inlineData": {"mimeType": "application/pdf", "data": "AAAA"}},
                ]},
                {"role": "model", "parts": [
                    {"text": "thinking", "thought": true},
                    {"functionCall": {"name": "look", "args": {"at": "it"}}},
                ]},
                {"role": "user", "parts": [
                    {"functionResponse": {"name": "look", "response": {"result": "a cat"}}},
                ]},
            ],
            "tools": [{"functionDeclarations": [{"name": "look", "parameters": {"type": "OBJECT"}}]},
                      {"googleSearch": {}}],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["look"]}},
        }))
        .unwrap();
        let request = request("g", wire);
        let m = &request.messages;
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].text(), "What is this?");
        let urls: Vec<&str> = m[0].content.images().map(|i| i.url.as_str()).collect();
        assert_eq!(urls, ["data:image/png;base64,AAAA", "https://x/y.jpg"]);
        assert_eq!((m[1].role, m[1].text().as_ref()), (Role::Assistant, ""));
        assert_eq!(m[1].tool_calls[0].id, "look");
        assert_eq!(m[1].tool_calls[0].arguments, json!({"at": "it"}));
        assert_eq!((m[2].role, m[2].text().as_ref()), (Role::Tool, "a cat"));
        assert_eq!(m[2].tool_call_id.as_deref(), Some("look"));
        assert_eq!(request.params.tools.len(), 1);
        assert_eq!(
            request.params.tool_choice,
            Some(ToolChoice::Tool("look".into()))
        );
    }
}
