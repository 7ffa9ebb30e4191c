//! The request's tools and tool choice as Anthropic's `tools` and `tool_choice`.

use pacer_core::{Params, ToolChoice as CoreChoice};
use serde_json::{Map, Value};

use super::wire::{CustomTool, Tool, ToolChoice};

/// The `tools` of a request with `params`: the extra parameters' `tools` first (server tools,
/// as they came), then one client tool per declared function. Where the request declares
/// none, the extra `tools` stay in `extra` untouched, and this is empty.
///
/// Takes the keys it uses out of `extra`, so that they are not written twice.
pub(crate) fn tools(params: &Params, extra: &mut Map<String, Value>) -> Vec<Tool> {
    if params.tools.is_empty() {
        return Vec::new();
    }
    let mut tools: Vec<Tool> = match extra.remove("tools") {
        Some(Value::Array(others)) => others.into_iter().map(Tool::Other).collect(),
        Some(other) => vec![Tool::Other(other)],
        None => Vec::new(),
    };
    tools.extend(params.tools.iter().map(|tool| {
        Tool::Custom(CustomTool {
            name: tool.name.clone(),
            description: tool.description.clone(),
            input_schema: tool.parameters.clone(),
        })
    }));
    tools
}

/// The `tool_choice` for `params`, when it sets one (which then replaces an extra one).
pub(crate) fn tool_choice(params: &Params, extra: &mut Map<String, Value>) -> Option<ToolChoice> {
    let choice = params.tool_choice.as_ref()?;
    extra.remove("tool_choice");
    Some(match choice {
        CoreChoice::Auto => ToolChoice::Auto,
        CoreChoice::None => ToolChoice::None,
        CoreChoice::Required => ToolChoice::Any,
        CoreChoice::Tool(name) => ToolChoice::Tool { name: name.clone() },
    })
}

#[cfg(test)]
mod tests {
    use pacer_core::{Params, Tool as CoreTool, ToolChoice as CoreChoice};
    use serde_json::{Map, json};

    use super::{tool_choice, tools};

    #[test]
    fn declared_tools_follow_the_extra_ones_and_replace_their_key() {
        let mut params = Params {
            tools: vec![CoreTool {
                name: "f".into(),
                description: Some("Does f.".into()),
                parameters: json!({"type": "object"}),
            }],
            ..Params::default()
        };
        params.tool_choice = Some(CoreChoice::Required);
        let mut extra = Map::new();
        extra.insert("tools".into(), json!([{"type": "web_search_20250305"}]));
        extra.insert("tool_choice".into(), json!({"type": "auto"}));
        let tools = tools(&params, &mut extra);
        assert_eq!(
            serde_json::to_value(&tools).unwrap(),
            json!([
                {"type": "web_search_20250305"},
                {"name": "f", "description": "Does f.", "input_schema": {"type": "object"}}
            ])
        );
        let choice = tool_choice(&params, &mut extra).unwrap();
        assert_eq!(
            serde_json::to_value(choice).unwrap(),
            json!({"type": "any"})
        );
        assert!(extra.is_empty(), "{extra:?}");
    }

    #[test]
    fn without_declared_tools_the_extra_ones_stay_as_they_are() {
        let mut extra = Map::new();
        extra.insert("tools".into(), json!([{"type": "bash_20250124"}]));
        assert!(tools(&Params::default(), &mut extra).is_empty());
        assert_eq!(extra["tools"], json!([{"type": "bash_20250124"}]));
        assert!(tool_choice(&Params::default(), &mut extra).is_none());
    }
}
