//! OpenAI's request bodies as the mock reads them, and Pacer's requests made from them.
//!
//! The types are the mock's own, holding only what it reads, so that a mistake in the
//! provider's wire types cannot hide on both sides of a test. A value of the wrong type is a
//! 400 naming it. A body that is a JSON array rather than an object is refused too: serde
//! would read a struct from an array of its fields, but a struct with a flattened field
//! (`extra`, `_rest`) reads only objects.
//!
//! A chat request's content parts, tools, `tool_choice`, assistant `tool_calls` and `tool`
//! messages are read too ([`messages`], [`crate::tools`]).

mod messages;

use pacer_core::{Message, Params, Request, Role};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Map, Value};

use crate::replies::REASONING_PER_TOKEN;
use crate::respond::Reply;
use crate::tools::{self, Api};
pub(crate) use messages::ChatMessage;

/// `POST /v1/chat/completions`.
#[derive(Debug, Deserialize)]
pub(crate) struct ChatRequest {
    pub(crate) model: String,
    pub(crate) messages: Vec<ChatMessage>,
    #[serde(default)]
    pub(crate) temperature: Option<f64>,
    #[serde(default)]
    pub(crate) top_p: Option<f64>,
    /// The output cap of classic models; reasoning models refuse it.
    #[serde(default)]
    pub(crate) max_tokens: Option<u32>,
    /// The output cap of reasoning models, reasoning included.
    #[serde(default)]
    pub(crate) max_completion_tokens: Option<u32>,
    #[serde(default)]
    pub(crate) n: Option<u32>,
    /// Stop sequences, as a list; the single string OpenAI also takes is refused here.
    #[serde(default)]
    pub(crate) stop: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) seed: Option<u64>,
    #[serde(default)]
    pub(crate) logprobs: Option<bool>,
    #[serde(default)]
    pub(crate) top_logprobs: Option<u8>,
    /// The functions the model may call, read by [`tools::tools`].
    #[serde(default)]
    pub(crate) tools: Option<Value>,
    /// Whether and which function the model must call, read by [`tools::choice`].
    #[serde(default)]
    pub(crate) tool_choice: Option<Value>,
    /// Everything else, of any type: `stream`, `stream_options` and `response_format` are
    /// read from here, so that a client's value the mock does not understand is ignored
    /// rather than refused.
    #[serde(flatten)]
    pub(crate) extra: Map<String, Value>,
}

/// `POST /v1/completions`, the legacy text API.
#[derive(Debug, Deserialize)]
pub(crate) struct CompletionRequest {
    pub(crate) model: String,
    /// One prompt; a list of prompts is refused.
    pub(crate) prompt: String,
    #[serde(default)]
    pub(crate) temperature: Option<f64>,
    #[serde(default)]
    pub(crate) top_p: Option<f64>,
    #[serde(default)]
    pub(crate) max_tokens: Option<u32>,
    #[serde(default)]
    pub(crate) n: Option<u32>,
    #[serde(default)]
    pub(crate) stop: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) seed: Option<u64>,
    /// The legacy API's `logprobs` is a count of alternatives per token, 0 to 5.
    #[serde(default)]
    pub(crate) logprobs: Option<u8>,
    /// The other fields, unread; flattened so that the body must be an object.
    #[serde(flatten)]
    _rest: IgnoredAny,
}

/// Pacer's request for a chat request. A reasoning model's `max_completion_tokens` covers
/// its reasoning too, so the visible output gets a third of it. A `response_format` of type
/// `json_schema` becomes the output schema, so the reply is JSON that fits it. The 400 for
/// messages or tools OpenAI refuses.
pub(crate) fn chat_request(wire: ChatRequest, reasoning: bool) -> Result<Request, Box<Reply>> {
    let tools = tools::tools(wire.tools.as_ref(), Api::Chat)?;
    let tool_choice = tools::choice(wire.tool_choice.as_ref(), &tools, Api::Chat)?;
    let schema = wire
        .extra
        .get("response_format")
        .filter(|f| f.get("type").and_then(Value::as_str) == Some("json_schema"))
        .and_then(|f| f.pointer("/json_schema/schema"))
        .map(|schema| std::sync::Arc::new(schema.clone()));
    let cap = wire.max_completion_tokens.or(wire.max_tokens);
    let max_tokens = if reasoning {
        cap.map(|c| c / (1 + REASONING_PER_TOKEN as u32))
    } else {
        cap
    };
    Ok(Request {
        messages: messages::messages(wire.messages)?,
        model: wire.model,
        params: Params {
            temperature: wire.temperature,
            top_p: wire.top_p,
            max_tokens,
            seed: wire.seed,
            stop: wire.stop.unwrap_or_default(),
            n: wire.n.unwrap_or(1),
            logprobs: wire.logprobs.unwrap_or(false),
            // The reply always computes at least one alternative; the wire reply keeps `k`.
            top_logprobs: Some(wire.top_logprobs.unwrap_or(0).max(1)),
            schema,
            tools,
            tool_choice,
            ..Params::default()
        },
        inputs: Vec::new(),
    })
}

/// Pacer's request for a legacy completion: the prompt as one user message.
pub(crate) fn completion_request(wire: CompletionRequest) -> Request {
    Request {
        messages: vec![Message::new(Role::User, wire.prompt)],
        model: wire.model,
        params: Params {
            temperature: wire.temperature,
            top_p: wire.top_p,
            max_tokens: wire.max_tokens,
            seed: wire.seed,
            stop: wire.stop.unwrap_or_default(),
            n: wire.n.unwrap_or(1),
            logprobs: wire.logprobs.is_some(),
            top_logprobs: Some(wire.logprobs.unwrap_or(0).max(1)),
            ..Params::default()
        },
        inputs: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::{ChatRequest, CompletionRequest, chat_request, completion_request};
    use pacer_core::{Content, Message, Part, Role, ToolChoice};
    use serde_json::json;

    fn chat(value: serde_json::Value) -> Result<ChatRequest, serde_json::Error> {
        serde_json::from_slice(value.to_string().as_bytes())
    }

    #[test]
    fn chat_bodies_read_content_parts_roles_and_the_schema() {
        let wire = chat(json!({
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
                {"role": "assistant", "content": null},
                {"role": "user", "content": "Hi"},
            ],
            "response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "object"}}},
            "stream": "not a bool",
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "tool_choice": "required",
        }))
        .unwrap();
        let request = chat_request(wire, false).unwrap();
        let system = Content::Parts(vec![Part::Text {
            text: "Be brief.".into(),
        }]);
        assert_eq!(
            request.messages,
            [
                Message::new(Role::System, system),
                Message::new(Role::Assistant, ""),
                Message::new(Role::User, "Hi"),
            ]
        );
        assert_eq!(request.params.tools[0].name, "f");
        assert_eq!(request.params.tool_choice, Some(ToolChoice::Required));
        assert_eq!(
            request.params.schema.as_deref(),
            Some(&json!({"type": "object"}))
        );
        assert_eq!(request.params.top_logprobs, Some(1));
    }

    #[test]
    fn a_reasoning_cap_leaves_a_third_for_the_visible_output() {
        let wire = chat(json!({"model": "o4-mini", "messages": [], "max_completion_tokens": 30}));
        assert_eq!(
            chat_request(wire.unwrap(), true).unwrap().params.max_tokens,
            Some(10)
        );
    }

    #[test]
    fn wrong_types_and_arrays_are_refused() {
        let err = chat(json!({"model": "m", "messages": [], "stop": "x"})).unwrap_err();
        assert!(err.to_string().contains("expected a sequence"), "{err}");
        let err = chat(json!(["m", []])).unwrap_err();
        assert!(
            err.to_string().contains("expected struct ChatRequest"),
            "{err}"
        );
        let err = serde_json::from_str::<CompletionRequest>(r#"["m", "x"]"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("expected struct CompletionRequest"),
            "{err}"
        );
    }

    #[test]
    fn a_completion_is_one_user_message() {
        let wire: CompletionRequest = serde_json::from_value(json!({
            "model": "gpt-3.5-turbo-instruct", "prompt": "Once", "logprobs": 0, "echo": true
        }))
        .unwrap();
        let request = completion_request(wire);
        assert_eq!(request.messages, [Message::new(Role::User, "Once")]);
        assert!(request.params.logprobs);
    }
}
