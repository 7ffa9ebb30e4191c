//! Pacer's conversation as Gemini's `contents`: content parts become text, `inlineData` and
//! `fileData` parts, an assistant's tool calls `functionCall` parts of a `model` turn, and
//! tool results `functionResponse` parts of a `user` turn.

use std::collections::HashMap;

use pacer_core::{Content as CoreContent, ErrorKind, Image, Message, Part as CorePart};
use pacer_core::{ProviderError, Role};
use serde_json::{Map, Value, json};

use super::wire::{Blob, Content, FileData, FunctionCall, FunctionResponse, Part};

/// The turns of `messages`, system messages left out (they go to `systemInstruction`).
///
/// Gemini names a function's result by the function, not by the call, so each tool message's
/// `tool_call_id` is looked up among the calls of the assistant turns before it; one that
/// names no such call is a [`ErrorKind::BadRequest`]. Consecutive tool results share one
/// `user` turn.
pub(crate) fn contents(messages: &[Message]) -> Result<Vec<Content>, ProviderError> {
    let mut called: HashMap<&str, &str> = HashMap::new();
    let mut contents: Vec<Content> = Vec::with_capacity(messages.len());
    let mut after_results = false;
    for message in messages {
        let results = message.role == Role::Tool;
        match message.role {
            Role::System => continue,
            Role::User => contents.push(turn("user", parts(&message.content))),
            Role::Assistant => {
                for call in &message.tool_calls {
                    called.insert(&call.id, &call.name);
                }
                contents.push(turn("model", model_parts(message)));
            }
            Role::Tool => {
                let part = function_response(message, &called)?;
                match contents.last_mut() {
                    Some(last) if after_results => last.parts.push(part),
                    _ => contents.push(turn("user", vec![part])),
                }
            }
        }
        after_results = results;
    }
    Ok(contents)
}

fn turn(role: &str, parts: Vec<Part>) -> Content {
    Content {
        role: Some(role.to_owned()),
        parts,
    }
}

fn text_part(text: &str) -> Part {
    Part {
        text: Some(text.to_owned()),
        ..Part::default()
    }
}

/// A message's content as parts: a string is one text part.
fn parts(content: &CoreContent) -> Vec<Part> {
    match content {
        CoreContent::Text(text) => vec![text_part(text)],
        CoreContent::Parts(parts) => parts
            .iter()
            .map(|part| match part {
                CorePart::Text { text } => text_part(text),
                CorePart::Image { image_url } => image_part(image_url),
            })
            .collect(),
    }
}

/// An inline image as `inlineData`, any other as `fileData` with a media type guessed from
/// the URL's extension.
fn image_part(image: &Image) -> Part {
    match image.data() {
        Some((media_type, data)) => Part {
            inline_data: Some(Blob {
                mime_type: media_type.to_owned(),
                data: data.to_owned(),
            }),
            ..Part::default()
        },
        None => Part {
            file_data: Some(FileData {
                mime_type: media_type_of(&image.url).to_owned(),
                file_uri: image.url.clone(),
            }),
            ..Part::default()
        },
    }
}

/// The image media type a URL's extension names (query and fragment aside); JPEG, the
/// commonest, where it names none Pacer knows.
fn media_type_of(url: &str) -> &'static str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let file = path.rsplit('/').next().unwrap_or(path);
    let extension = file
        .rsplit_once('.')
        .map(|(_, extension)| extension.to_ascii_lowercase());
    match extension.as_deref() {
        Some("png") => "image/png",
        Some("webp") => "image/webp",
        Some("gif") => "image/gif",
        _ => "image/jpeg",
    }
}

/// An assistant turn: its content, then one `functionCall` part per call (an empty text
/// left out when there are calls).
fn model_parts(message: &Message) -> Vec<Part> {
    if message.tool_calls.is_empty() {
        return parts(&message.content);
    }
    let mut parts = match &message.content {
        CoreContent::Text(text) if text.is_empty() => Vec::new(),
        content => parts(content),
    };
    parts.extend(message.tool_calls.iter().map(|call| Part {
        function_call: Some(FunctionCall {
            id: None,
            name: call.name.clone(),
            args: Some(call.arguments.clone()),
        }),
        ..Part::default()
    }));
    parts
}

/// A tool message as a `functionResponse` part: the tool's text as the response where it is
/// a JSON object, else wrapped as `{"result": text}` (Gemini takes only an object).
fn function_response(
    message: &Message,
    called: &HashMap<&str, &str>,
) -> Result<Part, ProviderError> {
    let id = message.tool_call_id.as_deref().ok_or_else(|| {
        ProviderError::new(
            ErrorKind::BadRequest,
            "a tool message has no tool_call_id: Gemini needs the call it answers",
        )
    })?;
    let name = called.get(id).ok_or_else(|| {
        ProviderError::new(
            ErrorKind::BadRequest,
            format!("a tool message answers call {id:?}, which no earlier assistant turn made"),
        )
    })?;
    let text = message.text();
    let response = match serde_json::from_str::<Map<String, Value>>(&text) {
        Ok(object) => Value::Object(object),
        Err(_) => json!({ "result": text }),
    };
    Ok(Part {
        function_response: Some(FunctionResponse {
            name: (*name).to_owned(),
            response,
        }),
        ..Part::default()
    })
}

#[cfg(test)]
mod tests {
    use pacer_core::{ErrorKind, Message, Role, ToolCall};
    use serde_json::json;

    use super::{contents, media_type_of};

    fn tool(id: &str, text: &str) -> Message {
        let mut message = Message::new(Role::Tool, text);
        message.tool_call_id = Some(id.into());
        message
    }

    #[test]
    fn tool_results_are_named_by_the_call_they_answer() {
        let mut call = Message::new(Role::Assistant, "Looking.");
        call.tool_calls = vec![
            ToolCall::from_text("c1", "weather", r#"{"city":"Paris"}"#),
            ToolCall::from_text("c2", "time", "{}"),
        ];
        let messages = [
            Message::new(Role::User, "Weather and time?"),
            call,
            tool("c1", r#"{"sky":"clear"}"#),
            tool("c2", "12:00"),
            Message::new(Role::User, "Thanks"),
        ];
        let contents = serde_json::to_value(contents(&messages).unwrap()).unwrap();
        assert_eq!(
            contents,
            json!([
                {"role": "user", "parts": [{"text": "Weather and time?"}]},
                {"role": "model", "parts": [
                    {"text": "Looking."},
                    {"functionCall": {"name": "weather", "args": {"city": "Paris"}}},
                    {"functionCall": {"name": "time", "args": {}}}
                ]},
                {"role": "user", "parts": [
                    {"functionResponse": {"name": "weather", "response": {"sky": "clear"}}},
                    {"functionResponse": {"name": "time", "response": {"result": "12:00"}}}
                ]},
                {"role": "user", "parts": [{"text": "Thanks"}]}
            ])
        );
    }

    #[test]
    fn a_result_for_no_known_call_is_a_bad_request() {
        let error = contents(&[tool("nope", "1")]).unwrap_err();
        assert_eq!(error.kind, ErrorKind::BadRequest);
        assert!(error.message.contains("\"nope\""), "{error}");
        let error = contents(&[Message::new(Role::Tool, "1")]).unwrap_err();
        assert_eq!(error.kind, ErrorKind::BadRequest);
    }

    #[test]
    fn media_types_come_from_the_extension() {
        assert_eq!(media_type_of("https://x/a.PNG?sig=1"), "image/png");
        assert_eq!(media_type_of("gs://b/c.webp"), "image/webp");
        assert_eq!(media_type_of("https://x/a.gif#f"), "image/gif");
        assert_eq!(media_type_of("https://x/a.jpeg"), "image/jpeg");
        assert_eq!(media_type_of("https://x.png/photo"), "image/jpeg");
    }
}
