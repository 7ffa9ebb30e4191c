//! Checking replies against an output schema (structured output).
//!
//! A lane with a [`Validator`] (see [`LaneConfig::validator`](crate::LaneConfig::validator))
//! checks every completion of every successful reply. One that does not do turns the reply
//! into an [`ErrorKind::InvalidOutput`](pacer_core::ErrorKind::InvalidOutput) error, retried
//! like any other retryable error; one that does has its value kept in
//! [`Choice::parsed`](pacer_core::Choice::parsed). [`SchemaValidator`] is the validator for a
//! JSON Schema.

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

/// How many schema violations one error message lists; the rest are counted.
const SHOWN_ERRORS: usize = 3;
/// The longest one violation's description may be, in characters.
const MAX_REASON_CHARS: usize = 160;

/// Reads and checks the text of one completion.
///
/// Called once per completion of every successful reply, after the middleware's `after` and
/// after the limiter has learned from the reply; it must be cheap and must not block.
pub trait Validator: Send + Sync + fmt::Debug {
    /// The completion's value, or why `text` is not acceptable.
    fn check(&self, text: &str) -> Result<Value, Rejected>;
}

/// Why a completion is not acceptable: shown to people and written to records, so it names
/// where and what (`at /answer: 5 is not of type "string"`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Rejected(pub String);

/// Why a schema cannot be used: not valid against its draft's meta-schema, or a `$ref`
/// that cannot be resolved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a valid JSON Schema: {0}")]
pub struct InvalidSchema(String);

/// A [`Validator`] for one JSON Schema, compiled once and shared by a lane's items.
///
/// The text is first stripped of a Markdown code fence (```` ```json ... ``` ````), since
/// models asked for JSON in words often wrap it in one; then it must parse as JSON and
/// validate against the schema. Only in-document `$ref`s resolve: the `jsonschema` crate is
/// built without its HTTP and file resolvers, so a schema never reaches the network.
pub struct SchemaValidator {
    schema: Arc<Value>,
    compiled: jsonschema::Validator,
}

impl SchemaValidator {
    /// Compiles `schema` (its draft read from `$schema`, else 2020-12).
    ///
    /// # Errors
    ///
    /// Why `schema` is not a usable JSON Schema: not valid against its draft's meta-schema,
    /// or a `$ref` that cannot be resolved.
    pub fn new(schema: Arc<Value>) -> Result<Self, InvalidSchema> {
        if !matches!(*schema, Value::Object(_) | Value::Bool(_)) {
            return Err(InvalidSchema(format!(
                "expected an object (or true/false), found {}",
                kind_of(&schema)
            )));
        }
        let compiled = jsonschema::validator_for(&schema).map_err(|e| {
            let at = e.instance_path().as_str();
            InvalidSchema(if at.is_empty() {
                clip(&e.to_string())
            } else {
                format!("at {at}: {}", clip(&e.to_string()))
            })
        })?;
        Ok(Self { schema, compiled })
    }

    /// The schema, as given.
    pub fn schema(&self) -> &Arc<Value> {
        &self.schema
    }
}

impl fmt::Debug for SchemaValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchemaValidator")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl Validator for SchemaValidator {
    fn check(&self, text: &str) -> Result<Value, Rejected> {
        let body = strip_fence(text);
        let value: Value = serde_json::from_str(body).map_err(|e| {
            Rejected(if body.trim().is_empty() {
                "not JSON: the reply is empty".to_owned()
            } else {
                format!("not JSON: {e}; the reply began {:?}", clip_to(body, 60))
            })
        })?;
        // The quick check first: a valid value (the usual case) builds no error at all.
        if self.compiled.is_valid(&value) {
            return Ok(value);
        }
        let mut reasons = Vec::new();
        let mut more = 0usize;
        for error in self.compiled.iter_errors(&value) {
            if reasons.len() < SHOWN_ERRORS {
                reasons.push(reason(&error));
            } else {
                more += 1;
            }
        }
        let mut message = format!("does not match the schema: {}", reasons.join("; "));
        if more > 0 {
            message.push_str(&format!(" (and {more} more)"));
        }
        Err(Rejected(message))
    }
}

/// `at PATH: REASON` for one violation; the root is `/`.
fn reason(error: &jsonschema::ValidationError<'_>) -> String {
    let path = error.instance_path().as_str();
    let path = if path.is_empty() { "/" } else { path };
    format!("at {path}: {}", clip(&error.to_string()))
}

/// `text` cut to [`MAX_REASON_CHARS`], with an ellipsis when cut (a violation's message
/// quotes the offending value, which may be long).
fn clip(text: &str) -> String {
    clip_to(text, MAX_REASON_CHARS)
}

fn clip_to(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `text` without a surrounding Markdown code fence: a line starting with three or more
/// backticks and an optional info string (`json`), up to a line of as many backticks. Text
/// around the fence (a sentence before it, say) is dropped too. Without a fence, `text`
/// trimmed.
///
/// ```
/// use pacer_engine::strip_fence;
///
/// assert_eq!(strip_fence("```json\n{\"a\": 1}\n```"), "{\"a\": 1}");
/// assert_eq!(strip_fence("Here you are:\n```\n[1]\n```\n"), "[1]");
/// assert_eq!(strip_fence("  {\"a\": 1} "), "{\"a\": 1}");
/// ```
pub fn strip_fence(text: &str) -> &str {
    let trimmed = text.trim();
    // The first line that opens a fence: backticks at its start, then a one-word info
    // string or nothing. (Backticks inside a JSON string are never at a line's start.)
    let mut start = 0;
    let opening = loop {
        let line_end = trimmed[start..].find('\n').map(|i| start + i);
        let line = &trimmed[start..line_end.unwrap_or(trimmed.len())];
        let ticks = line.len() - line.trim_start_matches('`').len();
        let info = line[ticks..].trim();
        let word = info
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-._".contains(c));
        match line_end {
            Some(end) if ticks >= 3 && word => break Some((end + 1, &line[..ticks])),
            Some(end) => start = end + 1,
            None => break None,
        }
    };
    let Some((body_start, fence)) = opening else {
        return trimmed;
    };
    let body = &trimmed[body_start..];
    match body.rfind(fence) {
        Some(close) => body[..close].trim(),
        // An unclosed fence (the reply was cut off): what follows the opening line.
        None => body.trim(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn validator(schema: Value) -> SchemaValidator {
        SchemaValidator::new(Arc::new(schema)).unwrap()
    }

    fn answer_schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "answer": {"type": "string"},
                "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                "label": {"enum": ["yes", "no"]}
            },
            "required": ["answer", "confidence"]
        })
    }

    #[test]
    fn fences_are_stripped_with_or_without_an_info_string() {
        assert_eq!(strip_fence("```json\n{\"a\": 1}\n```"), "{\"a\": 1}");
        assert_eq!(
            strip_fence("```JSON\r\n{\"a\": 1}\r\n```\r\n"),
            "{\"a\": 1}"
        );
        assert_eq!(strip_fence("```\n[1, 2]\n```"), "[1, 2]");
        assert_eq!(strip_fence("````json\n\"```\"\n````"), "\"```\"");
        assert_eq!(
            strip_fence("Sure, here it is:\n\n```json\n{}\n```\nAnything else?"),
            "{}"
        );
        // Cut off before the closing fence.
        assert_eq!(strip_fence("```json\n{\"a\": 1"), "{\"a\": 1");
    }

    #[test]
    fn text_without_a_fence_is_only_trimmed() {
        assert_eq!(strip_fence("\n  {\"a\": \"```\"}  \n"), "{\"a\": \"```\"}");
        assert_eq!(strip_fence("plain"), "plain");
        assert_eq!(
            strip_fence("```json {\"a\": 1}```"),
            "```json {\"a\": 1}```"
        );
        // Backticks inside pretty-printed JSON open no fence.
        let pretty = "{\n  \"code\": \"```python\",\n  \"n\": 1\n}";
        assert_eq!(strip_fence(pretty), pretty);
    }

    #[test]
    fn a_valid_reply_gives_its_value() {
        let v = validator(answer_schema());
        let text = "```json\n{\"answer\": \"Paris\", \"confidence\": 0.9}\n```";
        assert_eq!(
            v.check(text).unwrap(),
            json!({"answer": "Paris", "confidence": 0.9})
        );
    }

    #[test]
    fn not_json_says_so_with_the_parser_position() {
        let v = validator(answer_schema());
        let err = v.check("Sure! {\"answer\": ").unwrap_err().to_string();
        assert!(err.starts_with("not JSON: "), "{err}");
        assert!(err.contains("line 1 column 1"), "{err}");
        assert!(
            err.ends_with("the reply began \"Sure! {\\\"answer\\\":\""),
            "{err}"
        );
        assert_eq!(
            v.check("  ").unwrap_err().to_string(),
            "not JSON: the reply is empty"
        );
    }

    #[test]
    fn violations_name_the_path_and_the_reason() {
        let v = validator(answer_schema());
        let err = v
            .check(r#"{"answer": 5, "confidence": 2, "label": "maybe"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("does not match the schema: "), "{err}");
        assert!(
            err.contains("at /answer: 5 is not of type \"string\""),
            "{err}"
        );
        assert!(err.contains("at /confidence: 2 is greater than"), "{err}");
        assert!(err.contains("at /label: "), "{err}");
        let missing = v.check(r#"{"answer": "x"}"#).unwrap_err().to_string();
        assert_eq!(
            missing,
            "does not match the schema: at /: \"confidence\" is a required property"
        );
    }

    #[test]
    fn many_violations_are_listed_up_to_three_and_counted() {
        let v = validator(json!({"type": "array", "items": {"type": "integer"}}));
        let err = v
            .check(r#"["a", "b", "c", "d", "e"]"#)
            .unwrap_err()
            .to_string();
        assert_eq!(err.matches("at /").count(), 3, "{err}");
        assert!(err.ends_with("(and 2 more)"), "{err}");
    }

    #[test]
    fn long_values_are_clipped_in_messages() {
        let v = validator(json!({"type": "object"}));
        let long = format!("\"{}\"", "x".repeat(1000));
        let err = v.check(&long).unwrap_err().to_string();
        assert!(err.len() < 300 && err.contains('…'), "{err}");
    }

    #[test]
    fn invalid_schemas_are_refused_with_the_reason() {
        let err = SchemaValidator::new(Arc::new(json!({"type": "strng"})))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("not a valid JSON Schema: "), "{err}");
        let err = SchemaValidator::new(Arc::new(json!([1])))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "not a valid JSON Schema: expected an object (or true/false), found an array"
        );
        let err = SchemaValidator::new(Arc::new(
            json!({"$ref": "https://example.invalid/schema.json"}),
        ))
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("not a valid JSON Schema: "), "{err}");
    }
}
