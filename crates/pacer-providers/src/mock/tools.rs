//! The mock's tool calls: whether a reply calls a tool, which one, and with what
//! arguments, all from the request alone.
//!
//! A request with tools whose `tool_choice` is not `None` calls one when the choice forces
//! it (`Required`: the first tool; `Tool(name)`: that one, if offered) or, under `Auto` (and
//! when no choice is given), when the last user message's text names a tool: the first tool,
//! in the order offered, whose name appears in it. Otherwise the reply is text.
//!
//! The arguments are an object with a value for each property of the tool's `parameters`
//! schema: its `const`, else the first of its `enum`, else by its `type`: a string is a word
//! of the last user message (picked by the request's hash; `"value"` when it has none), an
//! integer or a number `1`, a boolean `true`, an array `[]`, an object `{}`, null `null`
//! (types read in any case, as Gemini writes them in capitals).
//! The call's id is `call_` and 16 hex digits of a hash of the request, the completion's
//! index and the tool's name.

use pacer_core::{Request, Role, Tool, ToolCall, ToolChoice};
use serde_json::{Map, Value};

use super::reply::{fnv, splitmix};

/// The tool the reply to `request` calls, if any.
pub(crate) fn chosen(request: &Request) -> Option<&Tool> {
    let tools = &request.params.tools;
    match request
        .params
        .tool_choice
        .as_ref()
        .unwrap_or(&ToolChoice::Auto)
    {
        ToolChoice::None => None,
        ToolChoice::Required => tools.first(),
        ToolChoice::Tool(name) => tools.iter().find(|t| t.name == *name),
        ToolChoice::Auto => {
            let prompt = last_user_text(request)?;
            tools
                .iter()
                .find(|t| !t.name.is_empty() && prompt.contains(t.name.as_str()))
        }
    }
}

/// The text of the last user message, if there is one.
pub(crate) fn last_user_text(request: &Request) -> Option<String> {
    request
        .messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map(|m| m.text().into_owned())
}

/// The call of `tool` in the reply to `request`, for the completion drawn from `state`.
pub(crate) fn call(request: &Request, tool: &Tool, state: u64) -> ToolCall {
    let prompt = last_user_text(request).unwrap_or_default();
    // The words of the prompt, punctuation trimmed, tool names left out.
    let words: Vec<&str> = prompt
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric() && c != '_'))
        .filter(|w| !w.is_empty())
        .filter(|w| request.params.tools.iter().all(|t| t.name != *w))
        .collect();
    let tool_state = fnv(tool.name.as_bytes(), state);
    let mut arguments = Map::new();
    if let Some(Value::Object(properties)) = tool.parameters.get("properties") {
        for (name, schema) in properties {
            let draw = splitmix(fnv(name.as_bytes(), tool_state));
            arguments.insert(name.clone(), value_for(schema, &words, draw, 0));
        }
    }
    ToolCall {
        id: format!("call_{:016x}", splitmix(tool_state)),
        name: tool.name.clone(),
        arguments: Value::Object(arguments),
    }
}

/// Schemas nested deeper than this (through `anyOf`, `oneOf`, `$ref`-less branches) get
/// `null`.
const MAX_DEPTH: usize = 4;

/// The value of one property with schema `schema`.
fn value_for(schema: &Value, words: &[&str], draw: u64, depth: usize) -> Value {
    let word = || {
        let pick = words.get((draw % words.len().max(1) as u64) as usize);
        Value::String(pick.copied().unwrap_or("value").to_owned())
    };
    let Value::Object(schema) = schema else {
        return word();
    };
    if let Some(constant) = schema.get("const") {
        return constant.clone();
    }
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|values| values.first())
    {
        return first.clone();
    }
    let kind = match schema.get("type") {
        Some(Value::String(kind)) => Some(kind.as_str()),
        Some(Value::Array(kinds)) => {
            let mut names = kinds.iter().filter_map(Value::as_str);
            let first = names.clone().next();
            names.find(|k| !k.eq_ignore_ascii_case("null")).or(first)
        }
        _ => None,
    };
    // Gemini's schemas name their types in capitals (`STRING`).
    let kind = kind.map(str::to_ascii_lowercase);
    match kind.as_deref() {
        Some("string") => word(),
        Some("integer" | "number") => Value::from(1),
        Some("boolean") => Value::Bool(true),
        Some("array") => Value::Array(Vec::new()),
        Some("object") => Value::Object(Map::new()),
        Some("null") => Value::Null,
        _ => {
            let branch = ["anyOf", "oneOf"]
                .iter()
                .find_map(|key| schema.get(*key)?.as_array()?.first());
            match branch {
                Some(_) if depth >= MAX_DEPTH => Value::Null,
                Some(branch) => value_for(branch, words, draw, depth + 1),
                None if schema.contains_key("properties") => Value::Object(Map::new()),
                None => word(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use pacer_core::{Message, Role};
    use serde_json::json;

    use super::*;

    fn weather() -> Tool {
        Tool {
            name: "get_weather".into(),
            description: Some("The weather in a city.".into()),
            parameters: json!({
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "days": {"type": "integer"},
                    "scale": {"type": "number"},
                    "metric": {"type": "boolean"},
                    "hours": {"type": "array", "items": {"type": "integer"}},
                    "where": {"type": "object"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                    "note": {"type": ["null", "string"]},
                    "either": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
                    "loud": {"type": "BOOLEAN"},
                },
                "required": ["city"],
            }),
        }
    }

    fn asking(prompt: &str, choice: Option<ToolChoice>) -> Request {
        let mut request = Request::text("m", Some("get_weather is here"), prompt);
        request.params.tools = vec![
            Tool {
                name: "lookup".into(),
                description: None,
                parameters: json!({"type": "object", "properties": {}}),
            },
            weather(),
        ];
        request.params.tool_choice = choice;
        request
    }

    #[test]
    fn the_choice_or_the_prompt_picks_the_tool() {
        let name = |r: &Request| chosen(r).map(|t| t.name.clone());
        let plain = "What is the weather in Paris?";
        assert_eq!(name(&asking(plain, None)), None);
        assert_eq!(name(&asking(plain, Some(ToolChoice::Auto))), None);
        let named = "Use get_weather for Paris.";
        assert_eq!(name(&asking(named, None)).as_deref(), Some("get_weather"));
        assert_eq!(name(&asking(named, Some(ToolChoice::None))), None);
        let required = asking(plain, Some(ToolChoice::Required));
        assert_eq!(name(&required).as_deref(), Some("lookup"));
        let forced = asking(plain, Some(ToolChoice::Tool("get_weather".into())));
        assert_eq!(name(&forced).as_deref(), Some("get_weather"));
        let unknown = asking(plain, Some(ToolChoice::Tool("nope".into())));
        assert_eq!(name(&unknown), None);
        let mut no_tools = asking(named, Some(ToolChoice::Required));
        no_tools.params.tools.clear();
        assert_eq!(name(&no_tools), None);
    }

    #[test]
    fn arguments_follow_the_schema_and_repeat() {
        let request = asking("Use get_weather for Paris.", None);
        let tool = weather();
        let call = call(&request, &tool, 7);
        assert_eq!(call, super::call(&request, &tool, 7));
        assert!(
            call.id.starts_with("call_") && call.id.len() == 21,
            "{}",
            call.id
        );
        let args = &call.arguments;
        assert!(["Use", "for", "Paris"].contains(&args["city"].as_str().unwrap()));
        assert_eq!(args["days"], json!(1));
        assert_eq!(args["scale"], json!(1));
        assert_eq!(args["metric"], json!(true));
        assert_eq!(args["hours"], json!([]));
        assert_eq!(args["where"], json!({}));
        assert_eq!(args["unit"], json!("celsius"));
        assert!(args["note"].is_string());
        assert_eq!(args["either"], json!(1));
        assert_eq!(args["loud"], json!(true));
        assert_ne!(super::call(&request, &tool, 8).id, call.id);
    }

    #[test]
    fn a_prompt_without_words_gives_value() {
        let mut request = Request::text("m", None, "?!");
        request.messages.push(Message::new(Role::Assistant, "x"));
        let call = call(&request, &weather(), 1);
        assert_eq!(call.arguments["city"], json!("value"));
    }
}
