//! The Responses API: a body (`input` a string or items, `instructions`, tools and the tool
//! choice, `max_output_tokens`, `temperature`, `top_p`) as Pacer's request, and Pacer's
//! response as a `response` object: a `message` item (`output_text`, or `refusal`) and a
//! `function_call` item per tool call, `status` `incomplete` when the output was cut.

use pacer_core::parse::{self, ShapeError};
use pacer_core::{FinishReason, Message, Request, Response, Role};
use serde_json::{Map, Value, json};

use super::shared_params;

/// The Responses API body as Pacer's request for `model`: `instructions` a system message
/// ahead of the `input`.
pub(crate) fn request(model: &str, body: &Map<String, Value>) -> Result<Request, ShapeError> {
    let mut messages = Vec::new();
    match body.get("instructions") {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => messages.push(Message::new(Role::System, text.as_str())),
        other => return Err(ShapeError::expected("instructions", "a string", other)),
    }
    match body.get("input") {
        Some(Value::String(text)) => messages.push(Message::new(Role::User, text.as_str())),
        Some(items @ Value::Array(_)) => messages.extend(parse::messages("input", items.clone())?),
        other => {
            return Err(ShapeError::expected(
                "input",
                "a string or a non-empty list of input items",
                other,
            ));
        }
    }
    Ok(Request {
        model: model.to_owned(),
        messages,
        params: shared_params(body)?,
        inputs: Vec::new(),
    })
}

/// Pacer's response as a Responses API `response` named `model`, its ids made from `id`.
pub(crate) fn response(id: &str, created: u64, model: &str, response: &Response) -> Value {
    let choice = response.choices.first();
    let cut = choice.and_then(|c| match c.finish_reason {
        FinishReason::Length => Some("max_output_tokens"),
        FinishReason::ContentFilter => Some("content_filter"),
        FinishReason::Stop
        | FinishReason::ToolCalls
        | FinishReason::Refusal
        | FinishReason::Other(_) => None,
    });
    let status = if cut.is_some() {
        "incomplete"
    } else {
        "completed"
    };
    let mut output = Vec::new();
    if let Some(choice) = choice {
        if !choice.text.is_empty() || choice.tool_calls.is_empty() {
            let part = if choice.finish_reason == FinishReason::Refusal {
                json!({"type": "refusal", "refusal": choice.text})
            } else {
                json!({"type": "output_text", "text": choice.text, "annotations": []})
            };
            output.push(json!({
                "type": "message",
                "id": format!("msg_{id}"),
                "status": status,
                "role": "assistant",
                "content": [part],
            }));
        }
        output.extend(choice.tool_calls.iter().enumerate().map(|(i, call)| {
            json!({
                "type": "function_call",
                "id": format!("fc_{id}_{i}"),
                "call_id": call.id,
                "name": call.name,
                "arguments": call.arguments_text(),
                "status": "completed",
            })
        }));
    }
    let u = &response.usage;
    json!({
        "id": format!("resp_{id}"),
        "object": "response",
        "created_at": created,
        "status": status,
        "error": null,
        "incomplete_details": cut.map(|reason| json!({"reason": reason})),
        "model": model,
        "output": output,
        "usage": {
            "input_tokens": u.input_tokens,
            "input_tokens_details": {"cached_tokens": u.cached_input_tokens},
            "output_tokens": u.output_tokens,
            "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
            "total_tokens": u.input_tokens + u.output_tokens,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pacer_core::{Choice, ToolCall, ToolChoice, Usage};

    fn reply(choice: Choice) -> Response {
        Response {
            model_version: None,
            choices: vec![choice],
            embeddings: Vec::new(),
            usage: Usage {
                input_tokens: 5,
                output_tokens: 2,
                ..Usage::default()
            },
            rate_limits: None,
            first_token: None,
        }
    }

    #[test]
    fn reads_instructions_input_items_and_tools() {
        let body = json!({"instructions": "be brief", "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "weather?"},
                {"type": "input_image", "image_url": "https://example.com/a.png"}]},
            {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"}],
            "tools": [{"type": "function", "name": "weather", "parameters": {"type": "object"}}],
            "tool_choice": {"type": "function", "name": "weather"},
            "max_output_tokens": 40, "temperature": 0.2});
        let request = request("m", body.as_object().unwrap()).unwrap();
        let roles: Vec<Role> = request.messages.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [Role::System, Role::User, Role::Assistant, Role::Tool]
        );
        assert!(request.has_images());
        assert_eq!(request.params.max_tokens, Some(40));
        assert_eq!(request.params.temperature, Some(0.2));
        assert_eq!(
            request.params.tool_choice,
            Some(ToolChoice::Tool("weather".into()))
        );
        let plain = request_of(json!({"input": "hi"}));
        assert_eq!(plain.messages[0].text(), "hi");
        let error = super::request(
            "m",
            json!({"input": [{"role": "robot", "content": "x"}]})
                .as_object()
                .unwrap(),
        )
        .unwrap_err();
        assert_eq!(error.field.as_deref(), Some("input[0].role"));
        let error = super::request("m", json!({}).as_object().unwrap()).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("input"));
    }

    fn request_of(body: Value) -> Request {
        request("m", body.as_object().unwrap()).unwrap()
    }

    #[test]
    fn writes_text_calls_refusals_and_cuts() {
        let text = response(
            "gw-1",
            7,
            "m",
            &reply(Choice::text("Hi", FinishReason::Stop)),
        );
        assert_eq!(text["object"], "response");
        assert_eq!(text["status"], "completed");
        assert_eq!(
            text["output"],
            json!([{"type": "message", "id": "msg_gw-1", "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": "Hi", "annotations": []}]}])
        );
        assert_eq!(
            text["usage"],
            json!({"input_tokens": 5, "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": 2, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 7})
        );
        let mut call = Choice::text("", FinishReason::ToolCalls);
        call.tool_calls = vec![ToolCall::from_text("call_9", "f", r#"{"a":1}"#)];
        let called = response("gw-2", 7, "m", &reply(call));
        assert_eq!(
            called["output"],
            json!([{"type": "function_call", "id": "fc_gw-2_0", "call_id": "call_9", "name": "f",
                "arguments": "{\"a\":1}", "status": "completed"}])
        );
        let refused = response(
            "gw-3",
            7,
            "m",
            &reply(Choice::text("No.", FinishReason::Refusal)),
        );
        assert_eq!(
            refused["output"][0]["content"],
            json!([{"type": "refusal", "refusal": "No."}])
        );
        let cut = response(
            "gw-4",
            7,
            "m",
            &reply(Choice::text("a b", FinishReason::Length)),
        );
        assert_eq!(cut["status"], "incomplete");
        assert_eq!(
            cut["incomplete_details"],
            json!({"reason": "max_output_tokens"})
        );
    }
}
