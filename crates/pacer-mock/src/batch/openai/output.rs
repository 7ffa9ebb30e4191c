//! What OpenAI says of a batch: the batch object, and the output and error files of one
//! that has ended, each line's result in the batch's shuffled order. The output file holds
//! the lines answered (status 200); the error file the others: those refused or failed,
//! with their 4xx or 500 `response`, and those expired or cancelled, with an `error` and no
//! `response`. `request_counts.completed` and `.failed` count the lines processed: expired
//! and cancelled lines are in neither.

use hyper::StatusCode;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::Submission;
use crate::batch::clock::{End, Phase, unix};
use crate::batch::draw::Fate;
use crate::batch::lines::Outcome;
use crate::batch::store::Batch;
use crate::handler::Shared;
use crate::respond::error;

/// How long OpenAI gives a batch: it reports `expires_at` a day after the creation,
/// although the mock ends every batch after `processing`.
const WINDOW_SECONDS: u64 = 24 * 60 * 60;

/// The status OpenAI reports for `batch` at `now`.
pub(super) fn status(batch: &Batch, now: Instant) -> &'static str {
    match batch.timeline.phase(now) {
        Phase::Validating => "validating",
        Phase::InProgress => "in_progress",
        Phase::Finalizing => "finalizing",
        Phase::Cancelling => "cancelling",
        Phase::Ended(End::Processed) if batch.count(Fate::Expired) > 0 => "expired",
        Phase::Ended(End::Processed) => "completed",
        Phase::Ended(End::Cancelled) => "cancelled",
        Phase::Ended(End::Failed) => "failed",
    }
}

/// The id of the output file (`errors` false) or error file of batch `number`.
pub(super) fn file_id(number: u64, errors: bool) -> String {
    let kind = if errors { "errors" } else { "output" };
    format!("file-batch_{number}-{kind}")
}

/// The ids of `batch`'s output and error files at `now`: each `None` until it has ended,
/// or when it would be empty.
pub(super) fn file_ids(batch: &Batch, now: Instant) -> (Option<String>, Option<String>) {
    let (output, errors) = match batch.timeline.phase(now) {
        Phase::Ended(End::Processed) => (
            batch.count(Fate::Answered) > 0,
            batch.count(Fate::Answered) < batch.lines.len() as u64,
        ),
        Phase::Ended(End::Cancelled) => (false, !batch.lines.is_empty()),
        _ => (false, false),
    };
    let id = |errors: bool, present: bool| present.then(|| file_id(batch.number, errors));
    (id(false, output), id(true, errors))
}

/// The batch object of `batch`, made by `submission`, at `now`.
pub(super) fn object(batch: &Batch, submission: &Submission, now: Instant) -> Value {
    let t = &batch.timeline;
    let phase = t.phase(now);
    let at = |i: Instant| unix(t.wall(i));
    let when = |i: Instant| t.reached(i, now).then(|| at(i));
    let processed = phase == Phase::Ended(End::Processed);
    let expired = batch.count(Fate::Expired) > 0;
    let n = batch.lines.len() as u64;
    let (total, completed, failed) = match phase {
        Phase::Validating | Phase::Ended(End::Failed) => (0, 0, 0),
        Phase::Ended(End::Processed) => (
            n,
            batch.count(Fate::Answered),
            batch.count(Fate::Refused) + batch.count(Fate::Failed),
        ),
        _ => (n, 0, 0),
    };
    let (output_file_id, error_file_id) = file_ids(batch, now);
    let created_at = unix(t.created_at());
    json!({
        "id": format!("batch_{}", batch.number),
        "object": "batch",
        "endpoint": submission.endpoint.path(),
        "model": submission.model,
        "errors": submission.errors.as_ref().map(|data| json!({"object": "list", "data": data})),
        "input_file_id": submission.input_file_id,
        "completion_window": "24h",
        "status": status(batch, now),
        "output_file_id": output_file_id,
        "error_file_id": error_file_id,
        "created_at": created_at,
        "in_progress_at": when(t.started()),
        "expires_at": created_at + WINDOW_SECONDS,
        "finalizing_at": when(t.finalizing()),
        "completed_at": (processed && !expired).then(|| at(t.ends())),
        "failed_at": (phase == Phase::Ended(End::Failed)).then_some(created_at),
        "expired_at": (processed && expired).then(|| at(t.ends())),
        "cancelling_at": t.cancelled().map(at),
        "cancelled_at": (phase == Phase::Ended(End::Cancelled)).then(|| at(t.ends())),
        "request_counts": {"total": total, "completed": completed, "failed": failed},
        "metadata": submission.metadata,
    })
}

/// An output or error file line holding a response.
fn response_line(reply: u64, custom_id: &str, status: StatusCode, body: Value) -> Value {
    json!({
        "id": format!("batch_req_{reply}"),
        "custom_id": custom_id,
        "response": {
            "status_code": status.as_u16(),
            "request_id": format!("req_mock_{reply}"),
            "body": body,
        },
        "error": null,
    })
}

/// An error file line for a request never executed.
fn error_line(reply: u64, custom_id: &str, code: &str, message: &str) -> Value {
    json!({
        "id": format!("batch_req_{reply}"),
        "custom_id": custom_id,
        "response": null,
        "error": {"code": code, "message": message},
    })
}

/// The output file and the error file of `batch` (made by `submission`) at `now`, as
/// JSONL; `None` before it has ended, or when it failed at creation.
pub(super) fn files(
    shared: &Shared,
    batch: &Batch,
    submission: &Submission,
    now: Instant,
) -> Option<(Vec<u8>, Vec<u8>)> {
    let cancelled = match batch.timeline.phase(now) {
        Phase::Ended(End::Processed) => false,
        Phase::Ended(End::Cancelled) => true,
        _ => return None,
    };
    let answer = |body: &[u8], id: u64| {
        let prepared = submission.endpoint.prepare(shared, body)?;
        Ok(prepared.render(id))
    };
    let failure = || {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The server had an error while processing your request.",
            "server_error",
            None,
            None,
        )
    };
    let (mut output, mut errors) = (Vec::new(), Vec::new());
    let id = format!("batch_{}", batch.number);
    for i in batch.shuffled(shared.config.seed, &id) {
        let (reply, key) = (batch.first_reply + i as u64, batch.lines[i].key.as_str());
        let (line, file) = match batch.outcome(i, cancelled, answer, failure) {
            Outcome::Answered(body) => {
                (response_line(reply, key, StatusCode::OK, body), &mut output)
            }
            Outcome::Errored(status, body) => {
                (response_line(reply, key, status, body), &mut errors)
            }
            Outcome::Expired => (
                error_line(
                    reply,
                    key,
                    "batch_expired",
                    "This request could not be executed before the completion window expired.",
                ),
                &mut errors,
            ),
            Outcome::Cancelled => (
                error_line(
                    reply,
                    key,
                    "batch_cancelled",
                    "This request was not executed because the batch was cancelled.",
                ),
                &mut errors,
            ),
        };
        file.extend(crate::respond::serialize(&line));
        file.push(b'\n');
    }
    Some((output, errors))
}
