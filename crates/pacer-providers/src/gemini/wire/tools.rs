//! Gemini's function declarations and function-calling settings.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One entry of `tools`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum Tool {
    /// The functions the request declares.
    Functions(FunctionTool),
    /// Any other tool (`googleSearch`, `codeExecution`, ...), from the extra parameters, as
    /// it came.
    Other(Value),
}

/// `{functionDeclarations: [...]}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FunctionTool {
    /// The functions.
    pub(crate) function_declarations: Vec<FunctionDeclaration>,
}

/// One function the model may call.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FunctionDeclaration {
    /// Its name.
    pub(crate) name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    /// The JSON Schema of its arguments, sent as `parametersJsonSchema`: `parameters` takes
    /// only Google's OpenAPI subset, which refuses `additionalProperties` and an object with
    /// no properties.
    pub(crate) parameters_json_schema: Value,
}

/// `toolConfig`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ToolConfig {
    /// How functions are called.
    pub(crate) function_calling_config: FunctionCallingConfig,
}

/// `functionCallingConfig`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FunctionCallingConfig {
    /// `AUTO`, `ANY` or `NONE`.
    pub(crate) mode: String,
    /// With `ANY`, the functions it may choose from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) allowed_function_names: Vec<String>,
}
