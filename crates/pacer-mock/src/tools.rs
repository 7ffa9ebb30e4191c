//! Tools and `tool_choice` as OpenAI's two APIs take them, read into Pacer's [`Tool`] and
//! [`ToolChoice`]: chat completions nest a function's fields under `function`
//! (`{"type": "function", "function": {"name", "description", "parameters"}}`), the
//! Responses API does not (`{"type": "function", "name", ...}`). A chat tool of another
//! type is refused; the Responses API's built-in tools (`web_search`, `file_search`, ...)
//! are taken and never called.

use pacer_core::{Tool, ToolChoice};
use serde_json::Value;

use crate::respond::{Reply, bad_request};

/// Which of OpenAI's APIs a tool or a choice comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Api {
    /// `/v1/chat/completions`.
    Chat,
    /// `/v1/responses`.
    Responses,
}

/// A 400 naming `param`.
fn invalid(message: impl Into<String>, param: &str) -> Box<Reply> {
    Box::new(bad_request(message, Some(param), None))
}

/// The tools of a request's `tools` (absent or null: none), or the 400 for them.
pub(crate) fn tools(value: Option<&Value>, api: Api) -> Result<Vec<Tool>, Box<Reply>> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let Value::Array(list) = value else {
        return Err(invalid(
            "Invalid type for 'tools': expected an array of objects.",
            "tools",
        ));
    };
    let mut tools = Vec::with_capacity(list.len());
    for (i, tool) in list.iter().enumerate() {
        let kind = tool.get("type").and_then(Value::as_str).unwrap_or_default();
        if kind != "function" {
            if api == Api::Responses && !kind.is_empty() {
                continue;
            }
            return Err(invalid(
                format!("Invalid value: '{kind}'. Supported values are: 'function' and 'custom'."),
                &format!("tools[{i}].type"),
            ));
        }
        let (function, prefix) = match api {
            Api::Chat => (tool.get("function"), format!("tools[{i}].function")),
            Api::Responses => (Some(tool), format!("tools[{i}]")),
        };
        let Some(function) = function.filter(|f| f.is_object()) else {
            return Err(invalid(
                format!("Missing required parameter: '{prefix}'."),
                &prefix,
            ));
        };
        let Some(name) = function.get("name").and_then(Value::as_str) else {
            return Err(invalid(
                format!("Missing required parameter: '{prefix}.name'."),
                &format!("{prefix}.name"),
            ));
        };
        tools.push(Tool {
            name: name.to_owned(),
            description: function
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned),
            parameters: function
                .get("parameters")
                .filter(|p| p.is_object())
                .cloned()
                .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}})),
        });
    }
    Ok(tools)
}

/// The choice of a request's `tool_choice` among `tools` (absent or null: none), or the 400
/// for it.
pub(crate) fn choice(
    value: Option<&Value>,
    tools: &[Tool],
    api: Api,
) -> Result<Option<ToolChoice>, Box<Reply>> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    if tools.is_empty() && api == Api::Chat {
        return Err(invalid(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are \
             specified.",
            "tool_choice",
        ));
    }
    let choice = match value {
        Value::String(mode) => match mode.as_str() {
            "none" => ToolChoice::None,
            "auto" => ToolChoice::Auto,
            "required" => ToolChoice::Required,
            other => {
                return Err(invalid(
                    format!(
                        "Invalid value: '{other}'. Supported values are: 'none', 'auto', and \
                         'required'."
                    ),
                    "tool_choice",
                ));
            }
        },
        Value::Object(object) => {
            let kind = object.get("type").and_then(Value::as_str);
            let name = match api {
                Api::Chat => object.get("function").and_then(|f| f.get("name")),
                Api::Responses => object.get("name"),
            };
            match (kind, name.and_then(Value::as_str)) {
                (Some("function"), Some(name)) => {
                    if !tools.iter().any(|t| t.name == name) {
                        return Err(invalid(
                            format!(
                                "Invalid value for 'tool_choice': tool '{name}' is not one of \
                                 the 'tools'."
                            ),
                            "tool_choice",
                        ));
                    }
                    ToolChoice::Tool(name.to_owned())
                }
                (Some("function"), None) => {
                    return Err(invalid(
                        "Missing required parameter: 'tool_choice.function.name'.",
                        "tool_choice",
                    ));
                }
                // A built-in tool or `allowed_tools`: the mock calls no built-in tool.
                _ if api == Api::Responses => ToolChoice::Auto,
                _ => {
                    return Err(invalid(
                        "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' \
                         or a function.",
                        "tool_choice",
                    ));
                }
            }
        }
        _ => {
            return Err(invalid(
                "Invalid type for 'tool_choice': expected a string or an object.",
                "tool_choice",
            ));
        }
    };
    Ok(Some(choice))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Api, ToolChoice, choice, tools};
    use crate::respond::into_parts;

    fn message(reply: crate::respond::Reply) -> String {
        let (_, body) = into_parts(reply);
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        body["error"]["message"].as_str().unwrap().to_owned()
    }

    #[test]
    fn chat_tools_nest_the_function_and_responses_tools_do_not() {
        let chat = json!([{"type": "function", "function": {
            "name": "f", "description": "d", "parameters": {"type": "object"}}}]);
        let read = tools(Some(&chat), Api::Chat).unwrap();
        assert_eq!(read[0].name, "f");
        assert_eq!(read[0].description.as_deref(), Some("d"));
        let responses = json!([
            {"type": "web_search_preview"},
            {"type": "function", "name": "g", "parameters": null},
        ]);
        let read = tools(Some(&responses), Api::Responses).unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].parameters["type"], "object");
        let err = tools(Some(&json!([{"type": "web"}])), Api::Chat).unwrap_err();
        assert!(message(*err).starts_with("Invalid value: 'web'"));
        let err = tools(
            Some(&json!([{"type": "function", "function": {}}])),
            Api::Chat,
        );
        assert!(message(*err.unwrap_err()).contains("tools[0].function.name"));
    }

    #[test]
    fn choices_read_as_pacers() {
        let read = tools(
            Some(&json!([{"type": "function", "name": "f"}])),
            Api::Responses,
        )
        .unwrap();
        let pick = |v, api| choice(Some(&v), &read, api);
        assert_eq!(
            pick(json!("required"), Api::Chat).unwrap(),
            Some(ToolChoice::Required)
        );
        assert_eq!(
            pick(
                json!({"type": "function", "function": {"name": "f"}}),
                Api::Chat
            )
            .unwrap(),
            Some(ToolChoice::Tool("f".into()))
        );
        assert_eq!(
            pick(json!({"type": "function", "name": "f"}), Api::Responses).unwrap(),
            Some(ToolChoice::Tool("f".into()))
        );
        assert!(pick(json!({"type": "function", "name": "g"}), Api::Responses).is_err());
        assert!(pick(json!("sometimes"), Api::Chat).is_err());
        let err = choice(Some(&json!("auto")), &[], Api::Chat).unwrap_err();
        assert!(message(*err).contains("only allowed when 'tools' are specified"));
        assert_eq!(choice(None, &read, Api::Chat).unwrap(), None);
    }
}
