//! A response of the Responses API, as OpenAI writes it: `status` `completed`, or
//! `incomplete` with `incomplete_details.reason` `max_output_tokens` when the output was
//! cut; `output` holding a `reasoning` item for a reasoning model, then a `message` (an
//! `output_text` part, with `logprobs` when included, or a `refusal` part) or one
//! `function_call` item per call; `usage` in the API's own names.

use pacer_core::{FinishReason, Response, TokenLogprob};
use serde_json::{Map, Value, json};

use crate::replies::Usage;

/// How a response is written: what the request asked for that the reply shows.
#[derive(Clone, Debug)]
pub(crate) struct Shape {
    /// Whether the model reasons (a `reasoning` item, reasoning tokens).
    pub(crate) reasoning: bool,
    /// Alternatives per token, when `include` asks for the output's log-probabilities.
    pub(crate) logprobs: Option<usize>,
    /// The request's fields the response echoes (`instructions`, `max_output_tokens`,
    /// `temperature`, `tools`, ...), in the order they are written.
    pub(crate) echo: Map<String, Value>,
}

/// A token and its log-probability, with its UTF-8 bytes, as the Responses API lists them.
fn token(token: &str, logprob: f64) -> Value {
    json!({"token": token, "logprob": logprob, "bytes": token.as_bytes()})
}

/// The `logprobs` of an `output_text` part: each token with its `k` alternatives.
fn logprobs(lps: &[TokenLogprob], k: usize) -> Value {
    lps.iter()
        .map(|lp| {
            let top: Vec<Value> = lp
                .top_tokens
                .iter()
                .zip(&lp.top_logprobs)
                .take(k)
                .map(|(t, l)| token(t, *l))
                .collect();
            let mut chosen = token(&lp.token, lp.logprob);
            chosen["top_logprobs"] = Value::Array(top);
            chosen
        })
        .collect()
}

impl Shape {
    /// The response to `reply`, the server's `id`-th, created at `created` (Unix seconds).
    pub(crate) fn render(&self, id: u64, created: u64, reply: Response, usage: Usage) -> Value {
        let choice = reply.choices.into_iter().next();
        let cut = choice
            .as_ref()
            .is_some_and(|c| c.finish_reason == FinishReason::Length);
        let status = if cut { "incomplete" } else { "completed" };
        let mut output = Vec::new();
        if self.reasoning {
            output.push(
                json!({"type": "reasoning", "id": format!("rs_mock{id:016}"), "summary": []}),
            );
        }
        if let Some(choice) = choice {
            if !choice.tool_calls.is_empty() {
                output.extend(choice.tool_calls.iter().enumerate().map(|(i, call)| {
                    json!({
                        "type": "function_call",
                        "id": format!("fc_mock{id:016}_{i}"),
                        "call_id": call.id,
                        "name": call.name,
                        "arguments": call.arguments_text(),
                        "status": "completed",
                    })
                }));
            } else {
                let part = if choice.finish_reason == FinishReason::Refusal {
                    json!({"type": "refusal", "refusal": choice.text})
                } else {
                    let mut part =
                        json!({"type": "output_text", "text": choice.text, "annotations": []});
                    if let Some(k) = self.logprobs {
                        let lps = choice.logprobs.as_deref().unwrap_or(&[]);
                        part["logprobs"] = logprobs(lps, k);
                    }
                    part
                };
                output.push(json!({
                    "type": "message",
                    "id": format!("msg_mock{id:016}"),
                    "status": status,
                    "role": "assistant",
                    "content": [part],
                }));
            }
        }
        let mut body = json!({
            "id": format!("resp_mock{id:016}"),
            "object": "response",
            "created_at": created,
            "status": status,
            "error": null,
            "incomplete_details": cut.then(|| json!({"reason": "max_output_tokens"})),
            "model": reply.model_version,
            "output": output,
            "parallel_tool_calls": true,
            "previous_response_id": null,
        });
        if let Value::Object(fields) = &mut body {
            fields.extend(self.echo.clone());
            fields.insert(
                "usage".into(),
                json!({
                    "input_tokens": usage.prompt_tokens,
                    "input_tokens_details": {"cached_tokens": 0},
                    "output_tokens": usage.completion_tokens,
                    "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens.unwrap_or(0)},
                    "total_tokens": usage.prompt_tokens + usage.completion_tokens,
                }),
            );
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use pacer_core::{Choice, FinishReason, Response, TokenLogprob, ToolCall, Usage as Billed};
    use serde_json::{Map, json};

    use super::Shape;
    use crate::replies::Usage;

    fn response(choice: Choice) -> Response {
        Response {
            model_version: Some("m-1".into()),
            choices: vec![choice],
            embeddings: Vec::new(),
            usage: Billed::default(),
            rate_limits: None,
            first_token: None,
        }
    }

    fn shape(reasoning: bool, logprobs: Option<usize>) -> Shape {
        let mut echo = Map::new();
        echo.insert("store".into(), json!(true));
        Shape {
            reasoning,
            logprobs,
            echo,
        }
    }

    #[test]
    fn a_text_reply_is_one_message_with_its_usage() {
        let mut choice = Choice::text("Hi", FinishReason::Stop);
        choice.logprobs = Some(vec![TokenLogprob {
            token_position: 0,
            token: "Hi".into(),
            logprob: -0.5,
            top_tokens: vec!["Hi".into(), "Yo".into()],
            top_logprobs: vec![-0.5, -1.5],
        }]);
        let body = shape(false, Some(1)).render(3, 100, response(choice), Usage::new(5, 1, false));
        assert_eq!(body["object"], "response");
        assert_eq!(body["status"], "completed");
        assert_eq!(body["incomplete_details"], json!(null));
        assert_eq!(body["store"], true);
        assert_eq!(
            body["output"],
            json!([{
                "type": "message", "id": "msg_mock0000000000000003", "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Hi", "annotations": [],
                    "logprobs": [{"token": "Hi", "logprob": -0.5, "bytes": [72, 105],
                        "top_logprobs": [{"token": "Hi", "logprob": -0.5, "bytes": [72, 105]}]}]}],
            }])
        );
        assert_eq!(
            body["usage"],
            json!({"input_tokens": 5, "input_tokens_details": {"cached_tokens": 0},
                   "output_tokens": 1, "output_tokens_details": {"reasoning_tokens": 0},
                   "total_tokens": 6})
        );
    }

    #[test]
    fn reasoning_cuts_calls_and_refusals() {
        let cut = Choice::text("a b", FinishReason::Length);
        let body = shape(true, None).render(1, 0, response(cut), Usage::new(5, 2, true));
        assert_eq!(body["status"], "incomplete");
        assert_eq!(body["incomplete_details"]["reason"], "max_output_tokens");
        assert_eq!(body["output"][0]["type"], "reasoning");
        assert_eq!(body["output"][1]["status"], "incomplete");
        assert_eq!(
            body["usage"]["output_tokens_details"]["reasoning_tokens"],
            4
        );

        let mut call = Choice::text("", FinishReason::ToolCalls);
        call.tool_calls = vec![ToolCall::from_text("call_9", "f", "{}")];
        let body = shape(false, None).render(1, 0, response(call), Usage::new(5, 2, false));
        assert_eq!(
            body["output"],
            json!([{"type": "function_call", "id": "fc_mock0000000000000001_0",
                    "call_id": "call_9", "name": "f", "arguments": "{}", "status": "completed"}])
        );
        let refusal = Choice::text("No.", FinishReason::Refusal);
        let body = shape(false, None).render(1, 0, response(refusal), Usage::new(5, 1, false));
        assert_eq!(
            body["output"][0]["content"],
            json!([{"type": "refusal", "refusal": "No."}])
        );
    }
}
