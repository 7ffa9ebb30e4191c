//! What a body passed through is paced and budgeted as: the request it translates to (its
//! messages with their images, tool calls and results, and its tools, so each is counted
//! as the entry's provider counts it) with its output cap.

use pacer_core::Request;
use pacer_providers::openai::Api;
use serde_json::{Map, Value};

use super::{Dep, Route};
use crate::translate;

/// The request a pass-through `body` to `api` stands for: its prompt (chat messages, the
/// Responses API's instructions and input, or a legacy prompt as one message; left out when
/// the lane counts no prompt) and its output cap (the body's, else the entry's). A body the
/// gateway cannot read, which the upstream may yet take, stands for its prompt's JSON text.
pub(super) fn estimated_as(
    route: &Route,
    dep: &Dep,
    api: Api,
    body: &Map<String, Value>,
) -> Request {
    let model = &dep.upstream_model;
    let stand_in = |field: &str| Request {
        model: model.clone(),
        messages: translate::as_one_message(body, field),
        params: Default::default(),
        inputs: Vec::new(),
    };
    let mut request = if !dep.lane.counts_prompt() {
        Request {
            model: model.clone(),
            messages: Vec::new(),
            params: Default::default(),
            inputs: Vec::new(),
        }
    } else {
        match api {
            Api::Chat => {
                translate::chat::request(model, body).unwrap_or_else(|_| stand_in("messages"))
            }
            Api::Responses => {
                translate::responses::request(model, body).unwrap_or_else(|_| stand_in("input"))
            }
            Api::Completions => stand_in("prompt"),
        }
    };
    request.params.max_tokens = translate::max_tokens(body).or(route.spec.max_tokens);
    request.params.n = translate::n(body);
    request
}

/// The request an Anthropic Messages `body` passed through stands for: its system prompt,
/// messages and tools (left out when the lane counts no prompt; a body the gateway cannot
/// read stands for its messages' JSON text) and its `max_tokens`.
pub(super) fn messages_estimated_as(
    route: &Route,
    dep: &Dep,
    body: &Map<String, Value>,
) -> Request {
    let model = &dep.upstream_model;
    let mut request = if dep.lane.counts_prompt() {
        translate::messages::count_request(model, body).unwrap_or_else(|_| Request {
            model: model.clone(),
            messages: translate::as_one_message(body, "messages"),
            params: Default::default(),
            inputs: Vec::new(),
        })
    } else {
        Request {
            model: model.clone(),
            messages: Vec::new(),
            params: Default::default(),
            inputs: Vec::new(),
        }
    };
    request.params.max_tokens = translate::max_tokens(body).or(route.spec.max_tokens);
    request
}
