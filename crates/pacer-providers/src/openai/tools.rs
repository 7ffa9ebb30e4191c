//! Tools on OpenAI's chat and Responses APIs: the definitions, the choice, and the calls in
//! replies and in assistant turns sent back. The two APIs say the same things in two shapes:
//! chat nests the function (`{"type": "function", "function": {"name", ...}}`), the
//! Responses API flattens it (`{"type": "function", "name", ...}`).

use pacer_core::{Tool, ToolCall, ToolChoice};
use serde_json::{Value, json};

use super::wire::{ChatFunction, ChatTool, WireFunctionCall, WireToolCall};

/// The chat API's `tools`.
pub(crate) fn chat_tools(tools: &[Tool]) -> Vec<ChatTool> {
    tools
        .iter()
        .map(|tool| ChatTool {
            kind: "function".to_owned(),
            function: ChatFunction {
                name: tool.name.clone(),
                description: tool.description.clone(),
                parameters: tool.parameters.clone(),
            },
        })
        .collect()
}

/// The chat API's `tool_choice`.
pub(crate) fn chat_tool_choice(choice: &ToolChoice) -> Value {
    match choice {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::None => json!("none"),
        ToolChoice::Required => json!("required"),
        ToolChoice::Tool(name) => json!({"type": "function", "function": {"name": name}}),
    }
}

/// A call of an assistant turn, as the chat API takes it back.
pub(crate) fn chat_call(call: &ToolCall) -> WireToolCall {
    WireToolCall {
        id: call.id.clone(),
        kind: "function".to_owned(),
        function: WireFunctionCall {
            name: call.name.clone(),
            arguments: call.arguments_text(),
        },
    }
}

/// A call in a chat reply.
pub(crate) fn read_chat_call(call: WireToolCall) -> ToolCall {
    ToolCall::from_text(call.id, call.function.name, &call.function.arguments)
}

/// The Responses API's `tools`. Not strict, as the output schema is not: strict mode
/// refuses schemas that leave `additionalProperties` open or some properties optional, and
/// the Responses API makes functions strict unless told otherwise.
pub(crate) fn responses_tools(tools: &[Tool]) -> Vec<Value> {
    tools
        .iter()
        .map(|tool| {
            let mut function = json!({
                "type": "function",
                "name": tool.name,
                "parameters": tool.parameters,
                "strict": false,
            });
            if let Some(description) = &tool.description {
                function["description"] = json!(description);
            }
            function
        })
        .collect()
}

/// The Responses API's `tool_choice`.
pub(crate) fn responses_tool_choice(choice: &ToolChoice) -> Value {
    match choice {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::None => json!("none"),
        ToolChoice::Required => json!("required"),
        ToolChoice::Tool(name) => json!({"type": "function", "name": name}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_take_each_apis_shape() {
        let named = ToolChoice::Tool("lookup".into());
        assert_eq!(
            chat_tool_choice(&named),
            json!({"type": "function", "function": {"name": "lookup"}})
        );
        assert_eq!(
            responses_tool_choice(&named),
            json!({"type": "function", "name": "lookup"})
        );
        for (choice, word) in [
            (ToolChoice::Auto, "auto"),
            (ToolChoice::None, "none"),
            (ToolChoice::Required, "required"),
        ] {
            assert_eq!(chat_tool_choice(&choice), json!(word));
            assert_eq!(responses_tool_choice(&choice), json!(word));
        }
    }

    #[test]
    fn calls_go_back_as_json_text_and_come_in_parsed() {
        let call = ToolCall::from_text("call_1", "lookup", r#"{"q": "x"}"#);
        let wire = chat_call(&call);
        assert_eq!(wire.function.arguments, r#"{"q":"x"}"#);
        assert_eq!(read_chat_call(wire), call);
        let broken = WireToolCall {
            id: "call_2".into(),
            kind: "function".into(),
            function: WireFunctionCall {
                name: "lookup".into(),
                arguments: "{not json".into(),
            },
        };
        assert_eq!(read_chat_call(broken).arguments, json!("{not json"));
    }
}
