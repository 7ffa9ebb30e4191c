//! OpenAI's Batch API: input files uploaded to `/v1/files`, batches made of them at
//! `/v1/batches`, their results served back as output and error files. Batches of
//! `/v1/chat/completions`, `/v1/completions`, `/v1/embeddings` and `/v1/responses` lines
//! are served, each line answered with the body its live endpoint gives.
//!
//! As OpenAI does, the input file is checked when the batch is created: a file that cannot
//! be found, a line that is not JSON or lacks a field, a repeated `custom_id`, a streaming
//! request or a model not served makes a batch that is created `failed`, its `errors`
//! listing each line at fault; so does the enqueued-token limit. A body the live endpoint
//! would refuse for its parameters is a line whose result is that 4xx.

mod endpoint;
mod files;
mod input;
mod output;

use hyper::body::Incoming;
use hyper::{Method, StatusCode};
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::clock::{End, Phase};
use super::lines::Sent;
use super::store::{Api, Batch};
use crate::endpoints;
use crate::handler::{BodyError, Shared, read_body};
use crate::respond::{Dropped, Reply, bad_request, error, json_value};
use crate::stats::Counters;
use endpoint::Endpoint;

/// An OpenAI batch or file endpoint.
#[derive(Debug)]
pub(crate) enum Route {
    /// `POST /v1/files`.
    Upload,
    /// `GET /v1/files/{id}`.
    File(String),
    /// `GET /v1/files/{id}/content`.
    Content(String),
    /// `DELETE /v1/files/{id}`.
    DeleteFile(String),
    /// `POST /v1/batches`.
    Create,
    /// `GET /v1/batches/{id}`.
    Get(String),
    /// `GET /v1/batches`.
    List,
    /// `POST /v1/batches/{id}/cancel`.
    Cancel(String),
}

/// The OpenAI batch or file endpoint at `path`, if any.
pub(super) fn route(method: &Method, path: &str) -> Option<Route> {
    if let Some(rest) = path.strip_prefix("/v1/files") {
        let id = rest.strip_prefix('/');
        return match (method, id) {
            (&Method::POST, None) if rest.is_empty() => Some(Route::Upload),
            (&Method::GET, Some(id)) => Some(match id.strip_suffix("/content") {
                Some(id) => Route::Content(id.to_owned()),
                None => Route::File(id.to_owned()),
            }),
            (&Method::DELETE, Some(id)) => Some(Route::DeleteFile(id.to_owned())),
            _ => None,
        };
    }
    let rest = path.strip_prefix("/v1/batches")?;
    match (method, rest.strip_prefix('/')) {
        (&Method::POST, None) if rest.is_empty() => Some(Route::Create),
        (&Method::GET, None) if rest.is_empty() => Some(Route::List),
        (&Method::GET, Some(id)) => Some(Route::Get(id.to_owned())),
        (&Method::POST, Some(id)) => id
            .strip_suffix("/cancel")
            .map(|id| Route::Cancel(id.to_owned())),
        _ => None,
    }
}

/// Serves an OpenAI batch or file request, once its key is checked.
pub(super) async fn serve(
    shared: &Shared,
    route: Route,
    req: hyper::Request<Incoming>,
) -> Result<Reply, Dropped> {
    if let Some(reply) = shared.openai_key_refused(req.headers()) {
        return Ok(reply);
    }
    let now = Instant::now();
    Ok(match route {
        Route::Upload => return files::upload(shared, req).await,
        Route::File(id) => files::get(shared, &id, now),
        Route::Content(id) => files::content(shared, &id, now),
        Route::DeleteFile(id) => files::delete(shared, &id, now),
        Route::Create => return create(shared, req).await,
        Route::Get(id) => get(shared, &id, now),
        Route::List => list(shared, &req, now),
        Route::Cancel(id) => cancel(shared, &id, now),
    })
}

/// What OpenAI keeps of a batch besides its lines.
#[derive(Debug)]
pub(crate) struct Submission {
    input_file_id: String,
    endpoint: Endpoint,
    metadata: Value,
    /// Why it failed at creation (its `errors.data`), if it did.
    errors: Option<Vec<Value>>,
    /// The model of its first line.
    model: Option<String>,
}

/// The batch object of an OpenAI batch (null for another API's, which no caller passes).
fn object(batch: &Batch, now: Instant) -> Value {
    match &batch.api {
        Api::OpenAi(submission) => output::object(batch, submission, now),
        Api::Anthropic | Api::Gemini(_) => Value::Null,
    }
}

/// The number in a batch id `batch_<n>`.
fn number(id: &str) -> Option<u64> {
    id.strip_prefix("batch_")?.parse().ok()
}

/// The OpenAI batch `id`, or the 404.
fn find(shared: &Shared, id: &str) -> Result<Batch, Box<Reply>> {
    number(id)
        .and_then(|n| shared.batches.get(n))
        .filter(|b| matches!(b.api, Api::OpenAi(_)))
        .ok_or_else(|| Box::new(no_batch(id)))
}

/// OpenAI's 404 for a batch it does not hold.
fn no_batch(id: &str) -> Reply {
    error(
        StatusCode::NOT_FOUND,
        format!("No batch found with id '{id}'."),
        "invalid_request_error",
        None,
        None,
    )
}

/// What a create request asks for.
struct Create {
    input_file_id: String,
    endpoint: Endpoint,
    metadata: Value,
}

/// The string field `name` of a create body, or the 400 for its absence or type.
fn required<'a>(body: &'a Map<String, Value>, name: &str) -> Result<&'a str, Box<Reply>> {
    match body.get(name) {
        None | Some(Value::Null) => Err(Box::new(bad_request(
            format!("Missing required parameter: '{name}'."),
            Some(name),
            Some("missing_required_parameter"),
        ))),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(Box::new(bad_request(
            format!("Invalid type for '{name}': expected a string."),
            Some(name),
            Some("invalid_type"),
        ))),
    }
}

/// A create body read and checked.
fn read_create(body: &[u8]) -> Result<Create, Box<Reply>> {
    let body: Map<String, Value> = endpoints::parse(body)?;
    let input_file_id = required(&body, "input_file_id")?.to_owned();
    let path = required(&body, "endpoint")?;
    let window = required(&body, "completion_window")?;
    let Some(endpoint) = Endpoint::ALL.into_iter().find(|e| e.path() == path) else {
        return Err(Box::new(bad_request(
            format!(
                "Invalid value: '{path}'. Supported values are: '/v1/chat/completions', \
                 '/v1/completions', '/v1/embeddings' and '/v1/responses'."
            ),
            Some("endpoint"),
            Some("invalid_value"),
        )));
    };
    if window != "24h" {
        return Err(Box::new(bad_request(
            format!("Invalid value: '{window}'. Supported values are: '24h'."),
            Some("completion_window"),
            Some("invalid_value"),
        )));
    }
    let metadata = body.get("metadata").cloned().unwrap_or(Value::Null);
    if let Value::Object(pairs) = &metadata
        && let Some((key, _)) = pairs.iter().find(|(_, v)| !v.is_string())
    {
        return Err(Box::new(bad_request(
            format!("Invalid type for 'metadata.{key}': expected a string."),
            Some(&format!("metadata.{key}")),
            Some("invalid_type"),
        )));
    }
    Ok(Create {
        input_file_id,
        endpoint,
        metadata,
    })
}

/// `POST /v1/batches`.
async fn create(shared: &Shared, req: hyper::Request<Incoming>) -> Result<Reply, Dropped> {
    let body = match read_body(req.into_body()).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            return Ok(bad_request("The request body is too large.", None, None));
        }
        Err(BodyError::Gone) => return Err(Dropped),
    };
    let create = match read_create(&body) {
        Ok(create) => create,
        Err(reply) => return Ok(*reply),
    };
    let number = shared.batches.number();
    let id = format!("batch_{number}");
    let submission = |errors, model| {
        Api::OpenAi(std::sync::Arc::new(Submission {
            input_file_id: create.input_file_id.clone(),
            endpoint: create.endpoint,
            metadata: create.metadata.clone(),
            errors,
            model,
        }))
    };
    let sent = input::read(shared, &create.input_file_id, create.endpoint);
    let batch = match sent {
        Ok(sent) => enqueue(shared, number, &id, sent, submission),
        Err(errors) => refuse(shared, number, submission(Some(errors), None)),
    };
    Ok(json_value(StatusCode::OK, &object(&batch, Instant::now())))
}

/// Stores a batch of `sent`, or a failed one when it would pass the queue limit.
fn enqueue(
    shared: &Shared,
    number: u64,
    id: &str,
    sent: Vec<Sent>,
    submission: impl Fn(Option<Vec<Value>>, Option<String>) -> Api,
) -> Batch {
    let model = sent
        .iter()
        .find_map(|s| s.cost.as_ref().map(|(m, _)| m.clone()));
    let batch = Batch::new(shared, number, id, sent, submission(None, model.clone()));
    let limit = shared.config.batch.queue_tokens;
    match shared.batches.enqueue(Instant::now(), batch.clone(), limit) {
        Ok(()) => {
            let c = &shared.counters;
            Counters::bump(&c.batches_created);
            Counters::add(&c.batch_lines_submitted, batch.lines.len() as u64);
            batch
        }
        Err(over) => {
            Counters::bump(&shared.counters.batches_refused);
            let limit = limit.unwrap_or_default();
            let error = json!({
                "code": "token_limit_exceeded",
                "message": format!(
                    "Enqueued token limit reached for {over} in organization org-mock. Limit: \
                     {limit} enqueued tokens. Please try submitting fewer tokens or wait for \
                     batches to complete."
                ),
                "param": null,
                "line": null,
            });
            refuse(shared, number, submission(Some(vec![error]), model))
        }
    }
}

/// Stores a batch that failed at creation.
fn refuse(shared: &Shared, number: u64, api: Api) -> Batch {
    let batch = Batch::failed(number, api);
    shared.batches.insert(batch.clone());
    batch
}

/// `GET /v1/batches/{id}`.
fn get(shared: &Shared, id: &str, now: Instant) -> Reply {
    match find(shared, id) {
        Ok(batch) => json_value(StatusCode::OK, &object(&batch, now)),
        Err(reply) => *reply,
    }
}

/// `GET /v1/batches?limit=N&after=ID`: newest first.
fn list<B>(shared: &Shared, req: &hyper::Request<B>, now: Instant) -> Reply {
    let limit = super::page_size(req, "limit", 20, 100);
    let after = super::query(req, "after").and_then(|id| number(&id));
    let all = shared.batches.list(|b| matches!(b.api, Api::OpenAi(_)));
    let (page, has_more) = super::page(all, after, None, limit);
    let data: Vec<Value> = page.iter().map(|b| object(b, now)).collect();
    let id = |b: Option<&Batch>| b.map(|b| format!("batch_{}", b.number));
    json_value(
        StatusCode::OK,
        &json!({
            "object": "list",
            "data": data,
            "first_id": id(page.first()),
            "last_id": id(page.last()),
            "has_more": has_more,
        }),
    )
}

/// `POST /v1/batches/{id}/cancel`: `cancelling`, then `cancelled`; a 409 for a batch that
/// has completed, failed or expired.
fn cancel(shared: &Shared, id: &str, now: Instant) -> Reply {
    let batch = match find(shared, id) {
        Ok(batch) => batch,
        Err(reply) => return *reply,
    };
    if let Phase::Ended(End::Processed | End::Failed) = batch.timeline.phase(now) {
        let status = output::status(&batch, now);
        return error(
            StatusCode::CONFLICT,
            format!("Cannot cancel a batch with status '{status}'."),
            "invalid_request_error",
            None,
            None,
        );
    }
    let grace = shared.config.batch.processing / 10;
    let Some((batch, cancelled)) = shared.batches.cancel(batch.number, now, grace) else {
        return no_batch(id);
    };
    if cancelled {
        Counters::bump(&shared.counters.batches_cancelled);
    }
    json_value(StatusCode::OK, &object(&batch, now))
}
