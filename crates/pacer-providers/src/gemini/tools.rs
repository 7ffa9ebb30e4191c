//! The request's tools and tool choice as Gemini's `tools` and `toolConfig`.

use pacer_core::{Params, ToolChoice};
use serde_json::{Map, Value};

use super::wire::{FunctionCallingConfig, FunctionDeclaration, FunctionTool, Tool, ToolConfig};

/// The `tools` of a request with `params`: the extra parameters' `tools` first (Google's own
/// tools, as they came), then one entry declaring every function of the request. Where the
/// request declares none, the extra `tools` stay in `extra` untouched, and this is empty.
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
    tools.push(Tool::Functions(FunctionTool {
        function_declarations: params
            .tools
            .iter()
            .map(|tool| FunctionDeclaration {
                name: tool.name.clone(),
                description: tool.description.clone(),
                parameters_json_schema: tool.parameters.clone(),
            })
            .collect(),
    }));
    tools
}

/// The `toolConfig` for `params`, when it sets a tool choice (which then replaces an extra
/// one): `AUTO`, `NONE`, `ANY`, or `ANY` limited to the one function named.
pub(crate) fn tool_config(params: &Params, extra: &mut Map<String, Value>) -> Option<ToolConfig> {
    let choice = params.tool_choice.as_ref()?;
    extra.remove("toolConfig");
    let (mode, allowed_function_names) = match choice {
        ToolChoice::Auto => ("AUTO", Vec::new()),
        ToolChoice::None => ("NONE", Vec::new()),
        ToolChoice::Required => ("ANY", Vec::new()),
        ToolChoice::Tool(name) => ("ANY", vec![name.clone()]),
    };
    Some(ToolConfig {
        function_calling_config: FunctionCallingConfig {
            mode: mode.to_owned(),
            allowed_function_names,
        },
    })
}

#[cfg(test)]
mod tests {
    use pacer_core::{Params, Tool as CoreTool, ToolChoice};
    use serde_json::{Map, json};

    use super::{tool_config, tools};

    #[test]
    fn functions_are_declared_after_googles_tools() {
        let mut params = Params {
            tools: vec![CoreTool {
                name: "f".into(),
                description: None,
                parameters: json!({"type": "object"}),
            }],
            ..Params::default()
        };
        params.tool_choice = Some(ToolChoice::Tool("f".into()));
        let mut extra = Map::new();
        extra.insert("tools".into(), json!([{"googleSearch": {}}]));
        extra.insert("toolConfig".into(), json!({}));
        let tools = tools(&params, &mut extra);
        assert_eq!(
            serde_json::to_value(&tools).unwrap(),
            json!([
                {"googleSearch": {}},
                {"functionDeclarations": [{"name": "f", "parametersJsonSchema": {"type": "object"}}]}
            ])
        );
        assert_eq!(
            serde_json::to_value(tool_config(&params, &mut extra)).unwrap(),
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}})
        );
        assert!(extra.is_empty(), "{extra:?}");
    }

    #[test]
    fn choices_map_to_modes() {
        let mut params = Params::default();
        for (choice, mode) in [
            (ToolChoice::Auto, "AUTO"),
            (ToolChoice::None, "NONE"),
            (ToolChoice::Required, "ANY"),
        ] {
            params.tool_choice = Some(choice);
            let config = tool_config(&params, &mut Map::new()).unwrap();
            assert_eq!(config.function_calling_config.mode, mode);
            assert!(
                config
                    .function_calling_config
                    .allowed_function_names
                    .is_empty()
            );
        }
        assert!(tools(&Params::default(), &mut Map::new()).is_empty());
    }
}
