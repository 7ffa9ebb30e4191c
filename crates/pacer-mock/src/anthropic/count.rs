//! `POST /v1/messages/count_tokens`: the input tokens of a Messages body (`model`,
//! `messages`, and `system` and `tools` when there are; no `max_tokens`), as `{"input_tokens":
//! N}`, counted exactly as `POST /v1/messages` counts and reports them. The key, the
//! `anthropic-version` header, the model and the body are checked as there, with the same
//! refusals.
//!
//! Anthropic limits token counting apart from the Messages limits; the mock does not limit
//! it at all. It is free: it charges nothing against any limit or the quota, and no latency
//! or fault applies. `/stats` counts it as an Anthropic request and, answered, as `ok`.

use hyper::StatusCode;
use hyper::body::Incoming;
use serde_json::json;

use super::{Purpose, checked, input_tokens, read, to_request};
use crate::handler::Shared;
use crate::respond::{Dropped, Reply, json_value};
use crate::stats::Counters;

/// `POST /v1/messages/count_tokens`.
pub(crate) async fn count_tokens(
    shared: &Shared,
    req: hyper::Request<Incoming>,
) -> Result<Reply, Dropped> {
    let body = match read(shared, req).await? {
        Ok(body) => body,
        Err(reply) => return Ok(reply),
    };
    let counted = checked(shared, &body, Purpose::Count)
        .and_then(to_request)
        .map(|request| input_tokens(&request));
    match counted {
        Ok(tokens) => {
            Counters::bump(&shared.counters.ok);
            Ok(json_value(StatusCode::OK, &json!({"input_tokens": tokens})))
        }
        Err(reply) => Ok(shared.refused(*reply)),
    }
}
