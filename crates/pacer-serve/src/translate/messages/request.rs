//! A Messages body as Pacer's request: its conversation (see `turns`), `tools` in
//! Anthropic's form, `tool_choice`, `max_tokens` (required), `temperature`, `top_p`, `top_k`
//! and `stop_sequences`. Fields Pacer has no use for (`metadata`, `thinking`,
//! `service_tier`, ...) are ignored.

use pacer_core::parse::{self, ShapeError};
use pacer_core::{Params, Request, Tool, ToolChoice};
use serde_json::{Map, Value};

use super::turns::conversation;

/// The Messages body `body` as Pacer's request for `model`. `max_tokens` is required, as
/// Anthropic requires it.
pub(crate) fn request(model: &str, body: &Map<String, Value>) -> Result<Request, ShapeError> {
    let mut request = count_request(model, body)?;
    let max_tokens = body.get("max_tokens");
    let Some(cap) = max_tokens.and_then(Value::as_u64).filter(|cap| *cap >= 1) else {
        return Err(ShapeError::expected(
            "max_tokens",
            "a whole number of at least 1 (the Messages API requires it)",
            max_tokens,
        ));
    };
    request.params.max_tokens = Some(u32::try_from(cap).unwrap_or(u32::MAX));
    Ok(request)
}

/// A `count_tokens` body as Pacer's request for `model`: a Messages body without
/// `max_tokens`.
pub(crate) fn count_request(model: &str, body: &Map<String, Value>) -> Result<Request, ShapeError> {
    let messages = conversation(body)?;
    let params = Params {
        temperature: number(body, "temperature")?,
        top_p: number(body, "top_p")?,
        top_k: top_k(body.get("top_k"))?,
        stop: stop_sequences(body.get("stop_sequences"))?,
        tools: tools(body.get("tools"))?,
        tool_choice: tool_choice(body.get("tool_choice"))?,
        ..Params::default()
    };
    Ok(Request {
        model: model.to_owned(),
        messages,
        params,
        inputs: Vec::new(),
    })
}

/// The tools, in Anthropic's form (`{name, description, input_schema}`, `type` absent or
/// `custom`). Server tools (web search, code execution, ...) run at Anthropic, not here.
fn tools(value: Option<&Value>) -> Result<Vec<Tool>, ShapeError> {
    let list = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        other => {
            return Err(ShapeError::expected(
                "tools",
                "a list of {name, description, input_schema} tools",
                other,
            ));
        }
    };
    let mut client = Vec::with_capacity(list.len());
    for (at, tool) in list.iter().enumerate() {
        let mut tool = tool.clone();
        if let Value::Object(fields) = &mut tool {
            match fields.get("type") {
                None | Some(Value::Null) => {}
                Some(Value::String(kind)) if kind == "custom" => {
                    fields.shift_remove("type");
                }
                other => {
                    return Err(ShapeError::expected(
                        format!("tools[{at}].type"),
                        "`custom` (server tools are not served)",
                        other,
                    ));
                }
            }
        }
        client.push(tool);
    }
    parse::tools(&Value::Array(client)).map_err(|e| e.under("tools"))
}

/// `tool_choice`: `{type: auto}`, `{type: any}`, `{type: none}` or `{type: tool, name}`.
fn tool_choice(value: Option<&Value>) -> Result<Option<ToolChoice>, ShapeError> {
    let choice = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(choice)) => choice,
        other => {
            return Err(ShapeError::expected(
                "tool_choice",
                "{type: auto}, {type: any}, {type: none} or {type: tool, name}",
                other,
            ));
        }
    };
    Ok(Some(match choice.get("type").and_then(Value::as_str) {
        Some("auto") => ToolChoice::Auto,
        Some("any") => ToolChoice::Required,
        Some("none") => ToolChoice::None,
        Some("tool") => match choice.get("name") {
            Some(Value::String(name)) if !name.is_empty() => ToolChoice::Tool(name.clone()),
            other => {
                return Err(ShapeError::expected(
                    "tool_choice.name",
                    "the name of a tool",
                    other,
                ));
            }
        },
        _ => {
            return Err(ShapeError::expected(
                "tool_choice.type",
                "auto, any, none or tool",
                choice.get("type"),
            ));
        }
    }))
}

/// The number `key`, if set.
fn number(body: &Map<String, Value>, key: &str) -> Result<Option<f64>, ShapeError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        other => Err(ShapeError::expected(key, "a number", other)),
    }
}

/// `top_k`, if set.
fn top_k(value: Option<&Value>) -> Result<Option<u32>, ShapeError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(k) => match k.as_u64() {
            Some(k) => Ok(Some(u32::try_from(k).unwrap_or(u32::MAX))),
            None => Err(ShapeError::expected("top_k", "a whole number", Some(k))),
        },
    }
}

/// `stop_sequences`: a list of strings.
fn stop_sequences(value: Option<&Value>) -> Result<Vec<String>, ShapeError> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(at, stop)| match stop {
                Value::String(stop) => Ok(stop.clone()),
                other => Err(ShapeError::expected(
                    format!("stop_sequences[{at}]"),
                    "a string",
                    Some(other),
                )),
            })
            .collect(),
        other => Err(ShapeError::expected(
            "stop_sequences",
            "a list of strings",
            other,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::{count_request, request};
    use pacer_core::{Request, ToolChoice};
    use serde_json::{Value, json};

    fn read(body: Value) -> Request {
        request("gpt-x", body.as_object().unwrap()).unwrap()
    }

    /// A body of one user turn and `extra`'s fields.
    fn with(extra: Value) -> Value {
        let mut body = json!({"max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]});
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        body
    }

    #[test]
    fn the_parameters_read_and_the_rest_is_ignored() {
        let request = read(with(json!({"model": "claude-x", "max_tokens": 100,
            "temperature": 0.5, "top_p": 0.9, "top_k": 40, "stop_sequences": ["END"],
            "metadata": {"user_id": "u"}, "thinking": {"type": "enabled", "budget_tokens": 10},
            "service_tier": "auto", "stream": true})));
        let p = &request.params;
        assert_eq!(request.model, "gpt-x");
        assert_eq!(p.max_tokens, Some(100));
        assert_eq!(
            (p.temperature, p.top_p, p.top_k),
            (Some(0.5), Some(0.9), Some(40))
        );
        assert_eq!(p.stop, ["END"]);
        assert_eq!(request.messages[0].text(), "hi");
    }

    #[test]
    fn tools_and_every_tool_choice_read() {
        let tools = json!([{"name": "f", "description": "F", "input_schema": {"type": "object",
            "properties": {"x": {"type": "string"}}}, "cache_control": {"type": "ephemeral"}},
            {"type": "custom", "name": "g", "input_schema": {"type": "object"}}]);
        for (choice, read_as) in [
            (
                json!({"type": "auto", "disable_parallel_tool_use": true}),
                Some(ToolChoice::Auto),
            ),
            (json!({"type": "any"}), Some(ToolChoice::Required)),
            (json!({"type": "none"}), Some(ToolChoice::None)),
            (
                json!({"type": "tool", "name": "g"}),
                Some(ToolChoice::Tool("g".into())),
            ),
            (Value::Null, None),
        ] {
            let request = read(with(json!({"tools": tools, "tool_choice": choice})));
            assert_eq!(request.params.tool_choice, read_as);
            let read = &request.params.tools;
            assert_eq!(read[0].description.as_deref(), Some("F"));
            assert_eq!(read[0].parameters["properties"]["x"]["type"], "string");
            assert_eq!(read[1].name, "g");
        }
    }

    #[test]
    fn errors_name_their_field() {
        for (extra, field) in [
            (json!({"max_tokens": null}), "max_tokens"),
            (json!({"max_tokens": 0}), "max_tokens"),
            (json!({"max_tokens": "5"}), "max_tokens"),
            (json!({"messages": null}), "messages"),
            (
                json!({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}),
                "tools[0].type",
            ),
            (json!({"tools": [{"name": ""}]}), "tools[0].name"),
            (json!({"tools": {"name": "f"}}), "tools"),
            (json!({"tool_choice": {"type": "tool"}}), "tool_choice.name"),
            (json!({"tool_choice": {"type": "some"}}), "tool_choice.type"),
            (json!({"tool_choice": "auto"}), "tool_choice"),
            (json!({"temperature": "hot"}), "temperature"),
            (json!({"top_k": 1.5}), "top_k"),
            (json!({"stop_sequences": ["a", 1]}), "stop_sequences[1]"),
            (json!({"stop_sequences": "a"}), "stop_sequences"),
        ] {
            let body = with(extra.clone());
            let error = request("m", body.as_object().unwrap()).unwrap_err();
            assert_eq!(error.field.as_deref(), Some(field), "{extra}");
        }
    }

    #[test]
    fn a_count_tokens_body_needs_no_max_tokens() {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        let request = count_request("m", body.as_object().unwrap()).unwrap();
        assert_eq!(request.params.max_tokens, None);
        assert_eq!(request.messages[0].text(), "hi");
    }
}
