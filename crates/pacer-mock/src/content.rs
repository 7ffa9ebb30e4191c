//! Message content as OpenAI's and Anthropic's APIs take it: a string, or a list of typed
//! parts (`{"type": "text", "text": ...}`, images, tool results, ...). The mock answers text,
//! so it reads the list as its text parts joined, and anything else as no text.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// The text of a string or of a list of parts; `None` for any other JSON.
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

/// Reads a message's `content`: null, or a JSON that holds no text, reads as empty.
pub(crate) fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(text_of(Value::deserialize(deserializer)?).unwrap_or_default())
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
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Deserialize)]
    struct Turn {
        #[serde(default, deserialize_with = "super::text")]
        content: String,
        #[serde(default, deserialize_with = "super::optional_text")]
        system: Option<String>,
    }

    fn turn(value: serde_json::Value) -> Turn {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn strings_and_text_parts_are_text_and_the_rest_is_none() {
        let parts = json!([
            {"type": "text", "text": "Be "},
            {"type": "image_url", "image_url": {"url": "x"}},
            {"type": "text", "text": "brief."}
        ]);
        let t = turn(json!({"content": parts, "system": parts}));
        assert_eq!(t.content, "Be brief.");
        assert_eq!(t.system.as_deref(), Some("Be brief."));
        let t = turn(json!({"content": "Hi", "system": "Sys"}));
        assert_eq!(
            (t.content.as_str(), t.system.as_deref()),
            ("Hi", Some("Sys"))
        );
        let t = turn(json!({"content": null, "system": 7}));
        assert_eq!((t.content.as_str(), t.system), ("", None));
        let t = turn(json!({}));
        assert_eq!((t.content.as_str(), t.system), ("", None));
    }
}
