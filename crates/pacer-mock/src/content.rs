//! Message content as OpenAI's chat API takes it: a string, or a list of typed parts
//! (`text`, `image_url`, and `refusal` in an assistant's turn; `input_audio` and `file` are
//! taken and read as nothing), read into Pacer's [`Content`]. A part of another type is
//! refused, as OpenAI refuses it. Also Anthropic's `system`, a string or text blocks.

use pacer_core::{Content, Image, Part};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// The part types OpenAI's chat API takes, as its refusal lists them.
const PART_TYPES: &str = "'text', 'image_url', 'input_audio', 'refusal', 'audio', and 'file'";

/// The content of a string, a list of parts or null (no content), or what is wrong with it.
pub(crate) fn openai_content(value: Value) -> Result<Content, String> {
    match value {
        Value::Null => Ok(Content::default()),
        Value::String(text) => Ok(Content::Text(text)),
        Value::Array(parts) => {
            let mut read = Vec::with_capacity(parts.len());
            for part in parts {
                read.extend(openai_part(part)?);
            }
            Ok(Content::Parts(read))
        }
        other => Err(format!(
            "Invalid type for 'content': expected a string or an array of objects, but got {}.",
            kind(&other)
        )),
    }
}

/// One part: `None` for a part the mock reads as nothing (audio, files).
fn openai_part(part: Value) -> Result<Option<Part>, String> {
    let kind = part.get("type").and_then(Value::as_str).unwrap_or_default();
    let text = |field: &str| {
        part.get(field)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("Missing required parameter: 'content[].{field}'."))
    };
    match kind {
        "text" => Ok(Some(Part::Text {
            text: text("text")?,
        })),
        "refusal" => Ok(Some(Part::Text {
            text: text("refusal")?,
        })),
        "image_url" => {
            let image = match part.get("image_url") {
                // Some clients send the URL alone.
                Some(Value::String(url)) => Image {
                    url: url.clone(),
                    detail: None,
                },
                Some(Value::Object(image)) => Image {
                    url: image
                        .get("url")
                        .and_then(Value::as_str)
                        .ok_or("Missing required parameter: 'content[].image_url.url'.")?
                        .to_owned(),
                    detail: image
                        .get("detail")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                },
                _ => return Err("Missing required parameter: 'content[].image_url'.".into()),
            };
            Ok(Some(Part::Image { image_url: image }))
        }
        "input_audio" | "audio" | "file" => Ok(None),
        "" => Err("Missing required parameter: 'content[].type'.".into()),
        other => Err(format!(
            "Invalid value: '{other}'. Supported values are: {PART_TYPES}."
        )),
    }
}

/// The JSON type of `value`, as OpenAI names it in its errors.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads an OpenAI message's `content` (see [`openai_content`]); absent reads as empty.
pub(crate) fn openai<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Content, D::Error> {
    openai_content(Value::deserialize(deserializer)?).map_err(D::Error::custom)
}

/// The text of a string or of a list of text blocks; `None` for any other JSON.
fn text_of(value: Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text),
        Value::Array(parts) => Some(
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect(),
        ),
        _ => None,
    }
}

/// Reads an optional text (Anthropic's `system`): null, or a JSON that holds no text, reads
/// as none.
pub(crate) fn optional_text<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Ok(text_of(Value::deserialize(deserializer)?))
}

#[cfg(test)]
mod tests {
    use pacer_core::{Content, Image, Part};
    use serde::Deserialize;
    use serde_json::json;

    use super::openai_content;

    #[derive(Deserialize)]
    struct Turn {
        #[serde(default, deserialize_with = "super::optional_text")]
        system: Option<String>,
    }

    #[test]
    fn strings_parts_and_null_are_content() {
        let parts = json!([
            {"type": "text", "text": "Be "},
            {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}},
            {"type": "input_audio", "input_audio": {"data": "", "format": "wav"}},
            {"type": "image_url", "image_url": "data:image/png;base64,AAAA"},
            {"type": "refusal", "refusal": "brief."},
        ]);
        let content = openai_content(parts).unwrap();
        assert_eq!(content.text(), "Be \n\nbrief.");
        let images: Vec<&Image> = content.images().collect();
        assert_eq!(images.len(), 2);
        assert_eq!(images[0].detail.as_deref(), Some("low"));
        assert_eq!(images[1].url, "data:image/png;base64,AAAA");
        assert_eq!(openai_content(json!("Hi")).unwrap(), Content::from("Hi"));
        assert_eq!(openai_content(json!(null)).unwrap(), Content::default());
        assert_eq!(
            openai_content(json!([{"type": "text", "text": "a"}])).unwrap(),
            Content::Parts(vec![Part::Text { text: "a".into() }])
        );
    }

    #[test]
    fn unknown_parts_and_types_are_refused() {
        let err = openai_content(json!([{"type": "video", "video": {}}])).unwrap_err();
        assert!(err.starts_with("Invalid value: 'video'"), "{err}");
        let err = openai_content(json!([{"text": "no type"}])).unwrap_err();
        assert!(err.contains("content[].type"), "{err}");
        let err = openai_content(json!([{"type": "text"}])).unwrap_err();
        assert!(err.contains("content[].text"), "{err}");
        let err = openai_content(json!(7)).unwrap_err();
        assert!(err.contains("but got a number"), "{err}");
    }

    #[test]
    fn anthropic_system_is_text_or_none() {
        let turn: Turn =
            serde_json::from_value(json!({"system": [{"type": "text", "text": "Sys"}]})).unwrap();
        assert_eq!(turn.system.as_deref(), Some("Sys"));
        let turn: Turn = serde_json::from_value(json!({"system": 7})).unwrap();
        assert_eq!(turn.system, None);
    }
}
