//! Anthropic's Message Batches API, `/v1/messages/batches`: a batch is created with its
//! requests inline, each a `custom_id` and the `params` of a Messages request. As Anthropic
//! does, the batch's shape is checked at once (400s) and each request's params when it is
//! processed: a request the live `/v1/messages` would refuse is `errored` in the results
//! with that refusal. Results are served, shuffled, once the batch has ended.

use std::collections::HashSet;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::clock::{End, Phase};
use super::draw::Fate;
use super::lines::{Outcome, Sent};
use super::store::{Api, Batch};
use crate::anthropic::{self as messages, error};
use crate::handler::{BodyError, Shared, read_body_up_to};
use crate::respond::{Dropped, Reply, json, json_value, serialize};
use crate::stats::Counters;
use crate::timefmt::rfc3339;

/// The most requests a batch may hold.
const MAX_REQUESTS: usize = 100_000;
/// The largest batch body.
const MAX_BYTES: usize = 256 << 20;
/// How long Anthropic gives a batch before it expires, as `expires_at` reports it.
const WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// An Anthropic batch endpoint.
#[derive(Debug)]
pub(crate) enum Route {
    /// `POST /v1/messages/batches`.
    Create,
    /// `GET /v1/messages/batches`.
    List,
    /// `GET /v1/messages/batches/{id}`.
    Get(String),
    /// `POST /v1/messages/batches/{id}/cancel`.
    Cancel(String),
    /// `GET /v1/messages/batches/{id}/results`.
    Results(String),
}

/// The Anthropic batch endpoint at `path`, if any.
pub(super) fn route(method: &Method, path: &str) -> Option<Route> {
    let rest = path.strip_prefix("/v1/messages/batches")?;
    match (method, rest.strip_prefix('/')) {
        (&Method::POST, None) if rest.is_empty() => Some(Route::Create),
        (&Method::GET, None) if rest.is_empty() => Some(Route::List),
        (&Method::GET, Some(id)) => Some(match id.strip_suffix("/results") {
            Some(id) => Route::Results(id.to_owned()),
            None => Route::Get(id.to_owned()),
        }),
        (&Method::POST, Some(id)) => id
            .strip_suffix("/cancel")
            .map(|id| Route::Cancel(id.to_owned())),
        _ => None,
    }
}

/// Serves an Anthropic batch request, once its key and `anthropic-version` are checked.
pub(super) async fn serve(
    shared: &Shared,
    route: Route,
    req: hyper::Request<Incoming>,
) -> Result<Reply, Dropped> {
    let headers = req.headers();
    if let Some(reply) =
        messages::key_refused(shared, headers).or_else(|| messages::version_missing(headers))
    {
        return Ok(reply);
    }
    // The results URL is absolute: this server as the client reached it.
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let base = format!("http://{host}");
    let now = Instant::now();
    Ok(match route {
        Route::Create => return create(shared, req, &base).await,
        Route::List => list(shared, &req, &base, now),
        Route::Get(id) => match find(shared, &id) {
            Ok(batch) => json_value(StatusCode::OK, &object(&batch, now, &base)),
            Err(reply) => *reply,
        },
        Route::Cancel(id) => cancel(shared, &id, &base, now),
        Route::Results(id) => results(shared, &id, now),
    })
}

/// The id of batch `number`.
fn id(number: u64) -> String {
    format!("msgbatch_{number}")
}

/// The Anthropic batch `id`, or the 404.
fn find(shared: &Shared, id: &str) -> Result<Batch, Box<Reply>> {
    id.strip_prefix("msgbatch_")
        .and_then(|n| n.parse().ok())
        .and_then(|n| shared.batches.get(n))
        .filter(|b| matches!(b.api, Api::Anthropic))
        .ok_or_else(|| Box::new(not_found(id)))
}

/// Anthropic's 404 for a batch it does not hold.
fn not_found(id: &str) -> Reply {
    error(
        StatusCode::NOT_FOUND,
        "not_found_error",
        format!("No message batch found with id '{id}'."),
    )
}

/// Whether `id` matches `^[a-zA-Z0-9_-]{1,64}$`.
fn valid_custom_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The requests of a create body, each its `custom_id` and its params' JSON, or what is
/// wrong with them in Anthropic's words.
fn parse(body: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| format!("There was an error parsing the body of your request: {e}"))?;
    let Some(requests) = value.get("requests") else {
        return Err("requests: Field required".into());
    };
    let Some(requests) = requests.as_array() else {
        return Err("requests: Input should be a valid list".into());
    };
    let n = requests.len();
    if n == 0 || n > MAX_REQUESTS {
        return Err(format!(
            "requests: List should have between 1 and {MAX_REQUESTS} items after validation, not {n}"
        ));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(n);
    for (i, request) in requests.iter().enumerate() {
        let custom_id = match request.get("custom_id") {
            None => return Err(format!("requests.{i}.custom_id: Field required")),
            Some(Value::String(id)) if valid_custom_id(id) => id,
            Some(_) => {
                return Err(format!(
                    "requests.{i}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
                ));
            }
        };
        let params = match request.get("params") {
            None => return Err(format!("requests.{i}.params: Field required")),
            Some(params @ Value::Object(_)) => params,
            Some(_) => {
                return Err(format!(
                    "requests.{i}.params: Input should be a valid dictionary"
                ));
            }
        };
        if !seen.insert(custom_id.as_str()) {
            return Err(format!(
                "requests.{i}.custom_id: Duplicate custom_id `{custom_id}`: each request in a batch \
                 must have a unique custom_id."
            ));
        }
        out.push((custom_id.clone(), serialize(params)));
    }
    Ok(out)
}

/// `POST /v1/messages/batches`.
async fn create(
    shared: &Shared,
    req: hyper::Request<Incoming>,
    base: &str,
) -> Result<Reply, Dropped> {
    let body = match read_body_up_to(req.into_body(), MAX_BYTES).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => return Ok(messages::too_large()),
        Err(BodyError::Gone) => return Err(Dropped),
    };
    let requests = match parse(&body) {
        Ok(requests) => requests,
        Err(message) => return Ok(messages::bad_request(message)),
    };
    let number = shared.batches.number();
    let sent = requests
        .into_iter()
        .map(|(custom_id, body)| {
            let cost = messages::prepare(shared, &body)
                .ok()
                .map(|p| (p.job.request.model.clone(), p.job.cost.tokens));
            Sent {
                key: custom_id,
                body,
                metadata: None,
                cost,
            }
        })
        .collect();
    let batch = Batch::new(shared, number, &id(number), sent, Api::Anthropic);
    let limit = shared.config.batch.queue_tokens;
    let c = &shared.counters;
    if let Err(model) = shared.batches.enqueue(Instant::now(), batch.clone(), limit) {
        Counters::bump(&c.batches_refused);
        return Ok(error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            format!(
                "This batch would exceed your organization's limit of {} enqueued tokens for \
                 model {model} in message batches still processing. Please wait for batches to \
                 end, or submit fewer requests.",
                limit.unwrap_or_default()
            ),
        ));
    }
    Counters::bump(&c.batches_created);
    Counters::add(&c.batch_lines_submitted, batch.lines.len() as u64);
    Ok(json_value(
        StatusCode::OK,
        &object(&batch, Instant::now(), base),
    ))
}

/// The message batch object of `batch` at `now`, its results URL on `base`.
fn object(batch: &Batch, now: Instant, base: &str) -> Value {
    let t = &batch.timeline;
    let phase = t.phase(now);
    let ended = matches!(phase, Phase::Ended(_));
    let status = match phase {
        Phase::Ended(_) => "ended",
        Phase::Cancelling => "canceling",
        Phase::Validating | Phase::InProgress | Phase::Finalizing => "in_progress",
    };
    let n = batch.lines.len() as u64;
    let [processing, succeeded, errored, canceled, expired] = match phase {
        Phase::Ended(End::Processed) => [
            0,
            batch.count(Fate::Answered),
            batch.count(Fate::Refused) + batch.count(Fate::Failed),
            0,
            batch.count(Fate::Expired),
        ],
        Phase::Ended(End::Cancelled) => [0, 0, 0, n, 0],
        Phase::Ended(End::Failed) => [0; 5],
        Phase::Validating | Phase::InProgress | Phase::Finalizing | Phase::Cancelling => {
            [n, 0, 0, 0, 0]
        }
    };
    let id = id(batch.number);
    json!({
        "id": id,
        "type": "message_batch",
        "processing_status": status,
        "request_counts": {
            "processing": processing,
            "succeeded": succeeded,
            "errored": errored,
            "canceled": canceled,
            "expired": expired,
        },
        "ended_at": ended.then(|| rfc3339(t.wall(t.ends()))),
        "created_at": rfc3339(t.created_at()),
        "expires_at": rfc3339(t.created_at() + WINDOW),
        "archived_at": null,
        "cancel_initiated_at": t.cancelled().map(|at| rfc3339(t.wall(at))),
        "results_url": ended.then(|| format!("{base}/v1/messages/batches/{id}/results")),
    })
}

/// `GET /v1/messages/batches?limit=N&after_id=ID&before_id=ID`: newest first.
fn list<B>(shared: &Shared, req: &hyper::Request<B>, base: &str, now: Instant) -> Reply {
    let limit = super::page_size(req, "limit", 20, 1000);
    let number = |name| {
        super::query(req, name)
            .and_then(|id| id.strip_prefix("msgbatch_").and_then(|n| n.parse().ok()))
    };
    let all = shared.batches.list(|b| matches!(b.api, Api::Anthropic));
    let (page, has_more) = super::page(all, number("after_id"), number("before_id"), limit);
    let data: Vec<Value> = page.iter().map(|b| object(b, now, base)).collect();
    json_value(
        StatusCode::OK,
        &json!({
            "data": data,
            "has_more": has_more,
            "first_id": page.first().map(|b| id(b.number)),
            "last_id": page.last().map(|b| id(b.number)),
        }),
    )
}

/// `POST /v1/messages/batches/{id}/cancel`: `canceling`, then ended with every request
/// canceled; a batch that has ended is returned as it is.
fn cancel(shared: &Shared, id: &str, base: &str, now: Instant) -> Reply {
    let number = match find(shared, id) {
        Ok(batch) => batch.number,
        Err(reply) => return *reply,
    };
    let grace = shared.config.batch.processing / 10;
    match shared.batches.cancel(number, now, grace) {
        Some((batch, cancelled)) => {
            if cancelled {
                Counters::bump(&shared.counters.batches_cancelled);
            }
            json_value(StatusCode::OK, &object(&batch, now, base))
        }
        None => not_found(id),
    }
}

/// `GET /v1/messages/batches/{id}/results`: JSONL, one result a request, shuffled; a 400
/// before the batch has ended.
fn results(shared: &Shared, id: &str, now: Instant) -> Reply {
    let batch = match find(shared, id) {
        Ok(batch) => batch,
        Err(reply) => return *reply,
    };
    let cancelled = match batch.timeline.phase(now) {
        Phase::Ended(End::Processed) => false,
        Phase::Ended(End::Cancelled) => true,
        _ => {
            return messages::bad_request(format!(
                "Message batch {id} has not ended yet: its results are available once its \
                 processing_status is `ended`."
            ));
        }
    };
    let answer = |body: &[u8], reply: u64| Ok(messages::prepare(shared, body)?.render(reply));
    let failure = || {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            "Internal server error",
        )
    };
    let mut out = Vec::new();
    for i in batch.shuffled(shared.config.seed, id) {
        let result = match batch.outcome(i, cancelled, answer, failure) {
            Outcome::Answered(message) => json!({"type": "succeeded", "message": message}),
            Outcome::Errored(_, error) => json!({"type": "errored", "error": error}),
            Outcome::Expired => json!({"type": "expired"}),
            Outcome::Cancelled => json!({"type": "canceled"}),
        };
        out.extend(serialize(
            &json!({"custom_id": batch.lines[i].key, "result": result}),
        ));
        out.push(b'\n');
    }
    let mut reply = json(StatusCode::OK, out);
    reply.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-jsonl"),
    );
    reply
}

#[cfg(test)]
mod tests {
    use super::{parse, valid_custom_id};

    #[test]
    fn custom_ids_and_requests_are_checked_as_anthropic_checks_them() {
        assert!(valid_custom_id("job-1_A"));
        assert!(!valid_custom_id(""));
        assert!(!valid_custom_id("a.b"));
        assert!(!valid_custom_id(&"x".repeat(65)));
        let err = parse(br#"{"requests": []}"#).unwrap_err();
        assert!(err.contains("between 1 and 100000"), "{err}");
        let err = parse(br#"{"requests": [{"custom_id": "a"}]}"#).unwrap_err();
        assert_eq!(err, "requests.0.params: Field required");
        let body = br#"{"requests": [{"custom_id": "a", "params": {}}, {"custom_id": "a", "params": {}}]}"#;
        assert!(parse(body).unwrap_err().contains("Duplicate custom_id"));
        let body = br#"{"requests": [{"custom_id": "a b", "params": {}}]}"#;
        assert!(parse(body).unwrap_err().contains("pattern"));
        let ok = parse(br#"{"requests": [{"custom_id": "a", "params": {"x": 1}}]}"#).unwrap();
        assert_eq!(ok, [("a".to_owned(), br#"{"x":1}"#.to_vec())]);
    }
}
