//! Tool definitions and the tool choice, in the forms people have them: OpenAI chat
//! (`{type: function, function: {name, description, parameters}}`), the Responses API
//! (`{type: function, name, ...}`) and Anthropic (`{name, description, input_schema}`).

use super::ShapeError;
use crate::{Tool, ToolChoice};
use serde_json::{Map, Value};

fn error(at: impl Into<String>, expected: &'static str, found: Option<&Value>) -> ShapeError {
    ShapeError::expected(at, expected, found)
}

/// Reads a list of tool definitions in any of the three forms.
///
/// ```
/// let tools = pacer_core::parse::tools(&serde_json::json!([
///     {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},
///     {"name": "lookup", "description": "Looks up a word", "input_schema": {"type": "object"}},
/// ]))
/// .unwrap();
/// assert_eq!(tools[1].name, "lookup");
/// ```
pub fn tools(value: &Value) -> Result<Vec<Tool>, ShapeError> {
    const TOOLS: &str = "a list of tools ({type: function, function: {name, parameters}})";
    let Value::Array(list) = value else {
        return Err(error("", TOOLS, Some(value)));
    };
    list.iter()
        .enumerate()
        .map(|(at, tool)| read_tool(&format!("[{at}]"), tool))
        .collect()
}

fn read_tool(at: &str, value: &Value) -> Result<Tool, ShapeError> {
    const TOOL: &str = "a tool: {type: function, function: {name, description, parameters}}";
    let Value::Object(tool) = value else {
        return Err(error(at, TOOL, Some(value)));
    };
    // The chat format nests the function; the other two keep it flat.
    let (at, fields): (String, &Map<String, Value>) = match tool.get("function") {
        Some(Value::Object(function)) => (format!("{at}.function"), function),
        Some(other) => return Err(error(format!("{at}.function"), TOOL, Some(other))),
        None => (at.to_owned(), tool),
    };
    if let Some(kind) = tool.get("type").and_then(Value::as_str)
        && kind != "function"
    {
        return Err(error(
            format!("{at}.type"),
            "`function` (the only tool type Pacer sends)",
            tool.get("type"),
        ));
    }
    let name = match fields.get("name") {
        Some(Value::String(name)) if !name.is_empty() => name.clone(),
        other => return Err(error(format!("{at}.name"), "a non-empty string", other)),
    };
    let description = match fields.get("description") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone()),
        other => return Err(error(format!("{at}.description"), "a string", other)),
    };
    let parameters = match fields
        .get("parameters")
        .or_else(|| fields.get("input_schema"))
    {
        None | Some(Value::Null) => serde_json::json!({"type": "object", "properties": {}}),
        Some(schema @ Value::Object(_)) => schema.clone(),
        other => {
            return Err(error(
                format!("{at}.parameters"),
                "a JSON Schema object",
                other,
            ));
        }
    };
    Ok(Tool {
        name,
        description,
        parameters,
    })
}

/// Reads a tool choice: `auto`, `none`, `required` (or Anthropic's `any`), or one tool by
/// name (`{type: function, function: {name}}`, `{type: function, name}`, `{type: tool,
/// name}`, or a tool's name alone).
pub fn tool_choice(value: &Value) -> Result<ToolChoice, ShapeError> {
    const CHOICE: &str = "auto, none, required, or {type: function, function: {name}}";
    match value {
        Value::String(choice) => Ok(match choice.as_str() {
            "auto" => ToolChoice::Auto,
            "none" => ToolChoice::None,
            "required" | "any" => ToolChoice::Required,
            "" => return Err(error("", CHOICE, Some(value))),
            name => ToolChoice::Tool(name.to_owned()),
        }),
        Value::Object(choice) => {
            let named = choice
                .get("function")
                .and_then(|f| f.get("name"))
                .or_else(|| choice.get("name"));
            match (choice.get("type").and_then(Value::as_str), named) {
                (_, Some(Value::String(name))) if !name.is_empty() => {
                    Ok(ToolChoice::Tool(name.clone()))
                }
                (Some(kind), None) => tool_choice(&Value::String(kind.to_owned())),
                _ => Err(error("", CHOICE, Some(value))),
            }
        }
        other => Err(error("", CHOICE, Some(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_three_forms_of_a_tool() {
        let read = tools(&json!([
            {"type": "function", "function": {"name": "a", "description": "A", "parameters": {"type": "object"}}},
            {"type": "function", "name": "b"},
            {"name": "c", "input_schema": {"type": "object", "properties": {"x": {"type": "string"}}}},
        ]))
        .unwrap();
        assert_eq!(read[0].description.as_deref(), Some("A"));
        assert_eq!(read[1].parameters["type"], "object");
        assert_eq!(read[2].parameters["properties"]["x"]["type"], "string");
        let bad = tools(&json!([{"type": "function", "function": {"name": 3}}])).unwrap_err();
        assert_eq!(bad.field.as_deref(), Some("[0].function.name"));
    }

    #[test]
    fn reads_every_form_of_a_choice() {
        for (value, choice) in [
            (json!("auto"), ToolChoice::Auto),
            (json!("none"), ToolChoice::None),
            (json!("any"), ToolChoice::Required),
            (json!({"type": "required"}), ToolChoice::Required),
            (
                json!({"type": "function", "function": {"name": "f"}}),
                ToolChoice::Tool("f".into()),
            ),
            (
                json!({"type": "tool", "name": "f"}),
                ToolChoice::Tool("f".into()),
            ),
        ] {
            assert_eq!(tool_choice(&value).unwrap(), choice, "{value}");
        }
        assert!(tool_choice(&json!(3)).is_err());
    }
}
