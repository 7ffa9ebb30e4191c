//! The mock's structured output: a deterministic JSON value for a request's schema, and the
//! broken text it sends instead when its `invalid_json_rate` says so.
//!
//! Simple schemas are satisfied: `type` object (with `properties`, `required`), array
//! (`items`, `minItems`, `maxItems`), string (`minLength`, `maxLength`), number and integer
//! (`minimum`, `maximum`), boolean and null; `enum` and `const`; the first branch of
//! `anyOf`/`oneOf`; `allOf` of objects merged; `$ref`s to `#/$defs/...` or
//! `#/definitions/...`. Anything else gets a value that may not fit: the mock is for demos,
//! not a schema solver.

use serde_json::{Map, Number, Value};

use super::reply::{WORDS, splitmix};

/// Nesting deeper than this gets `null`, so recursive schemas end.
const MAX_DEPTH: usize = 8;

/// A value for `schema`, drawn from `state`: the same state always gives the same value.
pub(crate) fn value_for(schema: &Value, state: u64) -> Value {
    let mut state = state;
    Gen {
        root: schema,
        state: &mut state,
    }
    .value(schema, 0)
}

/// Text that no JSON parser reads: a chatty preamble and the first half of `json`, as a
/// model that lost its way might write.
pub(crate) fn broken(json: &str) -> String {
    let half = json
        .char_indices()
        .nth(json.chars().count() / 2)
        .map_or(json.len(), |(i, _)| i);
    format!("Sure, here it is: {}", &json[..half])
}

struct Gen<'a> {
    root: &'a Value,
    state: &'a mut u64,
}

impl<'a> Gen<'a> {
    fn next(&mut self) -> u64 {
        *self.state = splitmix(*self.state);
        *self.state
    }

    fn value(&mut self, schema: &Value, depth: usize) -> Value {
        let Value::Object(schema) = schema else {
            // `true`, `false` or nonsense: anything will do for `true`.
            return Value::Null;
        };
        if depth > MAX_DEPTH {
            return Value::Null;
        }
        if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
            return match self.resolve(target) {
                Some(target) => self.value(target, depth + 1),
                None => Value::Null,
            };
        }
        if let Some(constant) = schema.get("const") {
            return constant.clone();
        }
        if let Some(Value::Array(options)) = schema.get("enum")
            && !options.is_empty()
        {
            let pick = (self.next() % options.len() as u64) as usize;
            return options[pick].clone();
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = schema.get(key)
                && let Some(first) = branches.first()
            {
                return self.value(first, depth + 1);
            }
        }
        if let Some(Value::Array(parts)) = schema.get("allOf") {
            return self.all_of(schema, parts, depth);
        }
        match type_of(schema) {
            Some("object") => self.object(schema, depth),
            Some("array") => self.array(schema, depth),
            Some("string") => self.string(schema),
            Some("integer") => self.integer(schema),
            Some("number") => self.number(schema),
            Some("boolean") => Value::Bool(self.next().is_multiple_of(2)),
            Some("null") => Value::Null,
            // No type: an object when it has properties, else a string.
            _ if schema.contains_key("properties") => self.object(schema, depth),
            _ => self.string(schema),
        }
    }

    /// `#/$defs/NAME` or `#/definitions/NAME` (any JSON pointer into the root).
    fn resolve(&self, target: &str) -> Option<&'a Value> {
        let root: &'a Value = self.root;
        root.pointer(target.strip_prefix('#')?)
    }

    fn object(&mut self, schema: &Map<String, Value>, depth: usize) -> Value {
        let mut object = Map::new();
        if let Some(Value::Object(properties)) = schema.get("properties") {
            for (name, property) in properties {
                object.insert(name.clone(), self.value(property, depth + 1));
            }
        }
        // A required name without a property schema still needs a value.
        if let Some(Value::Array(required)) = schema.get("required") {
            for name in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(name) {
                    let word = self.word();
                    object.insert(name.to_owned(), Value::String(word.into()));
                }
            }
        }
        Value::Object(object)
    }

    fn all_of(&mut self, schema: &Map<String, Value>, parts: &[Value], depth: usize) -> Value {
        let mut merged = match type_of(schema) {
            Some("object") | None => Map::new(),
            Some(_) => return self.value(&Value::Object(without(schema, "allOf")), depth + 1),
        };
        for part in std::iter::once(&Value::Object(without(schema, "allOf"))).chain(parts.iter()) {
            match self.value(part, depth + 1) {
                Value::Object(fields) => merged.extend(fields),
                _ => continue,
            }
        }
        Value::Object(merged)
    }

    fn array(&mut self, schema: &Map<String, Value>, depth: usize) -> Value {
        let min = count(schema, "minItems").unwrap_or(1);
        let max = count(schema, "maxItems").unwrap_or(min.max(3)).max(min);
        let len = min + (self.next() % (max - min + 1) as u64) as usize;
        let items = schema.get("items").cloned().unwrap_or(Value::Bool(true));
        Value::Array((0..len).map(|_| self.value(&items, depth + 1)).collect())
    }

    fn string(&mut self, schema: &Map<String, Value>) -> Value {
        let min = count(schema, "minLength").unwrap_or(0);
        let max = count(schema, "maxLength").unwrap_or(usize::MAX).max(min);
        let mut text = String::new();
        let words = 1 + (self.next() % 4) as usize;
        for i in 0..words {
            if i > 0 {
                text.push(' ');
            }
            text.push_str(self.word());
        }
        while text.chars().count() < min {
            text.push('x');
        }
        if let Some((end, _)) = text.char_indices().nth(max) {
            text.truncate(end);
        }
        Value::String(text)
    }

    fn integer(&mut self, schema: &Map<String, Value>) -> Value {
        let low = bound(schema, "minimum").map_or(0, |m| m.ceil() as i64);
        let high = bound(schema, "maximum").map_or(low.saturating_add(100), |m| m.floor() as i64);
        let span = high.saturating_sub(low).max(0) as u64;
        let value = low.saturating_add((self.next() % span.saturating_add(1)) as i64);
        Value::Number(value.into())
    }

    fn number(&mut self, schema: &Map<String, Value>) -> Value {
        let low = bound(schema, "minimum").unwrap_or(0.0);
        let high = bound(schema, "maximum").unwrap_or(low + 1.0).max(low);
        let unit = (self.next() % 1001) as f64 / 1000.0;
        // Two decimals read well in a demo, and stay within the bounds.
        let value = ((low + (high - low) * unit) * 100.0).round() / 100.0;
        let value = value.clamp(low, high);
        Number::from_f64(value).map_or(Value::Null, Value::Number)
    }

    fn word(&mut self) -> &'static str {
        WORDS[(self.next() % WORDS.len() as u64) as usize]
    }
}

/// The schema's `type`: the string, or the first non-null one of a list.
fn type_of(schema: &Map<String, Value>) -> Option<&str> {
    match schema.get("type")? {
        Value::String(kind) => Some(kind),
        Value::Array(kinds) => {
            let names: Vec<&str> = kinds.iter().filter_map(Value::as_str).collect();
            names
                .iter()
                .find(|k| **k != "null")
                .or(names.first())
                .copied()
        }
        _ => None,
    }
}

fn without(schema: &Map<String, Value>, key: &str) -> Map<String, Value> {
    let mut copy = schema.clone();
    copy.remove(key);
    copy
}

fn count(schema: &Map<String, Value>, key: &str) -> Option<usize> {
    schema
        .get(key)
        .and_then(Value::as_u64)
        .map(|n| n.min(64) as usize)
}

fn bound(schema: &Map<String, Value>, key: &str) -> Option<f64> {
    schema.get(key).and_then(Value::as_f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "answer": {"type": "string", "minLength": 3, "maxLength": 20},
                "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                "year": {"type": "integer", "minimum": 1900, "maximum": 2100},
                "label": {"enum": ["yes", "no", "unsure"]},
                "sure": {"type": "boolean"},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
                "note": {"type": ["string", "null"]},
                "source": {"$ref": "#/$defs/source"}
            },
            "required": ["answer", "confidence", "id"],
            "$defs": {"source": {"type": "object", "properties": {"url": {"type": "string"}}}}
        })
    }

    #[test]
    fn values_fit_simple_schemas_and_repeat_for_a_state() {
        for state in 0..50 {
            let value = value_for(&schema(), state);
            assert_eq!(value, value_for(&schema(), state));
            let answer = value["answer"].as_str().unwrap();
            assert!((3..=20).contains(&answer.chars().count()), "{value}");
            let confidence = value["confidence"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&confidence), "{value}");
            let year = value["year"].as_i64().unwrap();
            assert!((1900..=2100).contains(&year), "{value}");
            assert!(["yes", "no", "unsure"].contains(&value["label"].as_str().unwrap()));
            assert!(value["sure"].is_boolean());
            let tags = value["tags"].as_array().unwrap();
            assert!((1..=3).contains(&tags.len()) && tags.iter().all(Value::is_string));
            assert!(value["note"].is_string());
            assert!(value["source"]["url"].is_string());
            assert!(value["id"].is_string(), "required without a property");
        }
        assert_ne!(value_for(&schema(), 1), value_for(&schema(), 2));
    }

    #[test]
    fn broken_text_is_never_json() {
        for value in [json!({"a": 1}), json!([1, 2]), json!("text"), json!(12345)] {
            let text = broken(&value.to_string());
            assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
        }
    }

    #[test]
    fn recursion_ends() {
        let schema = json!({
            "$defs": {"node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/node"}}}},
            "$ref": "#/$defs/node"
        });
        let value = value_for(&schema, 3);
        assert!(value["child"]["child"].is_object(), "{value}");
    }
}
