//! Gemini's Batch Mode: `models/{model}:batchGenerateContent` with the requests inline,
//! each a `GenerateContentRequest` and its metadata, answered as a long-running operation
//! (`batches/<n>`) that the client polls. Once succeeded, the operation holds every
//! response inline, in the order of the requests (as Gemini documents), both where the API
//! reference puts them (`response`) and where Google's SDKs read them (`metadata.output`).
//! A batch with any line expired ends `BATCH_STATE_EXPIRED` with no responses at all.

use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::clock::{End, Phase};
use super::draw::Fate;
use super::lines::{Outcome, Sent};
use super::store::{Api, Batch};
use crate::gemini::{self as generate, error, exhausted};
use crate::handler::{BodyError, Shared, read_body};
use crate::respond::{Dropped, Reply, json_value};
use crate::stats::Counters;
use crate::timefmt::rfc3339;

/// The type of an operation's metadata.
const BATCH_TYPE: &str =
    "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch";
/// The type of a succeeded operation's response.
const OUTPUT_TYPE: &str =
    "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput";

/// A Gemini batch endpoint.
#[derive(Debug)]
pub(crate) enum Route {
    /// `POST .../models/{model}:batchGenerateContent`.
    Create(String),
    /// `GET .../batches/{n}`.
    Get(String),
    /// `GET .../batches`.
    List,
    /// `POST .../batches/{n}:cancel`.
    Cancel(String),
    /// `DELETE .../batches/{n}`.
    Delete(String),
}

/// Whether a `/v1/batches` request is Gemini's rather than OpenAI's: it carries Gemini's
/// key or paging.
fn looks_like_gemini<B>(req: &hyper::Request<B>) -> bool {
    req.headers().contains_key("x-goog-api-key")
        || ["key", "pageSize", "pageToken"]
            .iter()
            .any(|name| super::query(req, name).is_some())
}

/// The Gemini batch endpoint `req` is for, if any.
pub(super) fn route<B>(req: &hyper::Request<B>) -> Option<Route> {
    let (method, path) = (req.method(), req.uri().path());
    if method == Method::POST
        && let Some(model) = generate::model_calling(path, "batchGenerateContent")
    {
        return Some(Route::Create(model));
    }
    let (rest, beta) = match path.strip_prefix("/v1beta/batches") {
        Some(rest) => (rest, true),
        None => (path.strip_prefix("/v1/batches")?, false),
    };
    // Under `/v1`, OpenAI's ids are `batch_<n>`; Gemini's are bare numbers.
    let ours = |id: &str| beta || (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()));
    match (method, rest.strip_prefix('/')) {
        (&Method::GET, None) if rest.is_empty() => {
            (beta || looks_like_gemini(req)).then_some(Route::List)
        }
        (&Method::GET, Some(id)) if ours(id) => Some(Route::Get(id.to_owned())),
        (&Method::POST, Some(id)) => id
            .strip_suffix(":cancel")
            .filter(|id| ours(id))
            .map(|id| Route::Cancel(id.to_owned())),
        (&Method::DELETE, Some(id)) if ours(id) => Some(Route::Delete(id.to_owned())),
        _ => None,
    }
}

/// Serves a Gemini batch request, once its key is checked.
pub(super) async fn serve(
    shared: &Shared,
    route: Route,
    req: hyper::Request<Incoming>,
) -> Result<Reply, Dropped> {
    if let Some(reply) = generate::key_refused(shared, &req) {
        return Ok(reply);
    }
    let now = Instant::now();
    Ok(match route {
        Route::Create(model) => return create(shared, &model, req).await,
        Route::Get(id) => match find(shared, &id) {
            Ok(batch) => json_value(StatusCode::OK, &operation(shared, &batch, now)),
            Err(reply) => *reply,
        },
        Route::List => list(shared, &req, now),
        Route::Cancel(id) => match find(shared, &id) {
            Ok(batch) => {
                if let Some((_, true)) = shared.batches.cancel(batch.number, now, Duration::ZERO) {
                    Counters::bump(&shared.counters.batches_cancelled);
                }
                json_value(StatusCode::OK, &json!({}))
            }
            Err(reply) => *reply,
        },
        Route::Delete(id) => match find(shared, &id) {
            Ok(batch) => {
                shared.batches.remove(batch.number);
                json_value(StatusCode::OK, &json!({}))
            }
            Err(reply) => *reply,
        },
    })
}

/// What Gemini keeps of a batch besides its lines.
#[derive(Debug)]
pub(crate) struct Submission {
    model: String,
    display_name: String,
}

/// The Gemini batch numbered `id` (`batches/<id>`), or the 404.
fn find(shared: &Shared, id: &str) -> Result<Batch, Box<Reply>> {
    id.parse()
        .ok()
        .and_then(|n| shared.batches.get(n))
        .filter(|b| matches!(b.api, Api::Gemini(_)))
        .ok_or_else(|| {
            Box::new(error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "Requested entity was not found.",
                Vec::new(),
            ))
        })
}

/// A line's request and metadata.
type Request = (Value, Option<Value>);

/// The display name and requests of a create body, or what is wrong with it in Google's
/// words.
fn parse(body: &[u8]) -> Result<(String, Vec<Request>), String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("Invalid JSON payload received. {e}"))?;
    let Some(batch) = value.get("batch").filter(|b| b.is_object()) else {
        return Err("* BatchGenerateContentRequest.batch: batch is required".into());
    };
    let display_name = batch["displayName"].as_str().unwrap_or_default().to_owned();
    let Some(input) = batch.get("inputConfig").filter(|i| i.is_object()) else {
        return Err("* GenerateContentBatch.input_config: input_config is required".into());
    };
    if input.get("fileName").is_some() {
        return Err(
            "pacer mock takes inline requests only (inputConfig.requests), not a file.".into(),
        );
    }
    let requests = input
        .pointer("/requests/requests")
        .and_then(Value::as_array);
    let Some(requests) = requests.filter(|r| !r.is_empty()) else {
        return Err("* InputConfig.requests.requests: at least one request is required".into());
    };
    let mut out = Vec::with_capacity(requests.len());
    for (i, item) in requests.iter().enumerate() {
        let Some(request) = item.get("request").filter(|r| r.is_object()) else {
            return Err(format!(
                "* InlinedRequests.requests[{i}].request: request is required"
            ));
        };
        out.push((request.clone(), item.get("metadata").cloned()));
    }
    Ok((display_name, out))
}

/// `POST .../models/{model}:batchGenerateContent`.
async fn create(
    shared: &Shared,
    model: &str,
    req: hyper::Request<Incoming>,
) -> Result<Reply, Dropped> {
    let body = match read_body(req.into_body()).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => return Ok(generate::too_large()),
        Err(BodyError::Gone) => return Err(Dropped),
    };
    if !shared.serves(model) {
        return Ok(generate::unknown_model(model));
    }
    let (display_name, requests) = match parse(&body) {
        Ok(parsed) => parsed,
        Err(message) => return Ok(generate::bad_request(message)),
    };
    let number = shared.batches.number();
    let sent = requests
        .into_iter()
        .enumerate()
        .map(|(i, (request, metadata))| {
            let body = serde_json::to_vec(&request).unwrap_or_default();
            let cost = generate::prepare(shared, model, &body)
                .ok()
                .map(|p| (p.job.request.model.clone(), p.job.cost.tokens));
            Sent {
                key: i.to_string(),
                body,
                metadata,
                cost,
            }
        })
        .collect();
    let submission = Submission {
        model: model.to_owned(),
        display_name,
    };
    let api = Api::Gemini(Arc::new(submission));
    let batch = Batch::new(shared, number, &format!("batches/{number}"), sent, api);
    let limit = shared.config.batch.queue_tokens;
    let c = &shared.counters;
    if let Err(model) = shared.batches.enqueue(Instant::now(), batch.clone(), limit) {
        Counters::bump(&c.batches_refused);
        return Ok(exhausted(
            "generativelanguage.googleapis.com/batch_enqueued_tokens",
            "BatchEnqueuedTokensPerModelPerProject",
            limit,
            &model,
            None,
        ));
    }
    Counters::bump(&c.batches_created);
    Counters::add(&c.batch_lines_submitted, batch.lines.len() as u64);
    Ok(json_value(
        StatusCode::OK,
        &operation(shared, &batch, Instant::now()),
    ))
}

/// The state Gemini reports for `batch` at `now`.
fn state(batch: &Batch, phase: Phase) -> &'static str {
    match phase {
        Phase::Validating => "BATCH_STATE_PENDING",
        Phase::InProgress | Phase::Finalizing | Phase::Cancelling => "BATCH_STATE_RUNNING",
        Phase::Ended(End::Processed) if batch.count(Fate::Expired) > 0 => "BATCH_STATE_EXPIRED",
        Phase::Ended(End::Processed) => "BATCH_STATE_SUCCEEDED",
        Phase::Ended(End::Cancelled) => "BATCH_STATE_CANCELLED",
        Phase::Ended(End::Failed) => "BATCH_STATE_FAILED",
    }
}

/// The operation of `batch` at `now`.
fn operation(shared: &Shared, batch: &Batch, now: Instant) -> Value {
    let Api::Gemini(submission) = &batch.api else {
        return Value::Null;
    };
    let t = &batch.timeline;
    let phase = t.phase(now);
    let state = state(batch, phase);
    let succeeded = state == "BATCH_STATE_SUCCEEDED";
    let n = batch.lines.len() as u64;
    let [successful, failed, pending] = if succeeded {
        let failed = batch.count(Fate::Refused) + batch.count(Fate::Failed);
        [batch.count(Fate::Answered), failed, 0]
    } else {
        [0, 0, n]
    };
    let ended = matches!(phase, Phase::Ended(_));
    let updated = if ended {
        t.wall(t.ends())
    } else if t.reached(t.started(), now) {
        t.wall(t.started())
    } else {
        t.created_at()
    };
    let name = format!("batches/{}", batch.number);
    let mut metadata = json!({
        "@type": BATCH_TYPE,
        "model": format!("models/{}", submission.model),
        "name": name,
        "displayName": submission.display_name,
        "createTime": rfc3339(t.created_at()),
        "updateTime": rfc3339(updated),
        "batchStats": {
            // int64 fields, which proto3's JSON writes as strings.
            "requestCount": n.to_string(),
            "successfulRequestCount": successful.to_string(),
            "failedRequestCount": failed.to_string(),
            "pendingRequestCount": pending.to_string(),
        },
        "state": state,
    });
    if ended {
        metadata["endTime"] = Value::from(rfc3339(t.wall(t.ends())));
    }
    let mut operation = json!({"name": name, "metadata": metadata, "done": ended});
    if succeeded {
        let responses = json!({"inlinedResponses": responses(shared, batch, &submission.model)});
        operation["metadata"]["output"] = json!({"inlinedResponses": responses.clone()});
        operation["response"] = json!({"@type": OUTPUT_TYPE, "inlinedResponses": responses});
    }
    operation
}

/// Each line's response (or error), with its metadata, in the order of the requests.
fn responses(shared: &Shared, batch: &Batch, model: &str) -> Vec<Value> {
    let answer =
        |body: &[u8], reply: u64| Ok(generate::prepare(shared, model, body)?.render(reply));
    let failure = || {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "Internal error encountered.",
            Vec::new(),
        )
    };
    let status = |code: u16, status: &str, message: &str| json!({"code": code, "message": message, "status": status});
    (0..batch.lines.len())
        .map(|i| {
            let mut entry = match batch.outcome(i, false, answer, failure) {
                Outcome::Answered(response) => json!({"response": response}),
                Outcome::Errored(_, body) => json!({"error": body["error"]}),
                Outcome::Expired => {
                    json!({"error": status(504, "DEADLINE_EXCEEDED", "The batch expired.")})
                }
                Outcome::Cancelled => {
                    json!({"error": status(499, "CANCELLED", "The batch was cancelled.")})
                }
            };
            if let Some(metadata) = &batch.lines[i].metadata {
                entry["metadata"] = metadata.clone();
            }
            entry
        })
        .collect()
}

/// `GET .../batches?pageSize=N&pageToken=T`: newest first.
fn list<B>(shared: &Shared, req: &hyper::Request<B>, now: Instant) -> Reply {
    let size = super::page_size(req, "pageSize", 50, 1000);
    let after = super::query(req, "pageToken").and_then(|t| t.parse().ok());
    let all = shared.batches.list(|b| matches!(b.api, Api::Gemini(_)));
    let (page, more) = super::page(all, after, None, size);
    let operations: Vec<Value> = page.iter().map(|b| operation(shared, b, now)).collect();
    let mut body = json!({"operations": operations});
    if more && let Some(last) = page.last() {
        body["nextPageToken"] = Value::from(last.number.to_string());
    }
    json_value(StatusCode::OK, &body)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn create_bodies_are_checked_in_googles_words() {
        assert!(parse(b"{").unwrap_err().starts_with("Invalid JSON payload"));
        assert!(parse(b"{}").unwrap_err().contains("batch is required"));
        let body = br#"{"batch": {"inputConfig": {"fileName": "files/x"}}}"#;
        assert!(parse(body).unwrap_err().contains("inline requests only"));
        let body = br#"{"batch": {"inputConfig": {"requests": {"requests": []}}}}"#;
        assert!(parse(body).unwrap_err().contains("at least one request"));
        let body = br#"{"batch": {"displayName": "d", "inputConfig": {"requests": {"requests": [
            {"request": {"contents": []}, "metadata": {"key": "a"}}, {"request": {}}]}}}}"#;
        let (name, requests) = parse(body).unwrap();
        assert_eq!(name, "d");
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].1.as_ref().unwrap()["key"], "a");
        assert!(requests[1].1.is_none());
    }
}
